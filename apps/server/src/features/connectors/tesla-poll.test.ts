import { describe, expect, it } from 'vitest';
import {
  firstPlan,
  nextPoll,
  nextUtcDay,
  type Observation,
  type PollPlan,
  pace,
  defaultPollSettings as s,
} from './tesla-poll.js';

const T0 = Date.UTC(2026, 5, 1, 8, 0, 0);
const parked: Observation = { kind: 'data', driving: false, charging: false, busy: false };

/** Feeds observations, each at the time the previous plan asked for; returns every plan. */
function run(observations: Observation[]): PollPlan[] {
  let plan = firstPlan(T0);
  const plans: PollPlan[] = [plan];
  for (const o of observations) {
    plan = nextPoll(plan.state, o, plan.atMs);
    plans.push(plan);
  }
  return plans;
}

describe('Tesla poll plan', () => {
  it('reads only the vehicle list while the car sleeps, and never its data', () => {
    const plans = run([
      { kind: 'listed', state: 'asleep' },
      { kind: 'listed', state: 'asleep' },
      { kind: 'listed', state: 'offline' },
    ]);
    expect(plans.map((p) => p.action)).toEqual(['list', 'list', 'list', 'list']);
    expect(plans[1]!.atMs - plans[0]!.atMs).toBe(s.asleepMs);
    expect(plans.at(-1)!.state.mode).toBe('offline');
  });

  it('reads data once the list says online, fast while driving, slower while charging', () => {
    const plans = run([
      { kind: 'listed', state: 'online' },
      { kind: 'data', driving: true, charging: false, busy: false },
      { kind: 'data', driving: true, charging: false, busy: false },
      { kind: 'data', driving: false, charging: true, busy: false },
    ]);
    expect(plans[1]).toMatchObject({ action: 'data', atMs: T0, state: { mode: 'online' } });
    expect(plans[2]).toMatchObject({ action: 'data', atMs: T0 + s.drivingMs, state: { mode: 'driving' } });
    expect(plans[4]).toMatchObject({ action: 'data', state: { mode: 'charging' } });
    expect(plans[4]!.atMs - plans[3]!.atMs).toBe(s.chargingMs);
  });

  it('lets an idle parked car fall asleep: after 15 idle minutes no data for 21 minutes', () => {
    let plan = nextPoll(firstPlan(T0).state, { kind: 'listed', state: 'online' }, T0);
    const actions: string[] = [];
    while (plan.action === 'data' && actions.length < 100) {
      plan = nextPoll(plan.state, parked, plan.atMs);
      actions.push(plan.action);
    }
    // Reads at 0, 1, …, 15 minutes; the one at 15 finds it idle long enough.
    expect(actions).toHaveLength(16);
    // Parked data every minute, then the pause: the list only.
    expect(actions.slice(0, -1).every((a) => a === 'data')).toBe(true);
    expect(plan).toMatchObject({ action: 'list', state: { mode: 'suspended' } });
    const until = plan.state.suspendedUntilMs!;
    expect(until - (plan.atMs - s.asleepMs)).toBe(s.suspendMs);
    // Still online within the pause: still only the list.
    plan = nextPoll(plan.state, { kind: 'listed', state: 'online' }, plan.atMs);
    expect(plan).toMatchObject({ action: 'list', state: { mode: 'suspended' } });
    // It fell asleep: the pause ends, the list goes on.
    const asleep = nextPoll(plan.state, { kind: 'listed', state: 'asleep' }, plan.atMs);
    expect(asleep).toMatchObject({ action: 'list', state: { mode: 'asleep', suspendedUntilMs: null } });
    // It did not: after the pause, one data read, and it is suspended again at once (still idle).
    const after = nextPoll(plan.state, { kind: 'listed', state: 'online' }, until);
    expect(after).toMatchObject({ action: 'data', atMs: until });
    expect(nextPoll(after.state, parked, until)).toMatchObject({
      action: 'list',
      state: { mode: 'suspended' },
    });
  });

  it('does not wait for sleep while someone uses the car (climate, sentry, a person inside)', () => {
    let plan = nextPoll(firstPlan(T0).state, { kind: 'listed', state: 'online' }, T0);
    for (let i = 0; i < 30; i++) plan = nextPoll(plan.state, { ...parked, busy: true }, plan.atMs);
    expect(plan).toMatchObject({ action: 'data', state: { mode: 'online' } });
  });

  it('goes back to the list on a 408, and retries the same request after a failure', () => {
    const driving = nextPoll(
      firstPlan(T0).state,
      { kind: 'data', driving: true, charging: false, busy: false },
      T0,
    );
    const lost = nextPoll(driving.state, { kind: 'unavailable' }, T0 + 5000);
    expect(lost).toMatchObject({ action: 'list', state: { mode: 'offline' } });
    expect(nextPoll(driving.state, { kind: 'failed', action: 'data' }, T0)).toMatchObject({
      action: 'data',
      atMs: T0 + s.retryMs,
      state: { mode: 'driving' },
    });
  });
});

describe('Tesla request pacing', () => {
  const asleep = nextPoll(firstPlan(T0).state, { kind: 'listed', state: 'asleep' }, T0);
  const driving = nextPoll(
    firstPlan(T0).state,
    { kind: 'data', driving: true, charging: false, busy: false },
    T0,
  );

  it('waits for the next UTC day once the budget is spent', () => {
    expect(pace(driving, { limit: 100, used: 100, vehicles: 1 }, T0)).toBe(nextUtcDay(T0));
  });

  it('spreads idle reads over the rest of the day, half the remaining budget for them', () => {
    const at = pace(asleep, { limit: 200, used: 0, vehicles: 2 }, T0);
    // 16 hours left, 100 remaining per vehicle, half of it for idle reads: one each 19.2 minutes.
    expect(at - T0).toBe(Math.ceil((nextUtcDay(T0) - T0) / 50));
    // A generous budget leaves the plan as it is.
    expect(pace(asleep, { limit: 1_000_000, used: 0, vehicles: 1 }, T0)).toBe(asleep.atMs);
  });

  it('keeps the drive pace until a tenth of the budget is left', () => {
    expect(pace(driving, { limit: 1000, used: 800, vehicles: 1 }, T0)).toBe(driving.atMs);
    expect(pace(driving, { limit: 1000, used: 950, vehicles: 1 }, T0)).toBeGreaterThan(driving.atMs);
  });

  it("honours Tesla's Retry-After", () => {
    expect(pace(driving, { limit: 1_000_000, used: 0, vehicles: 1 }, T0, T0 + 120_000)).toBe(T0 + 120_000);
  });
});
