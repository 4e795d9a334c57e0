/**
 * When to ask Tesla what, for one vehicle: a pure state machine, (state, observation, now) → plan, so a
 * test feeds it scripted observations and checks every decision. Rules (TeslaMate's
 * `lib/teslamate/vehicles/vehicle.ex`, teslamate-org/teslamate; reference-facts.md):
 * - never wake a car: while it is asleep or offline only the vehicle list is read (it does not wake it);
 *   `vehicle_data` only once the list says online;
 * - fast while driving, less often while charging, slowly while parked;
 * - parked and idle for 15 minutes (nobody in it, no climate, no sentry mode), stop reading its data for
 *   21 minutes (TeslaMate's `suspend_after_idle_min` and `suspend_min`) so it can fall asleep: every data
 *   request keeps it awake;
 * - Tesla's 429 with Retry-After and the account's daily request budget push the next request later
 *   (`pace`).
 */

export type TeslaMode = 'unknown' | 'asleep' | 'offline' | 'online' | 'driving' | 'charging' | 'suspended';
export type PollAction = 'list' | 'data';

export interface PollState {
  readonly mode: TeslaMode;
  /** Since when the car has been parked online with nothing going on; null when it is not. */
  readonly idleSinceMs: number | null;
  /** While suspended, no vehicle_data before this. */
  readonly suspendedUntilMs: number | null;
}

export interface PollPlan {
  readonly state: PollState;
  readonly action: PollAction;
  readonly atMs: number;
}

export type Observation =
  /** The vehicle list's `state` for this car. */
  | { readonly kind: 'listed'; readonly state: string }
  /** A `vehicle_data` answer, read by `readVehicleData`. */
  | { readonly kind: 'data'; readonly driving: boolean; readonly charging: boolean; readonly busy: boolean }
  /** 408: asleep or offline after all. */
  | { readonly kind: 'unavailable' }
  /** Network trouble, 5xx: the same request again later. */
  | { readonly kind: 'failed'; readonly action: PollAction };

export interface PollSettings {
  readonly drivingMs: number;
  readonly chargingMs: number;
  readonly onlineMs: number;
  readonly asleepMs: number;
  readonly suspendAfterMs: number;
  readonly suspendMs: number;
  readonly retryMs: number;
}

export const defaultPollSettings: PollSettings = {
  // TeslaMate polls every 2.5 s while driving and 5 s while charging; Fleet API requests are billed, so
  // Tacho reads a little less often: a charge changes slowly, and the budget is the owner's money.
  drivingMs: 5_000,
  chargingMs: 30_000,
  onlineMs: 60_000,
  asleepMs: 60_000,
  suspendAfterMs: 15 * 60_000,
  suspendMs: 21 * 60_000,
  retryMs: 60_000,
};

export const initialPollState: PollState = { mode: 'unknown', idleSinceMs: null, suspendedUntilMs: null };

/** The first plan for a vehicle just added (or whose state was lost): read the list now. */
export function firstPlan(nowMs: number): PollPlan {
  return { state: initialPollState, action: 'list', atMs: nowMs };
}

export function nextPoll(
  state: PollState,
  observation: Observation,
  nowMs: number,
  settings: PollSettings = defaultPollSettings,
): PollPlan {
  switch (observation.kind) {
    case 'listed': {
      if (observation.state === 'asleep' || observation.state === 'offline') {
        const mode = observation.state;
        return {
          state: { mode, idleSinceMs: null, suspendedUntilMs: null },
          action: 'list',
          atMs: nowMs + settings.asleepMs,
        };
      }
      if (observation.state !== 'online') return { state, action: 'list', atMs: nowMs + settings.asleepMs };
      // Online but still within the pause that lets it fall asleep: only the list, as before.
      if (state.mode === 'suspended' && state.suspendedUntilMs !== null && nowMs < state.suspendedUntilMs)
        return { state, action: 'list', atMs: nowMs + settings.asleepMs };
      // It woke up (or the pause is over): read its data now.
      const mode = state.mode === 'driving' || state.mode === 'charging' ? state.mode : 'online';
      const idleSinceMs = state.mode === 'suspended' || state.mode === 'online' ? state.idleSinceMs : null;
      return { state: { mode, idleSinceMs, suspendedUntilMs: null }, action: 'data', atMs: nowMs };
    }
    case 'data': {
      if (observation.driving)
        return {
          state: { mode: 'driving', idleSinceMs: null, suspendedUntilMs: null },
          action: 'data',
          atMs: nowMs + settings.drivingMs,
        };
      if (observation.charging)
        return {
          state: { mode: 'charging', idleSinceMs: null, suspendedUntilMs: null },
          action: 'data',
          atMs: nowMs + settings.chargingMs,
        };
      if (observation.busy)
        return {
          state: { mode: 'online', idleSinceMs: nowMs, suspendedUntilMs: null },
          action: 'data',
          atMs: nowMs + settings.onlineMs,
        };
      const idleSinceMs = state.mode === 'online' && state.idleSinceMs !== null ? state.idleSinceMs : nowMs;
      if (nowMs - idleSinceMs >= settings.suspendAfterMs) {
        return {
          state: { mode: 'suspended', idleSinceMs, suspendedUntilMs: nowMs + settings.suspendMs },
          action: 'list',
          atMs: nowMs + settings.asleepMs,
        };
      }
      return {
        state: { mode: 'online', idleSinceMs, suspendedUntilMs: null },
        action: 'data',
        atMs: nowMs + settings.onlineMs,
      };
    }
    case 'unavailable':
      // Asleep, or offline (a garage, a tunnel): back to the list, which tells which without waking it.
      return {
        state: { mode: 'offline', idleSinceMs: null, suspendedUntilMs: null },
        action: 'list',
        atMs: nowMs + (state.mode === 'driving' ? settings.drivingMs * 6 : settings.asleepMs),
      };
    case 'failed':
      return { state, action: observation.action, atMs: nowMs + settings.retryMs };
  }
}

export interface Budget {
  /** Requests allowed per UTC day for the account. */
  readonly limit: number;
  /** Used so far today. */
  readonly used: number;
  /** Vehicles sharing the account's budget. */
  readonly vehicles: number;
}

/** The next UTC midnight after `nowMs`. */
export function nextUtcDay(nowMs: number): number {
  return (Math.floor(nowMs / 86_400_000) + 1) * 86_400_000;
}

/**
 * The plan's time pushed later when the budget or Tesla's Retry-After asks: with the budget spent,
 * nothing before the next UTC day; a parked or sleeping car may use half of what is left spread over the
 * rest of the day (the other half stays for drives and charges); a drive or a charge polls at its own
 * pace until less than a tenth of the budget is left, then spreads that out too.
 */
export function pace(
  plan: PollPlan,
  budget: Budget,
  nowMs: number,
  blockedUntilMs: number | null = null,
): number {
  let atMs = plan.atMs;
  if (blockedUntilMs !== null && blockedUntilMs > atMs) atMs = blockedUntilMs;
  const remaining = budget.limit - budget.used;
  const dayEnd = nextUtcDay(nowMs);
  if (remaining <= 0) return Math.max(atMs, dayEnd);
  const perVehicle = remaining / Math.max(1, budget.vehicles);
  const busy = plan.state.mode === 'driving' || plan.state.mode === 'charging';
  const share = busy ? (remaining < budget.limit / 10 ? perVehicle : null) : perVehicle / 2;
  if (share !== null) atMs = Math.max(atMs, nowMs + Math.ceil((dayEnd - nowMs) / Math.max(1, share)));
  return atMs;
}
