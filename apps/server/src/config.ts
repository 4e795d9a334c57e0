import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { StartupError } from './lib/errors.js';

/** Every setting of the server, parsed once at start from `TACHO_*` variables and frozen. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** The URL people and devices use to reach this server; defaults to http://host:port. */
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly database:
    | { readonly kind: 'sqlite'; readonly path: string }
    | { readonly kind: 'postgres'; readonly url: string };
  /** Embedded broker (default) or an external one that the server subscribes to. */
  readonly mqtt:
    | { readonly kind: 'embedded'; readonly port: number; readonly host: string }
    | {
        readonly kind: 'external';
        readonly url: string;
        readonly username?: string;
        readonly password?: string;
        readonly clientId: string;
        /** Shared-subscription group that instances split the messages in; none: this one takes all. */
        readonly shareGroup?: string;
      };
  /** Topic base Tesla's fleet-telemetry server publishes under (`<base>/<VIN>/v/<Field>`). */
  readonly teslaTopicBase: string;
  readonly redisUrl?: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly adminEmail?: string;
  readonly adminPassword?: string;
  readonly allowSignup: boolean;
  /** Extra origins allowed to send cookie-authenticated requests and open the live socket. */
  readonly allowedOrigins: readonly string[];
  /** Proxy addresses whose X-Forwarded-For is believed; empty = trust none. */
  readonly trustProxy: readonly string[];
  /** argon2 hashes and verifications run at once, and how many may wait; beyond, 503 `busy`. */
  readonly passwordHashing: { readonly concurrency: number; readonly queue: number };
  readonly maxPayloadBytes: number;
  /** The largest file `POST /api/v1/vehicles/:id/import` takes (streamed, never held whole). */
  readonly maxImportBytes: number;
  /** How long an HTTP ingest request waits for its commit before answering 503 (database down, locked). */
  readonly ingestTimeoutMs: number;
  /** Where alert emails go out (`smtp://user:pass@host:587`, `smtps://…`); absent: no email channel. */
  readonly smtp?: { readonly url: string; readonly from: string };
  /** Refused telemetry (dead letters) is kept this many days at most… */
  readonly deadLetterMaxAgeDays: number;
  /** …and this many MiB in all; the oldest goes first. */
  readonly deadLetterMaxMb: number;
  readonly offlineAfterS: number;
  readonly demo: boolean;
  readonly mapTiles: string;
  readonly shutdownTimeoutMs: number;
  /** Sign-in with an OpenID provider (authorization code + PKCE); absent when not configured. */
  readonly oidc?: OidcConfig;
  /** Issuers whose ID tokens phones may post with (bearer), each with the audience its tokens carry. */
  readonly deviceIssuers: ReadonlyArray<{ readonly issuer: string; readonly audience: string }>;
  /**
   * Where the vault's key comes from (decision 0026): `TACHO_ENCRYPTION_KEY` (checked here, kept out of
   * enumeration so no dump of the Config shows it) or a key file, created on first start when it is the
   * default one.
   */
  readonly encryption: EncryptionKeySource;
  /** The VinFast connector's endpoints (defaults: the real regions') and the owner's optional signing key. */
  readonly vinfast: VinFastConfig;
  /** The Tesla connector (issue 21): Tacho's application at developer.tesla.com; absent when not set up. */
  readonly tesla?: TeslaConfig;
}

export interface TeslaConfig {
  readonly clientId: string;
  /** None for an open-source application at Tesla; kept out of enumeration, so no dump shows it. */
  readonly clientSecret?: string;
  readonly region: 'na' | 'eu' | 'cn';
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  /** The regional Fleet API base URL, also the tokens' audience. */
  readonly apiUrl: string;
  /** Fleet API requests each connected account may make per UTC day. */
  readonly dailyRequests: number;
}

/**
 * VinFast endpoints that override every region's (null: the region's published value; tests point them
 * at a fake), and the app signing key the owner may configure. Tacho ships no key.
 */
export interface VinFastConfig {
  readonly authUrl: string | null;
  readonly apiUrl: string | null;
  readonly cognitoUrl: string | null;
  readonly iotUrl: string | null;
  readonly identityPoolId: string | null;
  readonly clientId: string | null;
  /** Read from TACHO_VINFAST_SIGNING_KEY_FILE at start; kept out of enumeration, so no dump shows it. */
  readonly signingKey: string | null;
}

