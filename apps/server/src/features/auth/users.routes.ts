import { CreateUserRequest, UpdateUserRequest, UserView } from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from './http-auth.js';
import type { Users } from './users.js';

const tags = ['users'];
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** User management: admins only. */
export function registerUserRoutes(http: HttpServer, users: Users): void {
  http.get(
    '/api/v1/users',
    { schema: { tags, security, summary: 'Every user (admin)', response: { 200: Type.Array(UserView) } } },
    async (request) => users.list(requirePrincipal(request)),
  );

  http.post(
    '/api/v1/users',
    {
      schema: {
        tags,
        security,
        summary: 'Create a user (admin)',
        body: CreateUserRequest,
        response: { 201: UserView },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await users.create(requirePrincipal(request), request.body)),
  );

  http.patch(
    '/api/v1/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Rename, change role, disable/enable or reset the password of a user (admin)',
        params: Id,
        body: UpdateUserRequest,
        response: { 200: UserView },
      },
    },
    async (request) => users.update(requirePrincipal(request), request.params.id, request.body),
  );

  http.delete(
    '/api/v1/users/:id',
    { schema: { tags, security, summary: 'Delete a user with the vehicles they own (admin)', params: Id } },
    async (request, reply) => {
      await users.delete(requirePrincipal(request), request.params.id);
      return reply.status(204).send();
    },
  );
}
