import { createHash, randomBytes } from 'node:crypto';

/**
 * Tesla's OAuth server and Fleet API, as documented at developer.tesla.com (Fleet API → Authentication →
 * Third-party tokens; Endpoints → Vehicle endpoints; FAQ): authorize at auth.tesla.com with code + PKCE,
 * tokens from fleet-auth with an `audience` naming the regional Fleet API host, refresh tokens single use.
 * No error or message made here carries a token, a code or a verifier.
 */

/** Read-only: vehicle data and its location; `offline_access` for a refresh token. */
export const TESLA_SCOPES = 'openid offline_access vehicle_device_data vehicle_location';

/** Tesla's access tokens live 8 hours; refresh tokens three months (kept for when Tesla says nothing). */
export const TESLA_REFRESH_TOKEN_MS = 90 * 86_400_000;

export interface TeslaEndpoints {
  readonly clientId: string;
  /** None for an open-source application (Tesla: "do not use a client secret for token creation"). */
  readonly clientSecret?: string;
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  /** The regional Fleet API base URL; also the token's `audience`. */
  readonly apiUrl: string;
  readonly redirectUri: string;
}

/** Why a call to Tesla failed, in terms the connector acts on. */
export type TeslaFailure =
  /** The refresh token (or code) is not accepted any more: the owner must sign in again. */
  | 'invalid_grant'
  /** The access token was refused (expired, revoked). */
  | 'unauthorized'
  /** 408: the vehicle is asleep or offline (Tesla FAQ); nothing was woken. */
  | 'vehicle_unavailable'
  /** 429: over Tesla's rate limit; `retryAfterS` says when to come back. */
  | 'rate_limited'
  /** 403 missing scopes, 404 unknown vehicle: not worth retrying soon. */
  | 'refused'
  /** Network trouble, 5xx, an answer that is not what Tesla documents: try again later. */
  | 'transient';

export class TeslaError extends Error {
  override name = 'TeslaError';
  constructor(
    readonly failure: TeslaFailure,
    message: string,
    readonly status: number | null = null,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
  }
}

export interface TeslaTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly idToken: string | null;
  /** Epoch ms when the access token expires. */
  readonly accessExpiresMs: number;
}

/** A vehicle in `/api/1/vehicles`: `id` is what the vehicle endpoints take. */
export interface TeslaVehicle {
  readonly id: string;
  readonly vin: string;
  readonly displayName: string | null;
  readonly state: 'online' | 'asleep' | 'offline' | string;
}

