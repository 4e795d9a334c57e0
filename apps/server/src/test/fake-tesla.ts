import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../lib/clock.js';
import { recordSecrets } from './log-leaks.js';

/**
 * A fake of Tesla's auth server and Fleet API on a loopback port, following what developer.tesla.com
 * documents (Authentication → Third-party tokens; Vehicle endpoints; FAQ on 408 and 429):
 * - `GET /oauth2/v3/authorize`: response_type=code, client_id, redirect_uri, scope, state, PKCE S256;
 *   the owner "consents" at once (or refuses, `deny`) and the browser goes to redirect_uri with code+state;
 * - `POST /oauth2/v3/token` (form): `authorization_code` (client secret, code single use, verifier, the
 *   same redirect_uri, `audience` = the Fleet API URL) and `refresh_token` (single use: a used one answers
 *   401 `invalid_grant`); access tokens live 8 hours (`expires_in` 28800);
 * - `GET /api/1/vehicles` (does not wake anything), `GET /api/1/vehicles/{id}/vehicle_data` (408 while
 *   asleep or offline), `POST /api/1/vehicles/{id}/wake_up` (counted: tests assert it is never called);
 * - an expired or unknown bearer token answers 401; `rateLimit(n, s)` makes the next n API calls 429 with
 *   Retry-After.
 * Tesla documents no endpoint that revokes a third-party token (owners remove an app's access on their
 * account's security page), so neither does the fake.
 * Cars fall asleep by themselves after `sleepAfterMs` parked with nobody asking for their data.
 */

export interface FakeCar {
  id: string;
  vin: string;
  displayName: string;
  state: 'online' | 'asleep' | 'offline';
  shift: 'P' | 'D' | 'R' | 'N' | null;
  speedMph: number | null;
  lat: number;
  lon: number;
  heading: number;
  odometerMi: number;
  batteryLevel: number;
  rangeMi: number;
  chargingState: 'Disconnected' | 'NoPower' | 'Starting' | 'Charging' | 'Complete' | 'Stopped';
  chargerPowerKw: number;
  chargeEnergyAddedKwh: number;
  insideTempC: number;
  outsideTempC: number;
  climateOn: boolean;
  sentry: boolean;
  userPresent: boolean;
  tpmsBar: number;
  /** When the car last changed (its data's `timestamp`s). */
  updatedMs: number;
  /** When it was last asked for its data or last did something (keeps it awake). */
  activeMs: number;
}

export interface FakeTeslaOptions {
  clock: Clock;
  clientId: string;
  clientSecret?: string;
  /** The Tesla account that signs in: its `sub` and email (the id token's claims). */
  account?: { sub: string; email: string };
  /** A used refresh token may be used once more (a grace Tesla does not document; off by default). */
  graceReuse?: boolean;
  sleepAfterMs?: number;
  /** Lifetime of access tokens (Tesla: 8 hours); a test makes it short to see a refresh soon. */
  accessTtlS?: number;
}

type Counted = 'authorize' | 'token' | 'refresh' | 'vehicles' | 'vehicle_data' | 'wake_up' | 'rate_limited';

interface Grant {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scope: string;
  sub: string;
}

export class FakeTesla {
  readonly counts: Record<Counted, number> = {
    authorize: 0,
    token: 0,
    refresh: 0,
    vehicles: 0,
    vehicle_data: 0,
    wake_up: 0,
    rate_limited: 0,
  };
  /** vehicle_data asked of a car that was asleep or offline (it answered 408 and stayed asleep). */
  dataWhileAsleep = 0;
  readonly cars: FakeCar[] = [];
  /** `deny`: the owner refuses at the consent screen. */
  consent: 'allow' | 'deny' = 'allow';
  /** Process the next refresh (rotate the token) and then drop the connection instead of answering. */
  dropNextRefreshAnswer = false;
  /** Runs after a refresh was accepted (the old token is spent) and before its answer goes out. */
  onRefreshAccepted: (() => Promise<void>) | null = null;
  private rateLimited: { left: number; retryAfterS: number } = { left: 0, retryAfterS: 0 };
  private readonly codes = new Map<string, Grant & { used: boolean }>();
  private readonly access = new Map<string, { sub: string; expiresMs: number }>();
  /** refresh token → its state; `next` is the token that replaced it once used. */
  private readonly refreshTokens = new Map<string, { sub: string; used: boolean; graceUsed: boolean }>();
  private readonly secret = randomBytes(32);
  private server: Server | null = null;
  baseUrl = '';

