import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { NativeMessage } from '@tacho/protocol';
import mqtt, { type MqttClient } from 'mqtt';

/** A simulated vehicle's credentials: MQTT username = VIN, password = the vehicle token. */
export interface SimVehicle {
  vin: string;
  token: string;
}

/** Where simulated telemetry goes. `send` resolves when the server acknowledged (PUBACK or HTTP 2xx). */
export interface Target {
  send(message: NativeMessage): Promise<void>;
  close(): Promise<void>;
}

/** Publishes as one device over MQTT (TCP or WebSocket), QoS 1 unless told otherwise. */
export async function mqttTarget(url: string, vehicle: SimVehicle, qos: 0 | 1): Promise<Target> {
  const client: MqttClient = await mqtt.connectAsync(url, {
    username: vehicle.vin,
    password: vehicle.token,
    clientId: `sim-${vehicle.vin}-${randomBytes(3).toString('hex')}`,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    // In-flight QoS 1 messages survive a reconnect and are sent again (the server de-duplicates them).
    clean: true,
  });
  // Nagle's algorithm would delay each small publish by up to ~40 ms.
  (client.stream as Partial<Socket>).setNoDelay?.(true);
  const topic = `tacho/v1/${vehicle.vin}/telemetry`;
  return {
    async send(message) {
      await client.publishAsync(topic, JSON.stringify(message), { qos });
    },
    async close() {
      await client.endAsync();
    },
  };
}

/** Posts to the HTTP ingest route with the vehicle token. */
export function httpTarget(baseUrl: string, vehicle: SimVehicle): Target {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/vehicles/${vehicle.vin}/telemetry`;
  return {
    async send(message) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${vehicle.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(message),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    },
    async close() {},
  };
}

const VIN_ALPHABET = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';

/** A random VIN-shaped identifier (17 characters, no I, O or Q) for simulated vehicles. */
export function randomVin(): string {
  const bytes = randomBytes(11);
  let tail = '';
  for (const b of bytes) tail += VIN_ALPHABET[b % VIN_ALPHABET.length];
  return `SMVEHC${tail}`;
}

/**
 * Creates `count` vehicles and a device token for each through the API, acting with an admin's (or
 * operator's) token. Returns their credentials.
 */
export async function createSimVehicles(
  apiUrl: string,
  userToken: string,
  count: number,
): Promise<SimVehicle[]> {
  const base = `${apiUrl.replace(/\/+$/, '')}/api/v1`;
  const headers = { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' };
  const out: SimVehicle[] = [];
  for (let i = 0; i < count; i++) {
    const vin = randomVin();
    const created = await fetch(`${base}/vehicles`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ vin, name: `Simulated ${i + 1}` }),
    });
    if (created.status !== 201)
      throw new Error(`creating a vehicle failed: HTTP ${created.status} ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    const token = await fetch(`${base}/vehicles/${id}/tokens`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'simulator' }),
    });
    if (token.status !== 201)
      throw new Error(`creating a vehicle token failed: HTTP ${token.status} ${await token.text()}`);
    out.push({ vin, token: ((await token.json()) as { token: string }).token });
  }
  return out;
}

/** Reads `VIN TOKEN` lines (blank lines and `#` comments ignored). */
export function parseTokensFile(text: string): SimVehicle[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [vin, token] = line.split(/\s+/);
      if (!vin || !token) throw new Error(`tokens file: expected "VIN TOKEN", got "${line}"`);
      return { vin, token };
    });
}
