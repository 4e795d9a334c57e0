import { CreatedToken, CreateTokenRequest, TokenView } from '@tacho/protocol';
import { Type } from 'typebox';
import type { Clock } from '../../lib/clock.js';
import { Forbidden, Invalid } from '../../lib/errors.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { ApiTokens } from './api-tokens.js';
import { requirePrincipal, authSecurity as security } from './http-auth.js';
import { hasScope, isAdmin, requireScope, requireUser } from './permissions.js';

const DAY_MS = 86_400_000;
const tags = ['tokens'];

/** API tokens for scripts and the CLI: `Authorization: Bearer tacho_…`. */
export function registerTokenRoutes(http: HttpServer, tokens: ApiTokens, clock: Clock): void {
  http.post(
    '/api/v1/tokens',
    {
      schema: {
        tags,
        security,
        summary: 'Create an API token; the secret is in this reply only',
        body: CreateTokenRequest,
        response: { 201: CreatedToken },
      },
    },
    async (request, reply) => {
      // Minting tokens is itself a write; a token cannot mint one with more rights than its own.
      const user = requireScope(requirePrincipal(request), 'write');
      const { name, scopes, vehicleIds, expiresInDays } = request.body;
      if (scopes.includes('admin') && !isAdmin(user))
        throw new Forbidden('only an admin may create admin tokens');
      if (scopes.some((scope) => !hasScope(user, scope)))
        throw new Forbidden('a token cannot grant scopes it does not have', 'insufficient_scope');
      const narrowed = user.vehicleIds
        ? (vehicleIds ?? user.vehicleIds).filter((id) => user.vehicleIds?.includes(id))
        : vehicleIds;
      const created = await tokens.create({
        userId: user.userId,
        name: name.trim(),
        scopes,
        ...(narrowed ? { vehicleIds: narrowed } : {}),
        ...(expiresInDays ? { expiresMs: clock.now() + expiresInDays * DAY_MS } : {}),
      });
      return reply.status(201).send(created);
    },
  );

  http.get(
    '/api/v1/tokens',
    {
      schema: {
        tags,
        security,
        summary: "The caller's live tokens",
        response: { 200: Type.Array(TokenView) },
      },
    },
    async (request) => tokens.listForUser(requireScope(requirePrincipal(request), 'read').userId),
  );

  http.delete(
    '/api/v1/tokens/current',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke the token this request carries (`tacho logout`)',
      },
    },
    async (request, reply) => {
      const user = requireUser(requirePrincipal(request));
      if (user.tokenId === undefined)
        throw new Invalid('this request carries no API token: log out of a browser with /api/v1/auth/logout');
      await tokens.revoke({ userId: user.userId, admin: false }, user.tokenId);
      return reply.status(204).send();
    },
  );

  http.delete(
    '/api/v1/tokens/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke a token',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
      },
    },
    async (request, reply) => {
      const user = requireScope(requirePrincipal(request), 'write');
      await tokens.revoke({ userId: user.userId, admin: isAdmin(user) }, request.params.id);
      return reply.status(204).send();
    },
  );
}
