import {
  AddedVinFastVehicle,
  AddVinFastVehicle,
  ConnectVinFast,
  VinFastAccount,
  VinFastAccountList,
  VinFastVehicleList,
} from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import type { VinFastService } from './vinfast.service.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const tags = ['connectors'];

/** The VinFast connector's routes (issue 22). */
/** `onChanged`: an account or its vehicles changed, so the runtime reads its leases again. */
export function registerVinFastRoutes(
  http: HttpServer,
  vinfast: VinFastService,
  onChanged: () => void,
): void {
  http.post(
    '/api/v1/connectors/vinfast/accounts',
    {
      schema: {
        tags,
        security,
        body: ConnectVinFast,
        summary:
          "Signs in at VinFast with the account's email and password (the password is passed on, never stored) and keeps its tokens",
        response: { 201: VinFastAccount },
      },
    },
    async (request, reply) => {
      const account = await vinfast.connect(requirePrincipal(request), request.body);
      // A new sign-in of a known account restarts its stream at once.
      onChanged();
      return reply.code(201).send(account);
    },
  );

  http.get(
    '/api/v1/connectors/vinfast/accounts',
    {
      schema: {
        tags,
        security,
        summary:
          "VinFast accounts one connected (an admin: everyone's), with their state and live connection",
        response: { 200: VinFastAccountList },
      },
    },
    async (request) => vinfast.list(requirePrincipal(request)),
  );

  http.get(
    '/api/v1/connectors/vinfast/accounts/:id/vehicles',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: "The account's vehicles at VinFast, and which are Tacho vehicles",
        response: { 200: VinFastVehicleList },
      },
    },
    async (request) => vinfast.vehicles(requirePrincipal(request), request.params.id),
  );

  http.post(
    '/api/v1/connectors/vinfast/accounts/:id/vehicles',
    {
      schema: {
        tags,
        security,
        params: Id,
        body: AddVinFastVehicle,
        summary:
          "Adds one of the account's vehicles as a Tacho vehicle (make VinFast, model and year from VinFast)",
        response: { 201: AddedVinFastVehicle },
      },
    },
    async (request, reply) => {
      const added = await vinfast.addVehicle(requirePrincipal(request), request.params.id, request.body.vin);
      onChanged();
      return reply.code(201).send(added);
    },
  );

  http.delete(
    '/api/v1/connectors/vinfast/accounts/:id',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'Disconnects the account: its tokens are deleted; its Tacho vehicles and their data stay',
      },
    },
    async (request, reply) => {
      await vinfast.disconnect(requirePrincipal(request), request.params.id);
      return reply.code(204).send();
    },
  );
}
