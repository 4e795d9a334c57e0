import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type Clock, systemClock } from '../lib/clock.js';
import { attachFakeIot } from './fake-vinfast-iot.js';
import { recordSecrets } from './log-leaks.js';

/**
 * A local stand-in for VinFast's cloud, faithful to what the community dashboards record of it
 * (VF9-Club/VFDashboard `VINFAST_API_DOCUMENTATION.md`, SpacerZ/VFDashboard `mqtt-credentials.js`,
 * mvn-bachhuynh-dn/VFDashboard `docs/api/MQTT_TELEMETRY.md`):
 * - Auth0 `POST /auth/oauth/token` (password and refresh_token grants; refresh tokens can be revoked;
 *   a wrong password is 403 `invalid_grant`, as Auth0 answers),
 * - the connected-car API under `/api`: user-vehicle, attach-policy, device-trust, list_resource (403 until
 *   device-trust came first); with a signing key, every API call must carry a valid X-HASH/X-TIMESTAMP,
 * - Cognito Identity at `/cognito/` (`X-Amz-Target`, `application/x-amz-json-1.1`; `Logins` keyed by the
 *   Auth0 host, with the ID token), credentials living one hour on the fake's clock,
 * - AWS IoT at `ws://…/mqtt`: the presigned URL is checked (signature, expiry, session token, attached
 *   policy) before the WebSocket opens; an aedes broker behind it carries `/mobile/<VIN>/push`.
 */
export interface FakeVinFastUser {
  readonly email: string;
  readonly password: string;
  readonly vehicles: ReadonlyArray<{ vin: string; model: string; year: number; name?: string }>;
}

export interface FakeVinFast {
  readonly authUrl: string;
  readonly apiUrl: string;
  readonly cognitoUrl: string;
  readonly iotUrl: string;
  /** The Logins key Cognito expects: the Auth0 host. */
  readonly auth0Host: string;
  readonly region: string;
  readonly identityPoolId: string;
  /** What the fake saw, for assertions. */
  readonly seen: {
    tokenGrants: Array<{ grant: string; clientId: unknown }>;
    attachPolicy: string[];
    deviceTrust: string[];
    listResource: Array<{ vin: string; resources: unknown }>;
    heartbeats: string[];
    /** Accepted and refused IoT connections, with the reason of each refusal. */
    iot: Array<{ ok: boolean; reason?: string }>;
    badSignatures: number;
  };
  addUser(user: FakeVinFastUser): void;
  /** Access tokens issued so far stop working (the API answers 401). */
  expireAccessTokens(): void;
  /** Refresh tokens of this user stop working (Auth0 answers 403 invalid_grant). */
  revokeRefreshTokens(email: string): void;
  /** Closes every MQTT WebSocket (a dropped connection). */
  dropSockets(): void;
  /** Number of open MQTT clients subscribed to a VIN's push topic. */
  subscribers(vin: string): number;
  /** Publishes device-key records to `/mobile/<VIN>/push`. */
  push(vin: string, records: ReadonlyArray<Record<string, unknown>>): Promise<void>;
  close(): Promise<void>;
}

export const FAKE_REGION = 'ap-southeast-1';
const CREDENTIALS_TTL_MS = 3_600_000;
const ACCESS_TTL_S = 86_400;

interface IssuedCredentials {
  secretAccessKey: string;
  sessionToken: string;
  expirationMs: number;
  identityId: string;
}

/** A new token; every one is recorded for the log-leak check (none may reach a log). */
const token = (prefix: string) => {
  const value = `${prefix}${randomBytes(24).toString('base64url')}`;
  recordSecrets([value]);
  return value;
};

/** The X-HASH the fake expects: the scheme the community documented, with the key the test configured. */
export function fakeXHash(key: string, method: string, path: string, vin: string | null, ts: string): string {
  const parts = [method, path.split('?')[0]!];
  if (vin) parts.push(vin);
  parts.push(key, ts);
  return createHmac('sha256', key).update(parts.join('_').toLowerCase()).digest('base64');
}

/**
 * One device-key record as the cloud pushes it (the shape of mvn-bachhuynh-dn/VFDashboard's recorded
 * `docs/api/responses/vfdash_telemetry_*.json`): ids as numbers, the time as a string of epoch ms.
 */
export function recordedRecord(deviceKey: string, value: string, tsMs: number): Record<string, unknown> {
  const [objectId, instanceId, resourceId] = deviceKey.split('_').map(Number);
  return {
    resourceId,
    instanceId,
    deviceKey,
    value,
    objectId,
    lastUpdateTime: String(tsMs),
    name: null,
    units: null,
  };
}

