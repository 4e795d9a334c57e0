/**
 * Export and import figures (issue 19), on SQLite and PostgreSQL, against the server as `npm start` runs it
 * (its own process, so its memory is its own):
 * 1. import samples/s of a `--samples` (1,000,000) point NDJSON file, one sample a second with position,
 *    speed and battery level (this also fills the vehicle the exports read);
 * 2. for each format, export samples/s of all of them, the time to the first byte, and the server's RSS
 *    before and at its peak during the export (memory stays flat: rows go out a page at a time);
 * 3. import samples/s of a `--gpx-points` (100,000) point GPX file.
 *
 *     npm run bench:export [-- --samples 1000000 --gpx-points 100000 --no-postgres --no-sqlite]
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { TachoClient } from '@tacho/client';
import { EXPORT_FORMATS, type ImportFormat } from '@tacho/protocol';
import pg from 'pg';
import {
  BENCH_ADMIN,
  cpuSecondsOf,
  freePort,
  mb,
  memoryOf,
  sleep,
  startServer,
  waitReady,
} from './support.js';

const { values: flags } = parseArgs({
  options: {
    samples: { type: 'string', default: '1000000' },
    'gpx-points': { type: 'string', default: '100000' },
    'no-postgres': { type: 'boolean', default: false },
    'no-sqlite': { type: 'boolean', default: false },
    'pg-url': { type: 'string' },
  },
});
const SAMPLES = Number(flags.samples);
const GPX_POINTS = Number(flags['gpx-points']);
const PG_URL = flags['pg-url'] ?? process.env.TACHO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const T0 = Date.UTC(2025, 0, 1);
const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')} samples/s`;

/** Writes the test files once: NDJSON (SAMPLES lines) and GPX (GPX_POINTS trkpts), a sample a second. */
async function writeFiles(dir: string): Promise<{ ndjson: string; gpx: string }> {
  const ndjson = join(dir, 'samples.ndjson');
  const gpx = join(dir, 'track.gpx');
  const write = async (path: string, lines: Iterable<string>) => {
    const out = createWriteStream(path);
    let buffer = '';
    for (const line of lines) {
      buffer += line;
      if (buffer.length > 1 << 20) {
        if (!out.write(buffer)) await new Promise<void>((r) => out.once('drain', () => r()));
        buffer = '';
      }
    }
    out.end(buffer);
    await new Promise<void>((r) => out.once('finish', () => r()));
  };
  const point = (i: number) => ({ lat: 48 + (i % 20_000) * 0.00002, lon: 11 + (i % 7_000) * 0.00003 });
  await write(
    ndjson,
    (function* () {
      for (let i = 0; i < SAMPLES; i++) {
        const { lat, lon } = point(i);
        yield `${JSON.stringify({
          ts: T0 + i * 1000,
          seq: 0,
          metrics: { speed_kmh: 40 + (i % 30), battery_level_pct: 90 - (i % 5000) / 100 },
          position: { lat, lon, alt_m: 500 + (i % 50) },
        })}\n`;
      }
    })(),
  );
  const g0 = T0 + (SAMPLES + 3600) * 1000;
  await write(
    gpx,
    (function* () {
      yield '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="bench" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>Bench</name><trkseg>\n';
      for (let i = 0; i < GPX_POINTS; i++) {
        const { lat, lon } = point(i);
        yield `<trkpt lat="${lat.toFixed(6)}" lon="${lon.toFixed(6)}"><ele>${500 + (i % 50)}</ele><time>${new Date(g0 + i * 1000).toISOString()}</time></trkpt>\n`;
      }
      yield '</trkseg></trk></gpx>\n';
    })(),
  );
  return { ndjson, gpx };
}

async function importFile(client: TachoClient, vehicleId: string, format: ImportFormat, path: string) {
  const file = await open(path);
  const started = performance.now();
  const result = await client.transfer.importFile(
    vehicleId,
    format,
    Readable.toWeb(
      file.createReadStream({ highWaterMark: 256 * 1024 }),
    ) as unknown as ReadableStream<Uint8Array>,
  );
  const ms = performance.now() - started;
  await file.close();
  return { result, ms };
}

