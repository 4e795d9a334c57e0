import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { openStorage, type Storage } from '../db/index.js';
import { TEST_PG_URL } from './storage.js';

/**
 * A TCP proxy in front of a server (PostgreSQL) that a test can cut and restore: from the client's side
 * this is the server going away (connections reset, new ones refused) and coming back on the same address.
 */
export class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * A fresh PostgreSQL schema reached through a proxy the test can cut, so the database "goes away". What
 * it opens (proxy, storage, schema) is undone by the functions it pushes onto `cleanup`.
 */
export async function storageBehindProxy(
  poolSize: number,
  cleanup: Array<() => unknown>,
): Promise<{ proxy: CuttableProxy; storage: Storage }> {
  const target = new URL(TEST_PG_URL);
  const proxy = new CuttableProxy(await freeLocalPort(), {
    host: target.hostname,
    port: Number(target.port || 5432),
  });
  await proxy.up();
  cleanup.push(() => proxy.down());
  const proxied = new URL(TEST_PG_URL);
  proxied.port = String(proxy.port);
  const schema = `t_proxy_${randomBytes(4).toString('hex')}`;
  cleanup.push(async () => {
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  });
  const storage = await openStorage({ kind: 'postgres', url: proxied.toString() }, { schema, poolSize });
  cleanup.push(() => storage.close());
  return { proxy, storage };
}

function freeLocalPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
