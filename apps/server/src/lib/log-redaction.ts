/**
 * What of a request's URL and of an error's text may reach a log line (decision 0014).
 *
 * Query strings carry secrets — Traccar Client sends the vehicle token as `?token=`, OsmAnd device ids
 * authenticate alone, the setup link holds a one-time token — and positions, which are personal data.
 * So a logged URL keeps every parameter's name but only the values of the few parameters listed here,
 * which carry neither; a new parameter is redacted until someone lists it. Path segments that a route
 * names as a secret (`/auth/setup/:token`; `:deviceId`, since an OsmAnd id authenticates alone) are
 * redacted too.
 */
const LOGGED_QUERY_VALUES = new Set([
  'from',
  'to',
  'before',
  'limit',
  'cursor',
  'metrics',
  'maxPoints',
  'make',
  'model',
  'year',
]);

/** Names that say a value is a credential: secret route parameters, and `name=value` pairs in an error's text. */
const CREDENTIAL = /token|secret|passw|pwd|key|code|state|sig|auth|session|cred/i;

/** A parameter name worth keeping in a log; anything else (long, odd characters) may itself be a secret. */
const PLAIN_NAME = /^[A-Za-z][\w.[\]-]{0,39}$/;

/** Tacho's own token shape: a prefix and 256 bits in base64url. Never logged, wherever it turns up. */
const TACHO_TOKEN = /tacho_[A-Za-z0-9_-]{20,}/g;

export const REDACTED = '[redacted]';

/** The URL as it may be logged: path with secret route parameters blanked, query values blanked unless harmless. */
export function loggableUrl(url: string, routePattern?: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const logged = redactPath(path, routePattern);
  return (q === -1 ? logged : `${logged}?${redactQuery(url.slice(q + 1))}`).replace(
    TACHO_TOKEN,
    `tacho_${REDACTED}`,
  );
}

function redactPath(path: string, routePattern: string | undefined): string {
  if (!routePattern?.includes(':')) return path;
  const pattern = routePattern.split('/');
  const segments = path.split('/');
  if (pattern.length !== segments.length) return path;
  return segments
    .map((segment, i) => {
      const name = pattern[i]?.startsWith(':') ? pattern[i]!.slice(1) : null;
      return name !== null && (CREDENTIAL.test(name) || name === 'deviceId') ? REDACTED : segment;
    })
    .join('/');
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      if (!PLAIN_NAME.test(name)) return REDACTED;
      if (eq === -1) return name;
      return LOGGED_QUERY_VALUES.has(name) ? part : `${name}=${REDACTED}`;
    })
    .join('&');
}

/**
 * Free text (an error's message or stack) as it may be logged: a URL it quotes is treated like a logged
 * URL's query, other `name=value` pairs with a credential's name are blanked, and so are Tacho tokens.
 * Errors rarely quote a URL (Fastify's bad-URL error does), but one that does must not carry a token
 * into the log.
 */
export function loggableText(text: string): string {
  return text
    .replace(
      /(\/[^\s'"`?]*)\?([^\s'"`#]*)/g,
      (_whole, path: string, query: string) => `${path}?${redactQuery(query)}`,
    )
    .replace(/\b([\w.-]{1,40})=([^&\s'"`#;),]+)/g, (whole, name: string) =>
      CREDENTIAL.test(name) ? `${name}=${REDACTED}` : whole,
    )
    .replace(TACHO_TOKEN, `tacho_${REDACTED}`);
}
