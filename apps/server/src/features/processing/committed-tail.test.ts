import { BroadcastChannel } from 'node:worker_threads';
import type { MetricValue } from '@tacho/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { Storage } from '../../db/index.js';
import { freshStorage } from '../../test/storage.js';
import { createSessionsProcessor, SESSIONS_PROCESSOR } from '../sessions/sessions.processor.js';
import { waitUntil } from '../telemetry/fault-helpers.js';
import { packBatch } from '../telemetry/packed-batch.js';
import type { BatchSample } from '../telemetry/sample-batch.js';
import { createSampleWriter, type SampleWriter } from '../telemetry/sample-writer.js';
import { insertVehicle, testVin } from '../telemetry/test-fixtures.js';
import { type CommittedBatch, CommittedTail, committedChannelName } from './committed-tail.js';
import { LocalPasses, PROCESSOR_SAMPLE_COLUMNS, toProcessorSample } from './runner.js';
import { derivedOutput, renameVehicles } from './test-fixtures.js';

const T0 = Date.UTC(2026, 5, 1, 8);
const logger = { error() {}, warn() {} };

function batchOf(vehicleId: string, ts: number[], metrics: (i: number) => Record<string, MetricValue>) {
  return ts.map(
    (t, i): BatchSample => ({
      vehicleId,
      tsMs: T0 + t * 1000,
      seq: 0,
      receivedMs: T0,
      source: 'test',
      metrics: metrics(i),
      ...(i % 3 === 0 ? { position: { lat: 48 + t / 1e5, lon: 11 + t / 1e5, speed_kmh: 30 } } : {}),
    }),
  );
}

/** Marks as a round reads them: each holding one batch unless said (`[id, batches]`). */
const read = (...marks: Array<number | [number, number]>) =>
  marks.map((m) =>
    typeof m === 'number'
      ? { id: m, batches: 1, highTsMs: null }
      : { id: m[0], batches: m[1], highTsMs: null },
  );

