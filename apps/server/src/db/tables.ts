import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Table types. Times are epoch milliseconds (`*_ms`), units are in column names, booleans are stored as
 * nullable timestamps (`disabled_ms`) so both engines read them the same, and JSON is stored as text.
 */
export interface Database {
  users: UsersTable;
  logins: LoginsTable;
  refresh_tokens: RefreshTokensTable;
  api_tokens: ApiTokensTable;
  vehicles: VehiclesTable;
  vehicle_access: VehicleAccessTable;
  samples: SamplesTable;
  vehicle_state: VehicleStateTable;
  raw_keys: RawKeysTable;
  dead_letters: DeadLettersTable;
  dead_letter_usage: DeadLetterUsageTable;
  vehicle_refusals: VehicleRefusalsTable;
  settings: SettingsTable;
  login_throttle: LoginThrottleTable;
  rollups_minute: RollupsTable;
  rollups_hour: RollupsTable;
  aliases: AliasesTable;
  alias_confirmations: AliasConfirmationsTable;
  device_bindings: DeviceBindingsTable;
  processing_marks: ProcessingMarksTable;
  processing_state: ProcessingStateTable;
  sessions: SessionsTable;
  alert_rules: AlertRulesTable;
  alerts: AlertsTable;
  alert_deliveries: AlertDeliveriesTable;
  alert_delivery_attempts: AlertDeliveryAttemptsTable;
  user_identities: UserIdentitiesTable;
  oidc_attempts: OidcAttemptsTable;
  cli_logins: CliLoginsTable;
  connector_accounts: ConnectorAccountsTable;
  connector_vehicles: ConnectorVehiclesTable;
  connector_attempts: ConnectorAttemptsTable;
}

export type Role = 'viewer' | 'operator' | 'admin';

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  /** argon2id PHC string; null for users who only log in through OIDC. */
  password_hash: string | null;
  role: Role;
  disabled_ms: number | null;
  /** Access tokens issued before this instant are refused (password change, disable, "log out everywhere"). */
  tokens_valid_after_ms: number;
  created_ms: number;
  updated_ms: number;
  /** Set when an admin requires this user to sign in through the OpenID provider only. */
  provider_only_ms?: number | null;
}

/** A login: one browser or CLI presence, i.e. one refresh-token family. */
export interface LoginsTable {
  id: string;
  user_id: string;
  /** What the user sees in "active logins": browser and OS from the User-Agent, or the CLI's name. */
  device: string;
  ip: string | null;
  created_ms: number;
  last_used_ms: number;
  /** Absolute end of the family (30 days after creation). */
  expires_ms: number;
  revoked_ms: number | null;
  revoked_reason: string | null;
  /** Which way the login began: `password`, `oidc`, `setup` or `signup`. */
  method?: LoginMethod;
}

export type LoginMethod = 'password' | 'oidc' | 'setup' | 'signup';

export interface RefreshTokensTable {
  id: string;
  login_id: string;
  /** SHA-256 of the token; the token itself is never stored. */
  token_hash: string;
  created_ms: number;
  /** When it was exchanged for its successor; a second use after the grace window revokes the family. */
  used_ms: number | null;
  successor_id: string | null;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  /** Set for a vehicle token: it may only publish telemetry for this vehicle (and is its MQTT password). */
  vehicle_id: string | null;
  name: string;
  token_hash: string;
  /** The first characters, shown in lists so people can tell tokens apart. */
  prefix: string;
  /** JSON array of scope names. */
  scopes: string;
  /** JSON array of vehicle ids the token is limited to, or null for all the user may see. */
  vehicle_ids: string | null;
  created_ms: number;
  expires_ms: number | null;
  last_used_ms: number | null;
  revoked_ms: number | null;
  /** Set for a token a `tacho login` made: the host name the CLI gave (a "CLI login" in Settings). */
  cli_host?: string | null;
}

export type VehicleKind = 'car' | 'motorcycle' | 'truck' | 'phone' | 'tracker' | 'other';

