import type { ExportFormat, ExportUnits, UnitPreferences } from '@tacho/protocol';
import { useId, useState } from 'react';
import { useSession } from '../lib/session.js';

const formats: ReadonlyArray<{ value: ExportFormat; label: string }> = [
  { value: 'gpx', label: 'GPX (tracks)' },
  { value: 'geojson', label: 'GeoJSON (sessions)' },
  { value: 'csv', label: 'CSV (spreadsheet)' },
  { value: 'ndjson', label: 'NDJSON (re-importable)' },
];

/** "km, °C, kPa" or "mi, °F, psi": what a CSV in these units holds. */
function unitsText(units: UnitPreferences): string {
  const temperature = units.temperature === 'f' ? '°F' : '°C';
  const pressure = units.pressure === 'kpa' ? 'kPa' : units.pressure;
  return `${units.distance}, ${temperature}, ${pressure}`;
}

/**
 * A format picker and an Export link: the browser downloads the file the server streams (its login
 * cookies go along, and the server names the file). A CSV is in the user's units unless they pick the
 * stored ones; the other formats are always in the stored (canonical) units, so no choice is offered.
 */
export function ExportControl({
  urlFor,
  what,
}: {
  /** `units` only for CSV (the other formats are always canonical). */
  urlFor: (format: ExportFormat, units: ExportUnits | undefined) => string;
  what: string;
}) {
  const { units: preferences } = useSession();
  const [format, setFormat] = useState<ExportFormat>('gpx');
  const [units, setUnits] = useState<ExportUnits>('preferred');
  const id = useId();
  return (
    <div className="row export-control" style={{ alignItems: 'end', gap: '0.5rem' }}>
      <div className="field">
        <label htmlFor={id}>Export format</label>
        <select id={id} value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)}>
          {formats.map((f) => (
            <option key={f.value} value={f.value}>
              {f.label}
            </option>
          ))}
        </select>
      </div>
      {format === 'csv' && (
        <div className="field">
          <label htmlFor={`${id}-units`}>Units</label>
          <select id={`${id}-units`} value={units} onChange={(e) => setUnits(e.target.value as ExportUnits)}>
            <option value="preferred">My units ({unitsText(preferences)})</option>
            <option value="stored">As stored (km, °C, kPa)</option>
          </select>
        </div>
      )}
      <a
        className="button"
        href={urlFor(format, format === 'csv' ? units : undefined)}
        download
        aria-label={`Export ${what} as ${format.toUpperCase()}`}
      >
        Export
      </a>
    </div>
  );
}
