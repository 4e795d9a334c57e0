import { RawScan, SamplesQuery, SamplesResponse, Track, TrackQuery, VehicleState } from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import type { ReadingsService } from './readings.service.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const tags = ['readings'];

export function registerReadingRoutes(http: HttpServer, readings: ReadingsService): void {
  http.get(
    '/api/v1/vehicles/:id/state',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'Latest value of every metric, last position, and online/asleep/offline',
        response: { 200: VehicleState },
      },
    },
    async (request) => readings.state(requirePrincipal(request), request.params.id),
  );

  http.get(
    '/api/v1/vehicles/:id/samples',
    {
      schema: {
        tags,
        security,
        params: Id,
        querystring: SamplesQuery,
        summary:
          'History of a time range: with maxPoints, one downsampled series per metric (LTTB over raw samples or minute/hour rollups); without, the samples a page at a time',
        response: { 200: SamplesResponse },
      },
    },
    async (request) => readings.samples(requirePrincipal(request), request.params.id, request.query),
  );

  http.get(
    '/api/v1/vehicles/:id/raw',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary:
          'Deep scan: every device key ever seen with its last value and mapping, grouped by object id',
        response: { 200: RawScan },
      },
    },
    async (request) => readings.raw(requirePrincipal(request), request.params.id),
  );

  http.get(
    '/api/v1/vehicles/:id/track',
    {
      schema: {
        tags,
        security,
        params: Id,
        querystring: TrackQuery,
        summary: 'Positions of a time range as a GeoJSON LineString with the time of each point',
        response: { 200: Track },
      },
    },
    async (request) => readings.track(requirePrincipal(request), request.params.id, request.query),
  );
}
