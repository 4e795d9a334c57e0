import {
  CreatedToken,
  CreateOwnVehicleRequest,
  CreateVehicleRequest,
  CreateVehicleTokenRequest,
  ShareVehicleRequest,
  TokenView,
  UnshareVehicleRequest,
  UpdateVehicleRequest,
  VehicleAccessView,
  VehicleView,
} from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import { toVehicleView, type Vehicles } from './vehicles.service.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const IdAndUser = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  userId: Type.String({ minLength: 1, maxLength: 64 }),
});
const IdAndToken = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  tokenId: Type.String({ minLength: 1, maxLength: 64 }),
});
const tags = ['vehicles'];

export function registerVehicleRoutes(http: HttpServer, vehicles: Vehicles): void {
  http.get(
    '/api/v1/vehicles',
    {
      schema: {
        tags,
        security,
        summary: 'The vehicles the caller may see',
        response: { 200: Type.Array(VehicleView) },
      },
    },
    async (request) => (await vehicles.list(requirePrincipal(request))).map(toVehicleView),
  );

  http.post(
    '/api/v1/vehicles',
    {
      schema: {
        tags,
        security,
        summary: 'Add a vehicle owned by the caller (operator or admin)',
        body: CreateVehicleRequest,
        response: { 201: VehicleView },
      },
    },
    async (request, reply) => {
      const vehicle = await vehicles.create(requirePrincipal(request), request.body);
      return reply.status(201).send(toVehicleView(vehicle));
    },
  );

  http.post(
    '/api/v1/me/vehicles',
    {
      schema: {
        tags,
        security,
        summary:
          "The caller's own vehicle of this kind and name (a phone app's first post): 201 when made now, 200 when it exists",
        body: CreateOwnVehicleRequest,
        response: { 200: VehicleView, 201: VehicleView },
      },
    },
    async (request, reply) => {
      const { vehicle, created } = await vehicles.createOwn(requirePrincipal(request), request.body);
      return reply.status(created ? 201 : 200).send(toVehicleView(vehicle));
    },
  );

  http.get(
    '/api/v1/vehicles/:id',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'The vehicle, with how many of its messages were refused and the last reason',
        response: { 200: VehicleView },
      },
    },
    async (request) => {
      const { vehicle, refusals } = await vehicles.getWithRefusals(
        requirePrincipal(request),
        request.params.id,
      );
      return { ...toVehicleView(vehicle), refusals };
    },
  );

  http.patch(
    '/api/v1/vehicles/:id',
    { schema: { tags, security, params: Id, body: UpdateVehicleRequest, response: { 200: VehicleView } } },
    async (request) =>
      toVehicleView(await vehicles.update(requirePrincipal(request), request.params.id, request.body)),
  );

  http.delete(
    '/api/v1/vehicles/:id',
    { schema: { tags, security, params: Id, summary: 'Delete a vehicle and all its data (owner or admin)' } },
    async (request, reply) => {
      await vehicles.delete(requirePrincipal(request), request.params.id);
      return reply.status(204).send();
    },
  );

  http.get(
    '/api/v1/vehicles/:id/access',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'Who the vehicle is shared with',
        response: { 200: Type.Array(VehicleAccessView) },
      },
    },
    async (request) => vehicles.listAccess(requirePrincipal(request), request.params.id),
  );

  http.post(
    '/api/v1/vehicles/:id/access',
    {
      schema: {
        tags,
        security,
        params: Id,
        body: ShareVehicleRequest,
        summary: 'Share the vehicle with a user',
        response: { 200: VehicleAccessView },
      },
    },
    async (request) => vehicles.share(requirePrincipal(request), request.params.id, request.body),
  );

  http.delete(
    '/api/v1/vehicles/:id/access',
    {
      schema: {
        tags,
        security,
        params: Id,
        body: UnshareVehicleRequest,
        summary: "End a user's access to the vehicle, naming them by email as when sharing",
      },
    },
    async (request, reply) => {
      await vehicles.unshareByEmail(requirePrincipal(request), request.params.id, request.body.email);
      return reply.status(204).send();
    },
  );

  http.delete(
    '/api/v1/vehicles/:id/access/:userId',
    { schema: { tags, security, params: IdAndUser, summary: "End a user's access to the vehicle" } },
    async (request, reply) => {
      await vehicles.unshare(requirePrincipal(request), request.params.id, request.params.userId);
      return reply.status(204).send();
    },
  );

  http.post(
    '/api/v1/vehicles/:id/tokens',
    {
      // The body is optional: a bare POST gets a token with a default name.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags,
        security,
        params: Id,
        body: CreateVehicleTokenRequest,
        summary:
          'Create a device token: publishes telemetry for this vehicle only; MQTT password with username = VIN',
        response: { 201: CreatedToken },
      },
    },
    async (request, reply) => {
      const created = await vehicles.createToken(
        requirePrincipal(request),
        request.params.id,
        request.body.name,
      );
      return reply.status(201).send(created);
    },
  );

  http.get(
    '/api/v1/vehicles/:id/tokens',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: "The vehicle's device tokens",
        response: { 200: Type.Array(TokenView) },
      },
    },
    async (request) => vehicles.listTokens(requirePrincipal(request), request.params.id),
  );

  http.delete(
    '/api/v1/vehicles/:id/tokens/:tokenId',
    { schema: { tags, security, params: IdAndToken, summary: 'Revoke a device token' } },
    async (request, reply) => {
      await vehicles.revokeToken(requirePrincipal(request), request.params.id, request.params.tokenId);
      return reply.status(204).send();
    },
  );
}
