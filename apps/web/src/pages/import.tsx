import type { ImportFormat, ImportResult } from '@tacho/protocol';
import { type FormEvent, useId, useState } from 'react';
import { Button, ErrorBox, Field, SelectField } from '../components/ui.js';
import { client } from '../lib/api.js';
import { Link } from '../lib/router.js';
import { useAsync } from '../lib/use-async.js';

const formats: ReadonlyArray<{ value: ImportFormat | ''; label: string }> = [
  { value: '', label: 'From the file name' },
  { value: 'gpx', label: 'GPX' },
  { value: 'geojson', label: 'GeoJSON' },
  { value: 'ndjson', label: 'NDJSON (Tacho export)' },
  { value: 'csv', label: 'CSV (Tacho export)' },
];

function formatOf(name: string): ImportFormat | null {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (ext === 'gpx') return 'gpx';
  if (ext === 'geojson' || ext === 'json') return 'geojson';
  if (ext === 'ndjson' || ext === 'jsonl') return 'ndjson';
  if (ext === 'csv') return 'csv';
  return null;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `/vehicles/:id/import`: a file picker, the upload's progress, and what the server stored. */
export function ImportPage({ id }: { id: string }) {
  const vehicle = useAsync(() => client.vehicles.get(id), [id]);
  const fileId = useId();
  const [file, setFile] = useState<File | null>(null);
  const [format, setFormat] = useState<ImportFormat | ''>('');
  const [name, setName] = useState('');
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const chosen = format || (file ? formatOf(file.name) : null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return setError(new Error('Choose a file to import.'));
    if (!chosen) return setError(new Error('Choose the file’s format: its name does not say.'));
    setBusy(true);
    setError(null);
    setResult(null);
    setProgress({ sent: 0, total: file.size });
    try {
      setResult(
        await client.transfer.importFile(id, chosen, file, {
          ...(name.trim() ? { name: name.trim() } : {}),
          onProgress: (sent, total) => setProgress({ sent, total }),
        }),
      );
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const canManage = vehicle.data ? vehicle.data.access !== 'viewer' : true;
  return (
    <>
      <nav aria-label="Breadcrumb" className="small muted" style={{ marginBottom: '0.5rem' }}>
        <Link href="/vehicles">Vehicles</Link> /{' '}
        <Link href={`/vehicles/${id}`}>{vehicle.data?.name ?? '…'}</Link> / Import
      </nav>
      <div className="page-head">
        <h1>Import{vehicle.data ? ` · ${vehicle.data.name}` : ''}</h1>
      </div>
      {!canManage ? (
        <p>You may look at this vehicle but not import into it: ask its owner.</p>
      ) : (
        <form className="card stack" onSubmit={submit} aria-busy={busy}>
          <p className="small muted" style={{ margin: 0 }}>
            GPX (1.0 and 1.1, tracks, routes and waypoints), GeoJSON LineStrings with times, and Tacho’s own
            NDJSON and CSV exports. Each track becomes a recording with its figures; importing a file twice
            stores nothing twice.
          </p>
          <div className="field">
            <label htmlFor={fileId}>File</label>
            <input
              id={fileId}
              type="file"
              accept=".gpx,.geojson,.json,.ndjson,.jsonl,.csv"
              onChange={(e) => {
                setFile(e.target.files?.[0] ?? null);
                setResult(null);
                setError(null);
                setProgress(null);
              }}
            />
          </div>
          <div className="row" style={{ alignItems: 'end', gap: '1rem' }}>
            <SelectField
              label="Format"
              value={format}
              onChange={(v) => setFormat(v as ImportFormat | '')}
              options={formats}
            />
            <Field
              label="Recording name"
              hint="For tracks the file does not name"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <div className="row">
            <Button className="primary" type="submit" busy={busy}>
              Import
            </Button>
            {file && (
              <span className="small muted">
                {file.name} · {size(file.size)}
                {chosen ? ` · ${chosen.toUpperCase()}` : ''}
              </span>
            )}
          </div>
          {progress && (
            <div className="stack" style={{ gap: '0.25rem' }}>
              <progress
                aria-label="Upload progress"
                value={progress.sent}
                max={Math.max(1, progress.total)}
                style={{ width: '100%' }}
              />
              <span className="small muted" aria-live="polite">
                {busy && progress.sent >= progress.total
                  ? `Sent ${size(progress.total)}; storing…`
                  : `Sent ${size(progress.sent)} of ${size(progress.total)}`}
              </span>
            </div>
          )}
        </form>
      )}
      {error !== null && <ErrorBox error={error} />}
      {result && (
        <section className="card stack" aria-label="Import result" style={{ marginTop: '1rem' }}>
          <h2>Imported</h2>
          <dl className="stat-grid">
            <div data-count="stored">
              <dt>Samples stored</dt>
              <dd>{result.stored}</dd>
            </div>
            <div data-count="duplicates">
              <dt>Already there</dt>
              <dd>{result.duplicates}</dd>
            </div>
            <div data-count="rejected">
              <dt>Refused</dt>
              <dd>{result.rejected}</dd>
            </div>
            <div data-count="sessions">
              <dt>Recordings created</dt>
              <dd>{result.sessionsCreated}</dd>
            </div>
            <div data-count="events">
              <dt>Waypoints and events</dt>
              <dd>{result.events}</dd>
            </div>
          </dl>
          {result.reasons.length > 0 && (
            <div>
              <h3 className="small">Why some were refused</h3>
              <ul className="small">
                {result.reasons.map((r) => (
                  <li key={r}>{r}</li>
                ))}
              </ul>
            </div>
          )}
          <div className="row">
            {result.sessionIds.map((sid, i) => (
              <Link key={sid} href={`/sessions/${sid}`} className="button">
                Recording {i + 1}
              </Link>
            ))}
            <Link href={`/vehicles/${id}/sessions`} className="button">
              Drives and charges
            </Link>
          </div>
        </section>
      )}
    </>
  );
}
