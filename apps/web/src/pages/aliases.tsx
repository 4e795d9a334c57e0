import type { AliasRegistryEntry, AliasSeenModel } from '@tacho/protocol';
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

/** One model's keys as its cars send them: how many are decoded, and the raw-only ones to propose. */
function SeenModel({ model }: { model: AliasSeenModel }) {
  const raw = model.keys.filter((k) => k.canonicalKey === null);
  const name = [model.make, model.model || '(model unknown)', model.year ? String(model.year) : '']
    .filter(Boolean)
    .join(' ');
  return (
    <details className="card" data-testid="seen-model">
      <summary>
        {name}: {model.keys.length} keys from {model.vehicles} {model.vehicles === 1 ? 'car' : 'cars'},{' '}
        {model.keys.length - raw.length} decoded, {raw.length} raw only
      </summary>
      <div className="table-wrap phone-cards">
        <table>
          <thead>
            <tr>
              <th scope="col">Device key</th>
              <th scope="col">Decoded as</th>
              <th scope="col">Cars</th>
            </tr>
          </thead>
          <tbody>
            {model.keys.map((key) => (
              <tr key={key.deviceKey}>
                <td>
                  <span className="mono">{key.deviceKey}</span>
                  {key.name && <div className="muted">{key.name}</div>}
                </td>
                <td data-label="Decoded as">
                  {key.canonicalKey ? metricLabel(key.canonicalKey) : <span className="muted">raw only</span>}
                </td>
                <td data-label="Cars">{key.vehicles}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

/**
 * The shared alias registry: what owners proposed a raw device key means, per model. A proposal stays
 * pending (it decodes only the cars that confirmed it) until enough distinct cars confirmed it; then it is
 * applied to every car of the model. The deep scan's "propose" lands here.
 */
export function AliasesPage() {
  const [filter, setFilter] = useState('');
  const registry = useAsync(() => client.aliases.registry(), []);
  const seen = useAsync(() => client.aliases.seen(), []);
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
              <div className="table-wrap phone-cards">
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
                        <td data-label="Means" className="wide">
                          {metricLabel(entry.canonicalKey)}{' '}
                          <span className="muted mono">{entry.canonicalKey}</span>
                        </td>
                        <td data-label="Scale">
                          {entry.scale}
                          {entry.unit && <span className="muted"> ({entry.unit})</span>}
                        </td>
                        <td data-label="State" className="wide">
                          {entry.state === 'applied' ? (
                            <span className="badge ok">Applied</span>
                          ) : (
                            <span className="badge plain">
                              Pending · {entry.confirmations} of {registry.data?.needed} confirmations
                            </span>
                          )}
                        </td>
                        <td data-label="Proposed">{formatTime(entry.createdMs)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          ))}
        </div>
      )}
      <section className="stack" aria-labelledby="seen-title" style={{ marginTop: '2rem' }}>
        <h2 id="seen-title">Keys your VinFast cars send</h2>
        <p className="muted">
          What your cars actually pushed (through a connected VinFast account or to Tacho's broker), per
          model. A raw-only key has no meaning yet: open a car's deep scan to propose one.
        </p>
        {seen.status === 'error' && <ErrorBox error={seen.error} onRetry={seen.reload} />}
        {seen.data && seen.data.models.length === 0 && (
          <Empty>None of your VinFast cars has sent anything yet.</Empty>
        )}
        {seen.data?.models.map((model) => (
          <SeenModel key={`${model.model}/${model.year}`} model={model} />
        ))}
      </section>
    </>
  );
}
