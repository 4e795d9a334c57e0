import { type ReactNode, useEffect } from 'react';
import { Layout } from './components/layout.js';
import { Empty } from './components/ui.js';
import { AlertsProvider } from './lib/alerts-live.js';
import { matchPath, navigate, useLocation } from './lib/router.js';
import { SessionProvider, useSession } from './lib/session.js';
import { AdminPage } from './pages/admin.js';
import { AlertRulesPage } from './pages/alert-rules.js';
import { AlertsPage } from './pages/alerts.js';
import { AliasesPage } from './pages/aliases.js';
import { CliLoginPage } from './pages/cli-login.js';
import { ConnectedAccountsPage } from './pages/connected-accounts.js';
import { HistoryPage } from './pages/history.js';
import { ImportPage } from './pages/import.js';
import { LoginPage, SetupPage } from './pages/login.js';
import { SessionDetailPage } from './pages/session.js';
import { SessionsPage } from './pages/sessions.js';
import { SettingsPage } from './pages/settings.js';
import { VehicleLivePage } from './pages/vehicle-live.js';
import { VehicleSettingsPage } from './pages/vehicle-settings.js';
import { VehiclesPage } from './pages/vehicles.js';

const titles: Array<[string, string]> = [
  ['/login', 'Log in'],
  ['/setup', 'Set up'],
  ['/vehicles/:id/history', 'History'],
  ['/vehicles/:id/import', 'Import'],
  ['/vehicles/:id/sessions', 'Drives and charges'],
  ['/vehicles/:id/settings', 'Manage vehicle'],
  ['/sessions/:id', 'Recorded session'],
  ['/sessions', 'Drives and charges'],
  ['/vehicles/:id', 'Vehicle'],
  ['/vehicles', 'Vehicles'],
  ['/alerts/rules', 'Alert rules'],
  ['/alerts', 'Alerts'],
  ['/aliases', 'Aliases'],
  ['/settings/connected-accounts', 'Connected accounts'],
  ['/settings', 'Settings'],
  ['/cli-login', 'Log in the command line'],
  ['/admin', 'Admin'],
];

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function pageFor(path: string, admin: boolean): ReactNode {
  if (path === '/' || path === '') return <Redirect to="/vehicles" />;
  if (path === '/vehicles') return <VehiclesPage />;
  const history = matchPath('/vehicles/:id/history', path);
  if (history?.id) return <HistoryPage key={history.id} id={history.id} />;
  const importing = matchPath('/vehicles/:id/import', path);
  if (importing?.id) return <ImportPage key={importing.id} id={importing.id} />;
  const vehicleSettings = matchPath('/vehicles/:id/settings', path);
  if (vehicleSettings?.id) return <VehicleSettingsPage key={vehicleSettings.id} id={vehicleSettings.id} />;
  const sessions = matchPath('/vehicles/:id/sessions', path);
  if (sessions?.id) return <SessionsPage key={sessions.id} vehicleId={sessions.id} />;
  if (path === '/sessions') return <SessionsPage key="all" />;
  const session = matchPath('/sessions/:id', path);
  if (session?.id) return <SessionDetailPage key={session.id} id={session.id} />;
  const vehicle = matchPath('/vehicles/:id', path);
  if (vehicle?.id) return <VehicleLivePage key={vehicle.id} id={vehicle.id} />;
  if (path === '/alerts') return <AlertsPage />;
  if (path === '/alerts/rules') return <AlertRulesPage />;
  if (path === '/aliases') return <AliasesPage />;
  if (path === '/settings') return <SettingsPage />;
  if (path === '/settings/connected-accounts') return <ConnectedAccountsPage />;
  if (path === '/cli-login') return <CliLoginPage />;
  if (path === '/admin' && admin) return <AdminPage />;
  return (
    <Empty>
      <h1>Page not found</h1>
      <p>
        There is nothing at <span className="mono">{path}</span>. <a href="/vehicles">Go to your vehicles</a>.
      </p>
    </Empty>
  );
}

function Routes() {
  const { path } = useLocation();
  const { user } = useSession();

  useEffect(() => {
    const title = titles.find(([pattern]) => matchPath(pattern, path))?.[1];
    document.title = title ? `${title} · Tacho` : 'Tacho';
    // Move focus to the new page so screen readers announce it, as a full page load would.
    document.getElementById('content')?.focus({ preventScroll: true });
  }, [path]);

  if (path === '/login') return <LoginPage />;
  if (path === '/setup') return <SetupPage />;
  if (!user) return null;

  return (
    <AlertsProvider>
      <Layout>{pageFor(path, user.role === 'admin')}</Layout>
    </AlertsProvider>
  );
}

export function App() {
  return (
    <SessionProvider>
      <Routes />
    </SessionProvider>
  );
}
