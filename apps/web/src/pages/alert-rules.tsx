import type { AlertRule, AlertTestResult, VehicleView } from '@tacho/protocol';
import { Fragment, useMemo, useState } from 'react';
import { RuleFormCard } from '../components/alert-rule-form.js';
import {
  Button,
  ConfirmDialog,
  CopyButton,
  Empty,
  ErrorBox,
  errorMessage,
  Loading,
} from '../components/ui.js';
import { describeChannel, describeRule } from '../lib/alerts.js';
import { client } from '../lib/api.js';
import { formatDuration } from '../lib/format.js';
import { Link } from '../lib/router.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';

type TestState = { busy: true } | { busy: false; result?: AlertTestResult; error?: string };

function TestResults({ state }: { state: TestState }) {
  if (state.busy) return <span className="muted small">Sending a test…</span>;
  if (state.error)
    return (
      <div className="alert error" role="alert">
        The test could not be sent: {state.error}
      </div>
    );
  if (!state.result) return null;
  if (state.result.results.length === 0)
    return (
      <div className="alert warn" role="status">
        This rule has no channel to send to.
      </div>
    );
  const allOk = state.result.results.every((r) => r.ok);
  return (
    <div className={`alert ${allOk ? 'success' : 'error'} test-results`} role="status">
      <strong>Test notification</strong>
      <ul>
        {state.result.results.map((r) => (
          <li key={`${r.channel}:${r.target}`} data-ok={r.ok}>
            {r.ok ? '✓' : '✗'}{' '}
            {r.channel === 'inapp' ? (
              'Dashboard notice'
            ) : (
              <>
                {r.channel === 'email' ? 'Email' : 'Webhook'} to <span className="mono">{r.target}</span>
              </>
            )}
            {r.ok ? ': sent' : `: ${r.error ?? 'failed'}`}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Alert rules: list, create, edit, enable or disable, test, delete (with confirmation). */
export function AlertRulesPage() {
  const user = useUser();
  const canCreate = user.role !== 'viewer';
  const rules = useAsync<AlertRule[]>(() => client.alerts.rules(), []);
  const vehicles = useAsync<VehicleView[]>(() => client.vehicles.list(), []);
  const names = useMemo(() => new Map((vehicles.data ?? []).map((v) => [v.id, v.name])), [vehicles.data]);
  const [editing, setEditing] = useState<AlertRule | 'new' | null>(null);
  const [tests, setTests] = useState<ReadonlyMap<string, TestState>>(new Map());
  const [rowError, setRowError] = useState<{ id: string; message: string } | null>(null);
  // The rule being switched and the state it is switching to: the box shows the new state at once
  // (and goes back if the server refuses), instead of staying as it was until the reply.
  const [toggling, setToggling] = useState<{ id: string; to: boolean } | null>(null);
  const [deleting, setDeleting] = useState<{ rule: AlertRule; busy: boolean; error: string | null } | null>(
    null,
  );

  /** Who may change a rule: its owner, or an admin (the server checks it again). */
  const mayChange = (rule: AlertRule) => user.role === 'admin' || (canCreate && rule.ownerId === user.id);

  const saved = (rule: AlertRule) => {
    rules.setData((all) =>
      all.some((r) => r.id === rule.id) ? all.map((r) => (r.id === rule.id ? rule : r)) : [...all, rule],
    );
    setEditing(null);
  };

  const toggle = async (rule: AlertRule) => {
    setToggling({ id: rule.id, to: !rule.enabled });
    setRowError(null);
    try {
      saved(await client.alerts.updateRule(rule.id, { enabled: !rule.enabled }));
    } catch (failure) {
      setRowError({ id: rule.id, message: errorMessage(failure) });
    } finally {
      setToggling(null);
    }
  };

  const test = async (rule: AlertRule) => {
    setTests((all) => new Map(all).set(rule.id, { busy: true }));
    let state: TestState;
    try {
      state = { busy: false, result: await client.alerts.testRule(rule.id) };
    } catch (failure) {
      state = { busy: false, error: errorMessage(failure) };
    }
    setTests((all) => new Map(all).set(rule.id, state));
  };

  const remove = async () => {
    if (!deleting) return;
    setDeleting({ ...deleting, busy: true, error: null });
    try {
      await client.alerts.deleteRule(deleting.rule.id);
      const id = deleting.rule.id;
      rules.setData((all) => all.filter((r) => r.id !== id));
      setDeleting(null);
    } catch (failure) {
      setDeleting({ ...deleting, busy: false, error: errorMessage(failure) });
    }
  };

  return (
    <>
      <nav aria-label="Breadcrumb" className="small muted" style={{ marginBottom: '0.5rem' }}>
        <Link href="/alerts">Alerts</Link> / Rules
      </nav>
      <div className="page-head">
        <h1>Alert rules</h1>
        {canCreate && editing === null && (
          <button type="button" className="primary" onClick={() => setEditing('new')}>
            New rule
          </button>
        )}
      </div>
      {!canCreate && (
        <p className="muted">
          You see the rules of the vehicles shared with you. Operators and admins create and change rules.
        </p>
      )}
      {editing !== null && (
        <RuleFormCard
          key={editing === 'new' ? 'new' : editing.id}
          rule={editing === 'new' ? undefined : editing}
          vehicles={vehicles.data ?? []}
          onSaved={saved}
          onCancel={() => setEditing(null)}
        />
      )}
      {rules.status === 'error' && <ErrorBox error={rules.error} onRetry={rules.reload} />}
      {!rules.data ? (
        rules.status === 'loading' && <Loading what="Loading rules" />
      ) : rules.data.length === 0 ? (
        <Empty>
          <p>
            <strong>No rules yet.</strong>
          </p>
          <p>
            A rule watches a metric (battery below 20 %) or an event (a drive starts, the vehicle goes
            offline) and tells you by email, webhook or here in the dashboard.
          </p>
        </Empty>
      ) : (
        <div className="card table-wrap rules-table">
          <table aria-label="Alert rules">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Watches</th>
                <th scope="col">Vehicle</th>
                <th scope="col">Tells</th>
                <th scope="col">Cooldown</th>
                <th scope="col">Enabled</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rules.data.map((rule) => {
                const testState = tests.get(rule.id);
                const changeable = mayChange(rule);
                return (
                  <Fragment key={rule.id}>
                    <tr data-rule={rule.id}>
                      <td data-label="Name">
                        <strong>{rule.name}</strong>
                      </td>
                      <td data-label="Watches">{describeRule(rule)}</td>
                      <td data-label="Vehicle">
                        {rule.vehicleId !== null
                          ? (names.get(rule.vehicleId) ?? '…')
                          : rule.ownerId === user.id
                            ? 'All my vehicles'
                            : 'All its owner’s vehicles'}
                      </td>
                      <td data-label="Tells">
                        <ul className="plain-list">
                          {rule.channels.map((channel, i) => (
                            // biome-ignore lint/suspicious/noArrayIndexKey: channels have no id; the order is stored
                            <li key={i} className="channel">
                              {describeChannel(channel, rule.ownerId === user.id ? user.email : null)}
                            </li>
                          ))}
                        </ul>
                        {rule.webhookSecret && rule.channels.some((c) => c.type === 'webhook') && (
                          <CopyButton text={rule.webhookSecret} label="Copy signing key" />
                        )}
                      </td>
                      <td data-label="Cooldown">
                        {rule.cooldownS ? formatDuration(rule.cooldownS * 1000) : 'none'}
                      </td>
                      <td data-label="Enabled">
                        <label className="row" style={{ gap: '0.3rem' }}>
                          <input
                            type="checkbox"
                            checked={toggling?.id === rule.id ? toggling.to : rule.enabled}
                            disabled={!changeable || toggling?.id === rule.id}
                            onChange={() => void toggle(rule)}
                          />
                          <span>{rule.enabled ? 'on' : 'off'}</span>
                          <span className="sr-only"> {rule.name}</span>
                        </label>
                      </td>
                      <td className="actions">
                        {changeable && (
                          <div className="row">
                            <button type="button" onClick={() => setEditing(rule)}>
                              Edit<span className="sr-only"> {rule.name}</span>
                            </button>
                            <Button busy={testState?.busy} onClick={() => void test(rule)}>
                              Send test<span className="sr-only"> of {rule.name}</span>
                            </Button>
                            <button
                              type="button"
                              className="danger"
                              onClick={() => setDeleting({ rule, busy: false, error: null })}
                            >
                              Delete<span className="sr-only"> {rule.name}</span>
                            </button>
                          </div>
                        )}
                        {rowError?.id === rule.id && (
                          <span className="field-error" role="alert">
                            {rowError.message}
                          </span>
                        )}
                      </td>
                    </tr>
                    {testState && (
                      <tr className="test-row">
                        <td colSpan={7}>
                          <TestResults state={testState} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete “${deleting.rule.name}”?`}
          confirmLabel="Delete rule"
          busy={deleting.busy}
          error={deleting.error}
          onConfirm={() => void remove()}
          onCancel={() => setDeleting(null)}
        >
          <p>It stops watching at once. The alerts it raised stay in the history.</p>
        </ConfirmDialog>
      )}
    </>
  );
}