  constructor(private readonly options: FakeTeslaOptions) {}

  private get ttlS(): number {
    return this.options.accessTtlS ?? 28_800;
  }

  get account(): { sub: string; email: string } {
    return this.options.account ?? { sub: 'tesla-sub-0001', email: 'owner@example.org' };
  }
  get authUrl(): string {
    return `${this.baseUrl}/oauth2/v3`;
  }
  get apiUrl(): string {
    return this.baseUrl;
  }

  /** The settings a Tacho server needs to use this fake. */
  env(): Record<string, string> {
    return {
      TACHO_TESLA_CLIENT_ID: this.options.clientId,
      ...(this.options.clientSecret ? { TACHO_TESLA_CLIENT_SECRET: this.options.clientSecret } : {}),
      TACHO_TESLA_AUTH_URL: this.authUrl,
      TACHO_TESLA_API_URL: this.apiUrl,
    };
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) json(res, 500, { error: 'internal' });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  addCar(partial: Partial<FakeCar> & { id: string; vin: string }): FakeCar {
    const now = this.options.clock.now();
    const car: FakeCar = {
      displayName: 'Model 3',
      state: 'asleep',
      shift: null,
      speedMph: null,
      lat: 52.52,
      lon: 13.405,
      heading: 90,
      odometerMi: 12_000,
      batteryLevel: 70,
      rangeMi: 210,
      chargingState: 'Disconnected',
      chargerPowerKw: 0,
      chargeEnergyAddedKwh: 0,
      insideTempC: 20,
      outsideTempC: 12,
      climateOn: false,
      sentry: false,
      userPresent: false,
      tpmsBar: 2.9,
      updatedMs: now,
      activeMs: now,
      ...partial,
    };
    this.cars.push(car);
    return car;
  }

  /** The car changes (a step of a drive or a charge): its data gets a new timestamp, it stays awake. */
  update(id: string, patch: Partial<FakeCar>): FakeCar {
    const car = this.car(id);
    const now = this.options.clock.now();
    Object.assign(car, patch, { updatedMs: now, activeMs: now });
    return car;
  }

  /** The next `n` Fleet API calls answer 429 with this Retry-After. */
  rateLimit(n: number, retryAfterS: number): void {
    this.rateLimited = { left: n, retryAfterS };
  }

  /** Every access token expires now (as 8 hours later would). */
  expireAccessTokens(): void {
    for (const entry of this.access.values()) entry.expiresMs = 0;
  }

  /**
   * The owner removes the app under Third-party apps on their Tesla account's security page: its access
   * and refresh tokens stop working at once (401; a refresh answers 401 `invalid_grant`). A new sign-in
   * gives it new ones.
   */
  removeApp(): void {
    this.expireAccessTokens();
    this.refreshTokens.clear();
  }

  private car(id: string): FakeCar {
    const car = this.cars.find((c) => c.id === id);
    if (!car) throw new Error(`no fake car ${id}`);
    return car;
  }

