import type { ExportFormat } from '@tacho/protocol';
import { useId, useState } from 'react';

const formats: ReadonlyArray<{ value: ExportFormat; label: string }> = [
  { value: 'gpx', label: 'GPX (tracks)' },
  { value: 'geojson', label: 'GeoJSON (sessions)' },
  { value: 'csv', label: 'CSV (spreadsheet)' },
  { value: 'ndjson', label: 'NDJSON (re-importable)' },
];

/**
 * A format picker and an Export link: the browser downloads the file the server streams (its login
 * cookies go along, and the server names the file).
 */
export function ExportControl({ urlFor, what }: { urlFor: (format: ExportFormat) => string; what: string }) {
  const [format, setFormat] = useState<ExportFormat>('gpx');
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
      <a
        className="button"
        href={urlFor(format)}
        download
        aria-label={`Export ${what} as ${format.toUpperCase()}`}
      >
        Export
      </a>
    </div>
  );
}