export type EncryptionKeySource =
  | { readonly kind: 'env'; readonly key: string }
  | { readonly kind: 'file'; readonly path: string; readonly explicit: boolean };

export type ConfigRole = 'viewer' | 'operator' | 'admin';

export interface OidcConfig {
  readonly issuer: string;
  readonly clientId: string;
  /** None for a public client (PKCE only). */
  readonly clientSecret?: string;
  /** The button's label: "Sign in with <name>". */
  readonly name: string;
  readonly scopes: string;
  /** A claim (dotted path, e.g. `realm_access.roles`) whose values map to Tacho roles. */
  readonly roleClaim?: string;
  /** Claim value → role, in the order given; the highest role any value maps to wins. */
  readonly roleMap: ReadonlyArray<readonly [string, ConfigRole]>;
  /** Create a viewer (or the mapped role) on first sign-in; else only linked or invited users get in. */
  readonly autoCreate: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Describes each variable for the README table and for `tacho serve --help`. */
export const configVariables: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  {
    name: 'TACHO_HOST',
    default: '127.0.0.1',
    meaning: 'Address the HTTP server listens on (0.0.0.0 for all).',
  },
  {
    name: 'TACHO_PORT',
    default: '8080',
    meaning: 'HTTP port: dashboard, REST API, live WebSocket, MQTT over WebSocket at /mqtt.',
  },
  {
    name: 'TACHO_PUBLIC_URL',
    default: 'http://HOST:PORT',
    meaning: 'URL users reach the server at; used for links and the Origin check.',
  },
  {
    name: 'TACHO_DATA_DIR',
    default: './data',
    meaning: 'Where the SQLite database and other local state live.',
  },
  {
    name: 'TACHO_DATABASE_URL',
    default: '(SQLite at $TACHO_DATA_DIR/tacho.db)',
    meaning: 'postgres://user:pass@host:port/db to use PostgreSQL instead of SQLite.',
  },
  {
    name: 'TACHO_MQTT_PORT',
    default: '1883',
    meaning: 'Port of the embedded MQTT broker (0 turns the TCP listener off).',
  },
  {
    name: 'TACHO_MQTT_HOST',
    default: '(same as TACHO_HOST)',
    meaning: 'Address the embedded MQTT broker listens on.',
  },
  {
    name: 'TACHO_MQTT_URL',
    default: '(none: embedded broker)',
    meaning: 'mqtt://host:port of an external broker; the server then subscribes instead of hosting one.',
  },
  { name: 'TACHO_MQTT_USERNAME', default: '(none)', meaning: 'Username for the external broker.' },
  { name: 'TACHO_MQTT_PASSWORD', default: '(none)', meaning: 'Password for the external broker.' },
  {
    name: 'TACHO_MQTT_CLIENT_ID',
    default: 'tacho-server',
    meaning: 'Client id at the external broker: its session; one per instance, kept across restarts.',
  },
  {
    name: 'TACHO_MQTT_SHARE_GROUP',
    default: '(none: each instance gets all)',
    meaning: 'Shared-subscription group for several instances (they split the messages; see scale-out).',
  },
  {
    name: 'TACHO_TESLA_TOPIC_BASE',
    default: 'tesla',
    meaning:
      "Topic base of Tesla's fleet-telemetry MQTT dispatcher (<base>/<VIN>/v/<Field>); its topic_base.",
  },
  {
    name: 'TACHO_REDIS_URL',
    default: '(none: in-process bus)',
    meaning: 'redis://host:port to fan live updates out between instances.',
  },
  {
    name: 'TACHO_ENCRYPTION_KEY',
    default: '(none: the key file)',
    meaning: 'The vault key sealing secrets at rest: 32 bytes in base64 (openssl rand -base64 32).',
  },
  {
    name: 'TACHO_ENCRYPTION_KEY_FILE',
    default: '$TACHO_DATA_DIR/secret.key',
    meaning: 'A file holding that key in base64; the default one is created (mode 0600) on first start.',
  },
  { name: 'TACHO_LOG_LEVEL', default: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent.' },
  {
    name: 'TACHO_ADMIN_EMAIL',
    default: '(none)',
    meaning: 'With TACHO_ADMIN_PASSWORD: the first admin, created when no user exists.',
  },
  {
    name: 'TACHO_ADMIN_PASSWORD',
    default: '(none)',
    meaning: 'Password of that first admin (at least 12 characters).',
  },
  { name: 'TACHO_ALLOW_SIGNUP', default: 'false', meaning: 'Let anyone create a viewer account.' },
  {
    name: 'TACHO_ALLOWED_ORIGINS',
    default: '(none)',
    meaning: 'Comma-separated extra origins allowed for cookie requests and the live socket.',
  },
  {
    name: 'TACHO_TRUST_PROXY',
    default: '(none)',
    meaning: 'Comma-separated proxy addresses whose X-Forwarded-For is trusted.',
  },
  {
    name: 'TACHO_PASSWORD_HASH_CONCURRENCY',
    default: '(half the CPU cores, at least 1)',
    meaning: 'Password hashes and checks (argon2, a core each) run at once; the rest wait in a queue.',
  },
  {
    name: 'TACHO_PASSWORD_HASH_QUEUE',
    default: '32',
    meaning: 'Password checks that may wait; beyond them logins are answered 503 busy with Retry-After.',
  },
  {
    name: 'TACHO_MAX_PAYLOAD_BYTES',
    default: '262144',
    meaning: 'Largest message on any transport (MQTT, or each in an HTTP body; the body may be 8x).',
  },
  {
    name: 'TACHO_MAX_IMPORT_BYTES',
    default: '209715200',
    meaning:
      'Largest file an import takes (GPX, GeoJSON, NDJSON, CSV; streamed, never held whole); 413 beyond.',
  },
  {
    name: 'TACHO_SMTP_URL',
    default: '(none: no email alerts)',
    meaning: 'smtp://user:pass@host:587 (STARTTLS, certificate checked) or smtps://… for alert emails.',
  },
  {
    name: 'TACHO_SMTP_FROM',
    default: 'tacho@<public host>',
    meaning: 'The From address of alert emails.',
  },
  {
    name: 'TACHO_INGEST_TIMEOUT_MS',
    default: '10000',
    meaning: 'How long HTTP ingest waits for its commit before answering 503 with Retry-After.',
  },
  {
    name: 'TACHO_DEAD_LETTER_MAX_AGE_DAYS',
    default: '30',
    meaning: 'Days refused telemetry (dead letters) is kept; older ones are dropped.',
  },
  {
    name: 'TACHO_DEAD_LETTER_MAX_MB',
    default: '256',
    meaning: 'MiB of dead letters kept in all; beyond it the oldest are dropped first.',
  },
  {
    name: 'TACHO_OFFLINE_AFTER_S',
    default: '600',
    meaning: 'Seconds without data after which a vehicle shows as offline.',
  },
  {
    name: 'TACHO_DEMO',
    default: 'false',
    meaning: 'Create three demo vehicles and simulate them in-process.',
  },
  {
    name: 'TACHO_MAP_TILES',
    default: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
    meaning: 'Tile URL template for the dashboard maps.',
  },
  {
    name: 'TACHO_SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    meaning: 'How long a graceful shutdown waits for in-flight work.',
  },
  {
    name: 'TACHO_OIDC_ISSUER',
    default: '(none: no provider sign-in)',
    meaning: 'Issuer URL of an OpenID provider for "Sign in with …" (https; http only on loopback).',
  },
  { name: 'TACHO_OIDC_CLIENT_ID', default: '(none)', meaning: "Tacho's client id at the provider." },
  {
    name: 'TACHO_OIDC_CLIENT_SECRET',
    default: '(none: a public client)',
    meaning: 'Its client secret; without one Tacho signs in as a public client (PKCE only).',
  },
  {
    name: 'TACHO_OIDC_NAME',
    default: '(the issuer host)',
    meaning: 'The button\'s label: "Sign in with NAME".',
  },
  {
    name: 'TACHO_OIDC_SCOPES',
    default: 'openid email profile',
    meaning: 'Scopes asked for (add e.g. groups when the role claim needs it).',
  },
  {
    name: 'TACHO_OIDC_ROLE_CLAIM',
    default: '(none: roles are set in Tacho)',
    meaning: 'ID token claim (dotted path) whose values set the role at each sign-in, with the map below.',
  },
  {
    name: 'TACHO_OIDC_ROLE_MAP',
    default: '(none)',
    meaning: 'value=role pairs, comma-separated (tacho-admins=admin,drivers=operator,*=viewer).',
  },
  {
    name: 'TACHO_OIDC_AUTO_CREATE',
    default: 'false',
    meaning:
      'Create an account at first sign-in (a verified email is needed); off: an admin invites by email.',
  },
  {
    name: 'TACHO_VINFAST_AUTH_URL',
    default: "(the region's Auth0, e.g. https://vin3s.au.auth0.com)",
    meaning: 'VinFast sign-in (Auth0 tenant) for every region; its host is also the Cognito login key.',
  },
  {
    name: 'TACHO_VINFAST_API_URL',
    default: "(the region's, e.g. https://mobile.connected-car.vinfast.vn)",
    meaning: "VinFast's connected-car API for every region.",
  },
  {
    name: 'TACHO_VINFAST_COGNITO_URL',
    default: 'https://cognito-identity.ap-southeast-1.amazonaws.com/',
    meaning: 'Cognito Identity endpoint the live-telemetry credentials come from.',
  },
  {
    name: 'TACHO_VINFAST_COGNITO_POOL_ID',
    default: "(Vietnam's published pool)",
    meaning: 'Cognito identity pool; needed for live telemetry where VinFast published none (US, EU).',
  },
  {
    name: 'TACHO_VINFAST_IOT_URL',
    default: 'wss://prod.iot.connected-car.vinfast.vn/mqtt',
    meaning: 'AWS IoT MQTT-over-WebSocket URL the live telemetry comes from.',
  },
  {
    name: 'TACHO_VINFAST_CLIENT_ID',
    default: "(the VinFast app's public client id for the region)",
    meaning: 'Auth0 client id used to sign owners in.',
  },
  {
    name: 'TACHO_VINFAST_SIGNING_KEY_FILE',
    default: '(none: requests unsigned)',
    meaning:
      "A file holding the app key VinFast's API may require for its X-HASH request signature; Tacho ships none (see the README's VinFast section).",
  },
  {
    name: 'TACHO_DEVICE_ISSUERS',
    default: '(none)',
    meaning: 'JSON [{"issuer","audience"}]: issuers whose ID tokens phones may post with as bearer tokens.',
  },
  {
    name: 'TACHO_TESLA_CLIENT_ID',
    default: '(none: no Tesla connector)',
    meaning: "Client ID of Tacho's application at developer.tesla.com (see the README's Tesla section).",
  },
  {
    name: 'TACHO_TESLA_CLIENT_SECRET',
    default: '(none: an open-source app)',
    meaning: 'Its client secret.',
  },
  {
    name: 'TACHO_TESLA_REGION',
    default: 'na',
    meaning:
      'Fleet API region of the accounts: na (North America, Asia-Pacific), eu (Europe, Middle East, Africa) or cn.',
  },
  {
    name: 'TACHO_TESLA_DAILY_REQUESTS',
    default: '500',
    meaning:
      'Fleet API requests (billed by Tesla) each connected account may make per UTC day; polling slows to fit.',
  },
  {
    name: 'TACHO_TESLA_AUTH_URL',
    default: "(Tesla's)",
    meaning: 'Base of the OAuth endpoints (<url>/authorize, <url>/token): for tests against a fake.',
  },
  {
    name: 'TACHO_TESLA_API_URL',
    default: "(the region's Fleet API)",
    meaning: "Fleet API base URL instead of the region's: for tests against a fake.",
  },
];

/** An issuer URL: https, or http on a loopback address (tests, a provider on the same machine). */
function issuerUrl(name: string, raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    fail(`${name} must be an https:// issuer URL, got "${raw}"`);
  }
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback))
    fail(`${name} must be an https:// URL (http:// only on a loopback address), got "${raw}"`);
  if (parsed.search || parsed.hash) fail(`${name} must be an issuer URL without ? or #, got "${raw}"`);
  return raw;
}

