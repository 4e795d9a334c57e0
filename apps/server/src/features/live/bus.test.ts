import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveBus } from './bus.js';
import { redisProblem as probeRedisProblem, TEST_REDIS_URL } from './bus.test-support.js';
import { MemoryBus } from './memory-bus.js';
import { RedisBus } from './redis-bus.js';

const REDIS_URL = TEST_REDIS_URL;

const redisProblem = await probeRedisProblem();
if (redisProblem && process.env.CI === 'true') {
  throw new Error(`Redis at ${REDIS_URL} is required under CI but unreachable: ${redisProblem}`);
}
if (redisProblem) console.warn(`[tests] skipping Redis bus runs: ${REDIS_URL} unreachable (${redisProblem})`);

interface BusKind {
  name: string;
  /** Buses that share one fan-out (instances of one deployment). */
  open(count: number): Promise<LiveBus[]>;
}

const kinds: BusKind[] = [
  {
    name: 'memory',
    async open(count) {
      // In-process: one bus is the whole deployment, so every "instance" is the same bus.
      const bus = new MemoryBus();
      return Array.from({ length: count }, () => bus);
    },
  },
];
if (!redisProblem) {
  kinds.push({
    name: 'redis',
    async open(count) {
      const prefix = `test:${process.pid}:${randomBytes(4).toString('hex')}:`;
      const buses = Array.from({ length: count }, () => new RedisBus({ url: REDIS_URL, prefix }));
      await Promise.all(buses.map((b) => b.connect()));
      return buses;
    },
  });
}

/** Collects payloads and resolves once `count` have arrived (bounded by a timeout). */
function collector() {
  const got: string[] = [];
  let waiter: { count: number; resolve: () => void } | null = null;
  return {
    got,
    handler: (payload: string) => {
      got.push(payload);
      if (waiter && got.length >= waiter.count) waiter.resolve();
    },
    async waitFor(count: number, timeoutMs = 20_000): Promise<string[]> {
      if (got.length < count) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${count}`)), timeoutMs);
          waiter = {
            count,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          };
        });
      }
      return got;
    },
  };
}

/** A round trip on a marker vehicle proves everything published before it has been delivered. */
async function settle(bus: LiveBus, other: LiveBus): Promise<void> {
  const marker = collector();
  const off = await other.subscribe('marker', marker.handler);
  await bus.publish('marker', 'm');
  await marker.waitFor(1);
  off();
}

for (const kind of kinds) {
  describe(`live bus [${kind.name}]`, () => {
    let opened: LiveBus[] = [];
    const open = async (count: number) => {
      opened = await kind.open(count);
      return opened;
    };
    afterEach(async () => {
      await Promise.all([...new Set(opened)].map((b) => b.close()));
    });

    it('delivers every payload of a vehicle, in order, to each of its subscribers', async () => {
      const [bus] = await open(1);
      const a = collector();
      const b = collector();
      await bus!.subscribe('v1', a.handler);
      await bus!.subscribe('v1', b.handler);
      const sent = Array.from({ length: 200 }, (_, i) => `{"n":${i}}`);
      for (const p of sent) await bus!.publish('v1', p);
      expect(await a.waitFor(200)).toEqual(sent);
      expect(await b.waitFor(200)).toEqual(sent);
    });

    it("delivers nothing of another vehicle's updates", async () => {
      const [bus] = await open(1);
      const v1 = collector();
      await bus!.subscribe('v1', v1.handler);
      await bus!.publish('v2', 'other');
      await bus!.publish('v1', 'mine');
      expect(await v1.waitFor(1)).toEqual(['mine']);
      await settle(bus!, bus!);
      expect(v1.got).toEqual(['mine']);
    });

    it('stops delivering after unsubscribe, and keeps delivering to the remaining subscriber', async () => {
      const [bus] = await open(1);
      const a = collector();
      const b = collector();
      const offA = await bus!.subscribe('v1', a.handler);
      const offB = await bus!.subscribe('v1', b.handler);
      await bus!.publish('v1', '1');
      await a.waitFor(1);
      offA();
      await bus!.publish('v1', '2');
      expect(await b.waitFor(2)).toEqual(['1', '2']);
      offB();
      await bus!.publish('v1', '3');
      await settle(bus!, bus!);
      expect(a.got).toEqual(['1']);
      expect(b.got).toEqual(['1', '2']);
    });

    it('fans out across instances: a subscriber on one instance gets what another publishes', async () => {
      const [one, two] = await open(2);
      const onTwo = collector();
      const onOne = collector();
      await two!.subscribe('v9', onTwo.handler);
      await one!.subscribe('v9', onOne.handler);
      await one!.publish('v9', 'from-one');
      await two!.publish('v9', 'from-two');
      expect(await onTwo.waitFor(2)).toEqual(['from-one', 'from-two']);
      expect(await onOne.waitFor(2)).toEqual(['from-one', 'from-two']);
    });

    it('carries control messages to every instance, the sender too, apart from vehicle updates', async () => {
      const [one, two] = await open(2);
      const onOne = collector();
      const onTwo = collector();
      const vehicle = collector();
      await one!.onControl(onOne.handler);
      const offTwo = await two!.onControl(onTwo.handler);
      await two!.subscribe('control', vehicle.handler);
      await one!.publishControl('revoke-1');
      expect(await onTwo.waitFor(1)).toEqual(['revoke-1']);
      expect(await onOne.waitFor(1)).toEqual(['revoke-1']);
      offTwo();
      await one!.publishControl('revoke-2');
      expect(await onOne.waitFor(2)).toEqual(['revoke-1', 'revoke-2']);
      await settle(one!, two!);
      expect(onTwo.got).toEqual(['revoke-1']);
      expect(vehicle.got).toEqual([]);
    });

    it('keeps other subscribers working when one handler throws', async () => {
      const [bus] = await open(1);
      const ok = collector();
      await bus!.subscribe('v1', () => {
        throw new Error('bad handler');
      });
      await bus!.subscribe('v1', ok.handler);
      await bus!.publish('v1', 'x');
      expect(await ok.waitFor(1)).toEqual(['x']);
    });
  });
}