describe('the committed tail', () => {
  const parts = (samples: BatchSample[]) => packBatch({ samples, deadLetters: [] }).parts;
  const committed = (vehicleId: string, mark: number, samples: BatchSample[], batch = 1): CommittedBatch => ({
    vehicles: [
      {
        vehicleId,
        marks: [[SESSIONS_PROCESSOR, mark, batch]],
        samples: Uint32Array.from(samples.flatMap((_, i) => [0, i])),
      },
    ],
    parts: parts(samples),
  });

  it('serves a round only when it holds every batch its marks name, and forgets what was consumed', () => {
    const tail = new CommittedTail();
    const a = batchOf('v', [10, 11, 12], () => ({ speed_kmh: 1 }));
    const b = batchOf('v', [5, 13], () => ({ speed_kmh: 2 }));
    tail.add(committed('v', 1, a));
    tail.add(committed('v', 2, b));
    expect(tail.size).toBe(5);
    // Every sample of the batches named, in device-time order, after the cursor.
    expect(
      tail.samplesFor(SESSIONS_PROCESSOR, 'v', read(1, 2), null, 100)?.map((s) => (s.tsMs - T0) / 1000),
    ).toEqual([5, 10, 11, 12, 13]);
    expect(
      tail
        .samplesFor(SESSIONS_PROCESSOR, 'v', read(1), { tsMs: T0 + 10_000, seq: 0 }, 100)
        ?.map((s) => (s.tsMs - T0) / 1000),
    ).toEqual([11, 12]);
    // A mark it never got, another processor's marks, another vehicle, or more than a round takes: no.
    expect(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read(1, 3), null, 100)).toBeNull();
    expect(tail.samplesFor('alerts', 'v', read(1), null, 100)).toBeNull();
    expect(tail.samplesFor(SESSIONS_PROCESSOR, 'w', read(1), null, 100)).toBeNull();
    expect(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read(1, 2), null, 4)).toBeNull();
    tail.consumed(SESSIONS_PROCESSOR, 'v', read(1));
    expect(tail.size).toBe(2);
    expect(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read(1), null, 100)).toBeNull();
    tail.droppedAll(SESSIONS_PROCESSOR);
    expect(tail.size).toBe(0);
  });

  it('keeps a batch until every processor marked in it consumed it', () => {
    const tail = new CommittedTail();
    const samples = batchOf('v', [1, 2], () => ({ speed_kmh: 1 }));
    tail.add({
      vehicles: [
        {
          vehicleId: 'v',
          marks: [
            [SESSIONS_PROCESSOR, 7, 1],
            ['alerts', 8, 1],
          ],
          samples: Uint32Array.from([0, 0, 0, 1]),
        },
      ],
      parts: parts(samples),
    });
    tail.consumed(SESSIONS_PROCESSOR, 'v', read(7));
    expect(tail.samplesFor('alerts', 'v', read(8), null, 10)).toHaveLength(2);
    tail.consumed('alerts', 'v', read(8));
    expect(tail.size).toBe(0);
  });

  it('serves a mark that later batches were folded into only with every batch not consumed yet', () => {
    const tail = new CommittedTail();
    const one = batchOf('v', [1, 2], () => ({ speed_kmh: 1 }));
    const two = batchOf('v', [3], () => ({ speed_kmh: 2 }));
    const three = batchOf('v', [4, 5], () => ({ speed_kmh: 3 }));
    tail.add(committed('v', 9, one, 1));
    tail.add(committed('v', 9, two, 2));
    const times = (got: ReturnType<CommittedTail['samplesFor']>) => got?.map((s) => (s.tsMs - T0) / 1000);
    // Read when it held two batches: both, and none without the second.
    expect(times(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read([9, 2]), null, 100))).toEqual([1, 2, 3]);
    expect(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read([9, 3]), null, 100)).toBeNull();
    // A third batch folded in after the round read it: the round may take it too; consumed are the two.
    tail.add(committed('v', 9, three, 3));
    expect(times(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read([9, 2]), null, 100))).toEqual([1, 2, 3, 4, 5]);
    tail.consumed(SESSIONS_PROCESSOR, 'v', read([9, 2]));
    expect(tail.size).toBe(2);
    // The mark stayed (it holds three now): the next round needs only the third.
    expect(
      times(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read([9, 3]), { tsMs: T0 + 3000, seq: 0 }, 100)),
    ).toEqual([4, 5]);
    tail.consumed(SESSIONS_PROCESSOR, 'v', read([9, 3]));
    expect(tail.size).toBe(0);
    // A batch whose message comes after a round consumed it (read from the database) is not kept.
    tail.add(committed('v', 9, three, 3));
    expect(tail.size).toBe(0);
  });

  it('sheds the older half of each vehicle past its limit', () => {
    const tail = new CommittedTail(10);
    for (let m = 1; m <= 4; m++)
      tail.add(
        committed(
          'v',
          m,
          batchOf('v', [m * 10, m * 10 + 1, m * 10 + 2], () => ({})),
        ),
      );
    expect(tail.size).toBeLessThanOrEqual(10);
    expect(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read(1), null, 10)).toBeNull();
    expect(tail.samplesFor(SESSIONS_PROCESSOR, 'v', read(4), null, 10)).toHaveLength(3);
  });
});

