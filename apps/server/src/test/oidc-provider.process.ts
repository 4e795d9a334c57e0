/**
 * A real OpenID provider for the tests (the `oidc-provider` package), run as its own process on
 * loopback: `node --import tsx oidc-provider.process.ts` with
 * - OIDC_PORT: the port (the issuer is http://127.0.0.1:<port>);
 * - OIDC_KEYS: a JSON file with `{"keys":[private JWK, …]}`; the first key signs. Restarting the process
 *   with another file rotates the keys;
 * - OIDC_CLIENTS: JSON array of client metadata (client_id, client_secret or none, redirect_uris);
 * - OIDC_ACCOUNTS: JSON object of sub → claims (email, email_verified, name, groups). An unknown login
 *   name signs in as that sub with no other claims.
 * The login page is a plain form (`login` field, "Sign in" button); consent is implied.
 * It prints `oidc-provider ready <issuer>` once it listens.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Provider, { type Configuration } from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(readFileSync(process.env.OIDC_KEYS ?? '', 'utf8')) as Configuration['jwks'];
const clients = JSON.parse(process.env.OIDC_CLIENTS ?? '[]') as Configuration['clients'];
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS ?? '{}') as Record<string, Record<string, unknown>>;

const configuration: Configuration = {
  clients,
  jwks,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Claims go into the ID token itself, as most providers put them (Keycloak, Authentik, Google).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['test provider cookie key'] },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, ...(accounts[sub] ?? {}) };
      },
    };
  },
  // Consent is implied: every client gets the scopes it asks for.
  async loadExistingGrant(ctx) {
    const accountId = ctx.oidc.session?.accountId;
    const clientId = ctx.oidc.client?.clientId;
    if (!accountId || !clientId) return undefined;
    const grant = new ctx.oidc.provider.Grant({ clientId, accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  ttl: {
    IdToken: 600,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST') {
    const login = ((await readForm(req)).get('login') ?? '').trim();
    if (login === '') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('login required');
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: login } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
    `<!doctype html><title>Test provider</title><h1>Test provider: sign in</h1>
<form method="post" action="/interaction/${details.uid}">
<label>Login <input name="login" autofocus></label> <button type="submit">Sign in</button></form>`,
  );
}

const server = createServer((req, res) => {
  if (req.url?.startsWith('/interaction/')) {
    interaction(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