export interface VehiclesTable {
  id: string;
  /** Optional: phones, trackers and old cars have none; unique when given. */
  vin: string | null;
  /** What it is; decides nothing but what the dashboard shows. */
  kind?: VehicleKind;
  name: string;
  make: string | null;
  model: string | null;
  year: number | null;
  owner_id: string;
  created_ms: number;
  updated_ms: number;
  /** Drive and charge detection settings of its own, JSON over the defaults (null: the defaults). */
  session_settings?: string | null;
}

export interface VehicleAccessTable {
  vehicle_id: string;
  user_id: string;
  role: 'viewer' | 'operator';
  created_ms: number;
}

/** One row per received message; unique on (vehicle, device timestamp, sequence). */
export interface SamplesTable {
  vehicle_id: string;
  ts_ms: number;
  seq: number;
  received_ms: number;
  source: string;
  /** JSON object of canonical metric → value. */
  metrics: string;
  lat: number | null;
  lon: number | null;
  alt_m: number | null;
  heading_deg: number | null;
  speed_kmh: number | null;
  accuracy_m: number | null;
}

/** The latest value of each metric of each vehicle. */
export interface VehicleStateTable {
  vehicle_id: string;
  metric: string;
  /** JSON value (number, string, boolean, or an object for `position`). */
  value: string;
  ts_ms: number;
  /** The seq of the sample the reading came from: the newest-reading rule's second key. */
  seq: number;
}

/** Every raw device key ever seen, with its last value: the deep scan. */
export interface RawKeysTable {
  vehicle_id: string;
  device_key: string;
  value: string;
  first_seen_ms: number;
  last_seen_ms: number;
  canonical_key: string | null;
  unit: string | null;
}

export interface DeadLettersTable {
  id: Generated<number>;
  /** mqtt, http, or the decoder's name. */
  source: string;
  /** The MQTT topic or the HTTP route. */
  topic: string;
  vehicle_id: string | null;
  reason: string;
  /** The first 2 KiB of the payload, as text. */
  payload: string;
  received_ms: number;
  /** What the row weighs against TACHO_DEAD_LETTER_MAX_MB: its text in UTF-8 bytes, plus 64. */
  bytes: number;
}

/** The running total of `dead_letters.bytes`, split over a few rows (dead-letters.repo.ts says why). */
export interface DeadLetterUsageTable {
  shard: number;
  bytes: number;
}

/** Per vehicle: how many of its messages were refused (dead letters), since when, and the last reason. */
export interface VehicleRefusalsTable {
  vehicle_id: string;
  refused: number;
  first_ms: number;
  last_ms: number;
  last_reason: string;
}

/** Small server-wide values shared by every instance (signing keys, schema facts). */
export interface SettingsTable {
  key: string;
  value: string;
  updated_ms: number;
}

/** Per-minute or per-hour aggregate of one numeric metric of one vehicle (booleans count as 0/1). */
export interface RollupsTable {
  vehicle_id: string;
  metric: string;
  /** Start of the bucket (minute or hour), epoch ms. */
  bucket_ms: number;
  count: number;
  sum: number;
  min_value: number;
  min_ts_ms: number;
  max_value: number;
  max_ts_ms: number;
  first_value: number;
  first_ts_ms: number;
  last_value: number;
  last_ts_ms: number;
}

