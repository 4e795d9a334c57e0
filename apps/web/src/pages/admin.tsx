import type { DeadLetter, Role, UserView } from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { Button, Empty, ErrorBox, Field, Loading, SelectField, Tabs } from '../components/ui.js';
import { client } from '../lib/api.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { navigate, useLocation } from '../lib/router.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';

const roles: ReadonlyArray<{ value: Role; label: string }> = [
  { value: 'viewer', label: 'viewer' },
  { value: 'operator', label: 'operator' },
  { value: 'admin', label: 'admin' },
];

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function CreateUser({ onCreated }: { onCreated: (user: UserView) => void }) {
  const [form, setForm] = useState({ name: '', email: '', password: '', role: 'viewer' as Role });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const tooShort = form.password.length > 0 && form.password.length < 12;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (tooShort) return;
    setBusy(true);
    setError(null);
    try {
      const { password, ...rest } = form;
      // Without a password the user is invited: their first provider sign-in with this verified email links.
      onCreated(
        await client.users.create({
          ...rest,
          ...(password ? { password } : {}),
          name: form.name.trim(),
          email: form.email.trim(),
        }),
      );
      setForm({ name: '', email: '', password: '', role: 'viewer' });
    } catch (failure) {
      setError(message(failure));
    } finally {
      setBusy(false);
    }
  }
  const set = (key: 'name' | 'email' | 'password') => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  return (
    <form
      className="card stack"
      style={{ maxWidth: 'none' }}
      onSubmit={submit}
      aria-labelledby="create-user-title"
    >
      <h2 id="create-user-title">Create a user</h2>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      <div className="form-grid">
        <Field label="Name" required value={form.name} onChange={set('name')} />
        <Field label="Email" type="email" required value={form.email} onChange={set('email')} />
        <Field
          label="Initial password"
          type="password"
          autoComplete="new-password"
          hint="Leave empty to invite: they sign in with the OpenID provider, with this email verified there."
          error={tooShort ? 'At least 12 characters.' : null}
          value={form.password}
          onChange={set('password')}
        />
        <SelectField
          label="Role"
          value={form.role}
          onChange={(role) => setForm((f) => ({ ...f, role: role as Role }))}
          options={roles}
        />
      </div>
      <div>
        <Button type="submit" className="primary" busy={busy} disabled={!form.name || !form.email}>
          {form.password ? 'Create user' : 'Create user (invite)'}
        </Button>
      </div>
    </form>
  );
}

/** An admin's view of one user's provider identities: (issuer, subject) each, linked or unlinked here. */
function UserIdentities({ userId }: { userId: string }) {
  const identities = useAsync(() => client.users.identities(userId), [userId]);
  const [form, setForm] = useState({ issuer: '', subject: '' });
  const [error, setError] = useState<string | null>(null);
  if (identities.status === 'error') return <ErrorBox error={identities.error} onRetry={identities.reload} />;
  if (!identities.data) return <Loading what="Loading linked sign-ins" />;
  return (
    <div className="stack" style={{ marginTop: '0.5rem' }}>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {identities.data.length === 0 && <span className="muted small">none linked</span>}
      {identities.data.map((identity) => (
        <div key={identity.id} className="small">
          <span className="mono">{identity.issuer}</span> · <span className="mono">{identity.subject}</span>{' '}
          <button
            type="button"
            className="link"
            onClick={async () => {
              setError(null);
              try {
                await client.users.unlinkIdentity(userId, identity.id);
                identities.setData((all) => all.filter((i) => i.id !== identity.id));
              } catch (failure) {
                setError(message(failure));
              }
            }}
          >
            Unlink<span className="sr-only"> {identity.subject}</span>
          </button>
        </div>
      ))}
      <form
        className="row"
        onSubmit={async (event) => {
          event.preventDefault();
          setError(null);
          try {
            const linked = await client.users.linkIdentity(userId, {
              issuer: form.issuer.trim(),
              subject: form.subject.trim(),
            });
            identities.setData((all) => [...all, linked]);
            setForm({ issuer: '', subject: '' });
          } catch (failure) {
            setError(message(failure));
          }
        }}
      >
        <Field
          label="Issuer"
          value={form.issuer}
          onChange={(e) => setForm((f) => ({ ...f, issuer: e.target.value }))}
        />
        <Field
          label="Subject"
          value={form.subject}
          onChange={(e) => setForm((f) => ({ ...f, subject: e.target.value }))}
        />
        <Button type="submit" disabled={!form.issuer.trim() || !form.subject.trim()}>
          Link
        </Button>
      </form>
    </div>
  );
}

