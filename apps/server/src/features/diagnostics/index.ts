import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { authSecurity as security } from '../auth/http-auth.js';
import { requireScope } from '../auth/index.js';
import { listPids } from '../formats/index.js';

const PidView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  pid: Type.String(),
  unit: Type.String(),
  min: Type.Optional(Type.Number()),
  max: Type.Optional(Type.Number()),
  states: Type.Optional(Type.Array(Type.String())),
  metric: Type.Optional(Type.String()),
});

/** Diagnostics: the OBD-II PID catalog (SAE J1979 mode 01 via the OBDb signal set, CC BY-SA 4.0). */
export function createDiagnostics(deps: { http: HttpServer }): void {
  deps.http.get(
    '/api/v1/diagnostics/pids',
    {
      schema: {
        tags: ['diagnostics'],
        security,
        summary: 'Every OBD-II mode 01 signal Tacho decodes, with its unit and canonical metric',
        response: { 200: Type.Object({ attribution: Type.String(), pids: Type.Array(PidView) }) },
      },
    },
    async (request) => {
      // People and their API tokens; a device token may only publish (the route table holds every route
      // to that), even where what it would read is not about any vehicle.
      requireScope(request.principal, 'read');
      return {
        attribution: 'OBD-II signal definitions: OBDb contributors (github.com/OBDb/SAEJ1979), CC BY-SA 4.0',
        pids: [...listPids()],
      };
    },
  );
}
