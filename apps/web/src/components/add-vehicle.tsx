import {
  type CreatedToken,
  isValidVin,
  normalizeVin,
  type VehicleKind,
  type VehicleView,
} from '@tacho/protocol';
import { type FormEvent, useState } from 'react';
import { client } from '../lib/api.js';
import { useWebConfig } from '../lib/config.js';
import { Button, Field, SecretLine, SelectField } from './ui.js';

function vinProblem(vin: string): string | null {
  if (vin.length === 0) return null;
  if (/[IOQ]/.test(vin)) return 'A VIN never contains the letters I, O or Q (they look like 1 and 0).';
  if (/[^A-Z0-9]/.test(vin)) return 'A VIN has only letters and digits.';
  if (vin.length !== 17) return `A VIN has 17 characters; this one has ${vin.length}.`;
  return isValidVin(vin) ? null : 'This is not a valid VIN.';
}

const kindOptions: ReadonlyArray<{ value: VehicleKind; label: string }> = [
  { value: 'car', label: 'Car' },
  { value: 'motorcycle', label: 'Motorcycle' },
  { value: 'truck', label: 'Truck' },
  { value: 'phone', label: 'Phone' },
  { value: 'tracker', label: 'Tracker' },
  { value: 'other', label: 'Other' },
];

/** Adds a vehicle, then offers its device token with everything a device needs to send data. */
export function AddVehicle({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (vehicle: VehicleView) => void;
}) {
  const [form, setForm] = useState({ vin: '', name: '', make: '', model: '', year: '' });
  const [kind, setKind] = useState<VehicleKind>('car');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [vehicle, setVehicle] = useState<VehicleView | null>(null);

  const vin = normalizeVin(form.vin);
  // The VIN is optional: a phone, a tracker or a car built before 1981 has none.
  const vinError = vinProblem(vin);
  const { year, error: yearError } = parseYear(form.year);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (vinError || !form.name.trim() || yearError) return;
    setBusy(true);
    setError(null);
    try {
      const created = await client.vehicles.create({
        ...(vin ? { vin } : {}),
        kind,
        name: form.name.trim(),
        make: form.make.trim() || null,
        model: form.model.trim() || null,
        year,
      });
      setVehicle(created);
      onCreated(created);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  }

  const set = (key: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  if (vehicle) return <DeviceToken vehicle={vehicle} onClose={onClose} />;
  return (
    <section className="card" aria-labelledby="add-vehicle-title" style={{ marginBottom: '1.5rem' }}>
      <h2 id="add-vehicle-title">Add a vehicle</h2>
      <form className="stack" onSubmit={submit} noValidate>
        {error && (
          <div className="alert error" role="alert">
            {error}
          </div>
        )}
        <SelectField
          label="Kind"
          value={kind}
          onChange={(value) => setKind(value as VehicleKind)}
          options={kindOptions}
        />
        <Field
          label="VIN"
          autoComplete="off"
          spellCheck={false}
          maxLength={25}
          hint="Optional. 17 characters, on the registration document or at the bottom of the windscreen; a phone or tracker has none."
          error={vinError}
          value={form.vin}
          onChange={set('vin')}
          className="mono"
        />
        <Field
          label="Name"
          required
          placeholder="Family car"
          error={touched && !form.name.trim() ? 'Give the vehicle a name.' : null}
          value={form.name}
          onChange={set('name')}
        />
        <div
          style={{ display: 'grid', gap: '0.5rem', gridTemplateColumns: '1fr 1fr 6rem', alignItems: 'start' }}
        >
          <Field label="Make" value={form.make} onChange={set('make')} />
          <Field label="Model" value={form.model} onChange={set('model')} />
          <Field
            label="Year"
            inputMode="numeric"
            size={6}
            error={yearError}
            value={form.year}
            onChange={set('year')}
          />
        </div>
        <div className="row">
          <Button type="submit" className="primary" busy={busy}>
            Add vehicle
          </Button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

/** Creates a device token and shows it once, with the MQTT and HTTP settings to copy. */
export function DeviceToken({
  vehicle,
  onClose,
  onCreated,
}: {
  vehicle: VehicleView;
  onClose: () => void;
  /** Heard once the token exists (a list of tokens then shows it). */
  onCreated?: () => void;
}) {
  const { mqttUrl } = useWebConfig();
  const [tokenName, setTokenName] = useState('device');
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // A vehicle without a VIN is named by its id wherever a VIN would go.
  const name = vehicle.vin ?? vehicle.id;
  const httpUrl = `${window.location.origin}/api/v1/vehicles/${name}/telemetry`;
  const topic = `tacho/v1/${name}/telemetry`;

  async function create() {
    setBusy(true);
    setError(null);
    try {
      setCreated(await client.vehicles.createToken(vehicle.id, tokenName.trim() || 'device'));
      onCreated?.();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card stack" aria-labelledby="device-token-title" style={{ marginBottom: '1.5rem' }}>
      <h2 id="device-token-title">Connect a device to {vehicle.name}</h2>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {!created ? (
        <>
          <p className="muted">
            A device token lets one device send telemetry for this vehicle, and nothing else. It is shown only
            once.
          </p>
          <Field
            label="Token name"
            hint="Which device it is for, e.g. “OBD dongle” or “Phone”: the list of tokens shows it."
            maxLength={100}
            value={tokenName}
            onChange={(e) => setTokenName(e.target.value)}
          />
          <div className="row">
            <Button className="primary" busy={busy} onClick={create}>
              Create device token
            </Button>
            <button type="button" onClick={onClose}>
              Later
            </button>
          </div>
        </>
      ) : (
        <>
          <div className="alert success" role="status">
            Copy the token now: it will not be shown again.
          </div>
          <SecretLine label="Device token" value={created.token} />
          <h3>MQTT</h3>
          {mqttUrl && <SecretLine label="Broker" value={mqttUrl} />}
          <SecretLine label="Username" value={name} />
          <SecretLine label="Password" value={created.token} />
          <SecretLine label="Topic (QoS 1)" value={topic} />
          <h3>HTTP</h3>
          <SecretLine label="POST URL" value={httpUrl} />
          <SecretLine label="Header" value={`Authorization: Bearer ${created.token}`} />
          <SecretLine
            label="Try it with curl"
            value={`curl -X POST ${httpUrl} -H 'Authorization: Bearer ${created.token}' -H 'Content-Type: application/json' -d '{"ts":'$(date +%s000)',"metrics":{"battery_level_pct":80}}'`}
          />
          <div>
            <button type="button" onClick={onClose}>
              Done
            </button>
          </div>
        </>
      )}
    </section>
  );
}

/**
 * A vehicle's model year as typed: empty is none; anything but a whole year from 1886 to 2100 is an error
 * to show (Number('20x9') is NaN, which JSON would send as null and so clear the year instead).
 */
export function parseYear(text: string): { year: number | null; error: string | null } {
  const trimmed = text.trim();
  if (!trimmed) return { year: null, error: null };
  const year = Number(trimmed);
  return /^\d{4}$/.test(trimmed) && year >= 1886 && year <= 2100
    ? { year, error: null }
    : { year: null, error: 'Enter a year such as 2023.' };
}