function Users() {
  const me = useUser();
  const users = useAsync(() => client.users.list(), []);
  const [error, setError] = useState<string | null>(null);

  const [open, setOpen] = useState<string | null>(null);
  async function update(
    user: UserView,
    changes: { role?: Role; disabled?: boolean; providerOnly?: boolean },
  ) {
    setError(null);
    try {
      const updated = await client.users.update(user.id, changes);
      users.setData((all) => all.map((u) => (u.id === user.id ? updated : u)));
    } catch (failure) {
      setError(message(failure));
    }
  }

  return (
    <div className="stack">
      <CreateUser onCreated={(user) => users.setData((all) => [...all, user])} />
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {users.status === 'error' && <ErrorBox error={users.error} onRetry={users.reload} />}
      {!users.data ? (
        <Loading what="Loading users" />
      ) : (
        <div className="table-wrap card">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Sign-in</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((user) => (
                <tr key={user.id}>
                  <td>{user.name}</td>
                  <td>{user.email}</td>
                  <td>
                    <label className="sr-only" htmlFor={`role-${user.id}`}>
                      Role of {user.email}
                    </label>
                    <select
                      id={`role-${user.id}`}
                      value={user.role}
                      disabled={user.id === me.id}
                      onChange={(e) => void update(user, { role: e.target.value as Role })}
                    >
                      {roles.map((r) => (
                        <option key={r.value} value={r.value}>
                          {r.label}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <span className={`badge ${user.disabled ? 'danger' : 'ok'}`}>
                      {user.disabled ? 'disabled' : 'active'}
                    </span>{' '}
                    {user.id !== me.id && (
                      <button
                        type="button"
                        className="link"
                        onClick={() => void update(user, { disabled: !user.disabled })}
                      >
                        {user.disabled ? 'Enable' : 'Disable'}
                        <span className="sr-only"> {user.email}</span>
                      </button>
                    )}
                  </td>
                  <td>
                    {user.providerOnly
                      ? 'provider only'
                      : user.hasPassword === false
                        ? 'provider (invited)'
                        : 'password'}{' '}
                    {user.id !== me.id && (
                      <button
                        type="button"
                        className="link"
                        onClick={() => void update(user, { providerOnly: !user.providerOnly })}
                      >
                        {user.providerOnly ? 'Allow password' : 'Provider only'}
                        <span className="sr-only"> for {user.email}</span>
                      </button>
                    )}{' '}
                    <button
                      type="button"
                      className="link"
                      aria-expanded={open === user.id}
                      onClick={() => setOpen((o) => (o === user.id ? null : user.id))}
                    >
                      Linked sign-ins<span className="sr-only"> of {user.email}</span>
                    </button>
                    {open === user.id && <UserIdentities userId={user.id} />}
                  </td>
                  <td>{formatTime(user.createdMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function DeadLetters() {
  const [pages, setPages] = useState<number[]>([]);
  const before = pages.at(-1);
  const letters = useAsync(
    () => client.telemetry.deadLetters({ limit: 50, ...(before !== undefined ? { before } : {}) }),
    [before],
  );
  const [open, setOpen] = useState<DeadLetter | null>(null);

  if (letters.status === 'error') return <ErrorBox error={letters.error} onRetry={letters.reload} />;
  if (!letters.data) return <Loading what="Loading dead letters" />;
  if (letters.data.items.length === 0 && pages.length === 0) {
    return <Empty>No dead letters: every message received so far could be stored.</Empty>;
  }
  return (
    <div className="stack">
      <p className="muted small" style={{ margin: 0 }}>
        Messages that could not be stored, newest first, with the reason. Only the first 2 KiB of each is
        kept.
      </p>
      <div className="table-wrap card">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Source</th>
              <th scope="col">Topic or route</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {letters.data.items.map((letter) => (
              <tr key={letter.id}>
                <td title={formatTime(letter.receivedMs)}>{formatRelative(letter.receivedMs)}</td>
                <td>{letter.source}</td>
                <td className="mono">{letter.topic}</td>
                <td>
                  {letter.reason}{' '}
                  <button
                    type="button"
                    className="link"
                    onClick={() => setOpen(open?.id === letter.id ? null : letter)}
                  >
                    {open?.id === letter.id ? 'Hide payload' : 'Show payload'}
                  </button>
                  {open?.id === letter.id && (
                    <pre className="secret" style={{ whiteSpace: 'pre-wrap' }}>
                      {letter.payload}
                    </pre>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="row">
        <button type="button" disabled={pages.length === 0} onClick={() => setPages((p) => p.slice(0, -1))}>
          Newer
        </button>
        <button
          type="button"
          disabled={letters.data.nextBefore === null}
          onClick={() => {
            const next = letters.data?.nextBefore;
            if (next != null) setPages((p) => [...p, next]);
          }}
        >
          Older
        </button>
      </div>
    </div>
  );
}

const tabs = [
  { id: 'users', label: 'Users' },
  { id: 'dead-letters', label: 'Dead letters' },
] as const;

export function AdminPage() {
  const { path, search } = useLocation();
  const tab = search.get('tab') === 'dead-letters' ? 'dead-letters' : 'users';
  return (
    <>
      <div className="page-head">
        <h1>Admin</h1>
      </div>
      <Tabs
        label="Admin"
        tabs={tabs}
        value={tab}
        onChange={(id) => navigate(`${path}?tab=${id}`, { replace: true })}
      />
      <div role="tabpanel" aria-label={tab === 'users' ? 'Users' : 'Dead letters'}>
        {tab === 'users' ? <Users /> : <DeadLetters />}
      </div>
    </>
  );
}