function oidcConfig(env: Env): OidcConfig | undefined {
  const rawIssuer = str(env, 'TACHO_OIDC_ISSUER');
  const clientId = str(env, 'TACHO_OIDC_CLIENT_ID');
  if (rawIssuer === undefined) {
    if (clientId !== undefined) fail('TACHO_OIDC_CLIENT_ID needs TACHO_OIDC_ISSUER');
    return undefined;
  }
  const issuer = issuerUrl('TACHO_OIDC_ISSUER', rawIssuer);
  if (clientId === undefined) fail('TACHO_OIDC_ISSUER needs TACHO_OIDC_CLIENT_ID');
  const roles = ['viewer', 'operator', 'admin'];
  const roleMap: Array<readonly [string, ConfigRole]> = [];
  for (const pair of list(env, 'TACHO_OIDC_ROLE_MAP')) {
    const at = pair.lastIndexOf('=');
    const value = pair.slice(0, at).trim();
    const role = pair.slice(at + 1).trim();
    if (at <= 0 || value === '' || !roles.includes(role))
      fail(`TACHO_OIDC_ROLE_MAP must be value=role pairs (roles: viewer, operator, admin), got "${pair}"`);
    roleMap.push([value, role as ConfigRole]);
  }
  const roleClaim = str(env, 'TACHO_OIDC_ROLE_CLAIM');
  if (roleClaim !== undefined && roleMap.length === 0)
    fail('TACHO_OIDC_ROLE_CLAIM needs TACHO_OIDC_ROLE_MAP (e.g. tacho-admins=admin,*=viewer)');
  const secret = str(env, 'TACHO_OIDC_CLIENT_SECRET');
  return {
    issuer,
    clientId,
    ...(secret !== undefined ? { clientSecret: secret } : {}),
    name: str(env, 'TACHO_OIDC_NAME') ?? new URL(issuer).host,
    scopes: str(env, 'TACHO_OIDC_SCOPES') ?? 'openid email profile',
    ...(roleClaim !== undefined ? { roleClaim } : {}),
    roleMap,
    autoCreate: bool(env, 'TACHO_OIDC_AUTO_CREATE', false),
  };
}