  /** A parked car nobody asks anything of falls asleep (Tesla: after some minutes of inactivity). */
  private settle(car: FakeCar): void {
    const idle = car.shift === null || car.shift === 'P';
    const busy = car.climateOn || car.sentry || car.userPresent || car.chargingState === 'Charging';
    if (car.state === 'online' && idle && !busy) {
      if (this.options.clock.now() - car.activeMs >= (this.options.sleepAfterMs ?? 11 * 60_000))
        car.state = 'asleep';
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    if (req.method === 'GET' && url.pathname === '/oauth2/v3/authorize') return this.authorize(url, res);
    if (req.method === 'POST' && url.pathname === '/oauth2/v3/token') return this.token(req, res);
    if (url.pathname.startsWith('/api/1/')) return this.api(req, url, res);
    json(res, 404, { error: 'not_found' });
  }

  private authorize(url: URL, res: ServerResponse): void {
    this.counts.authorize++;
    const q = url.searchParams;
    const redirectUri = q.get('redirect_uri') ?? '';
    if (q.get('client_id') !== this.options.clientId || !/^https?:\/\//.test(redirectUri)) {
      json(res, 400, { error: 'invalid_request', error_description: 'unknown client or redirect_uri' });
      return;
    }
    const back = new URL(redirectUri);
    back.searchParams.set('state', q.get('state') ?? '');
    const scope = q.get('scope') ?? '';
    const missing = !scope.split(' ').includes('openid') || !scope.split(' ').includes('offline_access');
    if (
      q.get('response_type') !== 'code' ||
      q.get('code_challenge_method') !== 'S256' ||
      !q.get('code_challenge') ||
      missing
    ) {
      back.searchParams.set('error', 'invalid_request');
    } else if (this.consent === 'deny') {
      back.searchParams.set('error', 'access_denied');
    } else {
      const code = randomBytes(16).toString('hex');
      this.codes.set(code, {
        clientId: this.options.clientId,
        redirectUri,
        challenge: q.get('code_challenge')!,
        scope,
        sub: this.account.sub,
        used: false,
      });
      back.searchParams.set('code', code);
      back.searchParams.set('issuer', 'https://auth.tesla.com/oauth2/v3');
    }
    res.writeHead(302, { location: back.toString() }).end();
  }

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.token++;
    const form = new URLSearchParams(await body(req));
    if (req.headers['content-type']?.split(';')[0] !== 'application/x-www-form-urlencoded')
      return json(res, 400, { error: 'invalid_request', error_description: 'form-encoded body expected' });
    if (form.get('client_id') !== this.options.clientId) return json(res, 401, { error: 'invalid_client' });
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') {
      if (this.options.clientSecret !== undefined && form.get('client_secret') !== this.options.clientSecret)
        return json(res, 401, { error: 'invalid_client' });
      const grant = this.codes.get(form.get('code') ?? '');
      if (!grant || grant.used)
        return json(res, 400, { error: 'invalid_grant', error_description: 'bad code' });
      grant.used = true;
      const challenge = createHash('sha256')
        .update(form.get('code_verifier') ?? '')
        .digest('base64url');
      if (challenge !== grant.challenge)
        return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
      if (form.get('redirect_uri') !== grant.redirectUri)
        return json(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri' });
      if (form.get('audience') !== this.apiUrl)
        return json(res, 400, { error: 'invalid_request', error_description: 'audience' });
      return json(res, 200, this.issue(grant.sub, true));
    }
    if (grantType === 'refresh_token') {
      this.counts.refresh++;
      const token = form.get('refresh_token') ?? '';
      const entry = this.refreshTokens.get(token);
      if (!entry)
        return json(res, 401, { error: 'invalid_grant', error_description: 'unknown refresh token' });
      if (entry.used) {
        if (!this.options.graceReuse || entry.graceUsed)
          return json(res, 401, { error: 'invalid_grant', error_description: 'refresh token already used' });
        entry.graceUsed = true;
      }
      entry.used = true;
      const answer = this.issue(entry.sub, false);
      await this.onRefreshAccepted?.();
      if (this.dropNextRefreshAnswer) {
        this.dropNextRefreshAnswer = false;
        req.socket.destroy();
        return;
      }
      return json(res, 200, answer);
    }
    json(res, 400, { error: 'unsupported_grant_type' });
  }

  private issue(sub: string, withIdToken: boolean): Record<string, unknown> {
    const now = this.options.clock.now();
    const access = this.jwt({
      sub,
      aud: [this.apiUrl],
      exp: Math.floor(now / 1000) + this.ttlS,
      n: randomBytes(8).toString('hex'),
    });
    const refresh = `EU_${randomBytes(32).toString('hex')}`;
    this.access.set(access, { sub, expiresMs: now + this.ttlS * 1000 });
    this.refreshTokens.set(refresh, { sub, used: false, graceUsed: false });
    const idToken = withIdToken
      ? this.jwt({
          sub,
          email: this.account.email,
          aud: this.options.clientId,
          iss: 'https://auth.tesla.com/oauth2/v3',
        })
      : null;
    // The run's log-leak check fails if any of these reaches a log of Tacho's.
    recordSecrets([access, refresh, ...(idToken ? [idToken] : [])]);
    return {
      access_token: access,
      refresh_token: refresh,
      ...(idToken ? { id_token: idToken } : {}),
      expires_in: this.ttlS,
      token_type: 'Bearer',
    };
  }

  private jwt(claims: Record<string, unknown>): string {
    const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const sig = createHmac('sha256', this.secret).update(`${head}.${payload}`).digest('base64url');
    return `${head}.${payload}.${sig}`;
  }

