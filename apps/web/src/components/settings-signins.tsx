import type { AuthProviders } from '@tacho/protocol';
import { useEffect, useState } from 'react';
import { client } from '../lib/api.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { cliLogins, providerStartUrl } from '../lib/identity.js';
import { useAsync } from '../lib/use-async.js';
import { Empty, ErrorBox, Loading } from './ui.js';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Settings → Linked sign-ins: the provider identities that sign this account in, a button to link one
 * (the provider asks who you are; it links to the account signed in here), and unlinking.
 */
export function LinkedSignIns() {
  const identities = useAsync(() => client.auth.identities(), []);
  const [providers, setProviders] = useState<AuthProviders | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    client.auth.providers().then(setProviders, () => {});
  }, []);
  const oidc = providers?.oidc;
  if (identities.status === 'error') return <ErrorBox error={identities.error} onRetry={identities.reload} />;
  if (!identities.data) return <Loading what="Loading linked sign-ins" />;
  return (
    <div className="stack">
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {identities.data.length === 0 ? (
        <Empty>No provider sign-in is linked to this account.</Empty>
      ) : (
        <div className="table-wrap card">
          <table>
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">Account there</th>
                <th scope="col">Linked</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {identities.data.map((identity) => (
                <tr key={identity.id}>
                  <td className="mono">{identity.issuer}</td>
                  <td>{identity.email ?? <span className="mono">{identity.subject}</span>}</td>
                  <td>{formatTime(identity.createdMs)}</td>
                  <td>{identity.lastUsedMs ? formatRelative(identity.lastUsedMs) : 'never'}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      onClick={async () => {
                        setError(null);
                        try {
                          await client.auth.unlinkIdentity(identity.id);
                          identities.setData((all) => all.filter((i) => i.id !== identity.id));
                        } catch (failure) {
                          setError(message(failure));
                        }
                      }}
                    >
                      Unlink<span className="sr-only"> {identity.issuer}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {oidc && (
        <div>
          {oidc.available ? (
            <a className="button" href={providerStartUrl(oidc.startUrl, '/settings?tab=signins', true)}>
              Link a {oidc.name} sign-in
            </a>
          ) : (
            <p className="muted">{oidc.name} is unavailable right now.</p>
          )}
        </div>
      )}
    </div>
  );
}

/** Settings → Logins: the command lines logged in with `tacho login`, with their host and last use. */
export function CliLogins() {
  const logins = useAsync(() => cliLogins(), []);
  const [error, setError] = useState<string | null>(null);
  if (logins.status === 'error') return <ErrorBox error={logins.error} onRetry={logins.reload} />;
  if (!logins.data) return <Loading what="Loading CLI logins" />;
  return (
    <section className="stack" aria-labelledby="cli-logins-title">
      <h2 id="cli-logins-title">Command-line logins</h2>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {logins.data.length === 0 ? (
        <Empty>
          No command line is logged in. Run <span className="mono">tacho login</span> to log one in.
        </Empty>
      ) : (
        <div className="table-wrap card">
          <table>
            <thead>
              <tr>
                <th scope="col">Computer</th>
                <th scope="col">Logged in</th>
                <th scope="col">Last used</th>
                <th scope="col">Ends</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {logins.data.map((token) => (
                <tr key={token.id}>
                  <td>{token.cliHost}</td>
                  <td>{formatTime(token.createdMs)}</td>
                  <td>{token.lastUsedMs ? formatRelative(token.lastUsedMs) : 'never'}</td>
                  <td>{token.expiresMs ? formatTime(token.expiresMs) : 'never'}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      onClick={async () => {
                        setError(null);
                        try {
                          await client.tokens.revoke(token.id);
                          logins.setData((all) => all.filter((t) => t.id !== token.id));
                        } catch (failure) {
                          setError(message(failure));
                        }
                      }}
                    >
                      Revoke<span className="sr-only"> the login of {token.cliHost}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
