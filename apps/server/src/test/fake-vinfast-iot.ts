import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import { createWebSocketStream, type WebSocket, WebSocketServer } from 'ws';
import { verifyIotPresigned } from '../features/connectors/vinfast-sigv4.js';
import type { Clock } from '../lib/clock.js';

/**
 * The fake VinFast cloud's AWS IoT endpoint (`GET /mqtt` upgraded to a WebSocket on the fake's HTTP
 * server): the SigV4-presigned URL is checked as the gateway does (signature over `host`, expiry, the
 * session token appended after the signature, the identity's policy attached) before an aedes broker
 * takes the connection. Refusals are an HTTP 403 before the upgrade, with the reason recorded.
 */
export interface FakeIot {
  /** Closes every MQTT WebSocket (a dropped connection). */
  dropSockets(): void;
  /** Number of open MQTT clients subscribed to a VIN's push topic. */
  subscribers(vin: string): number;
  /** Publishes device-key records to `/mobile/<VIN>/push`. */
  push(vin: string, records: ReadonlyArray<Record<string, unknown>>): Promise<void>;
  close(): Promise<void>;
}

export async function attachFakeIot(
  http: Server,
  opts: {
    clock: Clock;
    region: string;
    /** The live credentials of an access key id (null: unknown or expired). */
    credentials(
      accessKeyId: string,
    ): { secretAccessKey: string; sessionToken: string; identityId: string } | null;
    policyAttached(identityId: string): boolean;
    /** Each accepted or refused connection, with the reason of a refusal. */
    onConnection(result: { ok: boolean; reason?: string }): void;
    onHeartbeat(vin: string): void;
  },
): Promise<FakeIot> {
  const aedes = await Aedes.createBroker({});
  aedes.on('publish', (packet, client) => {
    if (client && /^\/vehicles\/[^/]+\/push\/connected\/heartbeat$/.test(packet.topic)) {
      opts.onHeartbeat(packet.topic.split('/')[2]!);
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();

  function refuse(socket: Duplex, status: number, reason: string): void {
    opts.onConnection({ ok: false, reason });
    socket.end(
      `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Request'}\r\nConnection: close\r\n\r\n`,
    );
  }

  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== '/mqtt') {
      refuse(socket, 400, 'path');
      return;
    }
    const check = verifyIotPresigned({
      path: url.pathname,
      search: url.searchParams,
      host: req.headers.host ?? '',
      region: opts.region,
      nowMs: opts.clock.now(),
      lookup: (id) => opts.credentials(id),
    });
    if (!check.ok) {
      refuse(socket, 403, check.reason);
      return;
    }
    if (!opts.policyAttached(opts.credentials(check.accessKeyId)!.identityId)) {
      refuse(socket, 403, 'no_policy');
      return;
    }
    opts.onConnection({ ok: true });
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      const stream = createWebSocketStream(ws);
      stream.on('error', () => stream.destroy());
      aedes.handle(stream, req);
    });
  });

  return {
    dropSockets() {
      for (const ws of sockets) ws.terminate();
    },
    subscribers(vin) {
      let n = 0;
      const topic = `/mobile/${vin}/push`;
      const clients = (
        aedes as unknown as { clients: Record<string, { subscriptions?: Record<string, unknown> }> }
      ).clients;
      for (const client of Object.values(clients)) {
        if (client.subscriptions && topic in client.subscriptions) n += 1;
      }
      return n;
    },
    push(vin, records) {
      return new Promise<void>((resolve, reject) => {
        aedes.publish(
          {
            cmd: 'publish',
            topic: `/mobile/${vin}/push`,
            payload: Buffer.from(JSON.stringify(records)),
            qos: 0,
            retain: false,
            dup: false,
          },
          (error) => (error ? reject(error) : resolve()),
        );
      });
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