/** PKCE (RFC 7636): a verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Where the browser goes to sign in at Tesla. */
export function authorizeUrl(endpoints: TeslaEndpoints, state: string, challenge: string): string {
  const url = new URL(endpoints.authorizeUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', endpoints.clientId);
  url.searchParams.set('redirect_uri', endpoints.redirectUri);
  url.searchParams.set('scope', TESLA_SCOPES);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  // Ask again for scopes the owner left out last time, instead of silently getting fewer.
  url.searchParams.set('prompt_missing_scopes', 'true');
  return url.toString();
}

/** The claims of a JWT without checking its signature: only for tokens straight from the token endpoint. */
export function jwtClaims(token: string | null): Record<string, unknown> {
  const part = token?.split('.')[1];
  if (!part) return {};
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const TIMEOUT_MS = 20_000;

export class TeslaClient {
  constructor(
    private readonly endpoints: TeslaEndpoints,
    private readonly now: () => number,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get apiUrl(): string {
    return this.endpoints.apiUrl;
  }

  /** Exchanges the authorization code (form-encoded, with the verifier and the Fleet API audience). */
  exchangeCode(code: string, verifier: string): Promise<TeslaTokens> {
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: this.endpoints.clientId,
      code,
      code_verifier: verifier,
      redirect_uri: this.endpoints.redirectUri,
      audience: this.endpoints.apiUrl,
    });
    if (this.endpoints.clientSecret) form.set('client_secret', this.endpoints.clientSecret);
    return this.token(form);
  }

  /** Uses the refresh token (single use: the answer holds its successor). */
  refresh(refreshToken: string): Promise<TeslaTokens> {
    return this.token(
      new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: this.endpoints.clientId,
        refresh_token: refreshToken,
      }),
    );
  }

  private async token(form: URLSearchParams): Promise<TeslaTokens> {
    const sentMs = this.now();
    const response = await this.send(this.endpoints.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    });
    const body = await jsonBody(response);
    if (!response.ok) {
      const error = typeof body.error === 'string' ? body.error : '';
      // RFC 6749 §5.2: a used, expired or revoked refresh token (or code) is invalid_grant; Tesla also
      // answers login_required once a grant is gone (vehicle-command #160).
      if (error === 'invalid_grant' || error === 'login_required' || error === 'invalid_token')
        throw new TeslaError('invalid_grant', `Tesla refused the grant (${error})`, response.status);
      if (response.status >= 400 && response.status < 500 && response.status !== 429)
        throw new TeslaError(
          'refused',
          `Tesla's token endpoint answered ${response.status} ${safeWord(error)}`,
          response.status,
        );
      throw statusError(response, 'token endpoint');
    }
    const access = body.access_token;
    const refresh = body.refresh_token;
    const expiresIn = body.expires_in;
    if (typeof access !== 'string' || typeof refresh !== 'string' || typeof expiresIn !== 'number')
      throw new TeslaError(
        'transient',
        "Tesla's token answer lacks access_token, refresh_token or expires_in",
      );
    return {
      accessToken: access,
      refreshToken: refresh,
      idToken: typeof body.id_token === 'string' ? body.id_token : null,
      accessExpiresMs: sentMs + expiresIn * 1000,
    };
  }

  /** The account's vehicles with their state; listing does not wake a vehicle. */
  async vehicles(accessToken: string): Promise<TeslaVehicle[]> {
    const body = await this.api(accessToken, '/api/1/vehicles');
    if (!Array.isArray(body.response)) throw new TeslaError('transient', 'Tesla listed no vehicles array');
    const out: TeslaVehicle[] = [];
    for (const v of body.response as unknown[]) {
      if (!v || typeof v !== 'object') continue;
      const r = v as Record<string, unknown>;
      const id = typeof r.id === 'number' || typeof r.id === 'string' ? String(r.id) : null;
      // Tesla's ids pass 2^53: when the JSON number lost digits, `id_s` (a string) still has them.
      const idS = typeof r.id_s === 'string' ? r.id_s : id;
      if (!idS || typeof r.vin !== 'string') continue;
      out.push({
        id: idS,
        vin: r.vin,
        displayName: typeof r.display_name === 'string' && r.display_name !== '' ? r.display_name : null,
        state: typeof r.state === 'string' ? r.state : 'unknown',
      });
    }
    return out;
  }

  /**
   * One vehicle's data (`vehicle_data` with the endpoints Tacho maps; `location_data` is needed for the
   * position since firmware 2023.38). Throws `vehicle_unavailable` (408) when it is asleep or offline.
   */
  async vehicleData(accessToken: string, vehicleId: string): Promise<Record<string, unknown>> {
    const endpoints = 'charge_state;climate_state;drive_state;location_data;vehicle_state';
    const body = await this.api(
      accessToken,
      `/api/1/vehicles/${encodeURIComponent(vehicleId)}/vehicle_data?endpoints=${encodeURIComponent(endpoints)}`,
    );
    const response = body.response;
    if (!response || typeof response !== 'object')
      throw new TeslaError('transient', 'Tesla answered vehicle_data without a response');
    return response as Record<string, unknown>;
  }

  private async api(accessToken: string, path: string): Promise<Record<string, unknown>> {
    const response = await this.send(`${this.endpoints.apiUrl}${path}`, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    });
    const body = await jsonBody(response);
    if (response.ok) return body;
    if (response.status === 401)
      throw new TeslaError('unauthorized', 'Tesla refused the access token (401)', 401);
    if (response.status === 408)
      throw new TeslaError('vehicle_unavailable', 'the vehicle is asleep or offline (408)', 408);
    if (response.status === 403 || response.status === 404 || response.status === 412)
      throw new TeslaError('refused', `Tesla answered ${response.status}`, response.status);
    throw statusError(response, 'Fleet API');
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(url, {
        ...init,
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      // The cause's message names the host at most, never the request's body or headers.
      const reason = error instanceof Error ? error.name : 'error';
      throw new TeslaError('transient', `Tesla could not be reached (${reason})`);
    }
  }
}

function statusError(response: Response, what: string): TeslaError {
  if (response.status === 429) {
    const retryAfterS = retryAfter(response.headers.get('retry-after'));
    return new TeslaError('rate_limited', `Tesla's ${what} answered 429`, 429, retryAfterS);
  }
  return new TeslaError('transient', `Tesla's ${what} answered ${response.status}`, response.status);
}

/** Retry-After in seconds (delta-seconds or an HTTP date); 60 when absent or unreadable. */
export function retryAfter(value: string | null, nowMs = Date.now()): number {
  if (value === null) return 60;
  if (/^\d+$/.test(value.trim())) return Math.min(Number(value.trim()), 86_400);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(1, Math.min(Math.ceil((date - nowMs) / 1000), 86_400)) : 60;
}

async function jsonBody(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** An OAuth error code is a word; anything else is not repeated. */
function safeWord(value: string): string {
  return /^[a-z_]{1,40}$/.test(value) ? value : '';
}