  private async api(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ? this.access.get(bearer) : undefined;
    if (!token || token.expiresMs <= this.options.clock.now())
      return json(res, 401, { error: 'token expired (401)' });
    if (this.rateLimited.left > 0) {
      this.rateLimited.left--;
      this.counts.rate_limited++;
      res.setHeader('retry-after', String(this.rateLimited.retryAfterS));
      return json(res, 429, { error: 'Too Many Requests' });
    }
    for (const car of this.cars) this.settle(car);
    if (req.method === 'GET' && url.pathname === '/api/1/vehicles') {
      this.counts.vehicles++;
      const response = this.cars.map((c) => ({
        id: Number(c.id),
        id_s: c.id,
        vehicle_id: Number(c.id) % 1_000_000_000,
        vin: c.vin,
        display_name: c.displayName,
        state: c.state,
        in_service: false,
        calendar_enabled: true,
        api_version: 71,
      }));
      return json(res, 200, { response, count: response.length });
    }
    const match = /^\/api\/1\/vehicles\/([^/]+)\/(vehicle_data|wake_up)$/.exec(url.pathname);
    const car = match
      ? this.cars.find((c) => c.id === decodeURIComponent(match[1]!) || c.vin === match[1])
      : undefined;
    if (!match || !car) return json(res, 404, { response: null, error: 'not_found', error_description: '' });
    if (match[2] === 'wake_up') {
      this.counts.wake_up++;
      car.state = 'online';
      car.activeMs = this.options.clock.now();
      return json(res, 200, { response: { id: Number(car.id), state: 'online' } });
    }
    this.counts.vehicle_data++;
    if (car.state !== 'online') {
      this.dataWhileAsleep++;
      return json(res, 408, {
        response: null,
        error: 'vehicle unavailable: vehicle is offline or asleep',
        error_description: '',
      });
    }
    car.activeMs = this.options.clock.now();
    const withLocation = (url.searchParams.get('endpoints') ?? '').split(';').includes('location_data');
    return json(res, 200, { response: vehicleData(car, withLocation) });
  }
}

function vehicleData(c: FakeCar, withLocation: boolean): Record<string, unknown> {
  const timestamp = c.updatedMs;
  return {
    id: Number(c.id),
    id_s: c.id,
    vin: c.vin,
    display_name: c.displayName,
    state: c.state,
    charge_state: {
      battery_level: c.batteryLevel,
      usable_battery_level: c.batteryLevel,
      battery_range: c.rangeMi,
      ideal_battery_range: c.rangeMi,
      est_battery_range: c.rangeMi * 0.9,
      charge_limit_soc: 80,
      charging_state: c.chargingState,
      charger_power: c.chargerPowerKw,
      charger_voltage: c.chargerPowerKw > 0 ? 230 : 0,
      charger_actual_current: c.chargerPowerKw > 0 ? Math.round((c.chargerPowerKw * 1000) / 230 / 3) : 0,
      charge_energy_added: c.chargeEnergyAddedKwh,
      charge_port_door_open: c.chargingState !== 'Disconnected',
      time_to_full_charge: c.chargingState === 'Charging' ? 1.5 : 0,
      timestamp,
    },
    climate_state: {
      inside_temp: c.insideTempC,
      outside_temp: c.outsideTempC,
      driver_temp_setting: 21,
      is_climate_on: c.climateOn,
      timestamp,
    },
    drive_state: {
      shift_state: c.shift,
      speed: c.speedMph,
      power: c.shift === 'D' ? 18 : 0,
      heading: c.heading,
      ...(withLocation
        ? { latitude: c.lat, longitude: c.lon, native_latitude: c.lat, native_longitude: c.lon }
        : {}),
      gps_as_of: Math.floor(timestamp / 1000),
      timestamp,
    },
    vehicle_state: {
      odometer: c.odometerMi,
      locked: c.shift === null,
      sentry_mode: c.sentry,
      is_user_present: c.userPresent,
      car_version: '2026.20.3 abcdef',
      tpms_pressure_fl: c.tpmsBar,
      tpms_pressure_fr: c.tpmsBar,
      tpms_pressure_rl: c.tpmsBar,
      tpms_pressure_rr: c.tpmsBar,
      timestamp,
    },
  };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
