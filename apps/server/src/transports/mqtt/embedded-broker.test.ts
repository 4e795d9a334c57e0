import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { loadConfig } from '../../config.js';
import { createTestUser } from '../../features/auth/testing.js';
import { freePort } from '../../features/telemetry/fault-helpers.js';
import { createVehicleWithToken, testVin } from '../../features/telemetry/test-fixtures.js';
import { freshStorage } from '../../test/storage.js';

/** An MQTT string: two bytes of length, then UTF-8. */
function mqttString(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An MQTT 3.1.1 CONNECT (clean session, username and password), written out by hand (spec 3.1). */
function connectPacket(clientId: string, username: string, password: string): Buffer {
  const variable = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0xc2, 0, 60])]);
  const body = Buffer.concat([variable, mqttString(clientId), mqttString(username), mqttString(password)]);
  const remaining: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    remaining.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x10, ...remaining]), body]);
}

/**
 * A device as eager as can be: it connects to the port again and again, the moment a try is refused,
 * and resolves with the return code of the first CONNACK it gets (0 = accepted, 3 = server unavailable).
 */
function firstConnack(port: number, packet: Buffer, stop: { stopped: boolean }): Promise<number> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (stop.stopped) return reject(new Error('stopped before any CONNACK'));
      const socket = connect(port, '127.0.0.1');
      let received = Buffer.alloc(0);
      socket.on('connect', () => socket.write(packet));
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 4) return;
        socket.destroy();
        // CONNACK: 0x20, remaining length 2, acknowledge flags, return code.
        if (received[0] !== 0x20) return reject(new Error(`not a CONNACK: ${received.toString('hex')}`));
        resolve(received[3]!);
      });
      // Refused (nothing listens yet) or closed without a CONNACK: try again at once.
      let retried = false;
      const retry = () => {
        if (retried || received.length >= 4) return;
        retried = true;
        socket.destroy();
        setImmediate(attempt);
      };
      socket.on('error', retry);
      socket.on('close', retry);
    };
    attempt();
  });
}

describe('embedded broker start', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('never refuses a device that connects as soon as the port accepts: its first CONNACK is 0', async () => {
    const storage = await freshStorage('sqlite');
    cleanup.push(() => storage.drop());
    const dataDir = mkdtempSync(join(tmpdir(), 'tacho-broker-start-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig(
      { TACHO_DATA_DIR: dataDir, TACHO_LOG_LEVEL: 'silent', TACHO_PORT: '0' },
      dataDir,
    );

    // A vehicle and its device token, made by an earlier run of the server on the same database.
    const earlier = await createApp(config, { storage, mqttPort: null });
    const owner = await createTestUser(earlier, 'operator');
    const car = await createVehicleWithToken(earlier, owner, testVin(909));
    await earlier.close();

    const port = await freePort();
    const stop = { stopped: false };
    cleanup.push(() => {
      stop.stopped = true;
    });
    // The device starts knocking before the server starts.
    const connack = firstConnack(port, connectPacket('eager-device', car.vin, car.token), stop);
    connack.catch(() => {});
    const app = await createApp(config, { storage, mqttPort: port });
    cleanup.push(() => app.close());
    expect(app.broker?.port).toBe(port);
    expect(await connack).toBe(0);
  });
});