function deviceIssuers(env: Env): Config['deviceIssuers'] {
  const raw = str(env, 'TACHO_DEVICE_ISSUERS');
  if (raw === undefined) return [];
  const problem = 'TACHO_DEVICE_ISSUERS must be a JSON array like [{"issuer":"https://…","audience":"…"}]';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    fail(`${problem}, got text that is not JSON`);
  }
  if (!Array.isArray(parsed)) fail(`${problem}, got ${typeof parsed}`);
  return parsed.map((entry: unknown, i) => {
    const e = entry as { issuer?: unknown; audience?: unknown };
    if (typeof e?.issuer !== 'string' || typeof e.audience !== 'string' || e.audience === '')
      fail(`${problem}: entry ${i} needs "issuer" and "audience" strings`);
    return { issuer: issuerUrl(`TACHO_DEVICE_ISSUERS entry ${i}`, e.issuer), audience: e.audience };
  });
}

/**
 * Tesla's OAuth endpoints and each region's Fleet API host (developer.tesla.com: Authentication →
 * Third-party tokens; Getting started → Base URLs). The token endpoint is fleet-auth for every region.
 */
const TESLA_AUTHORIZE_URL = 'https://auth.tesla.com/oauth2/v3/authorize';
const TESLA_TOKEN_URL = 'https://fleet-auth.prd.vn.cloud.tesla.com/oauth2/v3/token';
const TESLA_FLEET_API = {
  na: 'https://fleet-api.prd.na.vn.cloud.tesla.com',
  eu: 'https://fleet-api.prd.eu.vn.cloud.tesla.com',
  cn: 'https://fleet-api.prd.cn.vn.cloud.tesla.cn',
} as const;

