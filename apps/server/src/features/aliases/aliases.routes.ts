import {
  AliasQuery,
  AliasRegistryList,
  AliasRegistryQuery,
  AliasSeenList,
  AliasView,
  CreateAliasRequest,
  UpdateAliasRequest,
} from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { authSecurity as security } from '../auth/http-auth.js';
import type { Aliases } from './aliases.service.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const tags = ['aliases'];

export function registerAliasRoutes(http: HttpServer, aliases: Aliases): void {
  http.get(
    '/api/v1/aliases',
    {
      schema: {
        tags,
        security,
        summary: 'Aliases known for a make, model and year (registry entries, then built-in catalog ones)',
        querystring: AliasQuery,
        response: { 200: Type.Array(AliasView) },
      },
    },
    async (request) => aliases.list(request.principal, request.query),
  );

  http.get(
    '/api/v1/aliases/registry',
    {
      schema: {
        tags,
        security,
        summary:
          'Registry entries users proposed, each pending (with its confirmations) or applied once enough vehicles confirmed it',
        querystring: AliasRegistryQuery,
        response: { 200: AliasRegistryList },
      },
    },
    async (request) => aliases.registry(request.principal, request.query),
  );

  http.get(
    '/api/v1/aliases/seen',
    {
      schema: {
        tags,
        security,
        summary:
          "VinFast device keys the caller's cars actually sent, per model, with what each is decoded as",
        response: { 200: AliasSeenList },
      },
    },
    async (request) => aliases.seen(request.principal),
  );

  http.post(
    '/api/v1/aliases',
    {
      schema: {
        tags,
        security,
        summary: 'Add a discovered alias, or confirm the identical existing one (201 new, 200 existing)',
        body: CreateAliasRequest,
        response: { 200: AliasView, 201: AliasView },
      },
    },
    async (request, reply) => {
      const { alias, created } = await aliases.add(request.principal, request.body);
      return reply.status(created ? 201 : 200).send(alias);
    },
  );

  http.patch(
    '/api/v1/aliases/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Correct an alias (admin)',
        params: Id,
        body: UpdateAliasRequest,
        response: { 200: AliasView },
      },
    },
    async (request) => aliases.update(request.principal, request.params.id, request.body),
  );

  http.delete(
    '/api/v1/aliases/:id',
    { schema: { tags, security, summary: 'Delete an alias (admin)', params: Id } },
    async (request, reply) => {
      await aliases.remove(request.principal, request.params.id);
      return reply.status(204).send();
    },
  );
}
