import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ExportQuery, ImportQuery, ImportResult, SessionExportQuery } from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import type { ExportService, ExportStream } from './export.service.js';
import { IMPORT_CONTENT_TYPES, ImportFailed, type ImportService } from './import.service.js';
import { ImportProblem } from './import-items.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const tags = ['transfer'];
const IMPORT_ROUTE = '/api/v1/vehicles/:id/import';

export function registerTransferRoutes(
  http: HttpServer,
  exports: ExportService,
  imports: ImportService,
  maxImportBytes: number,
): void {
  const send = (
    reply: { header: (k: string, v: string) => unknown; send: (b: unknown) => unknown },
    out: ExportStream,
  ) => {
    reply.header('content-type', out.contentType);
    reply.header('content-disposition', `attachment; filename="${out.fileName}"`);
    reply.header('cache-control', 'no-store');
    return reply.send(Readable.from(out.body, { objectMode: false, highWaterMark: 256 * 1024 }));
  };

  http.get(
    '/api/v1/vehicles/:id/export',
    {
      schema: {
        tags,
        security,
        params: Id,
        querystring: ExportQuery,
        summary: "Exports a vehicle's samples over a range as CSV, NDJSON, GPX or GeoJSON, streamed",
        description:
          'Anyone who may read the vehicle. `from`/`to`: epoch ms or ISO-8601 (default: everything until now). ' +
          'CSV: `ts_iso,ts_ms,lat,lon,alt_m,<metric>…` (RFC 4180, formula-escaped strings), in the units of ' +
          "the user's setting with the unit in each column's name (`speed_mph`, `outside_temp_f`), or as " +
          'stored with `units=stored`; NDJSON: native messages the telemetry route accepts (canonical units, ' +
          're-imports losslessly); GPX 1.1: one track for the range, speed and battery level in the ' +
          '`urn:tacho:gpx:1` extension; GeoJSON: a FeatureCollection of the sessions in the range, its stats ' +
          'in canonical units named with them. One export per user at a time (429).',
      },
    },
    async (request, reply) =>
      send(reply, await exports.vehicle(requirePrincipal(request), request.params.id, request.query)),
  );

  http.get(
    '/api/v1/sessions/:id/export',
    {
      schema: {
        tags,
        security,
        params: Id,
        querystring: SessionExportQuery,
        summary: "Exports one session's samples as CSV, NDJSON, GPX or GeoJSON, streamed",
        description:
          "As the vehicle's export: CSV in the user's units unless `units=stored`; the other formats canonical.",
      },
    },
    async (request, reply) =>
      send(reply, await exports.session(requirePrincipal(request), request.params.id, request.query)),
  );

  // The import reads its body itself, as it streams: every content type reaches the route, which checks
  // it against the format (415) once it knows who sends it and for which vehicle.
  http.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.post(
      IMPORT_ROUTE,
      {
        schema: {
          tags,
          security,
          params: Id,
          querystring: ImportQuery,
          summary: 'Imports a GPX, GeoJSON, NDJSON or CSV file into a vehicle (the file is the body)',
          description:
            'Who manages the vehicle. Streamed up to TACHO_MAX_IMPORT_BYTES (413 beyond). Points go through ' +
            'the ingestion pipeline (validation, de-duplication, dead letters); each GPX track or route, ' +
            'GeoJSON LineString, or run of CSV/NDJSON points without a 15-minute gap becomes a manual session. ' +
            'Waypoints become raw events. Malformed files, XML bombs, a body whose Content-Type does not fit ' +
            'the format (415): an error naming the problem and saying what was stored before it.',
          response: { 200: ImportResult },
        },
      },
      async (request) => {
        const actor = requirePrincipal(request);
        const { format, name } = request.query;
        const body = request.body as (NodeJS.ReadableStream & AsyncIterable<Buffer>) | undefined;
        try {
          await imports.authorize(actor, request.params.id);
          const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
          const accepted = IMPORT_CONTENT_TYPES[format];
          if (!accepted.includes(type))
            throw new ImportProblem(
              415,
              'unsupported_media_type',
              `format ${format} takes Content-Type ${accepted.join(', ')}; got ${type === '' ? 'none' : type.slice(0, 80)}`,
            );
          const declared = Number(request.headers['content-length']);
          if (declared > maxImportBytes)
            throw new ImportProblem(
              413,
              'payload_too_large',
              `the file is ${declared} bytes, the limit is ${maxImportBytes} (TACHO_MAX_IMPORT_BYTES)`,
            );
          if (!body)
            throw new ImportProblem(400, 'empty', 'the request has no body: send the file as the body');
          return await imports.run(actor, request.params.id, format, body, {
            ...(name ? { name } : {}),
            route: IMPORT_ROUTE,
          });
        } catch (error) {
          // What was not read is read and dropped, so the client gets the answer instead of a broken pipe.
          body?.resume();
          if (error instanceof ImportProblem)
            throw new ImportFailed(error, {
              stored: 0,
              duplicates: 0,
              rejected: 0,
              reasons: [],
              sessionsCreated: 0,
              sessionIds: [],
              events: 0,
              bytes: 0,
            });
          throw error;
        }
      },
    );
  });
}