describe('rounds served from the committed tail, in a shared snapshot [sqlite]', () => {
  const opened: Array<{ storage: Storage & { drop(): Promise<void> }; writer: SampleWriter }> = [];
  const channels: BroadcastChannel[] = [];
  afterEach(async () => {
    for (const c of channels.splice(0)) c.close();
    for (const { storage, writer } of opened.splice(0)) {
      await writer.close();
      await storage.drop();
    }
  });

  async function database() {
    const storage = await freshStorage('sqlite');
    const writer = createSampleWriter(storage, { processors: [SESSIONS_PROCESSOR] });
    opened.push({ storage, writer });
    const vehicles = [
      await insertVehicle(storage.db, testVin(1)),
      await insertVehicle(storage.db, testVin(2)),
    ];
    return { storage, writer, vehicles };
  }

  /** A tail fed what the database's writer thread hands over, as the processing thread's is. */
  function handedOver(storage: Storage) {
    const tail = new CommittedTail();
    let received = 0;
    const channel = new BroadcastChannel(committedChannelName(storage.file as string));
    channel.onmessage = (event) => {
      tail.add((event as { data: CommittedBatch }).data);
      received++;
    };
    channels.push(channel);
    return { tail, received: () => received };
  }

  it('derives exactly what reading the samples back derives: in order, late, duplicated, first rounds', async () => {
    const withTail = await database();
    const without = await database();
    const { tail, received } = handedOver(withTail.storage);

    // Both databases get the same vehicles under the same ids, so their sessions' ids agree.
    const ids = withTail.vehicles;
    await renameVehicles(without.storage.db, without.vehicles, ids);

    const drive = (vehicle: string, from: number, n: number, odo: number) =>
      batchOf(
        vehicle,
        Array.from({ length: n }, (_, i) => from + i * 20),
        (i) => ({
          gear: i === 0 || i < n - 1 ? 'D' : 'P',
          speed_kmh: i < n - 1 ? 40 : 0,
          odometer_km: odo + i * 0.2,
          battery_level_pct: 80 - i * 0.1,
        }),
      );
    const [v1, v2] = ids as [string, string];
    const batches: BatchSample[][] = [
      [...drive(v1, 0, 10, 100), ...drive(v2, 0, 5, 500)],
      drive(v1, 200, 10, 102),
      drive(v2, 100, 20, 501),
      drive(v1, 200, 10, 102), // the same again: duplicates, stored once
      drive(v1, 3600, 15, 110),
      drive(v1, 1000, 8, 105), // late: before the cursor
      [...drive(v1, 7200, 12, 120), ...drive(v2, 7200, 12, 520)],
    ];
    const processor = createSessionsProcessor();
    // As the processing thread runs them: grouped commits, the group's rounds in one snapshot.
    const passesWith = new LocalPasses(
      { storage: withTail.storage, logger, processors: [processor], tail },
      { chunk: 5000, duty: 1, groupCommit: true, sharedSnapshot: true },
    );
    const passesWithout = new LocalPasses({ storage: without.storage, logger, processors: [processor] });
    let sent = 0;
    for (const batch of batches) {
      await withTail.writer.write(packBatch({ samples: batch, deadLetters: [] }));
      await without.writer.write(packBatch({ samples: batch, deadLetters: [] }));
      // A batch whose samples were all stored before has no mark and sends nothing.
      sent = batch === batches[3] ? sent : sent + 1;
      await waitUntil('the batch handed over', () => received() >= sent);
      const now = T0 + 86_400_000;
      await passesWith.pass(now);
      await passesWithout.pass(now);
      expect(await derivedOutput(withTail.storage.db)).toEqual(await derivedOutput(without.storage.db));
    }
    const result = await derivedOutput(withTail.storage.db);
    expect(result.marks).toBe(0);
    expect(result.sessions.filter((s) => s.kind === 'drive').length).toBeGreaterThanOrEqual(4);
    // The tail served rounds (in order and first rounds); late data read the database.
    expect(tail.hits).toBeGreaterThan(3);
    expect(tail.size).toBe(0);
  });

  it('folds later batches into the newest mark of the vehicle; one folded in while a round runs goes to the next round, with nothing derived again', async () => {
    const withTail = await database();
    const reference = await database();
    await renameVehicles(reference.storage.db, reference.vehicles, withTail.vehicles);
    const { tail, received } = handedOver(withTail.storage);
    const [v1] = withTail.vehicles as [string];
    const drive = (from: number, n: number) =>
      batchOf(
        v1,
        Array.from({ length: n }, (_, i) => from + i * 10),
        (i) => ({ gear: 'D', speed_kmh: 30 + i, odometer_km: 100 + (from + i * 10) / 100 }),
      );
    const marks = () =>
      withTail.storage.db
        .selectFrom('processing_marks')
        .select(['batches', 'low_ts_ms'])
        .orderBy('id')
        .execute()
        .then((rows) => rows.map((r) => [r.batches, (Number(r.low_ts_ms) - T0) / 1000]));
    let sent = 0;
    const store = async (samples: BatchSample[]) => {
      await withTail.writer.write(packBatch({ samples, deadLetters: [] }));
      await reference.writer.write(packBatch({ samples, deadLetters: [] }));
      sent++;
      await waitUntil('the batch handed over', () => received() >= sent);
    };

    const sessions = createSessionsProcessor();
    let rewinds = 0;
    let racing: BatchSample[] | null = null;
    // A fold that, once, lets the next batch commit while its round runs.
    const processor: typeof sessions = {
      ...sessions,
      async rewind(db, vehicleId, fromTsMs) {
        rewinds++;
        return sessions.rewind!(db, vehicleId, fromTsMs);
      },
      async fold(db, vehicleId, state, samples, nowMs) {
        const batch = racing;
        racing = null;
        if (batch) await store(batch);
        return sessions.fold(db, vehicleId, state, samples, nowMs);
      },
    };
    const passes = new LocalPasses(
      { storage: withTail.storage, logger, processors: [processor] as never, tail },
      { chunk: 5000, duty: 1, groupCommit: true, sharedSnapshot: true },
    );
    const now = T0 + 86_400_000;
    await store(drive(-100, 3));
    await passes.pass(now);

    // In order: one mark holds them all. Older than what is stored: a mark of its own.
    await store(drive(0, 5));
    await store(drive(50, 5));
    await store(drive(100, 5));
    expect(await marks()).toEqual([[3, 0]]);
    await store(drive(25, 2));
    expect(await marks()).toEqual([
      [3, 0],
      [1, 25],
    ]);

    // The next batch commits while the round that read these marks runs: it is folded into the newest
    // (the older batch's), which then stays, marked from just after everything that round saw.
    racing = drive(200, 5);
    const passStarted = Date.now();
    await passes.pass(now);
    expect(await marks()).toEqual([[2, 140.001]]);
    // Its lag counts from no earlier than that round's snapshot, not from the first batch it ever held.
    const left = await withTail.storage.db
      .selectFrom('processing_marks')
      .select('marked_ms')
      .executeTakeFirstOrThrow();
    expect(Number(left.marked_ms)).toBeGreaterThanOrEqual(passStarted);
    await passes.pass(now);
    expect(await marks()).toEqual([]);
    // Nothing was ever taken for late data and derived again.
    expect(rewinds).toBe(0);

    const referencePasses = new LocalPasses({ storage: reference.storage, logger, processors: [sessions] });
    await referencePasses.pass(now);
    expect(await derivedOutput(withTail.storage.db)).toEqual(await derivedOutput(reference.storage.db));
  });

  it('gives the same samples a read of their rows gives', async () => {
    const { storage, writer, vehicles } = await database();
    const tail = new CommittedTail();
    const channel = new BroadcastChannel(committedChannelName(storage.file as string));
    channel.onmessage = (event) => tail.add((event as { data: CommittedBatch }).data);
    channels.push(channel);
    const vehicle = vehicles[0] as string;
    const samples = batchOf(vehicle, [1, 2, 3, 4, 5, 6], (i) => ({
      battery_level_pct: 50 + i / 3,
      gear: 'D',
      door_open: i % 2 === 0,
      note: `ünïcode "${i}"`,
    }));
    await writer.write(packBatch({ samples, deadLetters: [] }));
    await waitUntil('the batch handed over', () => tail.size === samples.length);
    const marks = await storage.db.selectFrom('processing_marks').select(['id', 'batches']).execute();
    const fromTail = tail.samplesFor(
      SESSIONS_PROCESSOR,
      vehicle,
      read(...marks.map((m): [number, number] => [Number(m.id), m.batches])),
      null,
      100,
    );
    const rows = await storage.db
      .selectFrom('samples')
      .select(PROCESSOR_SAMPLE_COLUMNS)
      .where('vehicle_id', '=', vehicle)
      .orderBy('ts_ms')
      .orderBy('seq')
      .execute();
    expect(fromTail).toEqual(rows.map(toProcessorSample));
  });
});
