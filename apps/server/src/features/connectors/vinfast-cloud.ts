import { createHmac } from 'node:crypto';
import type { VinFastConfig } from '../../config.js';

/**
 * VinFast's cloud as the community dashboards recorded it (sources in shared/notes/reference-facts.md):
 * Auth0 password and refresh grants, the connected-car REST API, Cognito Identity's two unsigned calls.
 * Every endpoint is a setting; the defaults are the real regions' values. Nothing here logs, and no error
 * message carries a token or a password.
 */

export const VINFAST_REGIONS = ['vn', 'us', 'eu'] as const;
export type VinFastRegion = (typeof VINFAST_REGIONS)[number];

export interface VinFastEndpoints {
  /** Auth0 tenant base URL; its host is also the Cognito `Logins` key. */
  readonly authUrl: string;
  /** The VinFast app's public Auth0 client id for the region. */
  readonly clientId: string;
  readonly audience: string;
  /** Connected-car API base URL. */
  readonly apiUrl: string;
  /** Cognito Identity endpoint. */
  readonly cognitoUrl: string;
  /** Cognito identity pool, or null where none is published (no live telemetry there yet). */
  readonly identityPoolId: string | null;
  /** AWS region of Cognito and IoT. */
  readonly awsRegion: string;
  /** AWS IoT MQTT-over-WebSocket URL (`wss://host/mqtt`), or null where none is published. */
  readonly iotUrl: string | null;
}

/**
 * The regions' published values (VF9-Club/VFDashboard `src/config/vinfast.js` and
 * `VINFAST_API_DOCUMENTATION.md`; mvn-bachhuynh-dn/VFDashboard MQTT_CONFIG). Client ids are those of the
 * public mobile app (a public OAuth client has no secret). Only Vietnam's identity pool and IoT host are
 * published; elsewhere the settings must name them for live telemetry.
 */
export const VINFAST_DEFAULTS: Readonly<Record<VinFastRegion, VinFastEndpoints>> = {
  vn: {
    authUrl: 'https://vin3s.au.auth0.com',
    clientId: 'jE5xt50qC7oIh1f32qMzA6hGznIU5mgH',
    audience: 'https://vin3s.au.auth0.com/api/v2/',
    apiUrl: 'https://mobile.connected-car.vinfast.vn',
    cognitoUrl: 'https://cognito-identity.ap-southeast-1.amazonaws.com/',
    identityPoolId: 'ap-southeast-1:c6537cdf-92dd-4b1f-99a8-9826f153142a',
    awsRegion: 'ap-southeast-1',
    iotUrl: 'wss://prod.iot.connected-car.vinfast.vn/mqtt',
  },
  us: {
    authUrl: 'https://vinfast-us-prod.us.auth0.com',
    clientId: 'xhGY7XKDFSk1Q22rxidvwujfz0EPAbUP',
    audience: 'https://vinfast-us-prod.us.auth0.com/api/v2/',
    apiUrl: 'https://mobile.connected-car.vinfastauto.us',
    cognitoUrl: 'https://cognito-identity.ap-southeast-1.amazonaws.com/',
    identityPoolId: null,
    awsRegion: 'ap-southeast-1',
    iotUrl: null,
  },
  eu: {
    authUrl: 'https://vinfast-eu-prod.eu.auth0.com',
    clientId: 'dxxtNkkhsPWW78x6s1BWQlmuCfLQrkze',
    audience: 'https://vinfast-eu-prod.eu.auth0.com/api/v2/',
    apiUrl: 'https://mobile.connected-car.vinfastauto.eu',
    cognitoUrl: 'https://cognito-identity.ap-southeast-1.amazonaws.com/',
    identityPoolId: null,
    awsRegion: 'ap-southeast-1',
    iotUrl: null,
  },
};

/** The settings that override every region's endpoints (tests point them at a fake): `TACHO_VINFAST_*`. */
export type VinFastSettings = VinFastConfig;

export function endpointsFor(region: VinFastRegion, s: VinFastSettings): VinFastEndpoints {
  const d = VINFAST_DEFAULTS[region];
  return {
    authUrl: (s.authUrl ?? d.authUrl).replace(/\/$/, ''),
    clientId: s.clientId ?? d.clientId,
    audience: d.audience,
    apiUrl: (s.apiUrl ?? d.apiUrl).replace(/\/$/, ''),
    cognitoUrl: s.cognitoUrl ?? d.cognitoUrl,
    identityPoolId: s.identityPoolId ?? d.identityPoolId,
    awsRegion: d.awsRegion,
    iotUrl: s.iotUrl ?? d.iotUrl,
  };
}

/** Auth0 refused the credentials or the refresh token (`invalid_grant`): only a new sign-in helps. */
export class VinFastSignInRefused extends Error {
  override name = 'VinFastSignInRefused';
}

