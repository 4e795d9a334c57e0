import type { Client } from 'aedes';
import type { Audit } from '../../features/auth/index.js';

export type MqttRefusal = 'mqtt.connect_refused' | 'mqtt.publish_refused' | 'mqtt.subscribe_refused';

export interface RefusalFields {
  /** The MQTT username: the VIN the device claims (never the password). */
  vin: string | undefined;
  reason: string;
  topic?: string;
  /** Set once the device is authenticated (a fleet login has a token but no vehicle). */
  vehicleId?: string;
  tokenId?: string;
}

export interface RefusalAuditOptions {
  /** Repeats of one refusal (event, VIN, address, reason) within this window are counted, not written. */
  windowMs: number;
  /** Lines written per window at most, whatever their keys (a flood of new VINs or addresses). */
  maxLinesPerWindow: number;
}

const defaults: RefusalAuditOptions = { windowMs: 60_000, maxLinesPerWindow: 1000 };

/** Attacker-chosen strings are cut short before they reach a log line. */
function clip(value: string | undefined, max: number): string | undefined {
  return value === undefined ? undefined : value.slice(0, max);
}

/** The device's address: the TCP peer, or for MQTT over WebSocket the HTTP request's. */
export function remoteAddress(client: Client): string | undefined {
  const conn = client.conn as { remoteAddress?: string };
  return conn.remoteAddress ?? client.req?.socket?.remoteAddress;
}

/**
 * Writes MQTT refusals (connect, publish, subscribe) as audit lines, like HTTP's `request.denied`: who
 * (the VIN given, the address, the client id) was refused what and why. A device that repeats itself
 * gets one line per window, the next one saying how many were left out; and past a number of lines per
 * window, nothing more is written until the next, whose first line counts what was dropped.
 */
export class RefusalAudit {
  private readonly options: RefusalAuditOptions;
  /** key → repeats left out since its last line, for keys written in the current window. */
  private seen = new Map<string, number>();
  /** The last window's keys and their left-out repeats, reported by the key's next line. */
  private previous = new Map<string, number>();
  private windowStartMs = 0;
  private linesInWindow = 0;
  private droppedInWindow = 0;

  constructor(
    private readonly audit: Audit,
    private readonly now: () => number = Date.now,
    options: Partial<RefusalAuditOptions> = {},
  ) {
    this.options = { ...defaults, ...options };
  }

  refuse(event: MqttRefusal, client: Client, fields: RefusalFields): void {
    const nowMs = this.now();
    let dropped = 0;
    if (nowMs - this.windowStartMs >= this.options.windowMs) {
      // A new window: every key may be written again, with the count of what the last one left out.
      dropped = this.droppedInWindow;
      this.windowStartMs = nowMs;
      this.linesInWindow = 0;
      this.droppedInWindow = 0;
      this.previous = this.seen;
      this.seen = new Map();
    }
    const ip = remoteAddress(client);
    const key = `${event}\u0000${fields.vin ?? ''}\u0000${ip ?? ''}\u0000${fields.reason}`;
    const repeats = this.seen.get(key);
    if (repeats !== undefined) {
      this.seen.set(key, repeats + 1);
      return;
    }
    if (this.linesInWindow >= this.options.maxLinesPerWindow) {
      this.droppedInWindow++;
      return;
    }
    this.linesInWindow++;
    this.seen.set(key, 0);
    const repeated = this.previous.get(key) ?? 0;
    this.previous.delete(key);
    this.audit.log(event, {
      vin: clip(fields.vin, 64),
      ip,
      clientId: clip(client.id, 64),
      reason: fields.reason,
      ...(fields.topic !== undefined ? { topic: clip(fields.topic, 256) } : {}),
      ...(fields.vehicleId !== undefined ? { vehicleId: fields.vehicleId } : {}),
      ...(fields.tokenId !== undefined ? { tokenId: fields.tokenId } : {}),
      ...(repeated > 0 ? { repeated } : {}),
      ...(dropped > 0 ? { dropped } : {}),
    });
  }
}
