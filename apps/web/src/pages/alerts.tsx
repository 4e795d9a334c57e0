import type { AlertListQuery } from '@tacho/client';
import type { Alert, AlertPage, AlertRule, AlertState, VehicleView } from '@tacho/protocol';
import { Fragment, useCallback, useEffect, useId, useMemo, useState } from 'react';
import { Deliveries } from '../components/alert-deliveries.js';
import { Button, Empty, ErrorBox, errorMessage, Loading, SelectField } from '../components/ui.js';
import {
  alertMessageForDisplay,
  dayToMs,
  mergeFirstPage,
  needsAttention,
  replaceAlert,
  stateLabels,
} from '../lib/alerts.js';
import { useAlerts } from '../lib/alerts-live.js';
import { client } from '../lib/api.js';
import { formatRelative, formatTime } from '../lib/format.js';
import { useNow } from '../lib/live.js';
import { Link, navigate, useLocation } from '../lib/router.js';
import { useAsync } from '../lib/use-async.js';

const PAGE_SIZE = 25;
/** Unresolved alerts shown at the top; more than this many open at once is a rule to fix. */
const ATTENTION_LIMIT = 100;

const stateBadge: Record<AlertState, string> = { open: 'danger', acknowledged: 'warn', resolved: 'ok' };

const stateFilters = [
  { value: 'all', label: 'Any state' },
  { value: 'open', label: 'Open' },
  { value: 'acknowledged', label: 'Acknowledged' },
  { value: 'resolved', label: 'Resolved' },
] as const;

function stateFilter(value: string | null): AlertState | undefined {
  return value === 'open' || value === 'acknowledged' || value === 'resolved' ? value : undefined;
}

export function StateBadge({ alert, now }: { alert: Alert; now: number }) {
  const when =
    alert.state === 'acknowledged'
      ? alert.acknowledgedMs
      : alert.state === 'resolved'
        ? alert.resolvedMs
        : null;
  return (
    <span className="stack" style={{ gap: '0.1rem' }}>
      <span className={`badge ${stateBadge[alert.state]}`}>{stateLabels[alert.state]}</span>
      {when != null && <span className="small muted">{formatRelative(when, now)}</span>}
    </span>
  );
}