/** An API call answered 401: the access token is no longer good (refresh, then retry once). */
export class VinFastUnauthorized extends Error {
  override name = 'VinFastUnauthorized';
}

/** Any other failure: status and what was being done, never a token. */
export class VinFastCallFailed extends Error {
  override name = 'VinFastCallFailed';
  constructor(
    readonly what: string,
    readonly status: number,
    detail = '',
  ) {
    super(`VinFast ${what} failed (${status || 'no answer'})${detail ? `: ${detail}` : ''}`);
  }
}

export interface VinFastTokens {
  readonly accessToken: string;
  readonly idToken: string | null;
  readonly refreshToken: string | null;
  readonly expiresInS: number | null;
}

export interface VinFastVehicleInfo {
  readonly vin: string;
  readonly name: string | null;
  readonly model: string | null;
  readonly year: number | null;
}

export interface CognitoCredentials {
  readonly identityId: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expirationMs: number;
}

/**
 * The optional app-level request signature VinFast's API has asked for since January 2026 (`X-HASH`,
 * `X-TIMESTAMP`, `X-VIN-CODE`; the scheme VF9-Club/VFDashboard documented: Base64 HMAC-SHA256 over
 * `lower(method_path_[vin_]key_timestamp)`). The key is the owner's to configure; Tacho ships none.
 */
export type RequestSigner = (req: {
  method: string;
  path: string;
  vin: string | null;
  nowMs: number;
}) => Record<string, string>;

export function xHashSigner(key: string): RequestSigner {
  return ({ method, path, vin, nowMs }) => {
    const ts = String(nowMs);
    const parts = [method, path.split('?')[0]!];
    if (vin) parts.push(vin);
    parts.push(key, ts);
    const hash = createHmac('sha256', key).update(parts.join('_').toLowerCase()).digest('base64');
    return { 'X-HASH': hash, 'X-TIMESTAMP': ts, ...(vin ? { 'X-VIN-CODE': vin } : {}) };
  };
}

/** Headers the mobile app sends with every API call (VINFAST_API_DOCUMENTATION.md §1.2). */
const APP_HEADERS = {
  accept: 'application/json',
  'x-service-name': 'CAPP',
  'x-app-version': '2.17.5',
  'x-device-platform': 'android',
  'x-device-identifier': 'tacho',
};

const TIMEOUT_MS = 15_000;

async function readJson(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { data: v };
  } catch {
    return {};
  }
}

