import type { ShareRole, VehicleAccessView, VehicleView } from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { client } from '../lib/api.js';
import { useAsync } from '../lib/use-async.js';
import { Button, ConfirmDialog, Empty, ErrorBox, Field, Loading, SelectField } from './ui.js';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Who else sees one vehicle, and sharing it by email. */
export function VehicleSharing({ vehicle }: { vehicle: VehicleView }) {
  const access = useAsync(() => client.vehicles.access(vehicle.id), [vehicle.id]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<ShareRole>('viewer');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ending, setEnding] = useState<VehicleAccessView | null>(null);
  const [endBusy, setEndBusy] = useState(false);
  const [endError, setEndError] = useState<string | null>(null);

  async function endSharing(entry: VehicleAccessView) {
    setEndBusy(true);
    setEndError(null);
    try {
      await client.vehicles.unshare(vehicle.id, entry.userId);
      access.setData((all) => all.filter((a) => a.userId !== entry.userId));
      setEnding(null);
    } catch (failure) {
      setEndError(message(failure));
    } finally {
      setEndBusy(false);
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await client.vehicles.share(vehicle.id, { email: email.trim(), role });
      setEmail('');
      access.reload();
    } catch (failure) {
      setError(message(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card stack" aria-label={`Sharing of ${vehicle.name}`}>
      <h2>{vehicle.name}</h2>
      {access.status === 'error' && <ErrorBox error={access.error} onRetry={access.reload} />}
      {access.data &&
        (access.data.length === 0 ? (
          <p className="muted">Not shared with anyone.</p>
        ) : (
          <ul className="stack" style={{ listStyle: 'none', padding: 0, margin: 0, gap: '0.4rem' }}>
            {access.data.map((entry) => (
              <li key={entry.userId} className="row" style={{ justifyContent: 'space-between' }}>
                <span>
                  {entry.name} <span className="muted">({entry.email})</span> · {entry.role}
                </span>
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    setEndError(null);
                    setEnding(entry);
                  }}
                >
                  Stop sharing<span className="sr-only"> with {entry.email}</span>
                </button>
              </li>
            ))}
          </ul>
        ))}
      <form className="row" style={{ alignItems: 'end' }} onSubmit={submit}>
        <Field
          label="Share with (email)"
          type="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <SelectField
          label="As"
          value={role}
          onChange={(value) => setRole(value as ShareRole)}
          options={[
            { value: 'viewer', label: 'viewer (sees it)' },
            { value: 'operator', label: 'operator (also manages it)' },
          ]}
        />
        <Button type="submit" busy={busy} disabled={!email.trim()}>
          Share
        </Button>
      </form>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {ending && (
        <ConfirmDialog
          title={`Stop sharing ${vehicle.name}?`}
          confirmLabel="Stop sharing"
          busy={endBusy}
          error={endError}
          onConfirm={() => void endSharing(ending)}
          onCancel={() => setEnding(null)}
        >
          {ending.name} ({ending.email}) will no longer see {vehicle.name} or its data.
        </ConfirmDialog>
      )}
    </section>
  );
}

/** Sharing each vehicle the user owns with other users, by email. */
export function Sharing() {
  const vehicles = useAsync(() => client.vehicles.list(), []);
  if (vehicles.status === 'error') return <ErrorBox error={vehicles.error} onRetry={vehicles.reload} />;
  if (!vehicles.data) return <Loading what="Loading vehicles" />;
  const shareable = vehicles.data.filter((v) => v.access === 'owner' || v.access === 'admin');
  if (shareable.length === 0) return <Empty>You have no vehicle of your own to share.</Empty>;
  return (
    <div className="stack">
      {shareable.map((vehicle) => (
        <VehicleSharing key={vehicle.id} vehicle={vehicle} />
      ))}
    </div>
  );
}
