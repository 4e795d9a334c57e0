import type { AliasRegistryEntry } from '@tacho/protocol';
import { useMemo, useState } from 'react';
import { Empty, ErrorBox, Field, Loading } from '../components/ui.js';
import { client } from '../lib/api.js';
import { formatTime } from '../lib/format.js';
import { metricLabel } from '../lib/metrics.js';
import { useAsync } from '../lib/use-async.js';

/** `VINFAST VF8 2024`, `VINFAST (every model)`. */
function modelName(entry: AliasRegistryEntry): string {
  return [entry.make, entry.model || '(every model)', entry.year ? String(entry.year) : '']
    .filter(Boolean)
    .join(' ');
}

/**
 * The shared alias registry: what owners proposed a raw device key means, per model. A proposal stays
 * pending (it decodes only the cars that confirmed it) until enough distinct cars confirmed it; then it is
 * applied to every car of the model. The deep scan's "propose" lands here.
 */
export function AliasesPage() {
  const [filter, setFilter] = useState('');
  const registry = useAsync(() => client.aliases.registry(), []);
  const groups = useMemo(() => {
    const out = new Map<string, AliasRegistryEntry[]>();
    const needle = filter.trim().toLowerCase();
    for (const entry of registry.data?.items ?? []) {
      const name = modelName(entry);
      const hay = `${name} ${entry.deviceKey} ${entry.name ?? ''} ${entry.canonicalKey}`.toLowerCase();
      if (needle && !hay.includes(needle)) continue;
      out.set(name, [...(out.get(name) ?? []), entry]);
    }
    return [...out.entries()];
  }, [registry.data, filter]);

  return (
    <>
      <div className="page-head">
        <h1>Aliases</h1>
      </div>
      <p className="muted">
        What owners found raw device keys to mean, shared per model. A proposal is pending until{' '}
        {registry.data?.needed ?? 2} different vehicles confirmed it (until then it decodes only the vehicles
        that confirmed it); then it applies to every vehicle of the model. Propose one from a vehicle's deep
        scan.
      </p>
      {registry.status === 'error' && <ErrorBox error={registry.error} onRetry={registry.reload} />}
      {!registry.data && registry.status !== 'error' && <Loading what="Loading the alias registry" />}
      {registry.data && (
        <div className="stack">
          <Field
            label="Filter"
            type="search"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            hint="Model, device key or metric"
          />
          {groups.length === 0 && <Empty>No proposed aliases{filter ? ' match' : ' yet'}.</Empty>}
          {groups.map(([name, entries]) => (
            <section key={name} className="stack" aria-label={`Aliases of ${name}`}>
              <h2>{name}</h2>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Device key</th>
                      <th scope="col">Means</th>
                      <th scope="col">Scale</th>
                      <th scope="col">State</th>
                      <th scope="col">Proposed</th>
                    </tr>
                  </thead>
                  <tbody>
                    {entries.map((entry) => (
                      <tr key={entry.id} data-testid="alias-row">
                        <td>
                          <span className="mono">{entry.deviceKey}</span>
                          {entry.name && <div className="muted">{entry.name}</div>}
                        </td>
                        <td>
                          {metricLabel(entry.canonicalKey)}{' '}
                          <span className="muted mono">{entry.canonicalKey}</span>
                        </td>
                        <td>
                          {entry.scale}
                          {entry.unit && <span className="muted"> ({entry.unit})</span>}
                        </td>
                        <td>
                          {entry.state === 'applied' ? (
                            <span className="badge ok">Applied</span>
                          ) : (
                            <span className="badge plain">
                              Pending · {entry.confirmations} of {registry.data?.needed} confirmations
                            </span>
                          )}
                        </td>
                        <td>{formatTime(entry.createdMs)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          ))}
        </div>
      )}
    </>
  );
}