export async function startFakeVinFast(
  options: { clock?: Clock; signingKey?: string; credentialsTtlMs?: number } = {},
): Promise<FakeVinFast> {
  const clock = options.clock ?? systemClock;
  const credentialsTtlMs = options.credentialsTtlMs ?? CREDENTIALS_TTL_MS;
  const users = new Map<string, FakeVinFastUser>();
  const access = new Map<string, string>(); // access token → email
  const refresh = new Map<string, string>(); // refresh token → email
  const idTokens = new Map<string, string>(); // id token → email
  const identities = new Map<string, string>(); // email → identity id
  const credentials = new Map<string, IssuedCredentials>(); // access key id → issued
  const policies = new Set<string>();
  const trusted = new Set<string>();
  const seen: FakeVinFast['seen'] = {
    tokenGrants: [],
    attachPolicy: [],
    deviceTrust: [],
    listResource: [],
    heartbeats: [],
    iot: [],
    badSignatures: 0,
  };

  const http: Server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      send(res, 500, { message: String(error) });
    });
  });

  function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': type });
    res.end(JSON.stringify(body));
  }

  async function readBody(req: IncomingMessage): Promise<Record<string, unknown> | unknown[]> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    if (!text) return {};
    if ((req.headers['content-type'] ?? '').includes('x-www-form-urlencoded')) {
      return Object.fromEntries(new URLSearchParams(text));
    }
    return JSON.parse(text) as Record<string, unknown>;
  }

  function issueTokens(email: string, withRefresh: boolean) {
    const a = token('fakevf_at_');
    const i = token('fakevf_id_');
    access.set(a, email);
    idTokens.set(i, email);
    const out: Record<string, unknown> = {
      access_token: a,
      id_token: i,
      token_type: 'Bearer',
      expires_in: ACCESS_TTL_S,
      scope: 'openid profile email offline_access',
    };
    if (withRefresh) {
      const r = token('fakevf_rt_');
      refresh.set(r, email);
      out.refresh_token = r;
    }
    return out;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'POST' && url.pathname === '/auth/oauth/token') {
      const body = (await readBody(req)) as Record<string, unknown>;
      seen.tokenGrants.push({ grant: String(body.grant_type), clientId: body.client_id });
      if (body.grant_type === 'password') {
        const user = users.get(String(body.username).toLowerCase());
        if (!user || user.password !== body.password) {
          send(res, 403, { error: 'invalid_grant', error_description: 'Wrong email or password.' });
          return;
        }
        if (body.scope !== 'offline_access openid profile email') {
          send(res, 403, { error: 'access_denied', error_description: 'scope' });
          return;
        }
        send(res, 200, issueTokens(user.email.toLowerCase(), true));
        return;
      }
      if (body.grant_type === 'refresh_token') {
        const email = refresh.get(String(body.refresh_token));
        if (!email) {
          send(res, 403, { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' });
          return;
        }
        send(res, 200, issueTokens(email, false));
        return;
      }
      send(res, 400, { error: 'unsupported_grant_type' });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/cognito/') {
      await cognito(req, res);
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      await api(req, res, url);
      return;
    }
    send(res, 404, { message: 'not found' });
  }

  async function cognito(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') {
      send(res, 400, { __type: 'SerializationException' }, 'application/x-amz-json-1.1');
      return;
    }
    const body = (await readBody(req)) as Record<string, unknown>;
    const logins = (body.Logins ?? {}) as Record<string, unknown>;
    const email = idTokens.get(String(logins[fake.auth0Host]));
    if (!email) {
      send(
        res,
        400,
        { __type: 'NotAuthorizedException', message: 'Invalid login token.' },
        'application/x-amz-json-1.1',
      );
      return;
    }
    if (target === 'AWSCognitoIdentityService.GetId') {
      if (body.IdentityPoolId !== fake.identityPoolId) {
        send(res, 400, { __type: 'ResourceNotFoundException' }, 'application/x-amz-json-1.1');
        return;
      }
      let id = identities.get(email);
      if (!id) {
        id = `${FAKE_REGION}:${randomBytes(8).toString('hex')}`;
        identities.set(email, id);
      }
      send(res, 200, { IdentityId: id }, 'application/x-amz-json-1.1');
      return;
    }
    if (target === 'AWSCognitoIdentityService.GetCredentialsForIdentity') {
      if (body.IdentityId !== identities.get(email)) {
        send(res, 400, { __type: 'NotAuthorizedException' }, 'application/x-amz-json-1.1');
        return;
      }
      const keyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
      const secretAccessKey = randomBytes(30).toString('base64url');
      recordSecrets([secretAccessKey]);
      const issued = {
        secretAccessKey,
        sessionToken: token('fakevf_st_'),
        expirationMs: clock.now() + credentialsTtlMs,
        identityId: body.IdentityId as string,
      };
      credentials.set(keyId, issued);
      send(
        res,
        200,
        {
          IdentityId: issued.identityId,
          // Cognito answers epoch seconds.
          Credentials: {
            AccessKeyId: keyId,
            SecretKey: issued.secretAccessKey,
            SessionToken: issued.sessionToken,
            Expiration: issued.expirationMs / 1000,
          },
        },
        'application/x-amz-json-1.1',
      );
      return;
    }
    send(res, 400, { __type: 'UnknownOperationException' }, 'application/x-amz-json-1.1');
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice('/api'.length);
    const auth = req.headers.authorization ?? '';
    const email = access.get(auth.replace(/^Bearer /, ''));
    if (!email) {
      send(res, 401, { code: 401, message: 'Unauthorized' });
      return;
    }
    if (options.signingKey) {
      const ts = String(req.headers['x-timestamp'] ?? '');
      const vin = (req.headers['x-vin-code'] as string | undefined) ?? null;
      const expected = fakeXHash(options.signingKey, req.method ?? 'GET', path, vin, ts);
      const given = Buffer.from(String(req.headers['x-hash'] ?? ''));
      const fresh = Math.abs(clock.now() - Number(ts)) < 300_000;
      if (!fresh || given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) {
        seen.badSignatures += 1;
        send(res, 403, { code: 403001, message: 'Invalid signature' });
        return;
      }
    }
    const user = users.get(email)!;
    const body = req.method === 'GET' ? {} : await readBody(req);
    if (req.method === 'GET' && path === '/ccarusermgnt/api/v1/user-vehicle') {
      send(res, 200, {
        code: 200000,
        message: 'Success',
        data: user.vehicles.map((v) => ({
          vinCode: v.vin,
          vehicleName: v.name ?? v.model,
          modelCode: v.model.replace(/\s+/g, ''),
          marketingName: v.model,
          modelYear: String(v.year),
          ownershipType: 'OWNER',
          userId: `auth0|${email}`,
        })),
      });
      return;
    }
    if (req.method === 'POST' && path === '/ccarusermgnt/api/v1/user-vehicle/attach-policy') {
      const target = (body as Record<string, unknown>).target;
      if (typeof target !== 'string' || identities.get(email) !== target) {
        send(res, 400, { code: 400001, message: 'target is not your identity' });
        return;
      }
      policies.add(target);
      seen.attachPolicy.push(target);
      send(res, 200, { code: 200000, message: 'Success', data: true });
      return;
    }
    if (req.method === 'PUT' && path === '/ccarusermgnt/api/v1/device-trust/fcm-token') {
      if (typeof (body as Record<string, unknown>).fcmToken !== 'string') {
        send(res, 400, { code: 400001, message: 'fcmToken' });
        return;
      }
      trusted.add(email);
      seen.deviceTrust.push(email);
      send(res, 200, { code: 200000, message: 'Success' });
      return;
    }
    const list = /^\/ccaraccessmgmt\/api\/v1\/telemetry\/([^/]+)\/list_resource$/.exec(path);
    if (req.method === 'POST' && list) {
      const vin = decodeURIComponent(list[1]!);
      if (!user.vehicles.some((v) => v.vin === vin)) {
        send(res, 404, { code: 404001, message: 'vehicle not found' });
        return;
      }
      if (!trusted.has(email)) {
        send(res, 403, { code: 403002, message: 'device not trusted' });
        return;
      }
      seen.listResource.push({ vin, resources: body });
      send(res, 200, { code: 200000, message: 'Success' });
      return;
    }
    send(res, 404, { code: 404000, message: 'not found' });
  }

  const iot = await attachFakeIot(http, {
    clock,
    region: FAKE_REGION,
    credentials: (id) => {
      const c = credentials.get(id);
      return c && c.expirationMs > clock.now() ? c : null;
    },
    policyAttached: (identityId) => policies.has(identityId),
    onConnection: (result) => seen.iot.push(result),
    onHeartbeat: (vin) => seen.heartbeats.push(vin),
  });

  const port = await new Promise<number>((resolve) => {
    http.listen(0, '127.0.0.1', () => {
      const address = http.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  const base = `127.0.0.1:${port}`;

  const fake: FakeVinFast = {
    authUrl: `http://${base}/auth`,
    apiUrl: `http://${base}/api`,
    cognitoUrl: `http://${base}/cognito/`,
    iotUrl: `ws://${base}/mqtt`,
    auth0Host: `${base}`,
    region: FAKE_REGION,
    identityPoolId: `${FAKE_REGION}:00000000-fake-pool`,
    seen,
    addUser(user) {
      users.set(user.email.toLowerCase(), user);
    },
    expireAccessTokens() {
      access.clear();
    },
    revokeRefreshTokens(email) {
      for (const [t, e] of refresh) if (e === email.toLowerCase()) refresh.delete(t);
    },
    dropSockets: () => iot.dropSockets(),
    subscribers: (vin) => iot.subscribers(vin),
    push: (vin, records) => iot.push(vin, records),
    async close() {
      await iot.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  return fake;
}