/** Alerts as rows: when, vehicle, rule, what it says, state, and the actions; each row opens its deliveries. */
function AlertTable({
  alerts,
  names,
  now,
  onAcknowledged,
  label,
}: {
  alerts: readonly Alert[];
  names: ReadonlyMap<string, string>;
  now: number;
  onAcknowledged: (alert: Alert) => void;
  label: string;
}) {
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<{ id: string; message: string } | null>(null);
  const toggle = (id: string) =>
    setOpen((shown) => {
      const next = new Set(shown);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const acknowledge = async (alert: Alert) => {
    setBusy(alert.id);
    setError(null);
    try {
      onAcknowledged(await client.alerts.acknowledge(alert.id));
    } catch (failure) {
      setError({ id: alert.id, message: errorMessage(failure) });
    } finally {
      setBusy(null);
    }
  };
  return (
    <div className="card table-wrap alerts-table">
      <table aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Fired</th>
            <th scope="col">Vehicle</th>
            <th scope="col">Rule</th>
            <th scope="col">What happened</th>
            <th scope="col">State</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {alerts.map((alert) => {
            const expanded = open.has(alert.id);
            const detailsId = `deliveries-${alert.id}`;
            return (
              <Fragment key={alert.id}>
                <tr data-alert={alert.id} data-state={alert.state}>
                  <td data-label="Fired" className="when">
                    <time dateTime={new Date(alert.firedMs).toISOString()}>{formatTime(alert.firedMs)}</time>
                    <div className="small muted">{formatRelative(alert.firedMs, now)}</div>
                  </td>
                  <td data-label="Vehicle">
                    <Link href={`/vehicles/${alert.vehicleId}`}>{names.get(alert.vehicleId) ?? '…'}</Link>
                  </td>
                  <td data-label="Rule">{alert.ruleName}</td>
                  <td data-label="What happened" className="message">
                    {alertMessageForDisplay(alert.message)}
                  </td>
                  <td data-label="State">
                    <StateBadge alert={alert} now={now} />
                  </td>
                  <td className="actions">
                    <div className="row">
                      {alert.state === 'open' && (
                        <Button
                          className="primary"
                          busy={busy === alert.id}
                          onClick={() => void acknowledge(alert)}
                        >
                          Acknowledge<span className="sr-only"> {alertMessageForDisplay(alert.message)}</span>
                        </Button>
                      )}
                      <button
                        type="button"
                        aria-expanded={expanded}
                        aria-controls={detailsId}
                        onClick={() => toggle(alert.id)}
                      >
                        {expanded ? 'Hide deliveries' : 'Deliveries'}
                      </button>
                    </div>
                    {error?.id === alert.id && (
                      <span className="field-error" role="alert">
                        {error.message}
                      </span>
                    )}
                  </td>
                </tr>
                {expanded && (
                  <tr className="deliveries-row">
                    <td colSpan={6}>
                      <div className="deliveries-panel" id={detailsId}>
                        <Deliveries alertId={alert.id} />
                      </div>
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Open and acknowledged alerts first, with Acknowledge; then the history with filters and paging. */
export function AlertsPage() {
  const { path, search } = useLocation();
  const now = useNow(30_000);
  const { onAlert, refreshCount } = useAlerts();
  const vehicles = useAsync<VehicleView[]>(() => client.vehicles.list(), []);
  const rules = useAsync<AlertRule[]>(() => client.alerts.rules(), []);
  const names = useMemo(() => new Map((vehicles.data ?? []).map((v) => [v.id, v.name])), [vehicles.data]);

  const state = stateFilter(search.get('state'));
  const vehicleId = search.get('vehicle') ?? '';
  const ruleId = search.get('rule') ?? '';
  const fromDay = search.get('from') ?? '';
  const toDay = search.get('to') ?? '';
  const setQuery = (key: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value === 'all' || value === '') next.delete(key);
    else next.set(key, value);
    const query = next.toString();
    navigate(query ? `${path}?${query}` : path, { replace: true });
  };

  const query = useMemo<AlertListQuery>(() => {
    const from = dayToMs(fromDay);
    const to = dayToMs(toDay, true);
    return {
      limit: PAGE_SIZE,
      ...(state ? { state } : {}),
      ...(vehicleId ? { vehicleId } : {}),
      ...(ruleId ? { ruleId } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
    };
  }, [state, vehicleId, ruleId, fromDay, toDay]);

  const attention = useAsync(async () => {
    const [open, acknowledged] = await Promise.all([
      client.alerts.list({ state: 'open', limit: ATTENTION_LIMIT }),
      client.alerts.list({ state: 'acknowledged', limit: ATTENTION_LIMIT }),
    ]);
    return needsAttention(open.items, acknowledged.items);
  }, []);
  const history = useAsync<AlertPage>(() => client.alerts.list(query), [query]);
  const [older, setOlder] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });

  const { reload: reloadAttention, setData: setAttention } = attention;
  const { setData: setHistory } = history;
  const changed = useCallback(
    (alert: Alert) => {
      setAttention((shown) => shown.map((a) => (a.id === alert.id ? alert : a)));
      setHistory((shown) => replaceAlert(shown, alert));
    },
    [setAttention, setHistory],
  );

  // An alert fired, was acknowledged (here or elsewhere) or resolved, or alerts may have changed unseen
  // (null): both lists follow at once.
  useEffect(
    () =>
      onAlert((alert) => {
        if (alert) changed(alert);
        reloadAttention();
        client.alerts.list(query).then(
          (fresh) => setHistory((shown) => mergeFirstPage(shown, fresh)),
          () => {},
        );
      }),
    [onAlert, changed, reloadAttention, query, setHistory],
  );

  const acknowledged = (alert: Alert) => {
    changed(alert);
    refreshCount();
  };

  const loadOlder = async () => {
    const before = history.data?.nextBefore;
    if (!before) return;
    setOlder({ busy: true, error: null });
    try {
      const page = await client.alerts.list({ ...query, before });
      setHistory((shown) => {
        const seen = new Set(shown.items.map((a) => a.id));
        return {
          items: [...shown.items, ...page.items.filter((a) => !seen.has(a.id))],
          nextBefore: page.nextBefore,
        };
      });
      setOlder({ busy: false, error: null });
    } catch (failure) {
      setOlder({ busy: false, error: errorMessage(failure) });
    }
  };

  const attentionTitle = useId();
  const historyTitle = useId();
  const filtered = Boolean(state || vehicleId || ruleId || fromDay || toDay);

  return (
    <>
      <div className="page-head">
        <h1>Alerts</h1>
        <Link href="/alerts/rules" className="button">
          Rules
        </Link>
      </div>

      <section aria-labelledby={attentionTitle} className="stack" style={{ marginBottom: '2rem' }}>
        <h2 id={attentionTitle}>Needs attention</h2>
        {attention.status === 'error' && <ErrorBox error={attention.error} onRetry={attention.reload} />}
        {attention.data === undefined ? (
          attention.status === 'loading' && <Loading what="Loading open alerts" />
        ) : attention.data.length === 0 ? (
          <Empty>
            <p>Nothing needs attention: no alert is open.</p>
            <p>
              Alerts come from <Link href="/alerts/rules">your rules</Link>; a new one appears here at once.
            </p>
          </Empty>
        ) : (
          <AlertTable
            label="Open and acknowledged alerts"
            alerts={attention.data}
            names={names}
            now={now}
            onAcknowledged={acknowledged}
          />
        )}
      </section>

      <section aria-labelledby={historyTitle} className="stack">
        <h2 id={historyTitle}>History</h2>
        <div className="card row filters" style={{ alignItems: 'end', gap: '1rem' }}>
          <SelectField
            label="State"
            value={state ?? 'all'}
            onChange={(v) => setQuery('state', v)}
            options={stateFilters}
          />
          <SelectField
            label="Vehicle"
            value={vehicleId || 'all'}
            onChange={(v) => setQuery('vehicle', v)}
            options={[
              { value: 'all', label: 'All vehicles' },
              ...(vehicles.data ?? []).map((v) => ({ value: v.id, label: v.name })),
            ]}
          />
          <SelectField
            label="Rule"
            value={ruleId || 'all'}
            onChange={(v) => setQuery('rule', v)}
            options={[
              { value: 'all', label: 'All rules' },
              ...(rules.data ?? []).map((r) => ({ value: r.id, label: r.name })),
            ]}
          />
          <div className="field">
            <label htmlFor="alerts-from">From</label>
            <input
              id="alerts-from"
              type="date"
              value={fromDay}
              max={toDay || undefined}
              onChange={(e) => setQuery('from', e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="alerts-to">To</label>
            <input
              id="alerts-to"
              type="date"
              value={toDay}
              min={fromDay || undefined}
              onChange={(e) => setQuery('to', e.target.value)}
            />
          </div>
        </div>
        {history.status === 'error' && <ErrorBox error={history.error} onRetry={history.reload} />}
        {history.data === undefined ? (
          history.status === 'loading' && <Loading what="Loading alert history" />
        ) : history.data.items.length === 0 ? (
          <Empty>
            {filtered ? (
              <p>No alert matches these filters.</p>
            ) : (
              <p>No alerts yet. When a rule fires, its alert stays here after it resolves.</p>
            )}
          </Empty>
        ) : (
          <div className="stack" aria-busy={history.status === 'loading'}>
            <AlertTable
              label="Alert history"
              alerts={history.data.items}
              names={names}
              now={now}
              onAcknowledged={acknowledged}
            />
            {history.data.nextBefore && (
              <div className="row">
                <Button busy={older.busy} onClick={loadOlder}>
                  Older
                </Button>
                {older.error && (
                  <span className="field-error" role="alert">
                    {older.error}
                  </span>
                )}
              </div>
            )}
          </div>
        )}
      </section>
    </>
  );
}