/** A short, token-free description of an error reply (Auth0's `error`, the API's `message`). */
function detailOf(body: Record<string, unknown>): string {
  const d = body.error_description ?? body.message ?? body.error ?? body.__type;
  return typeof d === 'string' ? d.slice(0, 120).replace(/[^\w .,:'()-]/g, '') : '';
}

async function request(what: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    throw new VinFastCallFailed(what, 0, error instanceof Error ? error.name : '');
  }
}

/** The calls, for one region's endpoints. Stateless: tokens are passed in. */
export class VinFastCloud {
  constructor(
    readonly endpoints: VinFastEndpoints,
    private readonly signer: RequestSigner | null,
    private readonly now: () => number,
  ) {}

  /** Auth0 password grant. The password goes to Auth0 and nowhere else. */
  async signIn(email: string, password: string): Promise<VinFastTokens> {
    return this.token('sign-in', {
      grant_type: 'password',
      client_id: this.endpoints.clientId,
      audience: this.endpoints.audience,
      scope: 'offline_access openid profile email',
      username: email,
      password,
    });
  }

  async refresh(refreshToken: string): Promise<VinFastTokens> {
    return this.token('token refresh', {
      grant_type: 'refresh_token',
      client_id: this.endpoints.clientId,
      refresh_token: refreshToken,
    });
  }

  private async token(what: string, body: Record<string, string>): Promise<VinFastTokens> {
    const res = await request(what, `${this.endpoints.authUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await readJson(res);
    if (res.status === 403 || res.status === 401 || json.error === 'invalid_grant') {
      throw new VinFastSignInRefused(
        json.error === 'invalid_grant' ? detailOf(json) || 'invalid grant' : `${what} refused`,
      );
    }
    if (!res.ok || typeof json.access_token !== 'string') {
      throw new VinFastCallFailed(what, res.status, detailOf(json));
    }
    return {
      accessToken: json.access_token,
      idToken: typeof json.id_token === 'string' ? json.id_token : null,
      refreshToken: typeof json.refresh_token === 'string' ? json.refresh_token : null,
      expiresInS: typeof json.expires_in === 'number' ? json.expires_in : null,
    };
  }

  /** One API call with the bearer token (and the signature when configured); 401 → VinFastUnauthorized. */
  async api(
    what: string,
    accessToken: string,
    method: string,
    path: string,
    opts: { body?: unknown; vin?: string } = {},
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = {
      ...APP_HEADERS,
      authorization: `Bearer ${accessToken}`,
      ...(this.signer?.({ method, path, vin: opts.vin ?? null, nowMs: this.now() }) ?? {}),
    };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(what, `${this.endpoints.apiUrl}${path}`, {
      method,
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const json = await readJson(res);
    if (res.status === 401) throw new VinFastUnauthorized(`VinFast ${what}: not signed in`);
    if (!res.ok) throw new VinFastCallFailed(what, res.status, detailOf(json));
    return json;
  }

  async vehicles(accessToken: string): Promise<VinFastVehicleInfo[]> {
    const json = await this.api('vehicle list', accessToken, 'GET', '/ccarusermgnt/api/v1/user-vehicle');
    const data = Array.isArray(json.data) ? json.data : [];
    const out: VinFastVehicleInfo[] = [];
    for (const item of data as Array<Record<string, unknown>>) {
      const vin = typeof item.vinCode === 'string' ? item.vinCode : item.vinNumber;
      if (typeof vin !== 'string' || !vin) continue;
      const model = [item.marketingName, item.modelCode, item.vehicleName].find(
        (v): v is string => typeof v === 'string' && v.length > 0,
      );
      const year = Number(item.modelYear);
      out.push({
        vin,
        name: typeof item.vehicleName === 'string' ? item.vehicleName : null,
        model: model ?? null,
        year: Number.isInteger(year) && year > 1900 ? year : null,
      });
    }
    return out;
  }

  /** Attaches the Cognito identity's IoT policy; without it no MQTT data arrives (success code 200000). */
  async attachPolicy(accessToken: string, identityId: string): Promise<void> {
    const json = await this.api(
      'policy attachment',
      accessToken,
      'POST',
      '/ccarusermgnt/api/v1/user-vehicle/attach-policy',
      { body: { target: identityId } },
    );
    if (json.code !== undefined && Number(json.code) !== 200000) {
      throw new VinFastCallFailed('policy attachment', 200, detailOf(json));
    }
  }

  /** Since February 2026 list_resource answers 403 unless a device-trust token came first. */
  async deviceTrust(accessToken: string, deviceToken: string): Promise<void> {
    await this.api('device registration', accessToken, 'PUT', '/ccarusermgnt/api/v1/device-trust/fcm-token', {
      body: { fcmToken: deviceToken },
    });
  }

  /** Asks the car's telematics unit to push these resources. */
  async listResource(
    accessToken: string,
    vin: string,
    resources: ReadonlyArray<{ objectId: string; instanceId: string; resourceId: string }>,
  ): Promise<void> {
    await this.api(
      'resource registration',
      accessToken,
      'POST',
      `/ccaraccessmgmt/api/v1/telemetry/${encodeURIComponent(vin)}/list_resource`,
      { body: resources, vin },
    );
  }

  private async cognito(target: string, body: unknown): Promise<Record<string, unknown>> {
    const what = `Cognito ${target}`;
    const res = await request(what, this.endpoints.cognitoUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `AWSCognitoIdentityService.${target}`,
      },
      body: JSON.stringify(body),
    });
    const json = await readJson(res);
    if (json.__type === 'NotAuthorizedException') throw new VinFastUnauthorized(`${what}: not authorised`);
    if (!res.ok) throw new VinFastCallFailed(what, res.status, detailOf(json));
    return json;
  }

  /** GetId then GetCredentialsForIdentity, with the Auth0 ID token under the Auth0 host. */
  async credentials(idToken: string): Promise<CognitoCredentials> {
    if (!this.endpoints.identityPoolId) {
      throw new VinFastCallFailed('Cognito GetId', 0, 'no identity pool is known for this region');
    }
    const logins = { [new URL(this.endpoints.authUrl).host]: idToken };
    const id = await this.cognito('GetId', { IdentityPoolId: this.endpoints.identityPoolId, Logins: logins });
    if (typeof id.IdentityId !== 'string') throw new VinFastCallFailed('Cognito GetId', 200, 'no IdentityId');
    const out = await this.cognito('GetCredentialsForIdentity', {
      IdentityId: id.IdentityId,
      Logins: logins,
    });
    const c = out.Credentials as Record<string, unknown> | undefined;
    if (
      !c ||
      typeof c.AccessKeyId !== 'string' ||
      typeof c.SecretKey !== 'string' ||
      typeof c.SessionToken !== 'string'
    ) {
      throw new VinFastCallFailed('Cognito GetCredentialsForIdentity', 200, 'no Credentials');
    }
    // Cognito answers epoch seconds; some proxies pass an ISO date.
    const exp =
      typeof c.Expiration === 'number'
        ? c.Expiration > 1e12
          ? c.Expiration
          : c.Expiration * 1000
        : Date.parse(String(c.Expiration));
    return {
      identityId: id.IdentityId,
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretKey,
      sessionToken: c.SessionToken,
      expirationMs: Number.isFinite(exp) ? exp : this.now() + 3_600_000,
    };
  }
}
