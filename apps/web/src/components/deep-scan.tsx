import { metricKeys, type RawKey, type VehicleView } from '@tacho/protocol';
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { client } from '../lib/api.js';
import { formatDuration, formatValue } from '../lib/format.js';
import { useNow } from '../lib/live.js';
import { metricLabel } from '../lib/metrics.js';
import { useAsync } from '../lib/use-async.js';
import { Button, Drawer, Empty, ErrorBox, Loading } from './ui.js';

/** The raw keys change with every message; re-reading them this often keeps the drawer live enough. */
const REFRESH_MS = 2000;

function ProposeAlias({
  vehicle,
  rawKey,
  onDone,
}: {
  vehicle: VehicleView;
  rawKey: RawKey;
  onDone: () => void;
}) {
  const [canonicalKey, setCanonicalKey] = useState('');
  const [scale, setScale] = useState('1');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const listId = `canonical-${rawKey.key}`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setResult(null);
    try {
      await client.aliases.propose({
        vehicleId: vehicle.id,
        deviceKey: rawKey.key,
        canonicalKey,
        scale: Number(scale) || 1,
      });
      setResult({
        ok: true,
        text: 'Proposed. It is pending on the Aliases page until another vehicle of this model confirms it.',
      });
    } catch (failure) {
      setResult({ ok: false, text: failure instanceof Error ? failure.message : String(failure) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="stack card" style={{ gap: '0.5rem', marginTop: '0.5rem' }}>
      <div className="field">
        <label htmlFor={`${listId}-input`}>Canonical metric for {rawKey.key}</label>
        <input
          id={`${listId}-input`}
          list={listId}
          required
          value={canonicalKey}
          onChange={(e) => setCanonicalKey(e.target.value)}
        />
        <datalist id={listId}>
          {metricKeys.map((key) => (
            <option key={key} value={key}>
              {metricLabel(key)}
            </option>
          ))}
        </datalist>
      </div>
      <div className="field">
        <label htmlFor={`${listId}-scale`}>Scale (value × scale)</label>
        <input
          id={`${listId}-scale`}
          inputMode="decimal"
          value={scale}
          onChange={(e) => setScale(e.target.value)}
        />
      </div>
      {result && (
        <div className={result.ok ? 'alert success' : 'alert error'} role="status">
          {result.text} {result.ok && <a href="/aliases">Open the Aliases page</a>}
        </div>
      )}
      <div className="row">
        {!result?.ok && (
          <Button type="submit" className="primary" busy={busy} disabled={!metricKeys.includes(canonicalKey)}>
            Send proposal
          </Button>
        )}
        <button type="button" onClick={onDone}>
          Close
        </button>
      </div>
    </form>
  );
}

/** Every raw device key with its value, mapping and age, grouped by object id, searchable, refreshed. */
export function DeepScan({ vehicle, onClose }: { vehicle: VehicleView; onClose: () => void }) {
  const scan = useAsync(() => client.readings.raw(vehicle.id), [vehicle.id]);
  const [query, setQuery] = useState('');
  const [proposing, setProposing] = useState<string | null>(null);
  const now = useNow(1000);
  const { reload } = scan;

  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);

  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    return (scan.data?.groups ?? [])
      .map((group) => ({
        ...group,
        keys: group.keys.filter(
          (k) =>
            !q ||
            k.key.toLowerCase().includes(q) ||
            (k.canonicalKey ?? '').toLowerCase().includes(q) ||
            String(k.value).toLowerCase().includes(q),
        ),
      }))
      .filter((group) => group.keys.length > 0);
  }, [scan.data, query]);
  const total = scan.data?.groups.reduce((n, g) => n + g.keys.length, 0) ?? 0;
  const shownCount = groups.reduce((n, g) => n + g.keys.length, 0);

  return (
    <Drawer title="Deep scan" onClose={onClose}>
      <div className="stack">
        <div className="field">
          <label htmlFor="deep-scan-search">Search keys, mapped names and values</label>
          <input
            id="deep-scan-search"
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder="e.g. 34183 or battery"
          />
        </div>
        {scan.status === 'error' && <ErrorBox error={scan.error} onRetry={reload} />}
        {scan.data === undefined ? (
          <Loading what="Reading raw keys" />
        ) : total === 0 ? (
          <Empty>This vehicle has not sent any raw device keys yet.</Empty>
        ) : groups.length === 0 ? (
          <Empty>No key matches “{query}”.</Empty>
        ) : (
          <>
            <p className="small muted" aria-live="polite">
              {shownCount === total ? `${total} keys` : `${shownCount} of ${total} keys`} · updated every{' '}
              {REFRESH_MS / 1000} s
            </p>
            {groups.map((group) => (
              <section key={group.objectId ?? 'other'} aria-label={`Object ${group.objectId ?? 'other'}`}>
                <h3>{group.objectId ? `Object ${group.objectId}` : 'Other keys'}</h3>
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Key</th>
                        <th scope="col">Value</th>
                        <th scope="col">Mapped to</th>
                        <th scope="col">Age</th>
                      </tr>
                    </thead>
                    <tbody>
                      {group.keys.map((k) => (
                        <tr key={k.key} data-raw-key={k.key}>
                          <td className="mono">{k.key}</td>
                          <td>
                            {formatValue(k.value, null)}
                            {k.unit ? ` ${k.unit}` : ''}
                          </td>
                          <td>
                            {k.canonicalKey ? (
                              <span title={k.canonicalKey}>{metricLabel(k.canonicalKey)}</span>
                            ) : (
                              <>
                                <span className="muted">unmapped</span>{' '}
                                <button type="button" className="link" onClick={() => setProposing(k.key)}>
                                  Propose alias
                                </button>
                              </>
                            )}
                            {proposing === k.key && (
                              <ProposeAlias vehicle={vehicle} rawKey={k} onDone={() => setProposing(null)} />
                            )}
                          </td>
                          <td className="small" style={{ whiteSpace: 'nowrap' }}>
                            {formatDuration(now - k.lastSeenMs)}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </section>
            ))}
          </>
        )}
      </div>
    </Drawer>
  );
}
