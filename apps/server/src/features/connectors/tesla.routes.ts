import {
  AddTeslaVehicle,
  TeslaAccountList,
  TeslaFinish,
  TeslaSignInOutcome,
  TeslaStart,
  TeslaVehicleList,
} from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import type { TeslaService } from './tesla.service.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const tags = ['connectors'];
const Short = Type.Optional(Type.String({ maxLength: 2048 }));

/** The Tesla connector's routes; `callbackPath` is the redirect URI registered at Tesla. */
export const TESLA_CALLBACK_PATH = '/api/v1/connectors/tesla/callback';

export function registerTeslaRoutes(http: HttpServer, tesla: TeslaService, publicUrl: string): void {
  http.get(
    '/api/v1/connectors/tesla/start',
    {
      schema: {
        tags,
        security,
        summary: "Starts a Tesla sign-in: Tesla's authorize URL (code + PKCE), bound to the signed-in user",
        response: { 200: TeslaStart },
      },
    },
    async (request) => tesla.start(requirePrincipal(request), `${publicUrl}${TESLA_CALLBACK_PATH}`),
  );

  http.get(
    TESLA_CALLBACK_PATH,
    {
      schema: {
        tags,
        summary:
          'Where Tesla sends the browser back; redirects to Settings → Connected accounts with the outcome',
        querystring: Type.Object({
          code: Short,
          state: Short,
          error: Short,
          error_description: Short,
          issuer: Short,
        }),
      },
    },
    async (request, reply) => {
      const { code, state, error } = request.query;
      const page = await tesla.callback(request.principal, { code, state, error });
      // The code must not stay in the browser's history or reach the page's referrer.
      reply.header('referrer-policy', 'no-referrer');
      return reply.redirect(page, 302);
    },
  );

  http.post(
    '/api/v1/connectors/tesla/finish',
    {
      schema: {
        tags,
        security,
        body: TeslaFinish,
        summary:
          'Finishes a sign-in whose browser came back from Tesla signed out (after renewing its login)',
        response: { 200: TeslaSignInOutcome },
      },
    },
    async (request) => tesla.finish(requirePrincipal(request), request.body),
  );

  http.get(
    '/api/v1/connectors/tesla/accounts',
    {
      schema: {
        tags,
        security,
        summary: "Tesla accounts one connected (an admin: everyone's), with state and requests used today",
        response: { 200: TeslaAccountList },
      },
    },
    async (request) => tesla.list(requirePrincipal(request)),
  );

  http.get(
    '/api/v1/connectors/tesla/accounts/:id/vehicles',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: "The account's vehicles at Tesla (a request that wakes none), and which are Tacho vehicles",
        response: { 200: TeslaVehicleList },
      },
    },
    async (request) => tesla.vehicles(requirePrincipal(request), request.params.id),
  );

  http.post(
    '/api/v1/connectors/tesla/accounts/:id/vehicles',
    {
      schema: {
        tags,
        security,
        params: Id,
        body: AddTeslaVehicle,
        summary: "Adds one of the account's vehicles as a Tacho vehicle (make Tesla, its VIN) and polls it",
        response: { 201: Type.Object({ vehicleId: Type.String() }, { additionalProperties: false }) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await tesla.addVehicle(requirePrincipal(request), request.params.id, request.body.vin)),
  );

  http.delete(
    '/api/v1/connectors/tesla/accounts/:id',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'Disconnects the account: its tokens are deleted; its Tacho vehicles and their data stay',
      },
    },
    async (request, reply) => {
      await tesla.disconnect(requirePrincipal(request), request.params.id);
      return reply.code(204).send();
    },
  );
}