async function run(engine: 'sqlite' | 'postgres', files: { ndjson: string; gpx: string }): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tacho-bench-export-'));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  let database = '';
  const pgName = `tacho_bench_export_${process.pid}`;
  if (engine === 'postgres') {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`create database ${pgName}`);
    await admin.end();
    const url = new URL(PG_URL);
    url.pathname = `/${pgName}`;
    database = url.toString();
  }
  const serverOptions = {
    port,
    mqttPort,
    dataDir,
    env: { TACHO_DATABASE_URL: database, TACHO_MAX_IMPORT_BYTES: String(4 * 1024 ** 3) },
  };
  let server = startServer(serverOptions);
  try {
    await waitReady(base, server);
    const login = new TachoClient({ baseUrl: base, mode: 'cookie', cookieJar: true });
    await login.auth.login(BENCH_ADMIN.email, BENCH_ADMIN.password);
    const { token } = await login.tokens.create({ name: 'bench', scopes: ['read', 'write', 'admin'] });
    const client = new TachoClient({ baseUrl: base, token });
    const vehicle = await client.vehicles.create({ vin: 'BNCHEXP0000000001', name: 'Bench export' });
    const gpxVehicle = await client.vehicles.create({ vin: 'BNCHEXP0000000002', name: 'Bench GPX' });
    const idle = memoryOf(server.pid!).rss;

    const nd = await importFile(client, vehicle.id, 'ndjson', files.ndjson);
    console.log(
      `[${engine}] import NDJSON ${SAMPLES.toLocaleString('en')} points (${mb(statSync(files.ndjson).size)}): ${rate(nd.result.stored, nd.ms)}, ` +
        `${(nd.ms / 1000).toFixed(1)} s, stored ${nd.result.stored}, sessions ${nd.result.sessionsCreated}; server RSS idle ${mb(idle)}, at most ${mb(memoryOf(server.pid!).peak)} by the end`,
    );
    // The sessions processor works through what the import stored (its backlog, then its CPU going quiet);
    // then the server starts again on the same data, so each export's memory is measured from a settled
    // process, not from the import's garbage.
    const waitStarted = Date.now();
    for (;;) {
      const status = await client.sessions.processing();
      if (status.backlog === 0 || Date.now() - waitStarted > 300_000) break;
      await sleep(500);
    }
    for (let cpu = cpuSecondsOf(server.pid!); Date.now() - waitStarted < 600_000; ) {
      await sleep(2000);
      const now = cpuSecondsOf(server.pid!);
      if (now - cpu < 0.1) break;
      cpu = now;
    }
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    server = startServer(serverOptions);
    await waitReady(base, server);
    const pid = server.pid!;
    await sleep(2000);

    // A first export of a tenth of the range warms the restarted server up (its heap grows to its working
    // size once, whatever is exported); printed too, so the figures below show what an export adds.
    {
      const before = memoryOf(pid).rss;
      const started = performance.now();
      const warm = await client.transfer.exportVehicle(vehicle.id, { format: 'csv', to: T0 + SAMPLES * 100 });
      let bytes = 0;
      for await (const chunk of warm.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
      console.log(
        `[${engine}] warm-up: csv of the first ${(SAMPLES / 10).toLocaleString('en')} samples, ${mb(bytes)} in ${((performance.now() - started) / 1000).toFixed(1)} s; server RSS ${mb(before)} -> ${mb(memoryOf(pid).rss)}`,
      );
    }
    for (const format of EXPORT_FORMATS) {
      await sleep(1000);
      const before = memoryOf(pid).rss;
      let peak = before;
      const trace: Array<[number, number]> = [];
      const watch = setInterval(() => {
        const rss = memoryOf(pid).rss;
        trace.push([performance.now(), rss]);
        peak = Math.max(peak, rss);
      }, 50);
      const started = performance.now();
      const download = await client.transfer.exportVehicle(vehicle.id, { format });
      let firstByteMs = 0;
      let bytes = 0;
      let features = 0;
      const text = new TextDecoder();
      const reader = download.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (bytes === 0) firstByteMs = performance.now() - started;
        bytes += value.byteLength;
        // GeoJSON holds the sessions: a sample inside two overlapping ones (a recording and a drive) twice.
        if (format === 'geojson')
          features += text.decode(value, { stream: true }).split('{"type":"Feature",').length - 1;
      }
      const ms = performance.now() - started;
      clearInterval(watch);
      peak = Math.max(peak, memoryOf(pid).rss);
      // Flat memory: the second half of the export peaks no higher than the first (no growth with size).
      const middle = started + ms / 2;
      const half = (first: boolean) =>
        Math.max(before, ...trace.filter(([t]) => t < middle === first).map(([, rss]) => rss));
      console.log(
        `[${engine}] export ${format.padEnd(7)} ${SAMPLES.toLocaleString('en')} samples: ${rate(SAMPLES, ms)}, ${(ms / 1000).toFixed(1)} s, ` +
          `${mb(bytes)}${format === 'geojson' ? ` (${features} sessions)` : ''}, first byte after ${firstByteMs.toFixed(0)} ms; server RSS ${mb(before)} before, ${mb(peak)} at most (+${mb(peak - before)}; first half ${mb(half(true))}, second half ${mb(half(false))})`,
      );
    }

    const gx = await importFile(client, gpxVehicle.id, 'gpx', files.gpx);
    console.log(
      `[${engine}] import GPX ${GPX_POINTS.toLocaleString('en')} points (${mb(statSync(files.gpx).size)}): ${rate(gx.result.stored, gx.ms)}, ` +
        `${(gx.ms / 1000).toFixed(1)} s, stored ${gx.result.stored}, sessions ${gx.result.sessionsCreated}`,
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
    if (engine === 'postgres') {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`drop database if exists ${pgName}`);
      await admin.end();
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tacho-bench-files-'));
try {
  const files = await writeFiles(dir);
  if (!flags['no-sqlite']) await run('sqlite', files);
  if (!flags['no-postgres']) await run('postgres', files);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
