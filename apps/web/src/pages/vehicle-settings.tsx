import type { TokenView, VehicleView } from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { DeviceToken, parseYear } from '../components/add-vehicle.js';
import { VehicleSharing } from '../components/settings-sharing.js';
import { Button, ConfirmDialog, Empty, ErrorBox, errorMessage, Field, Loading } from '../components/ui.js';
import { client } from '../lib/api.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { Link, navigate } from '../lib/router.js';
import { useAsync } from '../lib/use-async.js';

/** Name, make, model and year. */
function Details({ vehicle, onSaved }: { vehicle: VehicleView; onSaved: (v: VehicleView) => void }) {
  const [form, setForm] = useState({
    name: vehicle.name,
    make: vehicle.make ?? '',
    model: vehicle.model ?? '',
    year: vehicle.year ? String(vehicle.year) : '',
  });
  const [busy, setBusy] = useState(false);
  const [touched, setTouched] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const { year, error: yearError } = parseYear(form.year);
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  async function save(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (yearError) return;
    setBusy(true);
    setMessage(null);
    try {
      const saved = await client.vehicles.update(vehicle.id, {
        name: form.name.trim(),
        make: form.make.trim() || null,
        model: form.model.trim() || null,
        year,
      });
      onSaved(saved);
      setMessage({ ok: true, text: 'Saved.' });
    } catch (failure) {
      setMessage({ ok: false, text: errorMessage(failure) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card stack" aria-labelledby="details-title" onSubmit={save}>
      <h2 id="details-title">Details</h2>
      <Field label="Name" required maxLength={100} value={form.name} onChange={set('name')} />
      <div className="row" style={{ alignItems: 'start' }}>
        <Field label="Make" maxLength={60} value={form.make} onChange={set('make')} />
        <Field label="Model" maxLength={60} value={form.model} onChange={set('model')} />
        <Field
          label="Year"
          inputMode="numeric"
          maxLength={4}
          error={touched ? yearError : null}
          value={form.year}
          onChange={set('year')}
        />
      </div>
      {message && (
        <div className={message.ok ? 'alert success' : 'alert error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </div>
      )}
      <div>
        <Button type="submit" className="primary" busy={busy} disabled={!form.name.trim()}>
          Save
        </Button>
      </div>
    </form>
  );
}

/** The vehicle's device tokens: name, last use; revoking asks first. */
function DeviceTokens({ vehicle }: { vehicle: VehicleView }) {
  const tokens = useAsync(() => client.vehicles.tokens(vehicle.id), [vehicle.id]);
  const [adding, setAdding] = useState(false);
  const [revoking, setRevoking] = useState<TokenView | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function revoke(token: TokenView) {
    setBusy(true);
    setError(null);
    try {
      await client.vehicles.revokeToken(vehicle.id, token.id);
      tokens.setData((all) => all.filter((t) => t.id !== token.id));
      setRevoking(null);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card stack" aria-labelledby="tokens-title">
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <h2 id="tokens-title">Device tokens</h2>
        {!adding && (
          <button type="button" onClick={() => setAdding(true)}>
            Connect a device
          </button>
        )}
      </div>
      {adding && (
        <DeviceToken vehicle={vehicle} onClose={() => setAdding(false)} onCreated={() => tokens.reload()} />
      )}
      {tokens.status === 'error' && <ErrorBox error={tokens.error} onRetry={tokens.reload} />}
      {!tokens.data ? (
        <Loading what="Loading device tokens" />
      ) : tokens.data.length === 0 ? (
        <Empty>No device can send for this vehicle yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Starts with</th>
                <th scope="col">Last used</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((token) => (
                <tr key={token.id} data-token={token.name}>
                  <td>{token.name}</td>
                  <td className="mono">{token.prefix}…</td>
                  <td title={token.lastUsedMs ? formatTime(token.lastUsedMs) : undefined}>
                    {token.lastUsedMs ? formatRelative(token.lastUsedMs) : 'never'}
                  </td>
                  <td>{formatTime(token.createdMs)}</td>
                  <td>
                    <button type="button" className="danger" onClick={() => setRevoking(token)}>
                      Revoke<span className="sr-only"> {token.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke the token “${revoking.name}”?`}
          confirmLabel="Revoke"
          busy={busy}
          error={error}
          onConfirm={() => void revoke(revoking)}
          onCancel={() => setRevoking(null)}
        >
          The device that uses it can no longer send telemetry for {vehicle.name}, over MQTT or HTTP.
        </ConfirmDialog>
      )}
    </section>
  );
}

/** Deleting the vehicle and everything recorded for it, after a confirmation that says so. */
function DeleteVehicle({ vehicle }: { vehicle: VehicleView }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function remove() {
    setBusy(true);
    setError(null);
    try {
      await client.vehicles.delete(vehicle.id);
      navigate('/vehicles', { replace: true });
    } catch (failure) {
      setError(errorMessage(failure));
      setBusy(false);
    }
  }

  return (
    <section className="card stack" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete this vehicle</h2>
      <p className="muted" style={{ margin: 0 }}>
        Deletes {vehicle.name} with all its samples, drives, charges, recordings, tokens and shares. This
        cannot be undone; export what you want to keep first.
      </p>
      <div>
        <button type="button" className="danger" onClick={() => setAsking(true)}>
          Delete vehicle
        </button>
      </div>
      {asking && (
        <ConfirmDialog
          title={`Delete ${vehicle.name} and its data?`}
          confirmLabel="Delete vehicle and data"
          busy={busy}
          error={error}
          onConfirm={() => void remove()}
          onCancel={() => setAsking(false)}
        >
          Every sample, drive, charge and recording of {vehicle.name} is deleted, and its devices can no
          longer send. This cannot be undone.
        </ConfirmDialog>
      )}
    </section>
  );
}

/** `/vehicles/:id/settings`: what who manages a vehicle changes about it. */
export function VehicleSettingsPage({ id }: { id: string }) {
  const vehicle = useAsync(() => client.vehicles.get(id), [id]);
  if (vehicle.status === 'error') return <ErrorBox error={vehicle.error} onRetry={vehicle.reload} />;
  if (!vehicle.data) return <Loading what="Loading vehicle" />;
  const v = vehicle.data;
  const canShare = v.access === 'owner' || v.access === 'admin';
  return (
    <>
      <nav aria-label="Breadcrumb" className="small muted" style={{ marginBottom: '0.5rem' }}>
        <Link href="/vehicles">Vehicles</Link> / <Link href={`/vehicles/${id}`}>{v.name}</Link> / Manage
      </nav>
      <div className="page-head">
        <h1>Manage {v.name}</h1>
      </div>
      {v.access === 'viewer' ? (
        <Empty>Only who manages {v.name} can change it.</Empty>
      ) : (
        <div className="stack">
          <Details vehicle={v} onSaved={(saved) => vehicle.setData(() => saved)} />
          <DeviceTokens vehicle={v} />
          {canShare && <VehicleSharing vehicle={v} />}
          {canShare && <DeleteVehicle vehicle={v} />}
        </div>
      )}
    </>
  );
}
