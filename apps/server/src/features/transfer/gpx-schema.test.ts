import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Session } from '@tacho/protocol';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { GpxWriter } from './export-writers.js';
import type { ExportSample } from './sample-pages.js';

/**
 * The GPX export checked by a real validator: libxml2's xmllint against our restatement of the GPX 1.1
 * schema for the elements Tacho writes (testdata/gpx-1.1-subset.xsd; the official one is
 * http://www.topografix.com/GPX/1/1/gpx.xsd, out of reach without internet).
 */

const XSD = fileURLToPath(new URL('./testdata/gpx-1.1-subset.xsd', import.meta.url));

const xmllintProblem = spawnSync('xmllint', ['--version']).error?.message ?? null;
if (xmllintProblem && process.env.CI === 'true') {
  throw new Error(`xmllint (Debian's libxml2-utils) is required under CI: ${xmllintProblem}`);
}
if (xmllintProblem) console.warn(`[tests] skipping the GPX schema tests: no xmllint (${xmllintProblem})`);

const dir = mkdtempSync(join(tmpdir(), 'tacho-gpx-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** xmllint's verdict on the document: exit status 0 when it is valid, its complaints on stderr. */
function validate(gpx: string): { status: number | null; stderr: string } {
  files += 1;
  const file = join(dir, `export-${files}.gpx`);
  writeFileSync(file, gpx);
  // --nonet: never follow the file's xsi:schemaLocation to topografix.com; only our schema decides.
  const run = spawnSync('xmllint', ['--noout', '--nonet', '--schema', XSD, file], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

function expectValid(gpx: string) {
  const { status, stderr } = validate(gpx);
  expect(status, `xmllint refused the export:\n${stderr}\n${gpx.slice(0, 2000)}`).toBe(0);
}

/** Names that need escaping, non-ASCII (also outside the BMP) and a control character XML cannot hold. */
const VEHICLE_NAME = 'Tom & Jerry\'s <"Zoë"> Ølbil 🚗\u0007';
const SESSION_NAME = 'Fahrt „Süd“ & <Nord> 北京 "quoted"\u001b';

const T0 = Date.UTC(2026, 4, 2, 7, 0, 0);

// Skipped, not left out: a file with no tests at all would fail the run.
describe.skipIf(xmllintProblem !== null)('GPX 1.1 validity checked by xmllint', () => {
  describe('the GPX schema fixture', () => {
    function sample(over: Partial<ExportSample>): ExportSample {
      return {
        tsMs: T0,
        seq: 0,
        metrics: {},
        lat: 48.1,
        lon: 11.5,
        alt_m: 500,
        heading_deg: null,
        speed_kmh: null,
        accuracy_m: null,
        ...over,
      };
    }

    function written(samples: ExportSample[]): string {
      const writer = new GpxWriter(['speed_kmh', 'battery_level_pct'], {
        name: 'n',
        desc: 'd',
        timeMs: T0,
        trackName: 't',
        trackType: 'drive',
      });
      return writer.head() + writer.page(samples) + writer.tail();
    }

    it('refuses what GPX 1.1 refuses: time before ele, lon 180, a missing creator, a GPX element in extensions', () => {
      const gpx = written([sample({ metrics: { speed_kmh: 50, battery_level_pct: 80 } })]);
      expectValid(gpx);
      const wrong = [
        gpx.replace(/<ele>([^<]*)<\/ele><time>([^<]*)<\/time>/, '<time>$2</time><ele>$1</ele>'),
        gpx.replace('lon="11.5"', 'lon="180"'),
        gpx.replace(' creator="Tacho"', ''),
        gpx.replace('<tacho:speed_kmh>50</tacho:speed_kmh>', '<speed>50</speed>'),
      ];
      for (const doc of wrong) {
        expect(doc).not.toBe(gpx);
        const { status, stderr } = validate(doc);
        expect(status, doc).not.toBe(0);
        expect(stderr).toContain('fails to validate');
      }
    });
  });

  for (const engine of engines) {
    describe(`GPX export against the GPX 1.1 schema [${engine}]`, () => {
      let app: TestApp;
      let owner: TestUser;
      let clock: ManualClock;

      beforeEach(async () => {
        clock = new ManualClock(T0);
        app = await createTestApp(engine, {}, { clock });
        owner = await createTestUser(app, 'operator');
      });
      afterEach(async () => {
        await app?.dispose();
      });

      async function call(method: 'GET' | 'POST', url: string, payload?: object) {
        return app.http.inject({ method, url, headers: owner.headers, ...(payload ? { payload } : {}) });
      }

      /**
       * A vehicle with a named manual recording from T0 to T0 + 10 min holding points at and near the
       * antimeridian, with and without elevation, speed from the metrics or only from the position, a
       * sample without a position; then, 30 min later, one more point (a new track segment).
       */
      async function recorded(): Promise<{ vehicleId: string; session: Session }> {
        const vin = '5YJ3E1EA7KF190101';
        const created = await call('POST', '/api/v1/vehicles', { vin, name: VEHICLE_NAME });
        expect(created.statusCode, created.body).toBe(201);
        const vehicleId = created.json().id as string;
        const started = await call('POST', `/api/v1/vehicles/${vehicleId}/sessions`, {
          kind: 'manual',
          name: SESSION_NAME,
        });
        expect(started.statusCode, started.body).toBe(201);
        clock.set(T0 + 10 * 60_000);
        const sent = await call('POST', `/api/v1/vehicles/${vin}/telemetry`, [
          {
            ts: T0 + 1_000,
            metrics: { speed_kmh: 42, battery_level_pct: 81.5, software_version: '2026.2 <beta> & "x"' },
            position: { lat: 64.1, lon: -180, alt_m: 12.5 },
          },
          {
            ts: T0 + 2_000,
            metrics: { battery_level_pct: 81.4 },
            position: { lat: 64.1, lon: 179.9999999, speed_kmh: 40 },
          },
          { ts: T0 + 3_000, position: { lat: 64.1, lon: 180, alt_m: -12 } },
          { ts: T0 + 4_000, metrics: { battery_level_pct: 81.3, gear: 'D' } },
          { ts: T0 + 5_000, metrics: { speed_kmh: 0 }, position: { lat: -90, lon: 1e-7, alt_m: 0 } },
        ]);
        expect(sent.statusCode, sent.body).toBe(200);
        const stopped = await call('POST', `/api/v1/sessions/${started.json().id}/stop`);
        expect(stopped.statusCode, stopped.body).toBe(200);
        clock.set(T0 + 40 * 60_000);
        const later = await call('POST', `/api/v1/vehicles/${vin}/telemetry`, [
          { ts: T0 + 30 * 60_000, metrics: { speed_kmh: 30 }, position: { lat: 64.2, lon: -179.5 } },
        ]);
        expect(later.statusCode, later.body).toBe(200);
        return { vehicleId, session: stopped.json() as Session };
      }

      it('a vehicle range is valid GPX 1.1: escaped names, extensions, both ends of the longitude range', async () => {
        const { vehicleId } = await recorded();
        const res = await call(
          'GET',
          `/api/v1/vehicles/${vehicleId}/export?format=gpx&from=${T0}&to=${T0 + 3_600_000}&metrics=speed_kmh,battery_level_pct,software_version,gear`,
        );
        expect(res.statusCode, res.body).toBe(200);
        const gpx = res.body;
        expectValid(gpx);
        expect(gpx.match(/<trkpt /g)).toHaveLength(5);
        expect(gpx.match(/<trkseg>/g)).toHaveLength(2);
        expect(gpx).toContain('<name>Tom &amp; Jerry&apos;s &lt;&quot;Zoë&quot;&gt; Ølbil 🚗\uFFFD (');
        expect(gpx).toContain(
          '<tacho:software_version>2026.2 &lt;beta&gt; &amp; &quot;x&quot;</tacho:software_version>',
        );
        // 180° and -180° are one meridian; GPX 1.1 takes only the second.
        expect(gpx).not.toContain('lon="180"');
        expect(gpx.match(/lon="-180"/g)).toHaveLength(2);
        expect(gpx).toContain('<trkpt lat="64.1" lon="179.9999999"><time>');
        expect(gpx).toContain('<trkpt lat="-90" lon="0.0000001"><ele>0</ele>');
      });

      it('a session is valid GPX 1.1 with its escaped name as the track name and speed and battery as extensions', async () => {
        const { session } = await recorded();
        const res = await call('GET', `/api/v1/sessions/${session.id}/export?format=gpx`);
        expect(res.statusCode, res.body).toBe(200);
        const gpx = res.body;
        expectValid(gpx);
        expect(gpx.match(/<trkpt /g)).toHaveLength(4);
        expect(gpx).toContain(
          '<trk><name>Fahrt „Süd“ &amp; &lt;Nord&gt; 北京 &quot;quoted&quot;\uFFFD</name><type>manual</type>',
        );
        expect(gpx).toContain(
          `<trkpt lat="64.1" lon="-180"><ele>12.5</ele><time>${new Date(T0 + 1_000).toISOString()}</time><extensions><tacho:speed_kmh>42</tacho:speed_kmh><tacho:battery_level_pct>81.5</tacho:battery_level_pct></extensions></trkpt>`,
        );
        expect(gpx).toContain(
          `<trkpt lat="64.1" lon="179.9999999"><time>${new Date(T0 + 2_000).toISOString()}</time><extensions><tacho:speed_kmh>40</tacho:speed_kmh><tacho:battery_level_pct>81.4</tacho:battery_level_pct></extensions></trkpt>`,
        );
      });
    });
  }
});