function teslaConfig(env: Env): TeslaConfig | undefined {
  const clientId = str(env, 'TACHO_TESLA_CLIENT_ID');
  const secret = str(env, 'TACHO_TESLA_CLIENT_SECRET');
  if (clientId === undefined) {
    if (secret !== undefined) fail('TACHO_TESLA_CLIENT_SECRET needs TACHO_TESLA_CLIENT_ID');
    return undefined;
  }
  const region = (str(env, 'TACHO_TESLA_REGION') ?? 'na').toLowerCase();
  if (region !== 'na' && region !== 'eu' && region !== 'cn')
    fail(`TACHO_TESLA_REGION must be na, eu or cn, got "${region}"`);
  const authUrl = str(env, 'TACHO_TESLA_AUTH_URL');
  if (authUrl !== undefined) issuerUrl('TACHO_TESLA_AUTH_URL', authUrl);
  const apiUrl = str(env, 'TACHO_TESLA_API_URL');
  if (apiUrl !== undefined) issuerUrl('TACHO_TESLA_API_URL', apiUrl);
  const base = authUrl?.replace(/\/+$/, '');
  const tesla = {
    clientId,
    region,
    authorizeUrl: base ? `${base}/authorize` : TESLA_AUTHORIZE_URL,
    tokenUrl: base ? `${base}/token` : TESLA_TOKEN_URL,
    apiUrl: (apiUrl ?? TESLA_FLEET_API[region]).replace(/\/+$/, ''),
    dailyRequests: int(
      env,
      'TACHO_TESLA_DAILY_REQUESTS',
      500,
      1,
      10_000_000,
      'a number of requests (1 to 10000000)',
    ),
  } as TeslaConfig;
  if (secret !== undefined)
    Object.defineProperty(tesla, 'clientSecret', { value: secret, enumerable: false });
  return tesla;
}

