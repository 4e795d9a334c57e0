import type { VinFastAccount, VinFastRegion, VinFastVehicleItem } from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { client } from '../lib/api.js';
import { formatTime } from '../lib/format.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';
import { Button, ConfirmDialog, Empty, ErrorBox, errorMessage, Field, Loading, SelectField } from './ui.js';

const REGIONS: ReadonlyArray<{ value: VinFastRegion; label: string }> = [
  { value: 'vn', label: 'Vietnam' },
  { value: 'us', label: 'United States' },
  { value: 'eu', label: 'Europe' },
];

const STATE_LABELS: Record<VinFastAccount['state'], { label: string; tone: string }> = {
  connected: { label: 'Connected', tone: 'ok' },
  refreshing: { label: 'Refreshing', tone: 'plain' },
  reauth_needed: { label: 'Sign in to VinFast again', tone: 'danger' },
  error: { label: 'Error', tone: 'warn' },
};

/** The live connection to VinFast's cloud, in words. */
const STREAM_LABELS: Record<string, string> = {
  connecting: 'connecting to live data',
  live: 'receiving live data',
  waiting: 'live data interrupted, retrying',
  reauth: 'live data stopped',
  stopped: 'live data stopped',
};

function Vehicles({ account, canAdd }: { account: VinFastAccount; canAdd: boolean }) {
  const cars = useAsync(() => client.vinfast.vehicles(account.id).then((r) => r.items), [account.id]);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (cars.status === 'error') return <ErrorBox error={cars.error} onRetry={cars.reload} />;
  if (!cars.data) return <Loading what="Asking VinFast for the account's vehicles" />;
  if (cars.data.length === 0) return <Empty>This VinFast account has no vehicles.</Empty>;
  const add = async (car: VinFastVehicleItem) => {
    setBusy(car.vin);
    setError(null);
    try {
      const { vehicleId } = await client.vinfast.addVehicle(account.id, car.vin);
      cars.setData((all) => all.map((c) => (c.vin === car.vin ? { ...c, vehicleId } : c)));
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(null);
    }
  };
  return (
    <div className="stack">
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Vehicle</th>
              <th scope="col">Model</th>
              <th scope="col">VIN</th>
              <th scope="col">In Tacho</th>
            </tr>
          </thead>
          <tbody>
            {cars.data.map((car) => (
              <tr key={car.vin}>
                <td>{car.name ?? 'VinFast'}</td>
                <td>{[car.model, car.year].filter(Boolean).join(' ') || '—'}</td>
                <td className="mono">{car.vin}</td>
                <td>
                  {car.vehicleId ? (
                    <a href={`/vehicles/${car.vehicleId}`}>Open</a>
                  ) : canAdd ? (
                    <Button busy={busy === car.vin} onClick={() => add(car)}>
                      Add<span className="sr-only"> {car.name ?? car.vin}</span>
                    </Button>
                  ) : (
                    <span className="muted">not added</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** Email, password and region; the password goes to VinFast through the server and is not kept. */
function ConnectForm({
  initialEmail,
  initialRegion,
  onConnected,
  onCancel,
}: {
  initialEmail?: string;
  initialRegion?: string;
  onConnected: (account: VinFastAccount) => void;
  onCancel?: () => void;
}) {
  const [email, setEmail] = useState(initialEmail ?? '');
  const [password, setPassword] = useState('');
  const [region, setRegion] = useState<string>(initialRegion ?? 'vn');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const account = await client.vinfast.connect({ email, password, region: region as VinFastRegion });
      setPassword('');
      onConnected(account);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card stack" onSubmit={submit} aria-label="Connect a VinFast account">
      <Field
        label="VinFast account email"
        type="email"
        autoComplete="username"
        required
        value={email}
        onChange={(e) => setEmail(e.target.value)}
      />
      <Field
        label="VinFast password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        hint="Sent to VinFast to sign in, then forgotten: Tacho keeps only the tokens VinFast returns."
      />
      <SelectField label="Region" value={region} onChange={setRegion} options={REGIONS} />
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      <div className="row" style={{ gap: '0.5rem' }}>
        <Button type="submit" busy={busy}>
          Connect
        </Button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/**
 * Settings → Connected accounts → VinFast: connect an account (email, password, region), each account's
 * state and live connection, its vehicles to add, signing in again, and disconnecting (Tacho deletes the
 * tokens; the vehicles and their data stay).
 */
export function VinFastAccounts() {
  const user = useUser();
  const accounts = useAsync(() => client.vinfast.accounts(), []);
  const [adding, setAdding] = useState(false);
  const [reauth, setReauth] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [leaving, setLeaving] = useState<VinFastAccount | null>(null);
  const [leavingBusy, setLeavingBusy] = useState(false);
  const [leaveError, setLeaveError] = useState<string | null>(null);
  const canConnect = user.role !== 'viewer';

  const connected = (account: VinFastAccount) => {
    accounts.setData((data) => ({
      ...data,
      items: [...data.items.filter((a) => a.id !== account.id), account],
    }));
    setAdding(false);
    setReauth(null);
    setOpen(account.id);
  };

  return (
    <section className="stack" aria-labelledby="vinfast-title">
      <h2 id="vinfast-title">VinFast</h2>
      {accounts.status === 'error' && <ErrorBox error={accounts.error} onRetry={accounts.reload} />}
      {!accounts.data && accounts.status !== 'error' && <Loading what="Loading VinFast accounts" />}
      {accounts.data && accounts.data.items.length === 0 && !adding && (
        <Empty>No VinFast account is connected.</Empty>
      )}
      {accounts.data?.items.map((account) => {
        const state = STATE_LABELS[account.state];
        return (
          <article key={account.id} className="card stack" aria-label={`VinFast account ${account.label}`}>
            <div className="row" style={{ justifyContent: 'space-between', flexWrap: 'wrap', gap: '0.5rem' }}>
              <div>
                <strong>{account.label}</strong>{' '}
                <span className={`badge ${state.tone}`} data-testid="vinfast-account-state">
                  {state.label}
                </span>
                <div className="muted">
                  Region {account.region.toUpperCase()} · connected {formatTime(account.createdMs)} ·{' '}
                  {account.vehicleCount} {account.vehicleCount === 1 ? 'vehicle' : 'vehicles'} in Tacho
                  {account.stream && (
                    <span data-testid="vinfast-stream">
                      {' '}
                      · {STREAM_LABELS[account.stream] ?? account.stream}
                    </span>
                  )}
                </div>
                {account.stateReason && account.state !== 'connected' && (
                  <p className="muted">{account.stateReason}</p>
                )}
              </div>
              <div className="row" style={{ gap: '0.5rem' }}>
                {account.state === 'reauth_needed' && canConnect && account.ownerId === user.id && (
                  <button type="button" onClick={() => setReauth(account.id)}>
                    Sign in to VinFast again
                  </button>
                )}
                {account.state !== 'reauth_needed' && (
                  <button
                    type="button"
                    aria-expanded={open === account.id}
                    onClick={() => setOpen(open === account.id ? null : account.id)}
                  >
                    {open === account.id ? 'Hide vehicles' : 'Vehicles'}
                    <span className="sr-only"> of {account.label}</span>
                  </button>
                )}
                <button type="button" className="danger" onClick={() => setLeaving(account)}>
                  Disconnect<span className="sr-only"> {account.label}</span>
                </button>
              </div>
            </div>
            {reauth === account.id && (
              <ConnectForm
                initialEmail={account.label}
                initialRegion={account.region}
                onConnected={connected}
                onCancel={() => setReauth(null)}
              />
            )}
            {open === account.id && account.state !== 'reauth_needed' && (
              <Vehicles account={account} canAdd={canConnect && account.ownerId === user.id} />
            )}
          </article>
        );
      })}
      {canConnect &&
        (adding ? (
          <ConnectForm onConnected={connected} onCancel={() => setAdding(false)} />
        ) : (
          <div>
            <button type="button" onClick={() => setAdding(true)}>
              Connect a VinFast account
            </button>
          </div>
        ))}
      {leaving && (
        <ConfirmDialog
          title={`Disconnect ${leaving.label}?`}
          confirmLabel="Disconnect"
          busy={leavingBusy}
          error={leaveError}
          onCancel={() => {
            setLeaving(null);
            setLeaveError(null);
          }}
          onConfirm={async () => {
            setLeavingBusy(true);
            setLeaveError(null);
            try {
              await client.vinfast.disconnect(leaving.id);
              accounts.setData((data) => ({ ...data, items: data.items.filter((a) => a.id !== leaving.id) }));
              setLeaving(null);
            } catch (failure) {
              setLeaveError(errorMessage(failure));
            } finally {
              setLeavingBusy(false);
            }
          }}
        >
          <p>
            Tacho deletes this account's VinFast tokens and stops receiving its vehicles' live data. The
            vehicles and what they recorded stay.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
