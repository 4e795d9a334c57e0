import type { CliLoginView } from '@tacho/protocol';
import { useState } from 'react';
import { Button, ErrorBox, Loading } from '../components/ui.js';
import { client } from '../lib/api.js';
import { formatTime } from '../lib/format.js';
import { useLocation } from '../lib/router.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';

function grouped(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * `/cli-login?c=<connection id>`: a `tacho login` waits for this signed-in browser. The page shows the
 * code the terminal shows, which computer asks and what it may do; Confirm sends the code back
 * (a same-origin POST), and only then does the terminal get its token, over its own socket.
 */
export function CliLoginPage() {
  const user = useUser();
  const connectionId = useLocation().search.get('c') ?? '';
  const request = useAsync(
    () => (connectionId ? client.auth.cliLogin(connectionId) : Promise.reject(new Error('no login request'))),
    [connectionId],
  );
  const [outcome, setOutcome] = useState<'confirmed' | 'denied' | null>(null);
  const [busy, setBusy] = useState<'confirm' | 'deny' | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function decide(view: CliLoginView, action: 'confirm' | 'deny') {
    setBusy(action);
    setError(null);
    try {
      if (action === 'confirm') await client.auth.confirmCliLogin(connectionId, view.userCode);
      else await client.auth.denyCliLogin(connectionId);
      setOutcome(action === 'confirm' ? 'confirmed' : 'denied');
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      <div className="page-head">
        <h1>Log in the command line</h1>
      </div>
      {request.status === 'error' ? (
        <ErrorBox error={request.error} />
      ) : !request.data ? (
        <Loading what="Loading the login request" />
      ) : outcome === 'confirmed' ? (
        <div className="alert success card" role="status">
          Done: the command line on {request.data.client.host} is logged in as {user.email}. You can close
          this page.
        </div>
      ) : outcome === 'denied' ? (
        <div className="alert card" role="status">
          Refused: the command line on {request.data.client.host} was told, and gets nothing.
        </div>
      ) : request.data.status !== 'pending' ? (
        <div className="alert error card" role="alert">
          This login request is over ({request.data.status}). Run <span className="mono">tacho login</span>{' '}
          again.
        </div>
      ) : (
        <section className="card stack" aria-labelledby="cli-code">
          <p style={{ margin: 0 }}>
            A command line asks to act as <strong>{user.email}</strong>. Confirm only if you started{' '}
            <span className="mono">tacho login</span> yourself and it shows this code:
          </p>
          <p id="cli-code" className="mono" style={{ fontSize: '2rem', letterSpacing: '0.15em', margin: 0 }}>
            {grouped(request.data.userCode)}
          </p>
          <dl
            style={{
              display: 'grid',
              gridTemplateColumns: 'max-content 1fr',
              gap: '0.25rem 1rem',
              margin: 0,
            }}
          >
            <dt className="muted">Computer</dt>
            <dd style={{ margin: 0 }}>{request.data.client.host}</dd>
            <dt className="muted">System</dt>
            <dd style={{ margin: 0 }}>{request.data.client.os}</dd>
            <dt className="muted">Tacho CLI</dt>
            <dd style={{ margin: 0 }}>{request.data.client.version}</dd>
            <dt className="muted">It may</dt>
            <dd style={{ margin: 0 }}>
              read and change what you may ({request.data.scopes.join(' and ')}) for {request.data.tokenDays}{' '}
              days, until you revoke it under Settings → Logins
            </dd>
            <dt className="muted">Request ends</dt>
            <dd style={{ margin: 0 }}>{formatTime(request.data.expiresMs)}</dd>
          </dl>
          {error ? <ErrorBox error={error} /> : null}
          <div className="row">
            <Button
              type="button"
              className="primary"
              busy={busy === 'confirm'}
              onClick={() => decide(request.data!, 'confirm')}
            >
              The code matches: log it in
            </Button>
            <Button
              type="button"
              className="danger"
              busy={busy === 'deny'}
              onClick={() => decide(request.data!, 'deny')}
            >
              Deny
            </Button>
          </div>
        </section>
      )}
    </>
  );
}