/** `TACHO_VINFAST_*`: endpoint overrides and the optional signing key file (read here, at start). */
function vinfastConfig(env: Env, cwd: string): VinFastConfig {
  const endpoint = (name: string, protocols: string[]) => url(env, name, protocols) ?? null;
  const file = str(env, 'TACHO_VINFAST_SIGNING_KEY_FILE');
  let signingKey: string | null = null;
  if (file !== undefined) {
    const path = isAbsolute(file) ? file : resolve(cwd, file);
    try {
      signingKey = readFileSync(path, 'utf8').trim();
    } catch {
      fail(`TACHO_VINFAST_SIGNING_KEY_FILE must name a readable file, got "${file}"`);
    }
    if (!signingKey)
      fail(`TACHO_VINFAST_SIGNING_KEY_FILE must name a file holding the key, got an empty "${file}"`);
  }
  const config = {
    authUrl: endpoint('TACHO_VINFAST_AUTH_URL', ['https', 'http']),
    apiUrl: endpoint('TACHO_VINFAST_API_URL', ['https', 'http']),
    cognitoUrl: endpoint('TACHO_VINFAST_COGNITO_URL', ['https', 'http']),
    iotUrl: endpoint('TACHO_VINFAST_IOT_URL', ['wss', 'ws']),
    identityPoolId: str(env, 'TACHO_VINFAST_COGNITO_POOL_ID') ?? null,
    clientId: str(env, 'TACHO_VINFAST_CLIENT_ID') ?? null,
  } as VinFastConfig;
  // Not enumerable: a Config logged or serialised whole does not carry the key.
  Object.defineProperty(config, 'signingKey', { value: signingKey, enumerable: false });
  return config;
}

function fail(message: string): never {
  throw new StartupError(message);
}

