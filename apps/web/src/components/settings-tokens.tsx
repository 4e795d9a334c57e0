import type { CreatedToken, TokenScope } from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { client } from '../lib/api.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';
import { Button, Empty, ErrorBox, Field, Loading, SecretLine, SelectField } from './ui.js';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const scopeOptions: ReadonlyArray<{ id: TokenScope; label: string }> = [
  { id: 'read', label: 'Read' },
  { id: 'write', label: 'Write' },
  { id: 'admin', label: 'Admin' },
  // Only for the password of Tesla's fleet-telemetry server at the embedded broker (README).
  { id: 'telemetry', label: 'Telemetry (Tesla fleet-telemetry)' },
];

/** API tokens for scripts: created (shown once), listed, revoked. */
export function ApiTokens() {
  const user = useUser();
  const tokens = useAsync(() => client.tokens.list(), []);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<TokenScope[]>(['read']);
  const [days, setDays] = useState('90');
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const token = await client.tokens.create({
        name: name.trim(),
        scopes,
        ...(days ? { expiresInDays: Number(days) } : {}),
      });
      setCreated(token);
      setName('');
      tokens.setData((all) => [...all, token.info]);
    } catch (failure) {
      setError(message(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="stack">
      <form className="card stack" onSubmit={submit} aria-label="Create an API token">
        <h2>Create an API token</h2>
        {error && (
          <div className="alert error" role="alert">
            {error}
          </div>
        )}
        <Field
          label="Name"
          required
          placeholder="Home Assistant"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <fieldset style={{ border: 0, padding: 0, margin: 0 }}>
          <legend className="small" style={{ fontWeight: 600 }}>
            Scopes
          </legend>
          <div className="row">
            {scopeOptions
              .filter((s) => s.id !== 'admin' || user.role === 'admin')
              .map((scope) => (
                <label key={scope.id} className="row" style={{ gap: '0.3rem' }}>
                  <input
                    type="checkbox"
                    checked={scopes.includes(scope.id)}
                    onChange={() =>
                      setScopes((s) =>
                        s.includes(scope.id) ? s.filter((x) => x !== scope.id) : [...s, scope.id],
                      )
                    }
                  />
                  {scope.label}
                </label>
              ))}
          </div>
        </fieldset>
        <SelectField
          label="Expires"
          value={days}
          onChange={setDays}
          options={[
            { value: '30', label: 'in 30 days' },
            { value: '90', label: 'in 90 days' },
            { value: '365', label: 'in a year' },
            { value: '', label: 'never' },
          ]}
        />
        <div>
          <Button
            type="submit"
            className="primary"
            busy={busy}
            disabled={!name.trim() || scopes.length === 0}
          >
            Create token
          </Button>
        </div>
        {created && (
          <div className="stack">
            <div className="alert success" role="status">
              Copy the token now: it will not be shown again.
            </div>
            <SecretLine label={`Token “${created.info.name}”`} value={created.token} />
          </div>
        )}
      </form>
      {tokens.status === 'error' && <ErrorBox error={tokens.error} onRetry={tokens.reload} />}
      {!tokens.data ? (
        <Loading what="Loading tokens" />
      ) : tokens.data.length === 0 ? (
        <Empty>No API tokens yet.</Empty>
      ) : (
        <div className="table-wrap card">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Starts with</th>
                <th scope="col">Scopes</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((token) => (
                <tr key={token.id}>
                  <td>{token.name}</td>
                  <td className="mono">{token.prefix}…</td>
                  <td>
                    {token.scopes.join(', ')}
                    {token.vehicleId && (
                      <span className="badge plain" style={{ marginLeft: '0.4rem' }}>
                        device
                      </span>
                    )}
                  </td>
                  <td>{formatRelative(token.lastUsedMs)}</td>
                  <td>{token.expiresMs ? formatTime(token.expiresMs) : 'never'}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      onClick={async () => {
                        setError(null);
                        try {
                          await client.tokens.revoke(token.id);
                          tokens.setData((all) => all.filter((t) => t.id !== token.id));
                        } catch (failure) {
                          setError(message(failure));
                        }
                      }}
                    >
                      Revoke<span className="sr-only"> {token.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
