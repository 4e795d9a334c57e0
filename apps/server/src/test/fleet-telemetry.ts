import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/**
 * Publishes the way Tesla's fleet-telemetry server's MQTT dispatcher does (teslamotors/fleet-telemetry
 * datastore/mqtt, mqtt_payload.go): one message per field at `<base>/<VIN>/v/<Field>` whose payload is
 * the bare JSON value (numbers, strings, enum names, `{latitude, longitude}`, null for invalid), in no
 * fixed order (it walks a Go map), all of a record published before it waits for their acknowledgements;
 * `<base>/<VIN>/connectivity`, `<base>/<VIN>/alerts/<name>/current|history`, `<base>/<VIN>/errors/<name>`.
 * Not retained; QoS 0 unless configured (`qos` in its config.json).
 */
export interface FleetTelemetryOptions {
  /** `mqtt://host:port` of the broker (fleet-telemetry's `broker`, with a scheme). */
  url: string;
  /** At Tacho's embedded broker: `tesla-fleet-telemetry`; the password is an API token with `telemetry`. */
  username?: string;
  password?: string;
  clientId?: string;
  /** `topic_base`; Tacho's default is `tesla`. */
  topicBase?: string;
  qos?: 0 | 1;
  /** Field order within a record; fleet-telemetry's is random. Default: shuffled. */
  order?: 'shuffled' | 'as-given';
}

/** A value as fleet-telemetry publishes it: what `json.Marshal` makes of the datum. */
export type FleetValue =
  | number
  | string
  | boolean
  | null
  | { latitude: number; longitude: number }
  | Record<string, unknown>;

export class FleetTelemetryPublisher {
  readonly topicBase: string;
  private readonly qos: 0 | 1;

  private constructor(
    readonly client: MqttClient,
    private readonly options: FleetTelemetryOptions,
  ) {
    this.topicBase = options.topicBase ?? 'tesla';
    this.qos = options.qos ?? 1;
  }

  /** Connects like fleet-telemetry's paho client (MQTT 3.1.1, clean session); rejects with the CONNACK refusal. */
  static async connect(
    options: FleetTelemetryOptions,
    extra: IClientOptions = {},
  ): Promise<FleetTelemetryPublisher> {
    const client = await mqtt.connectAsync(options.url, {
      clientId: options.clientId ?? `fleet-telemetry-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 30,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...extra,
    });
    return new FleetTelemetryPublisher(client, options);
  }

  /** The topic of a field. */
  fieldTopic(vin: string, field: string): string {
    return `${this.topicBase}/${vin}/v/${field}`;
  }

  /**
   * One vehicle record: every field its own message, bare JSON. Resolves once all are acknowledged
   * (QoS 1: the PUBACKs, which Tacho sends after commit) or written (QoS 0).
   */
  async record(vin: string, fields: Record<string, FleetValue>): Promise<void> {
    const entries = Object.entries(fields);
    if ((this.options.order ?? 'shuffled') === 'shuffled') shuffle(entries);
    await Promise.all(
      entries.map(([field, value]) =>
        this.client.publishAsync(this.fieldTopic(vin, field), JSON.stringify(value), { qos: this.qos }),
      ),
    );
  }

  /** `<base>/<VIN>/connectivity`: `{ConnectionId, Status: CONNECTED|DISCONNECTED, CreatedAt}` (RFC 3339). */
  async connectivity(vin: string, status: 'CONNECTED' | 'DISCONNECTED', at: Date, connectionId = 'c1') {
    const body = { ConnectionId: connectionId, Status: status, CreatedAt: rfc3339(at) };
    await this.publish(`${this.topicBase}/${vin}/connectivity`, JSON.stringify(body));
  }

  /** An alert's current state and its history, as fleet-telemetry publishes both for each record. */
  async alert(
    vin: string,
    name: string,
    history: Array<{ startedAt?: Date; endedAt?: Date; audiences?: string[] }>,
  ): Promise<void> {
    const maps = history.map((a) => ({
      ...(a.startedAt ? { StartedAt: rfc3339(a.startedAt) } : {}),
      ...(a.endedAt ? { EndedAt: rfc3339(a.endedAt) } : {}),
      Audiences: a.audiences ?? null,
    }));
    const current = [...history]
      .map((a, i) => ({ a, i }))
      .filter(({ a }) => a.startedAt)
      .sort((x, y) => y.a.startedAt!.getTime() - x.a.startedAt!.getTime())[0];
    const sends = [this.publish(`${this.topicBase}/${vin}/alerts/${name}/history`, JSON.stringify(maps))];
    if (current) {
      sends.push(
        this.publish(`${this.topicBase}/${vin}/alerts/${name}/current`, JSON.stringify(maps[current.i])),
      );
    }
    await Promise.all(sends);
  }

  /** `<base>/<VIN>/errors/<name>`: `{Body, Tags, CreatedAt}`. */
  async error(vin: string, name: string, body: string, tags: Record<string, string> = {}, at?: Date) {
    const message = { Body: body, Tags: tags, ...(at ? { CreatedAt: rfc3339(at) } : {}) };
    await this.publish(`${this.topicBase}/${vin}/errors/${name}`, JSON.stringify(message));
  }

  /** Any payload to any topic (malformed ones, topics outside the base). */
  async publish(topic: string, payload: string | Buffer): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: this.qos });
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Go's time.RFC3339: seconds, `Z`. */
function rfc3339(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