function str(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function int(env: Env, name: string, fallback: number, min: number, max: number, what: string): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) fail(`${name} must be ${what}, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) fail(`${name} must be ${what}, got "${raw}"`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  fail(`${name} must be true or false, got "${raw}"`);
}

function list(env: Env, name: string): string[] {
  return (str(env, name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    fail(`${name} must be a URL (${protocols.join(' or ')}), got "${redactUrl(raw)}"`);
  }
  if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
    fail(`${name} must start with ${protocols.map((p) => `${p}://`).join(' or ')}, got "${redactUrl(raw)}"`);
  }
  return raw;
}

/** An MQTT 5 share name (§4.8.2): no `/`, `+` or `#`. Unset means a subscription of this instance's own. */
function shareGroup(env: Env): { shareGroup?: string } {
  const name = str(env, 'TACHO_MQTT_SHARE_GROUP');
  if (name === undefined) return {};
  if (/[/+#]/.test(name)) fail(`TACHO_MQTT_SHARE_GROUP must be a name without / + or #, got "${name}"`);
  return { shareGroup: name };
}

/**
 * TACHO_TESLA_TOPIC_BASE: one or more topic levels, no wildcards, no empty level (fleet-telemetry writes
 * `<base>/<VIN>/…` with the base as given).
 */
function teslaTopicBase(env: Env): string {
  const base = str(env, 'TACHO_TESLA_TOPIC_BASE') ?? 'tesla';
  if (/[+#\s]/.test(base) || base.split('/').some((level) => level === '') || base.startsWith('$')) {
    fail(
      `TACHO_TESLA_TOPIC_BASE must be topic levels like tesla or fleet/tesla, without + # or spaces, got "${base}"`,
    );
  }
  return base;
}

/** The URL without its password, for messages and logs. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

/**
 * Reads `.env` in `cwd` if present. Real environment variables win over the file, so a deployment can
 * override what a checked-out `.env` says.
 */
export function readEnvFile(cwd: string): Record<string, string> {
  const path = join(cwd, '.env');
  if (!existsSync(path)) return {};
  return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
}

/**
 * Builds the Config from the environment. Throws StartupError naming the first bad variable and what it
 * expected; the caller prints that one line and exits non-zero.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const merged: Env = { ...readEnvFile(cwd), ...env };
  const host = str(merged, 'TACHO_HOST') ?? '127.0.0.1';
  const port = int(merged, 'TACHO_PORT', 8080, 0, 65535, 'a port number');
  const dataDirRaw = str(merged, 'TACHO_DATA_DIR') ?? './data';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(cwd, dataDirRaw);

  const databaseUrl = url(merged, 'TACHO_DATABASE_URL', ['postgres', 'postgresql']);
  const database: Config['database'] = databaseUrl
    ? { kind: 'postgres', url: databaseUrl }
    : { kind: 'sqlite', path: join(dataDir, 'tacho.db') };

  const mqttUrl = url(merged, 'TACHO_MQTT_URL', ['mqtt', 'mqtts', 'tcp', 'ws', 'wss']);
  const mqtt: Config['mqtt'] = mqttUrl
    ? {
        kind: 'external',
        url: mqttUrl,
        clientId: str(merged, 'TACHO_MQTT_CLIENT_ID') ?? 'tacho-server',
        ...shareGroup(merged),
        ...(str(merged, 'TACHO_MQTT_USERNAME') ? { username: str(merged, 'TACHO_MQTT_USERNAME') } : {}),
        ...(str(merged, 'TACHO_MQTT_PASSWORD') ? { password: str(merged, 'TACHO_MQTT_PASSWORD') } : {}),
      }
    : {
        kind: 'embedded',
        port: int(merged, 'TACHO_MQTT_PORT', 1883, 0, 65535, 'a port number'),
        host: str(merged, 'TACHO_MQTT_HOST') ?? host,
      };

  const logLevel = (str(merged, 'TACHO_LOG_LEVEL') ?? 'info').toLowerCase();
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
  if (!(levels as readonly string[]).includes(logLevel)) {
    fail(`TACHO_LOG_LEVEL must be one of ${levels.join(', ')}, got "${logLevel}"`);
  }

  const adminEmail = str(merged, 'TACHO_ADMIN_EMAIL');
  const adminPassword = str(merged, 'TACHO_ADMIN_PASSWORD');
  if ((adminEmail === undefined) !== (adminPassword === undefined)) {
    fail('TACHO_ADMIN_EMAIL and TACHO_ADMIN_PASSWORD must be set together, or neither');
  }
  if (adminEmail !== undefined && !/^[^@\s]+@[^@\s]+$/.test(adminEmail)) {
    fail(`TACHO_ADMIN_EMAIL must be an email address, got "${adminEmail}"`);
  }
  if (adminPassword !== undefined && adminPassword.length < 12) {
    fail('TACHO_ADMIN_PASSWORD must be at least 12 characters long');
  }

  const publicUrlRaw = url(merged, 'TACHO_PUBLIC_URL', ['http', 'https']);
  const displayHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const publicUrl = (publicUrlRaw ?? `http://${displayHost}:${port}`).replace(/\/+$/, '');

  const allowedOrigins = list(merged, 'TACHO_ALLOWED_ORIGINS');
  for (const origin of allowedOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      fail(
        `TACHO_ALLOWED_ORIGINS must be a comma-separated list of origins like https://example.com, got "${origin}"`,
      );
    }
  }

  const oidc = oidcConfig(merged);
  const smtp = smtpConfig(merged, publicUrl);
  const config: Config = {
    host,
    port,
    publicUrl,
    dataDir,
    database,
    mqtt,
    teslaTopicBase: teslaTopicBase(merged),
    ...(url(merged, 'TACHO_REDIS_URL', ['redis', 'rediss'])
      ? { redisUrl: str(merged, 'TACHO_REDIS_URL') }
      : {}),
    logLevel: logLevel as Config['logLevel'],
    ...(adminEmail ? { adminEmail: adminEmail.toLowerCase(), adminPassword } : {}),
    allowSignup: bool(merged, 'TACHO_ALLOW_SIGNUP', false),
    allowedOrigins,
    trustProxy: list(merged, 'TACHO_TRUST_PROXY'),
    passwordHashing: {
      concurrency: int(
        merged,
        'TACHO_PASSWORD_HASH_CONCURRENCY',
        Math.max(1, Math.ceil(availableParallelism() / 2)),
        1,
        1024,
        'a number from 1 to 1024',
      ),
      queue: int(merged, 'TACHO_PASSWORD_HASH_QUEUE', 32, 0, 100_000, 'a number from 0 to 100000'),
    },
    maxPayloadBytes: int(
      merged,
      'TACHO_MAX_PAYLOAD_BYTES',
      262_144,
      1024,
      64 * 1024 * 1024,
      'a size in bytes (1024 to 67108864)',
    ),
    maxImportBytes: int(
      merged,
      'TACHO_MAX_IMPORT_BYTES',
      200 * 1024 * 1024,
      1024,
      Number.MAX_SAFE_INTEGER,
      'a size in bytes (at least 1024)',
    ),
    ...(smtp ? { smtp } : {}),
    ingestTimeoutMs: int(
      merged,
      'TACHO_INGEST_TIMEOUT_MS',
      10_000,
      100,
      600_000,
      'a number of milliseconds (100 to 600000)',
    ),
    deadLetterMaxAgeDays: int(
      merged,
      'TACHO_DEAD_LETTER_MAX_AGE_DAYS',
      30,
      1,
      36_500,
      'a number of days (1 to 36500)',
    ),
    deadLetterMaxMb: int(
      merged,
      'TACHO_DEAD_LETTER_MAX_MB',
      256,
      1,
      1_048_576,
      'a size in MiB (1 to 1048576)',
    ),
    offlineAfterS: int(merged, 'TACHO_OFFLINE_AFTER_S', 600, 1, 365 * 86_400, 'a number of seconds'),
    demo: bool(merged, 'TACHO_DEMO', false),
    mapTiles: str(merged, 'TACHO_MAP_TILES') ?? 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
    shutdownTimeoutMs: int(
      merged,
      'TACHO_SHUTDOWN_TIMEOUT_MS',
      10_000,
      0,
      600_000,
      'a number of milliseconds',
    ),
    ...(oidc ? { oidc } : {}),
    deviceIssuers: deviceIssuers(merged),
    encryption: encryptionKeySource(merged, dataDir, cwd),
    vinfast: vinfastConfig(merged, cwd),
  };
  const tesla = teslaConfig(merged);
  if (tesla) Object.assign(config, { tesla });
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The 32 bytes a base64 key decodes to, or null when it is not one (the value is never echoed). */
export function decodeVaultKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null;
  const bytes = Buffer.from(trimmed, 'base64');
  return bytes.length === 32 ? bytes : null;
}

function encryptionKeySource(env: Env, dataDir: string, cwd: string): EncryptionKeySource {
  const key = str(env, 'TACHO_ENCRYPTION_KEY');
  const file = str(env, 'TACHO_ENCRYPTION_KEY_FILE');
  if (key !== undefined && file !== undefined)
    fail('TACHO_ENCRYPTION_KEY and TACHO_ENCRYPTION_KEY_FILE are both set: set only one');
  if (key !== undefined) {
    if (!decodeVaultKey(key))
      fail('TACHO_ENCRYPTION_KEY must be 32 bytes in base64 (openssl rand -base64 32), got something else');
    // Not enumerable: a Config logged or serialised whole does not carry the key.
    const source = { kind: 'env' } as { kind: 'env'; key: string };
    Object.defineProperty(source, 'key', { value: key, enumerable: false });
    return source;
  }
  if (file !== undefined)
    return { kind: 'file', path: isAbsolute(file) ? file : resolve(cwd, file), explicit: true };
  return { kind: 'file', path: join(dataDir, 'secret.key'), explicit: false };
}

/** `TACHO_SMTP_URL` and `TACHO_SMTP_FROM`; undefined when no SMTP server is configured. */
function smtpConfig(env: Env, publicUrl: string): Config['smtp'] {
  const smtpUrl = str(env, 'TACHO_SMTP_URL');
  const from = str(env, 'TACHO_SMTP_FROM');
  if (smtpUrl === undefined) {
    if (from !== undefined) fail('TACHO_SMTP_FROM needs TACHO_SMTP_URL');
    return undefined;
  }
  url(env, 'TACHO_SMTP_URL', ['smtp', 'smtps']);
  const address = from ?? `tacho@${new URL(publicUrl).hostname}`;
  if (/[\r\n]/.test(address) || !/^(?:[^<>@\s]+@[^<>@\s]+|[^<>\r\n]*<[^<>@\s]+@[^<>@\s]+>)$/.test(address))
    fail(
      `TACHO_SMTP_FROM must be an email address ("Tacho <alerts@example.com>" or alerts@example.com), got "${address}"`,
    );
  return { url: smtpUrl, from: address };
}
