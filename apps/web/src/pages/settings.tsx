import type { UnitPreferences } from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { Sharing } from '../components/settings-sharing.js';
import { CliLogins, LinkedSignIns } from '../components/settings-signins.js';
import { ApiTokens } from '../components/settings-tokens.js';
import { Button, ErrorBox, Field, Loading, SelectField, Tabs } from '../components/ui.js';
import { client } from '../lib/api.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { navigate, useLocation } from '../lib/router.js';
import { useSession, useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';

const tabs = [
  { id: 'profile', label: 'Profile' },
  { id: 'password', label: 'Password' },
  { id: 'logins', label: 'Logins' },
  { id: 'signins', label: 'Linked sign-ins' },
  { id: 'tokens', label: 'API tokens' },
  { id: 'sharing', label: 'Sharing' },
] as const;
type Tab = (typeof tabs)[number]['id'];

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function Profile() {
  const user = useUser();
  return (
    <dl
      className="card"
      style={{ display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '0.5rem 1.5rem', margin: 0 }}
    >
      <dt className="muted">Name</dt>
      <dd style={{ margin: 0 }}>{user.name}</dd>
      <dt className="muted">Email</dt>
      <dd style={{ margin: 0 }}>{user.email}</dd>
      <dt className="muted">Role</dt>
      <dd style={{ margin: 0 }}>{user.role}</dd>
      <dt className="muted">Member since</dt>
      <dd style={{ margin: 0 }}>{formatTime(user.createdMs)}</dd>
    </dl>
  );
}

/** The units values are shown in, everywhere in the dashboard (stored data keeps km, °C, kPa). */
function UnitsForm() {
  const { units, chooseUnits } = useSession();
  const [form, setForm] = useState<UnitPreferences>(units);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Every page redraws in the new units (this form too: its values are then the saved ones).
      await chooseUnits(form);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
      setBusy(false);
    }
  }

  return (
    <form className="card stack" aria-labelledby="units-title" onSubmit={submit}>
      <h2 id="units-title">Units</h2>
      <div className="row" style={{ alignItems: 'end' }}>
        <SelectField
          label="Distance and speed"
          value={form.distance}
          onChange={(value) => setForm((f) => ({ ...f, distance: value as UnitPreferences['distance'] }))}
          options={[
            { value: 'km', label: 'km, km/h' },
            { value: 'mi', label: 'miles, mph' },
          ]}
        />
        <SelectField
          label="Temperature"
          value={form.temperature}
          onChange={(value) =>
            setForm((f) => ({ ...f, temperature: value as UnitPreferences['temperature'] }))
          }
          options={[
            { value: 'c', label: '°C' },
            { value: 'f', label: '°F' },
          ]}
        />
        <SelectField
          label="Tyre pressure"
          value={form.pressure}
          onChange={(value) => setForm((f) => ({ ...f, pressure: value as UnitPreferences['pressure'] }))}
          options={[
            { value: 'kpa', label: 'kPa' },
            { value: 'bar', label: 'bar' },
            { value: 'psi', label: 'psi' },
          ]}
        />
        <Button type="submit" className="primary" busy={busy}>
          Save units
        </Button>
      </div>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}

function PasswordForm() {
  const [form, setForm] = useState({ current: '', next: '', repeat: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const tooShort = form.next.length > 0 && form.next.length < 12;
  const mismatch = form.repeat.length > 0 && form.repeat !== form.next;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (tooShort || mismatch) return;
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      await client.auth.changePassword({ currentPassword: form.current, newPassword: form.next });
      setForm({ current: '', next: '', repeat: '' });
      setDone(true);
    } catch (failure) {
      setError(message(failure));
    } finally {
      setBusy(false);
    }
  }
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));
  return (
    <form className="stack card" onSubmit={submit}>
      <p className="muted" style={{ margin: 0 }}>
        Changing the password logs you out on every other device; this browser stays logged in.
      </p>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {done && (
        <div className="alert success" role="status">
          Password changed. Every other login has ended.
        </div>
      )}
      <Field
        label="Current password"
        type="password"
        autoComplete="current-password"
        required
        value={form.current}
        onChange={set('current')}
      />
      <Field
        label="New password"
        type="password"
        autoComplete="new-password"
        required
        hint="At least 12 characters."
        error={tooShort ? 'The password needs at least 12 characters.' : null}
        value={form.next}
        onChange={set('next')}
      />
      <Field
        label="Repeat new password"
        type="password"
        autoComplete="new-password"
        required
        error={mismatch ? 'The passwords differ.' : null}
        value={form.repeat}
        onChange={set('repeat')}
      />
      <div>
        <Button
          type="submit"
          className="primary"
          busy={busy}
          disabled={!form.current || !form.next || mismatch}
        >
          Change password
        </Button>
      </div>
    </form>
  );
}

/** How each login began, in words. */
const signedInWith: Record<string, string> = {
  password: 'password',
  oidc: 'provider sign-in',
  setup: 'first-start setup',
  signup: 'sign-up',
};

function Logins() {
  const { logout } = useSession();
  const logins = useAsync(() => client.auth.logins(), []);
  const [error, setError] = useState<string | null>(null);
  if (logins.status === 'error') return <ErrorBox error={logins.error} onRetry={logins.reload} />;
  if (!logins.data) return <Loading what="Loading logins" />;
  return (
    <div className="stack">
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      <div className="table-wrap card">
        <table>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Signed in with</th>
              <th scope="col">Address</th>
              <th scope="col">Started</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {logins.data.map((login) => (
              <tr key={login.id}>
                <td>
                  {login.device}
                  {login.current && (
                    <span className="badge ok" style={{ marginLeft: '0.5rem' }}>
                      this browser
                    </span>
                  )}
                </td>
                <td>{signedInWith[login.method ?? 'password']}</td>
                <td className="mono">{login.ip ?? '—'}</td>
                <td>{formatTime(login.createdMs)}</td>
                <td>{formatRelative(login.lastUsedMs)}</td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    onClick={async () => {
                      setError(null);
                      try {
                        await client.auth.endLogin(login.id);
                        if (login.current) await logout();
                        else logins.setData((all) => all.filter((l) => l.id !== login.id));
                      } catch (failure) {
                        setError(message(failure));
                      }
                    }}
                  >
                    Log out<span className="sr-only"> {login.device}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div>
        <button
          type="button"
          className="danger"
          onClick={async () => {
            setError(null);
            try {
              await client.auth.endAllLogins();
              await logout();
            } catch (failure) {
              setError(message(failure));
            }
          }}
        >
          Log out everywhere
        </button>
      </div>
      <CliLogins />
    </div>
  );
}

export function SettingsPage() {
  const { path, search } = useLocation();
  const tab = (tabs.find((t) => t.id === search.get('tab'))?.id ?? 'profile') as Tab;
  return (
    <>
      <div className="page-head">
        <h1>Settings</h1>
        <a href="/settings/connected-accounts">Connected accounts</a>
      </div>
      <Tabs
        label="Settings"
        tabs={tabs}
        value={tab}
        onChange={(id) => navigate(`${path}?tab=${id}`, { replace: true })}
      />
      <div role="tabpanel" aria-label={tabs.find((t) => t.id === tab)?.label}>
        {tab === 'profile' && (
          <div className="stack">
            <Profile />
            <UnitsForm />
          </div>
        )}
        {tab === 'password' && <PasswordForm />}
        {tab === 'logins' && <Logins />}
        {tab === 'signins' && <LinkedSignIns />}
        {tab === 'tokens' && <ApiTokens />}
        {tab === 'sharing' && <Sharing />}
      </div>
    </>
  );
}
