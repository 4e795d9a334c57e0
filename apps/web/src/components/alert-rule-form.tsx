import {
  type AlertEvent,
  type AlertOp,
  type AlertRule,
  metricCatalog,
  type VehicleView,
} from '@tacho/protocol';
import { type FormEvent, type ReactNode, useId, useState } from 'react';
import {
  buildRule,
  emptyRuleForm,
  eventOptions,
  type FieldErrors,
  fieldOfError,
  metricHint,
  metricOptions,
  opLabels,
  opsFor,
  type RuleForm,
  ruleToForm,
  withMetric,
} from '../lib/alerts.js';
import { ApiError, client } from '../lib/api.js';
import { metricUnit } from '../lib/metrics.js';
import { useUser } from '../lib/session.js';
import { Button, Field, SecretLine, SelectField } from './ui.js';

function Checkbox({
  label,
  checked,
  onChange,
  error,
  children,
}: {
  label: ReactNode;
  checked: boolean;
  onChange: (checked: boolean) => void;
  error?: string | undefined;
  children?: ReactNode;
}) {
  const id = useId();
  return (
    <div className="field">
      <label className="row check" style={{ gap: '0.4rem', fontWeight: 500 }}>
        <input
          type="checkbox"
          checked={checked}
          onChange={(e) => onChange(e.target.checked)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
        />
        {label}
      </label>
      {checked && children && <div className="check-children">{children}</div>}
      {error && (
        <span className="field-error" id={`${id}-error`}>
          {error}
        </span>
      )}
    </div>
  );
}

/**
 * Creates or edits an alert rule: a condition on a catalog metric (the picker shows units; the value input
 * follows the metric's type) or an event, the vehicle, the cooldown and the channels. A refusal of the
 * server is shown next to the field it names.
 */
export function RuleFormCard({
  rule,
  vehicles,
  onSaved,
  onCancel,
}: {
  /** The rule to edit; none: a new rule. */
  rule?: AlertRule;
  vehicles: readonly VehicleView[];
  onSaved: (rule: AlertRule) => void;
  onCancel: () => void;
}) {
  const user = useUser();
  const admin = user.role === 'admin';
  const [form, setForm] = useState<RuleForm>(() => (rule ? ruleToForm(rule, user.email) : emptyRuleForm()));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const titleId = useId();

  const set = <K extends keyof RuleForm>(key: K, value: RuleForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
  };
  const text =
    (key: keyof RuleForm) =>
    (e: { target: { value: string } }): void =>
      set(key, e.target.value as never);

  const def = metricCatalog.get(form.metric);
  // In the user's units (mph, °F, psi, …): the form converts to the stored unit when saving.
  const unitText = metricUnit(form.metric);
  const unit = unitText ? ` (${unitText})` : '';
  const managed = vehicles.filter((v) => v.access !== 'viewer');
  const vehicleOptions = [
    { value: '', label: 'All my vehicles (now and later)' },
    ...managed.map((v) => ({ value: v.id, label: v.name })),
    ...(form.vehicleId && !managed.some((v) => v.id === form.vehicleId)
      ? [
          {
            value: form.vehicleId,
            label: vehicles.find((v) => v.id === form.vehicleId)?.name ?? form.vehicleId,
          },
        ]
      : []),
  ];

  async function submit(event: FormEvent) {
    event.preventDefault();
    setGeneral(null);
    const built = buildRule(form);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const saved = rule
        ? await client.alerts.updateRule(rule.id, built.rule)
        : await client.alerts.createRule(built.rule);
      onSaved(saved);
    } catch (failure) {
      const message = failure instanceof Error ? failure.message : String(failure);
      const named =
        failure instanceof ApiError && failure.status < 500
          ? fieldOfError(message, built.channelFields)
          : null;
      if (named) setErrors({ [named.field]: named.message });
      else setGeneral(message);
    } finally {
      setBusy(false);
    }
  }

  const webhookSecret = rule?.webhookSecret;
  return (
    <section className="card" aria-labelledby={titleId} style={{ marginBottom: '1.5rem' }}>
      <h2 id={titleId}>{rule ? `Edit “${rule.name}”` : 'New rule'}</h2>
      <form className="stack rule-form" onSubmit={submit} noValidate>
        {general && (
          <div className="alert error" role="alert">
            {general}
          </div>
        )}
        <Field
          label="Name"
          required
          placeholder="Battery low"
          maxLength={120}
          value={form.name}
          onChange={text('name')}
          error={errors.name}
        />
        <fieldset className="plain">
          <legend>Watch</legend>
          <div className="row">
            {(['condition', 'event'] as const).map((kind) => (
              <label key={kind} className="row" style={{ gap: '0.3rem' }}>
                <input
                  type="radio"
                  name="rule-kind"
                  value={kind}
                  checked={form.kind === kind}
                  disabled={Boolean(rule)}
                  onChange={() => set('kind', kind)}
                />
                {kind === 'condition' ? 'A metric crosses a threshold' : 'An event'}
              </label>
            ))}
          </div>
          {rule && <span className="hint small muted">To watch something else, create another rule.</span>}
        </fieldset>

        {form.kind === 'condition' ? (
          <div className="form-grid">
            <SelectField
              label="Metric"
              value={form.metric}
              onChange={(metric) => setForm((f) => withMetric(f, metric))}
              options={metricOptions()}
              error={errors['condition.metric']}
            />
            <SelectField
              label="Condition"
              value={form.op}
              onChange={(op) => set('op', op as AlertOp)}
              options={opsFor(form.metric).map((op) => ({ value: op, label: opLabels[op] }))}
              error={errors['condition.op']}
            />
            {def?.type === 'enum' ? (
              <SelectField
                label="Value"
                value={form.value}
                onChange={(v) => set('value', v)}
                options={(def.values ?? []).map((v) => ({ value: v, label: v.replaceAll('_', ' ') }))}
                error={errors['condition.value']}
              />
            ) : def?.type === 'boolean' ? (
              <SelectField
                label="Value"
                value={form.value || 'true'}
                onChange={(v) => set('value', v)}
                options={[
                  { value: 'true', label: 'yes' },
                  { value: 'false', label: 'no' },
                ]}
                error={errors['condition.value']}
              />
            ) : (
              <Field
                label={`Value${unit}`}
                inputMode={def?.type === 'number' ? 'decimal' : undefined}
                value={form.value}
                onChange={text('value')}
                hint={metricHint(form.metric)}
                error={errors['condition.value']}
              />
            )}
            <Field
              label="Must hold for (s)"
              inputMode="numeric"
              placeholder="0"
              value={form.forS}
              onChange={text('forS')}
              hint="Optional: it fires only once the condition has held this long."
              error={errors['condition.forS']}
            />
            {def?.type === 'number' && (
              <Field
                label={`Hysteresis${unit}`}
                inputMode="decimal"
                placeholder="0"
                value={form.hysteresis}
                onChange={text('hysteresis')}
                hint="Optional: it resolves only once the value is this far back beyond the threshold."
                error={errors['condition.hysteresis']}
              />
            )}
          </div>
        ) : (
          <div className="form-grid">
            <SelectField
              label="Event"
              value={form.event}
              onChange={(e) => set('event', e as AlertEvent)}
              options={eventOptions}
              error={errors['event.type']}
            />
            {(form.event === 'offline' || form.event === 'low_12v') && (
              <Field
                label={form.event === 'offline' ? 'No data for (s)' : 'Low for (s)'}
                inputMode="numeric"
                placeholder={form.event === 'offline' ? '900' : '0'}
                value={form.eventForS}
                onChange={text('eventForS')}
                error={errors['event.forS']}
              />
            )}
            {form.event === 'low_12v' && (
              <Field
                label="Below (V)"
                inputMode="decimal"
                placeholder="11.8"
                value={form.thresholdV}
                onChange={text('thresholdV')}
                error={errors['event.thresholdV']}
              />
            )}
            {(form.event === 'geofence_enter' || form.event === 'geofence_exit') && (
              <>
                <Field
                  label="Latitude"
                  inputMode="decimal"
                  placeholder="52.5200"
                  value={form.lat}
                  onChange={text('lat')}
                  error={errors['event.geofence.lat']}
                />
                <Field
                  label="Longitude"
                  inputMode="decimal"
                  placeholder="13.4050"
                  value={form.lon}
                  onChange={text('lon')}
                  error={errors['event.geofence.lon']}
                />
                <Field
                  label="Radius (m)"
                  inputMode="numeric"
                  placeholder="500"
                  value={form.radiusM}
                  onChange={text('radiusM')}
                  error={errors['event.geofence.radiusM']}
                />
              </>
            )}
          </div>
        )}

        <div className="form-grid">
          <SelectField
            label="Vehicle"
            value={form.vehicleId}
            onChange={(v) => set('vehicleId', v)}
            options={vehicleOptions}
            error={errors.vehicleId}
          />
          <Field
            label="Cooldown (s)"
            inputMode="numeric"
            placeholder="default"
            value={form.cooldownS}
            onChange={text('cooldownS')}
            hint="Optional: no new alert of this rule for the same vehicle within this time."
            error={errors.cooldownS}
          />
        </div>

        <fieldset className="plain stack" style={{ gap: '0.5rem' }}>
          <legend>Tell me by</legend>
          <Checkbox
            label={`Email to ${form.emailTo.trim() || user.email}`}
            checked={form.email}
            onChange={(v) => set('email', v)}
            error={admin ? undefined : errors['channels.email']}
          >
            {admin && (
              <Field
                label="Another address (admins)"
                type="email"
                placeholder={user.email}
                value={form.emailTo}
                onChange={text('emailTo')}
                error={errors['channels.email']}
              />
            )}
          </Checkbox>
          <Checkbox label="Webhook" checked={form.webhook} onChange={(v) => set('webhook', v)}>
            <Field
              label="Webhook URL"
              type="url"
              placeholder="https://example.com/hooks/tacho"
              value={form.webhookUrl}
              onChange={text('webhookUrl')}
              hint="Each POST is signed: X-Tacho-Signature: sha256=<HMAC of the body>."
              error={errors['channels.webhook']}
            />
            {admin && (
              <Checkbox
                label="Allow http:// and addresses inside my network"
                checked={form.allowPrivate}
                onChange={(v) => set('allowPrivate', v)}
              />
            )}
          </Checkbox>
          <Checkbox
            label="In the dashboard (badge and notice)"
            checked={form.inapp}
            onChange={(v) => set('inapp', v)}
            error={errors['channels.inapp']}
          />
          {errors.channels && (
            <span className="field-error" role="alert">
              {errors.channels}
            </span>
          )}
        </fieldset>

        {webhookSecret && form.webhook && (
          <SecretLine label="Webhook signing key (HMAC-SHA256)" value={webhookSecret} />
        )}

        <Checkbox
          label="Enabled"
          checked={form.enabled}
          onChange={(v) => set('enabled', v)}
          error={errors.enabled}
        />

        <div className="row">
          <Button type="submit" className="primary" busy={busy}>
            {rule ? 'Save changes' : 'Create rule'}
          </Button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
