import type { ImportResult, Session } from '@tacho/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import { waitUntil } from '../telemetry/fault-helpers.js';

const T0 = Date.UTC(2026, 4, 2, 7, 0, 0);
const NOW = T0 + 12 * 3_600_000;

/** A drive: gear D, 120 fixes 15 s apart going north-east at ~50 km/h with speed and battery, then P. */
function driveMessages(startMs: number, vin: string) {
  const out: Array<Record<string, unknown>> = [
    {
      ts: startMs,
      seq: 0,
      metrics: { gear: 'D', battery_level_pct: 80, software_version: '=HYPERLINK("x")' },
    },
  ];
  for (let i = 1; i <= 120; i++) {
    out.push({
      ts: startMs + i * 15_000,
      seq: i % 3,
      metrics: { speed_kmh: 50 + (i % 7), battery_level_pct: 80 - i / 40, outside_temp_c: -3.5 },
      position: { lat: 48.1 + i * 0.0011, lon: 11.5 + i * 0.0012, alt_m: 500 + (i % 5), heading_deg: 35 },
    });
  }
  out.push({ ts: startMs + 121 * 15_000, seq: 0, metrics: { gear: 'P', battery_level_pct: 77 } });
  return { vin, messages: out };
}

for (const engine of engines) {
  describe(`export and import [${engine}]`, () => {
    let app: TestApp;
    let owner: TestUser;
    let viewer: TestUser;

    beforeEach(async () => {
      app = await createTestApp(
        engine,
        { TACHO_MAX_IMPORT_BYTES: '4000000' },
        { clock: new ManualClock(NOW) },
      );
      owner = await createTestUser(app, 'operator');
      viewer = await createTestUser(app, 'viewer');
    });
    afterEach(async () => {
      await app?.dispose();
    });

    async function vehicle(vin: string, name = 'Blue'): Promise<string> {
      const res = await app.http.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: owner.headers,
        payload: { vin, name },
      });
      expect(res.statusCode).toBe(201);
      return res.json().id as string;
    }

    async function send(vin: string, messages: unknown[]) {
      const res = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${vin}/telemetry`,
        headers: owner.headers,
        payload: messages as object,
      });
      expect(res.statusCode, res.body).toBe(200);
    }

    async function importFile(id: string, format: string, body: string | Buffer, type: string, user = owner) {
      return app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${id}/import?format=${format}`,
        headers: { ...user.headers, 'content-type': type },
        payload: body,
      });
    }

    async function samplesOf(id: string) {
      const rows = await app.storage.db
        .selectFrom('samples')
        .select(['ts_ms', 'seq', 'metrics', 'lat', 'lon', 'alt_m', 'heading_deg', 'speed_kmh', 'accuracy_m'])
        .where('vehicle_id', '=', id)
        .orderBy('ts_ms')
        .orderBy('seq')
        .execute();
      return rows.map((r) => ({
        ...r,
        ts_ms: Number(r.ts_ms),
        seq: Number(r.seq),
        metrics: JSON.parse(r.metrics),
      }));
    }

    async function sessionsOf(id: string): Promise<Session[]> {
      const res = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/sessions`,
        headers: owner.headers,
      });
      return res.json().items as Session[];
    }

    async function drive(vin: string) {
      const id = await vehicle(vin);
      await send(vin, driveMessages(T0, vin).messages);
      let drives: Session[] = [];
      await waitUntil('the drive is recorded', async () => {
        app.processing.poke();
        drives = (await sessionsOf(id)).filter((s) => s.kind === 'drive' && s.endMs !== null);
        return drives.length === 1;
      });
      return { id, drive: drives[0]! };
    }

    it('CSV: header with units, RFC 4180 line ends, formula-escaped strings, a file name with the VIN and range', async () => {
      const { id } = await drive('5YJ3E1EA7KF190001');
      const res = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=csv&from=2026-05-02&to=2026-05-03`,
        headers: viewer.headers,
      });
      expect(res.statusCode).toBe(404); // not shared with the viewer
      const ok = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=csv&from=2026-05-02&to=2026-05-03`,
        headers: owner.headers,
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^text\/csv/);
      expect(ok.headers['content-disposition']).toBe(
        'attachment; filename="tacho-5YJ3E1EA7KF190001-2026-05-02_2026-05-03.csv"',
      );
      const lines = ok.body.split('\r\n');
      expect(lines[0]).toMatch(/^ts_iso,ts_ms,lat,lon,alt_m,/);
      expect(lines[0]).toContain('speed_kmh');
      expect(lines[0]).toContain('battery_level_pct');
      expect(lines).toHaveLength(1 + 122 + 1);
      const header = lines[0]!.split(',');
      const first = lines[1]!;
      expect(first).toContain(`"'=HYPERLINK(""x"")"`);
      const row = lines[2]!.split(',');
      expect(row[0]).toBe(new Date(T0 + 15_000).toISOString());
      expect(row[header.indexOf('outside_temp_c')]).toBe('-3.5');
      expect(Number(row[header.indexOf('lat')])).toBeCloseTo(48.1011, 6);
    });

    it("CSV in the user's units (miles, °F, psi) with the unit in each column's name, or as stored with units=stored; NDJSON and GeoJSON stay canonical", async () => {
      const { id, drive: original } = await drive('5YJ3E1EA7KF190020');
      await send('5YJ3E1EA7KF190020', [
        { ts: T0 + 15_000, seq: 7, metrics: { tyre_pressure_fl_kpa: 250, odometer_km: 16_093.44 } },
      ]);
      const prefs = await app.http.inject({
        method: 'PUT',
        url: '/api/v1/auth/me/preferences',
        headers: owner.headers,
        payload: { distance: 'mi', temperature: 'f', pressure: 'psi' },
      });
      expect(prefs.statusCode, prefs.body).toBe(200);
      const csvOf = async (url: string) => {
        const res = await app.http.inject({ method: 'GET', url, headers: owner.headers });
        expect(res.statusCode, res.body).toBe(200);
        const [head, ...rows] = res.body.trimEnd().split('\r\n');
        const header = head!.split(',');
        return {
          header,
          rows: rows.map((line) => {
            const cells = line.split(',');
            return Object.fromEntries(header.map((h, i) => [h, cells[i]]));
          }),
        };
      };

      const preferred = await csvOf(`/api/v1/vehicles/${id}/export?format=csv`);
      expect(preferred.header.slice(0, 5)).toEqual(['ts_iso', 'ts_ms', 'lat', 'lon', 'alt_m']);
      for (const column of ['speed_mph', 'outside_temp_f', 'tyre_pressure_fl_psi', 'odometer_mi'])
        expect(preferred.header).toContain(column);
      for (const column of ['speed_kmh', 'outside_temp_c', 'tyre_pressure_fl_kpa', 'odometer_km'])
        expect(preferred.header).not.toContain(column);
      expect(preferred.header).toContain('battery_level_pct');
      const row = preferred.rows.find((r) => r.ts_ms === String(T0 + 15_000) && r.speed_mph !== '')!;
      expect(row).toMatchObject({ speed_mph: '31.689931', outside_temp_f: '25.7', alt_m: '501' });
      expect(Number(row.battery_level_pct)).toBeCloseTo(79.975, 9);
      const tyres = preferred.rows.find((r) => r.tyre_pressure_fl_psi !== '')!;
      expect(Number(tyres.tyre_pressure_fl_psi)).toBeCloseTo(36.259434, 6);
      expect(tyres.odometer_mi).toBe('10000');
      // Asked for explicitly, the same; a session's export follows the setting too.
      expect(await csvOf(`/api/v1/vehicles/${id}/export?format=csv&units=preferred`)).toEqual(preferred);
      const session = await csvOf(`/api/v1/sessions/${original.id}/export?format=csv&metrics=speed_kmh`);
      expect(session.header).toEqual(['ts_iso', 'ts_ms', 'lat', 'lon', 'alt_m', 'speed_mph']);

      const stored = await csvOf(`/api/v1/vehicles/${id}/export?format=csv&units=stored`);
      expect(stored.header).toContain('speed_kmh');
      expect(stored.header).not.toContain('speed_mph');
      expect(stored.rows.find((r) => r.ts_ms === String(T0 + 15_000) && r.speed_kmh !== '')).toMatchObject({
        speed_kmh: '51',
        outside_temp_c: '-3.5',
      });
      const storedSession = await csvOf(
        `/api/v1/sessions/${original.id}/export?format=csv&metrics=tyre_pressure_fl_kpa&units=stored`,
      );
      expect(storedSession.header.at(-1)).toBe('tyre_pressure_fl_kpa');
      const bad = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=csv&units=imperial`,
        headers: owner.headers,
      });
      expect(bad.statusCode).toBe(400);

      // A CSV in the user's units re-imports into the catalog's units.
      const other = await vehicle('5YJ3E1EA7KF190021', 'Copy');
      const csvBody = (
        await app.http.inject({
          method: 'GET',
          url: `/api/v1/vehicles/${id}/export?format=csv`,
          headers: owner.headers,
        })
      ).body;
      const back = await importFile(other, 'csv', csvBody, 'text/csv');
      expect(back.statusCode, back.body).toBe(200);
      expect(back.json()).toMatchObject({ rejected: 0 });
      const copied = (await samplesOf(other)).find((r) => r.ts_ms === T0 + 15_000 && r.metrics.speed_kmh)!;
      expect(copied.metrics.speed_kmh).toBeCloseTo(51, 5);
      expect(copied.metrics.outside_temp_c).toBeCloseTo(-3.5, 9);

      // NDJSON is canonical whatever is asked, and re-imports losslessly; GeoJSON's stats stay canonical.
      const ndjson = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=ndjson&units=preferred`,
        headers: owner.headers,
      });
      expect(ndjson.statusCode).toBe(200);
      expect(JSON.parse(ndjson.body.split('\n')[1]!).metrics).toEqual({
        speed_kmh: 51,
        battery_level_pct: 80 - 1 / 40,
        outside_temp_c: -3.5,
      });
      const third = await vehicle('5YJ3E1EA7KF190022', 'Third');
      const lossless = await importFile(third, 'ndjson', ndjson.body, 'application/x-ndjson');
      expect(lossless.statusCode, lossless.body).toBe(200);
      expect(await samplesOf(third)).toEqual(await samplesOf(id));
      const geojson = await app.http.inject({
        method: 'GET',
        url: `/api/v1/sessions/${original.id}/export?format=geojson`,
        headers: owner.headers,
      });
      expect(geojson.json().features[0].properties).toMatchObject({
        distance_km: original.stats.distance_km,
      });
      expect(geojson.json().features[0].properties).not.toHaveProperty('distance_mi');
    });

    it('NDJSON: native messages that the telemetry route takes; re-imported into another vehicle, the same samples', async () => {
      const { id } = await drive('5YJ3E1EA7KF190002');
      const res = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=ndjson`,
        headers: owner.headers,
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
      const lines = res.body.trimEnd().split('\n');
      expect(lines).toHaveLength(122);
      expect(JSON.parse(lines[1]!)).toEqual({
        ts: T0 + 15_000,
        seq: 1,
        metrics: { speed_kmh: 51, battery_level_pct: 80 - 1 / 40, outside_temp_c: -3.5 },
        position: { lat: 48.1011, lon: 11.5012, alt_m: 501, heading_deg: 35 },
      });
      const other = await vehicle('5YJ3E1EA7KF190003', 'Copy');
      const imported = await importFile(other, 'ndjson', res.body, 'application/x-ndjson');
      expect(imported.statusCode, imported.body).toBe(200);
      expect(imported.json()).toMatchObject({ stored: 122, duplicates: 0, rejected: 0, sessionsCreated: 1 });
      expect(await samplesOf(other)).toEqual(await samplesOf(id));
      // The same file again stores nothing twice and records no second session.
      const again = await importFile(other, 'ndjson', res.body, 'application/x-ndjson');
      expect(again.json()).toMatchObject({ stored: 0, duplicates: 122, sessionsCreated: 0 });
    });

    it('GPX of a session re-imports as a manual session of the same distance (within 0.5 %)', async () => {
      const { drive: original } = await drive('5YJ3E1EA7KF190004');
      const res = await app.http.inject({
        method: 'GET',
        url: `/api/v1/sessions/${original.id}/export?format=gpx`,
        headers: owner.headers,
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/gpx\+xml/);
      expect(res.headers['content-disposition']).toMatch(
        /^attachment; filename="tacho-5YJ3E1EA7KF190004-drive-2026-05-02T070000Z\.gpx"$/,
      );
      const gpx = res.body;
      expect(gpx).toContain('<gpx version="1.1" creator="Tacho" xmlns="http://www.topografix.com/GPX/1/1"');
      expect(gpx).toContain('xmlns:tacho="urn:tacho:gpx:1"');
      expect(gpx.match(/<trk>/g)).toHaveLength(1);
      expect(gpx.match(/<trkpt /g)).toHaveLength(120);
      expect(gpx).toContain(
        `<trkpt lat="48.1011" lon="11.5012"><ele>501</ele><time>${new Date(T0 + 15_000).toISOString()}</time><extensions><tacho:speed_kmh>51</tacho:speed_kmh><tacho:battery_level_pct>79.975</tacho:battery_level_pct></extensions></trkpt>`,
      );
      const other = await vehicle('5YJ3E1EA7KF190005', 'Copy');
      const imported = await importFile(other, 'gpx', gpx, 'application/gpx+xml');
      expect(imported.statusCode, imported.body).toBe(200);
      const result = imported.json() as ImportResult;
      expect(result).toMatchObject({ stored: 120, rejected: 0, sessionsCreated: 1 });
      const manual = (await sessionsOf(other)).find((s) => s.kind === 'manual')!;
      expect(manual.id).toBe(result.sessionIds[0]);
      expect(manual.name).toBe(`drive ${new Date(T0).toISOString()}`);
      expect(
        Math.abs(manual.stats.distance_km - original.stats.distance_km) / original.stats.distance_km,
      ).toBeLessThan(0.005);
      expect(manual.stats.max_speed_kmh).toBe(original.stats.max_speed_kmh);
    });

    it('GeoJSON: a FeatureCollection of the sessions as LineStrings with their stats; it re-imports', async () => {
      const { id, drive: original } = await drive('5YJ3E1EA7KF190006');
      const res = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=geojson`,
        headers: owner.headers,
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/geo\+json/);
      const fc = res.json();
      expect(fc.type).toBe('FeatureCollection');
      expect(fc.features).toHaveLength(1);
      const [feature] = fc.features;
      expect(feature.geometry.type).toBe('LineString');
      expect(feature.geometry.coordinates).toHaveLength(120);
      expect(feature.geometry.coordinates[0]).toEqual([11.5012, 48.1011, 501]);
      expect(feature.properties).toMatchObject({
        sessionId: original.id,
        kind: 'drive',
        distance_km: original.stats.distance_km,
      });
      expect(feature.properties.coordinateProperties.times[0]).toBe(new Date(T0 + 15_000).toISOString());
      const other = await vehicle('5YJ3E1EA7KF190007', 'Copy');
      const imported = await importFile(other, 'geojson', res.body, 'application/geo+json');
      expect(imported.statusCode, imported.body).toBe(200);
      expect(imported.json()).toMatchObject({ stored: 120, sessionsCreated: 1 });
    });

    it('one running export per user: a second is 429 until the first has finished', async () => {
      const { id } = await drive('5YJ3E1EA7KF190008');
      const actor = { kind: 'user' as const, userId: owner.id, role: 'operator' as const };
      const first = await app.transfer.exports.vehicle(actor, id, { format: 'csv' });
      await expect(app.transfer.exports.vehicle(actor, id, { format: 'gpx' })).rejects.toMatchObject({
        status: 429,
      });
      const busy = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=gpx`,
        headers: owner.headers,
      });
      expect(busy.statusCode).toBe(429);
      expect(busy.json().error.code).toBe('export_running');
      for await (const _ of first.body) {
        // read to the end
      }
      const later = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=gpx`,
        headers: owner.headers,
      });
      expect(later.statusCode).toBe(200);
    });

    it('GPX 1.0 and 1.1 from other loggers: BOM, routes, waypoints as events, Garmin speed, empty segments, no elevation', async () => {
      const id = await vehicle('5YJ3E1EA7KF190009');
      const t = (s: number) => new Date(T0 + s * 1000).toISOString();
      const gpx11 =
        '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<gpx version="1.1" creator="Garmin" xmlns="http://www.topografix.com/GPX/1/1" xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">' +
        `<wpt lat="48.2" lon="11.6"><time>${t(0)}</time><name>Home</name></wpt>` +
        '<wpt lat="48.3" lon="11.7"><name>No time</name></wpt>' +
        '<trk><name>Morning</name><trkseg></trkseg><trkseg>' +
        `<trkpt lat="48.1" lon="11.5"><time>${t(10)}</time><extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>10</gpxtpx:speed><gpxtpx:hr>120</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions></trkpt>` +
        `<trkpt lat="48.11" lon="11.51"><ele>520</ele><time>${t(70)}</time></trkpt>` +
        `<trkpt lat="48.12" lon="11.52"><time>${t(130)}</time></trkpt>` +
        '</trkseg></trk>' +
        '<trk><name>Timeless</name><trkseg><trkpt lat="48" lon="11"/><trkpt lat="48.01" lon="11"/></trkseg></trk>' +
        `<rte><name>Planned</name><rtept lat="47" lon="10"><time>${t(3600)}</time></rtept><rtept lat="47.01" lon="10"><time>${t(3660)}</time></rtept></rte>` +
        '</gpx>';
      const res = await importFile(id, 'gpx', Buffer.from(gpx11), 'application/gpx+xml');
      expect(res.statusCode, res.body).toBe(200);
      const result = res.json() as ImportResult;
      expect(result).toMatchObject({ stored: 6, duplicates: 0, events: 1, rejected: 3, sessionsCreated: 2 });
      expect(result.reasons).toContain('GPX: waypoint "No time" has no valid <time>; samples need a time');
      expect(result.reasons).toContain(
        'GPX: track "Timeless" has no times: its 2 points are refused (samples need a <time>)',
      );
      const rows = await samplesOf(id);
      expect(rows.find((r) => r.ts_ms === T0 + 10_000)!.metrics).toEqual({ speed_kmh: 36 });
      expect(rows.find((r) => r.ts_ms === T0)).toMatchObject({ lat: null, metrics: {} });
      const names = (await sessionsOf(id))
        .filter((s) => s.kind === 'manual')
        .map((s) => s.name)
        .sort();
      expect(names).toEqual(['Morning', 'Planned']);

      const gpx10 =
        '<?xml version="1.0"?><gpx version="1.0" creator="old" xmlns="http://www.topografix.com/GPX/1/0"><trk><trkseg>' +
        `<trkpt lat="50" lon="8"><time>${t(7200)}</time><speed>5</speed><course>90</course></trkpt>` +
        `<trkpt lat="50.001" lon="8"><time>${t(7260)}</time></trkpt></trkseg></trk></gpx>`;
      const old = await importFile(id, 'gpx', gpx10, 'application/xml');
      expect(old.statusCode, old.body).toBe(200);
      expect(old.json()).toMatchObject({ stored: 2, sessionsCreated: 1 });
      expect((await samplesOf(id)).find((r) => r.ts_ms === T0 + 7_200_000)).toMatchObject({
        heading_deg: 90,
        metrics: { speed_kmh: 18 },
      });
    });

    it('refuses bad files with a status and a reason that names the problem, saying what was stored', async () => {
      const id = await vehicle('5YJ3E1EA7KF190010');
      const t = (s: number) => new Date(T0 + s * 1000).toISOString();
      const expectError = async (
        res: Awaited<ReturnType<typeof importFile>>,
        status: number,
        code: string,
        text: RegExp,
      ) => {
        expect(res.statusCode, res.body).toBe(status);
        expect(res.json().error.code).toBe(code);
        expect(res.json().error.message).toMatch(text);
      };
      await expectError(
        await importFile(
          id,
          'gpx',
          '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>',
          'application/gpx+xml',
        ),
        400,
        'invalid_xml',
        /not well-formed XML.*nothing was stored/,
      );
      const bomb =
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>' +
        '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="1" lon="1"><name>&lol2;</name></wpt></gpx>';
      await expectError(
        await importFile(id, 'gpx', bomb, 'application/gpx+xml'),
        400,
        'gpx_doctype',
        /DOCTYPE is not accepted/,
      );
      const deep = `<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">${'<a>'.repeat(1_000_000)}`;
      await expectError(
        await importFile(id, 'gpx', deep, 'application/gpx+xml'),
        400,
        'gpx_too_deep',
        /nested deeper than 64/,
      );
      await expectError(
        await importFile(
          id,
          'gpx',
          '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"/>',
          'application/json',
        ),
        415,
        'unsupported_media_type',
        /format gpx takes Content-Type application\/gpx\+xml.*got application\/json/,
      );
      const untyped = await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${id}/import?format=csv`,
        headers: owner.headers,
        payload: Buffer.from('ts_ms,lat,lon\n1,2,3\n'),
      });
      expect(untyped.statusCode, untyped.body).toBe(415);
      expect(untyped.json().error.message).toMatch(/format csv takes Content-Type text\/csv.*got none/);
      const outOfRange = `<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg><trkpt lat="95" lon="11"><time>${t(1)}</time></trkpt></trkseg></trk></gpx>`;
      await expectError(
        await importFile(id, 'gpx', outOfRange, 'application/gpx+xml'),
        400,
        'nothing_imported',
        /position\.lat: must be a number from -90 to 90/,
      );
      const future = `{"ts":"${new Date(NOW + 3_600_000).toISOString()}","metrics":{"speed_kmh":3}}\n`;
      await expectError(
        await importFile(id, 'ndjson', future, 'application/x-ndjson'),
        400,
        'nothing_imported',
        /more than 5 minutes ahead/,
      );
      await expectError(
        await importFile(
          id,
          'geojson',
          '{"type":"FeatureCollection","features":[{"type":"Feature",',
          'application/geo+json',
        ),
        400,
        'invalid_json',
        /GeoJSON is not valid JSON/,
      );
      await expectError(
        await importFile(
          id,
          'geojson',
          `{"type":"FeatureCollection","features":[${'['.repeat(100_000)}`,
          'application/geo+json',
        ),
        400,
        'invalid_geojson',
        /nested deeper than 64/,
      );
      await expectError(
        await importFile(id, 'csv', 'when,lat\n1,2\n', 'text/csv'),
        400,
        'invalid_csv',
        /"when" is neither/,
      );
      await expectError(
        await importFile(id, 'ndjson', Buffer.alloc(4_100_000, 0x20), 'application/x-ndjson'),
        413,
        'payload_too_large',
        /the limit is 4000000 \(TACHO_MAX_IMPORT_BYTES\)/,
      );
      // Good points, then a broken file: what was stored before is said, and kept.
      const points = Array.from(
        { length: 1500 },
        (_, i) => `<trkpt lat="48" lon="${11 + i * 0.0001}"><time>${t(i)}</time></trkpt>`,
      ).join('');
      const broken = `<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>${points}</trkseg></trk><trk><trkseg><trkpt lat="1" lon="1"></trk></gpx>`;
      await expectError(
        await importFile(id, 'gpx', broken, 'application/gpx+xml'),
        400,
        'invalid_xml',
        /before it, 1500 samples were stored \(0 duplicates, 0 refused\) and 1 sessions created/,
      );
      expect(await samplesOf(id)).toHaveLength(1500);
      // A viewer may read but not import.
      const other = await vehicle('5YJ3E1EA7KF190011');
      await app.http.inject({
        method: 'POST',
        url: `/api/v1/vehicles/${other}/access`,
        headers: owner.headers,
        payload: { email: viewer.email, role: 'viewer' },
      });
      expect((await importFile(other, 'ndjson', '{}\n', 'application/x-ndjson', viewer)).statusCode).toBe(
        403,
      );
    });

    it('CSV re-imports what it exported, runs split at gaps; the imported stats come from the processor path too', async () => {
      const { id } = await drive('5YJ3E1EA7KF190012');
      await send('5YJ3E1EA7KF190012', driveMessages(T0 + 3 * 3_600_000, 'x').messages);
      const csv = await app.http.inject({
        method: 'GET',
        url: `/api/v1/vehicles/${id}/export?format=csv`,
        headers: owner.headers,
      });
      const other = await vehicle('5YJ3E1EA7KF190013', 'Copy');
      const res = await importFile(other, 'csv', csv.body, 'text/csv');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ stored: 244, rejected: 0, sessionsCreated: 2 });
      const copied = await samplesOf(other);
      expect(copied[0]!.metrics.software_version).toBe('=HYPERLINK("x")');
      expect(copied[1]!.metrics.outside_temp_c).toBe(-3.5);
      await waitUntil('the imported runs are recordings with a distance', async () => {
        const manual = (await sessionsOf(other)).filter((s) => s.kind === 'manual');
        return manual.length === 2 && manual.every((s) => s.stats.distance_km > 10);
      });
    });
  });
}
