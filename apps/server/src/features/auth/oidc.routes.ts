import { AuthProviders, IdentityView, LinkIdentityRequest } from '@tacho/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Clock } from '../../lib/clock.js';
import { NotFound, Unauthorized } from '../../lib/errors.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Audit } from './audit.js';
import { secureCookies, setLoginCookies } from './cookies.js';
import { describeDevice } from './device.js';
import { requirePrincipal, authSecurity as security } from './http-auth.js';
import type { Identities } from './identities.js';
import type { Logins } from './logins.js';
import { OIDC_ATTEMPT_MS, OIDC_COOKIE, OIDC_COOKIE_PATH, OidcRefusal, type OidcSignIn } from './oidc.js';
import { requireScope } from './permissions.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const IdAndIdentity = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  identityId: Type.String({ minLength: 1, maxLength: 64 }),
});

/**
 * Provider sign-in (`/api/v1/auth/oidc/start` → the provider → `/callback`), the login page's provider
 * list, and linked identities: the user's own (Settings → Linked sign-ins) and any user's (admins).
 */
export function registerOidcRoutes(
  http: HttpServer,
  deps: {
    oidc: OidcSignIn | null;
    identities: Identities;
    logins: Logins;
    audit: Audit;
    clock: Clock;
  },
): void {
  const { oidc, identities, logins, audit, clock } = deps;

  const clearAttemptCookie = (request: FastifyRequest, reply: FastifyReply) =>
    reply.clearCookie(OIDC_COOKIE, {
      httpOnly: true,
      sameSite: 'lax',
      secure: secureCookies(request),
      path: OIDC_COOKIE_PATH,
    });
  /** Back to the login page with a reason it shows; the reason is a code, never what the provider sent. */
  const refuse = (request: FastifyRequest, reply: FastifyReply, refusal: OidcRefusal) => {
    audit.log('oidc.refused', { reason: refusal.code, detail: refusal.message, ip: request.ip });
    clearAttemptCookie(request, reply);
    return reply.redirect(`/login?oidc_error=${encodeURIComponent(refusal.code)}`, 302);
  };

  http.get(
    '/api/v1/auth/providers',
    {
      schema: {
        tags: ['auth'],
        summary: 'How one may sign in besides a password: the OpenID provider, and whether it answers',
        response: { 200: AuthProviders },
      },
    },
    async () => {
      oidc?.kick();
      return {
        oidc: oidc
          ? { name: oidc.name, available: oidc.available, startUrl: '/api/v1/auth/oidc/start' }
          : null,
      };
    },
  );

  http.get(
    '/api/v1/auth/oidc/start',
    {
      schema: {
        tags: ['auth'],
        summary:
          'Sign in with the OpenID provider: 302 to it (code + PKCE S256, state and nonce in a short-lived signed cookie). link=1 links it to the signed-in account',
        querystring: Type.Object({
          next: Type.Optional(Type.String({ maxLength: 500 })),
          link: Type.Optional(Type.String({ maxLength: 5 })),
        }),
      },
    },
    async (request, reply) => {
      if (!oidc) throw new NotFound('no OpenID provider is configured', 'oidc_not_configured');
      let linkUserId: string | null = null;
      if (request.query.link === '1') {
        // Linking needs the account's owner, signed in with this browser (a cookie login).
        const principal = request.principal;
        if (principal?.kind !== 'user' || request.authVia !== 'cookie')
          throw new Unauthorized('sign in first to link a provider sign-in to your account');
        linkUserId = principal.userId;
      }
      try {
        const { url, cookie } = await oidc.begin(request.query.next ?? '/', linkUserId);
        reply.setCookie(OIDC_COOKIE, cookie, {
          httpOnly: true,
          sameSite: 'lax',
          secure: secureCookies(request),
          path: OIDC_COOKIE_PATH,
          maxAge: OIDC_ATTEMPT_MS / 1000,
        });
        audit.log('oidc.started', {
          ip: request.ip,
          ...(linkUserId ? { userId: linkUserId, link: true } : {}),
        });
        return reply.redirect(url, 302);
      } catch (error) {
        if (error instanceof OidcRefusal) return refuse(request, reply, error);
        throw error;
      }
    },
  );

  http.get(
    '/api/v1/auth/oidc/callback',
    {
      schema: {
        tags: ['auth'],
        summary: 'Where the OpenID provider sends the browser back; starts a login as a password would',
      },
    },
    async (request, reply) => {
      if (!oidc) throw new NotFound('no OpenID provider is configured', 'oidc_not_configured');
      const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
      try {
        const outcome = await oidc.finish(search, request.cookies[OIDC_COOKIE]);
        clearAttemptCookie(request, reply);
        if (outcome.linked) {
          audit.log('oidc.succeeded', { userId: outcome.user.id, ip: request.ip, linked: true });
          return reply.redirect(outcome.next === '/' ? '/settings' : outcome.next, 302);
        }
        const device = describeDevice(request.headers['user-agent']);
        const login = await logins.start(outcome.user.id, device, request.ip, 'oidc');
        setLoginCookies(request, reply, login, clock);
        audit.log('oidc.succeeded', { userId: outcome.user.id, loginId: login.loginId, ip: request.ip });
        return reply.redirect(outcome.next, 302);
      } catch (error) {
        if (error instanceof OidcRefusal) return refuse(request, reply, error);
        throw error;
      }
    },
  );

  http.get(
    '/api/v1/auth/identities',
    {
      schema: {
        tags: ['auth'],
        security,
        summary: 'Your linked provider sign-ins',
        response: { 200: Type.Array(IdentityView) },
      },
    },
    async (request) => identities.listOwn(requirePrincipal(request)),
  );

  http.delete(
    '/api/v1/auth/identities/:id',
    {
      schema: {
        tags: ['auth'],
        security,
        params: Id,
        summary: 'Unlink one of your provider sign-ins (not your only way in)',
      },
    },
    async (request, reply) => {
      await identities.unlinkOwn(requireScope(requirePrincipal(request), 'write'), request.params.id);
      return reply.status(204).send();
    },
  );

  http.get(
    '/api/v1/users/:id/identities',
    {
      schema: {
        tags: ['users'],
        security,
        params: Id,
        summary: "A user's linked provider identities (admin)",
        response: { 200: Type.Array(IdentityView) },
      },
    },
    async (request) => identities.listFor(requirePrincipal(request), request.params.id),
  );

  http.post(
    '/api/v1/users/:id/identities',
    {
      schema: {
        tags: ['users'],
        security,
        params: Id,
        body: LinkIdentityRequest,
        summary: 'Link a provider identity (issuer, subject) to a user (admin)',
        response: { 201: IdentityView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await identities.linkFor(requirePrincipal(request), request.params.id, request.body)),
  );

  http.delete(
    '/api/v1/users/:id/identities/:identityId',
    {
      schema: {
        tags: ['users'],
        security,
        params: IdAndIdentity,
        summary: "Unlink a user's identity (admin)",
      },
    },
    async (request, reply) => {
      await identities.unlinkFor(requirePrincipal(request), request.params.id, request.params.identityId);
      return reply.status(204).send();
    },
  );
}
