import type { VinFastAccount, VinFastRegion, VinFastVehicleItem } from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { client } from '../lib/api.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';
import { MakerAccountCard } from './maker-account.js';
import { type MakerColumn, MakerVehicles, vinColumn } from './maker-vehicles.js';
import { Button, Empty, ErrorBox, errorMessage, Field, Loading, SelectField } from './ui.js';

const REGIONS: ReadonlyArray<{ value: VinFastRegion; label: string }> = [
  { value: 'vn', label: 'Vietnam' },
  { value: 'us', label: 'United States' },
  { value: 'eu', label: 'Europe' },
];

/** The live connection to VinFast's cloud, in words. */
const STREAM_LABELS: Record<string, string> = {
  connecting: 'connecting to live data',
  live: 'receiving live data',
  waiting: 'live data interrupted, retrying',
  reauth: 'live data stopped',
  stopped: 'live data stopped',
};

const COLUMNS: ReadonlyArray<MakerColumn<VinFastVehicleItem>> = [
  { label: 'Model', cell: (car) => [car.model, car.year].filter(Boolean).join(' ') || '—' },
  vinColumn,
];

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
      {accounts.data?.items.map((account) => (
        <MakerAccountCard
          key={account.id}
          maker="VinFast"
          account={account}
          details={
            <>
              {account.vehicleCount} {account.vehicleCount === 1 ? 'vehicle' : 'vehicles'} in Tacho
              {account.stream && (
                <span data-testid="vinfast-stream"> · {STREAM_LABELS[account.stream] ?? account.stream}</span>
              )}
            </>
          }
          actions={
            account.state === 'reauth_needed' &&
            canConnect &&
            account.ownerId === user.id && (
              <button type="button" onClick={() => setReauth(account.id)}>
                Sign in to VinFast again
              </button>
            )
          }
          open={open === account.id}
          onToggle={() => setOpen(open === account.id ? null : account.id)}
          onDisconnect={async () => {
            await client.vinfast.disconnect(account.id);
            accounts.setData((data) => ({ ...data, items: data.items.filter((a) => a.id !== account.id) }));
          }}
          disconnectNote={
            <p>
              Tacho deletes this account's VinFast tokens and stops receiving its vehicles' live data. The
              vehicles and what they recorded stay.
            </p>
          }
        >
          {reauth === account.id && (
            <ConnectForm
              initialEmail={account.label}
              initialRegion={account.region}
              onConnected={connected}
              onCancel={() => setReauth(null)}
            />
          )}
          {open === account.id && account.state !== 'reauth_needed' && (
            <MakerVehicles
              maker="VinFast"
              accountId={account.id}
              load={(id) => client.vinfast.vehicles(id).then((r) => r.items)}
              add={(id, vin) => client.vinfast.addVehicle(id, vin)}
              canAdd={canConnect && account.ownerId === user.id}
              columns={COLUMNS}
            />
          )}
        </MakerAccountCard>
      ))}
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
    </section>
  );
}