/** Failed logins per account or client address (`email:…`, `ip:…`), for growing delays. */
export interface LoginThrottleTable {
  key: string;
  failures: number;
  first_failure_ms: number;
  last_failure_ms: number;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Vehicle = Selectable<VehiclesTable>;
export type Login = Selectable<LoginsTable>;
export type ApiToken = Selectable<ApiTokensTable>;
export type DeadLetter = Selectable<DeadLettersTable>;

/** One proposed alias (device key → canonical key) for a make/model/year; '' / 0 mean any model / year. */
export interface AliasesTable {
  id: string;
  make: string;
  model: string;
  year: number;
  device_key: string;
  canonical_key: string;
  /** The unit the device sends ('' when it already is the canonical unit). */
  unit: string;
  /** Multiplies the device value into the canonical unit. */
  scale: number;
  contributor_id: string | null;
  created_ms: number;
  updated_ms: number;
}

/** A vehicle whose owner confirmed an alias; the count of rows is the entry's confirmations. */
export interface AliasConfirmationsTable {
  alias_id: string;
  vehicle_id: string;
  user_id: string | null;
  created_ms: number;
}

/** A phone or tracker id bound to a vehicle: OwnTracks `user/device`, Traccar Client `id`. */
export interface DeviceBindingsTable {
  kind: 'owntracks' | 'osmand';
  device_id: string;
  vehicle_id: string;
  /** OwnTracks encryption secret (needed in clear to open the device's payloads): sealed by the vault. */
  secret: string | null;
  created_by: string | null;
  created_ms: number;
}

/** One per processor and vehicle per ingest batch that stored samples: where to look again (decision 0017). */
export interface ProcessingMarksTable {
  id: Generated<number>;
  processor: string;
  vehicle_id: string;
  /** The oldest device time among the samples the batch stored for the vehicle. */
  low_ts_ms: number;
  /** When the batch committed (server clock): processing lag is measured from it. */
  marked_ms: number;
  /** The batches the mark holds: more than one where the SQLite writer folded later ones into it. */
  batches: Generated<number>;
  /** The newest device time among them (null: not recorded; PostgreSQL's marks). */
  high_ts_ms: number | null;
}

/** A processor's progress on one vehicle, committed with its output. */
export interface ProcessingStateTable {
  processor: string;
  vehicle_id: string;
  /** The last sample folded, by device time and seq; null before the first. */
  cursor_ts_ms: number | null;
  cursor_seq: number | null;
  /** The processor's own state, JSON. */
  state: string;
  /** 1 while samples after the cursor remain to be read (a round reads a chunk). */
  pending: number;
  /** When the processor wants to look again without new data (a drive ends after 15 min of silence). */
  tick_at_ms: number | null;
  attempts: number;
  retry_at_ms: number | null;
  failed_reason: string | null;
  failed_ms: number | null;
  updated_ms: number;
}

/** A recorded period of a vehicle: a drive, a charge (both found by the sessions processor) or a manual recording. */
export interface SessionsTable {
  id: string;
  vehicle_id: string;
  kind: 'drive' | 'charge' | 'manual';
  name: string | null;
  start_ms: number;
  /** null while it is open. */
  end_ms: number | null;
  /** SessionStats as JSON (units in the names). */
  stats: string;
  created_ms: number;
  updated_ms: number;
}

/** A user's sign-in at an OpenID provider: the provider's (issuer, subject), never the email alone. */
export interface UserIdentitiesTable {
  id: string;
  user_id: string;
  issuer: string;
  subject: string;
  /** The email the provider gave when it was linked or last used (shown to tell identities apart). */
  email: string | null;
  created_ms: number;
  last_used_ms: number | null;
}

/** A sign-in sent to the OpenID provider, waiting for its callback; each is used once. */
export interface OidcAttemptsTable {
  id: string;
  /** SHA-256 of the state also held in the signed cookie. */
  state_hash: string;
  nonce: string;
  code_verifier: string;
  /** Where the browser goes afterwards (a path on this server). */
  next: string;
  /** Set when a signed-in user links the identity to their account (Settings → Linked sign-ins). */
  link_user_id: string | null;
  created_ms: number;
  expires_ms: number;
  used_ms: number | null;
}

/** A `tacho login` waiting for a browser's confirmation (the token itself is never stored). */
export interface CliLoginsTable {
  id: string;
  /** SHA-256 of the connection id the CLI and the page know. */
  connection_hash: string;
  /** SHA-256 of the resume secret only the CLI knows (it collects the token with it after a drop). */
  resume_hash: string;
  user_code: string;
  /** JSON: host, os, version the CLI sent. */
  client: string;
  status: 'pending' | 'confirmed' | 'denied' | 'collected' | 'ended';
  user_id: string | null;
  token_id: string | null;
  created_ms: number;
  expires_ms: number;
  decided_ms: number | null;
  last_poll_ms: number | null;
  poll_interval_s: number;
}

/** An alert rule (issue 18): `condition` and `event` are JSON, one of them set; `channels` JSON. */
export interface AlertRulesTable {
  id: string;
  owner_id: string;
  /** null: every vehicle the owner manages, now and later. */
  vehicle_id: string | null;
  name: string;
  condition: string | null;
  event: string | null;
  cooldown_s: number;
  channels: string;
  /** The webhook signing key, sealed by the vault (`tv1:…`, decision 0026). */
  secret: string;
  enabled: number;
  created_ms: number;
  updated_ms: number;
}

export interface AlertsTable {
  id: string;
  rule_id: string | null;
  rule_name: string;
  vehicle_id: string;
  state: 'open' | 'acknowledged' | 'resolved';
  fired_ms: number;
  message: string;
  /** JSON. */
  value: string;
  acknowledged_ms: number | null;
  acknowledged_by: string | null;
  resolved_ms: number | null;
  created_ms: number;
}

/** The notification outbox. */
export interface AlertDeliveriesTable {
  id: string;
  alert_id: string;
  vehicle_id: string;
  channel: 'email' | 'webhook' | 'inapp';
  target: string;
  kind: 'fired' | 'resolved' | 'acknowledged';
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  next_at_ms: number;
  /** A sender has it until then (another instance may take it after). */
  lease_until_ms: number | null;
  created_ms: number;
  sent_ms: number | null;
  allow_private: number;
}

export interface AlertDeliveryAttemptsTable {
  id: Generated<number>;
  delivery_id: string;
  at_ms: number;
  ok: number;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

/** A maker-cloud account a user connected (issues 21, 22). Token columns are sealed by the vault. */
export interface ConnectorAccountsTable {
  id: string;
  /** `tesla` or `vinfast`. */
  kind: string;
  owner_id: string;
  /** The maker's id of the account (Tesla's `sub`, VinFast's user id). */
  external_id: string;
  label: string;
  region: string;
  /** `connected`, `refreshing`, `reauth_needed` or `error`. */
  state: string;
  state_reason: string | null;
  access_token: string | null;
  refresh_token: string | null;
  id_token: string | null;
  /** A refresh token sent to the maker whose answer is not committed yet (a crash in between). */
  pending_refresh_token: string | null;
  access_expires_ms: number | null;
  refresh_expires_ms: number | null;
  refresh_lock_owner: string | null;
  refresh_lock_until_ms: number | null;
  /** The instance that runs the account's poller or stream, until `lease_until_ms`. */
  lease_owner: string | null;
  lease_until_ms: number | null;
  /** The UTC day `budget_used` counts requests of. */
  budget_day: string | null;
  budget_used: number;
  /** JSON: the connector's own non-secret state. */
  data: string;
  created_ms: number;
  updated_ms: number;
}

/** A maker's vehicle of a connected account that is a Tacho vehicle. */
export interface ConnectorVehiclesTable {
  account_id: string;
  vehicle_id: string;
  /** The maker's id of the vehicle (Tesla's vehicle id, VinFast's VIN). */
  external_id: string;
  state: string | null;
  /** JSON: the connector's own state for the vehicle (poll timing, last seen). */
  data: string;
  next_poll_ms: number | null;
  created_ms: number;
  updated_ms: number;
}

/** An OAuth sign-in at a maker between its start and its callback. */
export interface ConnectorAttemptsTable {
  state: string;
  kind: string;
  user_id: string;
  /** PKCE verifier, sealed. */
  code_verifier: string;
  region: string | null;
  created_ms: number;
  expires_ms: number;
}
