import type { AuthProviders } from '@tacho/protocol';
import { type FormEvent, useEffect, useState } from 'react';
import { Logo } from '../components/layout.js';
import { Button, ErrorBox, Field, Loading } from '../components/ui.js';
import { ApiError, client } from '../lib/api.js';
import { providerErrorMessage, providerStartUrl } from '../lib/identity.js';
import { navigate, safeNext, useLocation } from '../lib/router.js';
import { useSession } from '../lib/session.js';

function loginErrorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'Email or password is wrong, or the account is disabled.';
    if (error.code === 'provider_only')
      return 'This account signs in with its provider only: use the button below.';
    if (error.status === 429) {
      const wait = error.retryAfterS;
      const seconds = wait === undefined ? 'a few seconds' : wait === 1 ? '1 second' : `${wait} seconds`;
      return `Too many attempts. Wait ${seconds} and try again.`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/** "Sign in with <name>" when an OpenID provider is configured; says so while it does not answer. */
function ProviderSignIn({ next, error }: { next: string; error: string | null }) {
  const [providers, setProviders] = useState<AuthProviders | null>(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      client.auth.providers().then(
        (p) => live && setProviders(p),
        () => {},
      );
    void load();
    // While the provider is down, look again now and then: the button comes back by itself.
    const timer = setInterval(() => void load(), 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  const oidc = providers?.oidc;
  if (!oidc) return null;
  return (
    <div className="stack">
      {error && (
        <div className="alert error" role="alert">
          {providerErrorMessage(error, oidc.name)}
        </div>
      )}
      {oidc.available ? (
        <a className="button" href={providerStartUrl(oidc.startUrl, next)}>
          Sign in with {oidc.name}
        </a>
      ) : (
        <button type="button" disabled aria-describedby="provider-down">
          Sign in with {oidc.name}
        </button>
      )}
      {!oidc.available && (
        <p id="provider-down" className="muted small" role="status">
          {oidc.name} is unavailable right now; this button comes back when it answers.
        </p>
      )}
    </div>
  );
}

/** Whether the server still waits for its first admin: null while asking (or when it cannot tell). */
function useFirstStart(): boolean | null {
  const [needed, setNeeded] = useState<boolean | null>(null);
  useEffect(() => {
    let live = true;
    client.auth.firstStart().then(
      (status) => live && setNeeded(status.needed),
      () => {},
    );
    return () => {
      live = false;
    };
  }, []);
  return needed;
}

/** Where the first admin is made: the one-time link the server printed when it started with no user. */
function SetupHint() {
  return (
    <div className="alert info" role="note" data-first-start>
      <strong>No user exists yet.</strong> When the server started, it printed a one-time setup link in its
      output (“No user exists yet. Create the first admin within 30 minutes at: …/setup?token=…”). Open that
      link to create the administrator. Lost it or too late? Restart the server for a new one, or start it
      with <span className="mono">TACHO_ADMIN_EMAIL</span> and{' '}
      <span className="mono">TACHO_ADMIN_PASSWORD</span>.
    </div>
  );
}

export function LoginPage() {
  const { user, signedIn } = useSession();
  const firstStart = useFirstStart();
  const { search } = useLocation();
  const next = safeNext(search.get('next'));
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (user) navigate(next, { replace: true });
  }, [user, next]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      signedIn((await client.auth.login(email.trim(), password)).user);
    } catch (failure) {
      setError(loginErrorMessage(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="auth-page">
      <form className="card stack" onSubmit={submit} aria-labelledby="login-title" noValidate>
        <div>
          <div className="brand" style={{ padding: '0 0 0.75rem' }}>
            <Logo size={32} />
          </div>
          <h1 id="login-title">Log in to Tacho</h1>
          {search.get('next') && <p className="muted small">Log in to continue where you were.</p>}
        </div>
        {firstStart && <SetupHint />}
        {error && (
          <div className="alert error" role="alert">
            {error}
          </div>
        )}
        <Field
          label="Email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <Field
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <Button type="submit" className="primary" busy={busy} disabled={!email || !password}>
          Log in
        </Button>
        <ProviderSignIn next={next} error={search.get('oidc_error')} />
      </form>
    </div>
  );
}

/** The one-time page from the setup link the server prints when it starts with no user. */
export function SetupPage() {
  const { signedIn } = useSession();
  const token = useLocation().search.get('token') ?? '';
  const firstStart = useFirstStart();
  const [valid, setValid] = useState<boolean | null>(null);
  const [checkError, setCheckError] = useState<unknown>(null);
  const [form, setForm] = useState({ email: '', name: '', password: '', repeat: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!token) {
      setValid(false);
      return;
    }
    client.auth.setupStatus(token).then(
      (status) => setValid(status.valid),
      (failure: unknown) => setCheckError(failure),
    );
  }, [token]);

  const tooShort = form.password.length > 0 && form.password.length < 12;
  const mismatch = form.repeat.length > 0 && form.repeat !== form.password;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (tooShort || mismatch) return;
    setBusy(true);
    setError(null);
    try {
      signedIn(
        (
          await client.auth.setup({
            token,
            email: form.email.trim(),
            name: form.name.trim(),
            password: form.password,
          })
        ).user,
      );
      navigate('/vehicles', { replace: true });
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  }

  const set = (key: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  return (
    <div className="auth-page">
      <div className="card stack">
        <div className="brand" style={{ padding: 0 }}>
          <Logo size={32} />
        </div>
        <h1>Set up Tacho</h1>
        {checkError ? (
          <ErrorBox error={checkError} />
        ) : valid === null || (!valid && firstStart === null) ? (
          <Loading what="Checking the setup link" />
        ) : !valid && firstStart === false ? (
          <p role="alert">
            Tacho is already set up{token ? ': this setup link was used' : ''}. <a href="/login">Log in</a>{' '}
            instead.
          </p>
        ) : !valid && !token ? (
          <p role="alert">
            This page needs the setup link the server printed when it started with no user: it ends in{' '}
            <span className="mono">/setup?token=…</span>. Copy the whole link from the server's output;
            restart the server for a new one.
          </p>
        ) : !valid ? (
          <p role="alert">
            This setup link is not right: it is not the one the server printed, or its 30 minutes are over.
            Copy the whole link from the server's output, or restart the server to print a new one.
          </p>
        ) : (
          <form className="stack" onSubmit={submit}>
            <p className="muted">Create the first administrator account.</p>
            {error && (
              <div className="alert error" role="alert">
                {error}
              </div>
            )}
            <Field label="Name" required autoComplete="name" value={form.name} onChange={set('name')} />
            <Field
              label="Email"
              type="email"
              required
              autoComplete="username"
              value={form.email}
              onChange={set('email')}
            />
            <Field
              label="Password"
              type="password"
              required
              autoComplete="new-password"
              hint="At least 12 characters."
              error={tooShort ? 'The password needs at least 12 characters.' : null}
              value={form.password}
              onChange={set('password')}
            />
            <Field
              label="Repeat password"
              type="password"
              required
              autoComplete="new-password"
              error={mismatch ? 'The passwords differ.' : null}
              value={form.repeat}
              onChange={set('repeat')}
            />
            <Button type="submit" className="primary" busy={busy}>
              Create administrator
            </Button>
          </form>
        )}
      </div>
    </div>
  );
}
