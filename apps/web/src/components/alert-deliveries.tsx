import type { AlertDelivery } from '@tacho/protocol';
import { client } from '../lib/api.js';
import { formatTime } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';
import { ErrorBox, Loading } from './ui.js';

const channelLabels: Record<AlertDelivery['channel'], string> = {
  email: 'Email',
  webhook: 'Webhook',
  inapp: 'Dashboard',
};

const statusBadge: Record<AlertDelivery['status'], string> = {
  pending: 'warn',
  sent: 'ok',
  failed: 'danger',
};

/** One attempt in words: "12:01 · HTTP 500 · timed out · 5012 ms". */
function attemptLine(attempt: AlertDelivery['attempts'][number]): string {
  return [
    formatTime(attempt.atMs),
    attempt.ok ? 'delivered' : 'failed',
    attempt.status !== null ? `HTTP ${attempt.status}` : null,
    attempt.error,
    `${attempt.durationMs} ms`,
  ]
    .filter(Boolean)
    .join(' · ');
}

/** The delivery log of one alert: each channel's target, status, attempts and next retry. */
export function Deliveries({ alertId }: { alertId: string }) {
  const deliveries = useAsync(async () => (await client.alerts.deliveries(alertId)).items, [alertId]);
  if (deliveries.status === 'error') return <ErrorBox error={deliveries.error} onRetry={deliveries.reload} />;
  if (!deliveries.data) return <Loading what="Loading deliveries" />;
  if (deliveries.data.length === 0)
    return (
      <p className="muted small">Nothing was sent for this alert: its rule had no channel to send to.</p>
    );
  return (
    <div className="stack" style={{ gap: '0.5rem' }}>
      <table className="deliveries" aria-label="Deliveries">
        <thead>
          <tr>
            <th scope="col">Channel</th>
            <th scope="col">To</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.data.map((delivery) => (
            <tr key={delivery.id} data-delivery={delivery.id}>
              <td>{channelLabels[delivery.channel]}</td>
              <td className="mono target">
                {delivery.channel === 'inapp' ? 'open dashboards' : delivery.target}
              </td>
              <td>
                <span className={`badge ${statusBadge[delivery.status]}`}>{delivery.status}</span>
                <div className="small muted">
                  {delivery.sentMs !== null
                    ? `sent ${formatTime(delivery.sentMs)}`
                    : delivery.nextAttemptMs !== null
                      ? `next try ${formatTime(delivery.nextAttemptMs)}`
                      : ''}
                </div>
              </td>
              <td>
                {delivery.attempts.length === 0 ? (
                  <span className="muted">{delivery.status === 'pending' ? 'none yet' : '—'}</span>
                ) : (
                  <ol className="attempts">
                    {delivery.attempts.map((attempt) => (
                      <li key={attempt.atMs} className={attempt.ok ? undefined : 'failed'}>
                        {attemptLine(attempt)}
                      </li>
                    ))}
                  </ol>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div>
        <button type="button" onClick={deliveries.reload}>
          Refresh
        </button>
      </div>
    </div>
  );
}
