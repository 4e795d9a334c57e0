import type { ReactNode } from 'react';
import { useAlerts } from '../lib/alerts-live.js';
import { Link } from '../lib/router.js';
import { useSession, useUser } from '../lib/session.js';

/** The gauge mark of Tacho. */
export function Logo({ size = 26 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor">
      <path d="M4 16a8 8 0 1 1 16 0" strokeWidth="2.2" strokeLinecap="round" />
      <path d="M12 16l4.5-5" strokeWidth="2.2" strokeLinecap="round" />
      <circle cx="12" cy="16" r="1.6" fill="currentColor" stroke="none" />
    </svg>
  );
}

/** Navigation on the side on a laptop, across the top on a phone. */
export function Layout({ children }: { children: ReactNode }) {
  const user = useUser();
  const { logout } = useSession();
  const { openCount, more } = useAlerts();
  return (
    <div className="shell">
      <a href="#content" className="skip-link">
        Skip to content
      </a>
      <nav className="nav" aria-label="Main">
        <Link href="/" className="brand" aria-label="Tacho, home">
          <Logo />
          <span className="brand-name">Tacho</span>
        </Link>
        <Link href="/vehicles" className="nav-link">
          Vehicles
        </Link>
        <Link href="/sessions" className="nav-link">
          Drives<span className="wide-only"> and charges</span>
        </Link>
        <Link
          href="/alerts"
          className="nav-link"
          aria-label={openCount ? `Alerts, ${openCount}${more ? '+' : ''} open` : undefined}
        >
          Alerts
          {openCount !== null && openCount > 0 && (
            <span className="nav-count" aria-hidden="true">
              {openCount}
              {more ? '+' : ''}
            </span>
          )}
        </Link>
        <Link href="/aliases" className="nav-link">
          Aliases
        </Link>
        <Link href="/settings" className="nav-link">
          Settings
        </Link>
        {user.role === 'admin' && (
          <Link href="/admin" className="nav-link">
            Admin
          </Link>
        )}
        <div className="nav-footer">
          <span className="who" title={user.email}>
            {user.name} · {user.role}
          </span>
          <button type="button" onClick={() => void logout()}>
            Log out
          </button>
        </div>
      </nav>
      <main id="content" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
