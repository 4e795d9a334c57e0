import type {
  Alert,
  AlertDeliveryList,
  AlertPage,
  AlertRule,
  AlertRuleList,
  AlertsQuery,
  AlertTestResult,
  CreateAlertRule,
  UpdateAlertRule,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

const rule = (id: string) => `alert-rules/${encodeURIComponent(id)}`;
const alert = (id: string) => `alerts/${encodeURIComponent(id)}`;

/** `AlertsQuery` of the protocol; `before` (the previous page's `nextBefore`) may be null on the first page. */
export type AlertListQuery = Omit<AlertsQuery, 'before'> & { before?: string | null };

/** Alert rules (conditions on metrics, events) and the alerts they raise. */
export class AlertsApi {
  constructor(private readonly http: HttpTransport) {}

  /** The rules the caller may see: their own, and those of vehicles shared with them. */
  async rules(): Promise<AlertRule[]> {
    return (await this.http.request<AlertRuleList>('GET', 'alert-rules')).items;
  }
  rule(id: string): Promise<AlertRule> {
    return this.http.request('GET', rule(id));
  }
  createRule(input: CreateAlertRule): Promise<AlertRule> {
    return this.http.request('POST', 'alert-rules', { body: input });
  }
  updateRule(id: string, input: UpdateAlertRule): Promise<AlertRule> {
    return this.http.request('PATCH', rule(id), { body: input });
  }
  /** Deletes the rule; the alerts it raised stay in the history. */
  deleteRule(id: string): Promise<void> {
    return this.http.request('DELETE', rule(id));
  }
  /** Sends one notification through each of the rule's channels now, and says how each went. */
  testRule(id: string): Promise<AlertTestResult> {
    return this.http.request('POST', `${rule(id)}/test`);
  }

  /** One page of alerts: open ones first, then newest first. */
  list(query: AlertListQuery = {}): Promise<AlertPage> {
    return this.http.request('GET', 'alerts', { query: { ...query } });
  }
  acknowledge(id: string): Promise<Alert> {
    return this.http.request('POST', `${alert(id)}/acknowledge`);
  }
  /** Each channel's delivery of the alert, with every attempt. */
  deliveries(id: string): Promise<AlertDeliveryList> {
    return this.http.request('GET', `${alert(id)}/deliveries`);
  }
}
