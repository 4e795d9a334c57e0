import {
  ProcessingStatus,
  SamplesResponse,
  Session,
  SessionPage,
  SessionSamplesQuery,
  SessionSettingsUpdate,
  SessionSettingsView,
  SessionsQuery,
  SessionTrack,
  StartRecording,
} from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import type { SessionsService } from './sessions.service.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const tags = ['sessions'];

export function registerSessionRoutes(http: HttpServer, sessions: SessionsService): void {
  http.get(
    '/api/v1/vehicles/:id/sessions',
    {
      schema: {
        tags,
        security,
        params: Id,
        querystring: SessionsQuery,
        summary: "A vehicle's drives, charges and recordings, newest first, a page at a time",
        response: { 200: SessionPage },
      },
    },
    async (request) => sessions.listForVehicle(requirePrincipal(request), request.params.id, request.query),
  );

  http.post(
    '/api/v1/vehicles/:id/sessions',
    {
      schema: {
        tags,
        security,
        params: Id,
        body: StartRecording,
        summary: 'Starts a manual recording (409 while one is running)',
        response: { 201: Session },
      },
    },
    async (request, reply) => {
      const session = await sessions.start(requirePrincipal(request), request.params.id, request.body);
      return reply.code(201).send(session);
    },
  );

  http.get(
    '/api/v1/vehicles/:id/session-settings',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: "The vehicle's drive and charge detection settings, and the defaults",
        response: { 200: SessionSettingsView },
      },
    },
    async (request) => sessions.settings(requirePrincipal(request), request.params.id),
  );

  http.put(
    '/api/v1/vehicles/:id/session-settings',
    {
      schema: {
        tags,
        security,
        params: Id,
        body: SessionSettingsUpdate,
        summary:
          "Sets the vehicle's own detection settings ({} = the defaults); its sessions are derived again",
        response: { 200: SessionSettingsView },
      },
    },
    async (request) => sessions.setSettings(requirePrincipal(request), request.params.id, request.body),
  );

  http.get(
    '/api/v1/sessions',
    {
      schema: {
        tags,
        security,
        querystring: SessionsQuery,
        summary: 'Sessions of every vehicle the caller may see, newest first',
        response: { 200: SessionPage },
      },
    },
    async (request) => sessions.listAll(requirePrincipal(request), request.query),
  );

  http.get(
    '/api/v1/sessions/:id',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'One session with its stats',
        response: { 200: Session },
      },
    },
    async (request) => sessions.get(requirePrincipal(request), request.params.id),
  );

  http.get(
    '/api/v1/sessions/:id/track',
    {
      schema: {
        tags,
        security,
        params: Id,
        querystring: Type.Object({
          maxPoints: Type.Optional(Type.Integer({ minimum: 2, maximum: 10_000 })),
        }),
        summary: "The session's track as a GeoJSON Feature, simplified (Douglas–Peucker) to maxPoints",
        response: { 200: SessionTrack },
      },
    },
    async (request) => sessions.track(requirePrincipal(request), request.params.id, request.query.maxPoints),
  );

  http.get(
    '/api/v1/sessions/:id/samples',
    {
      schema: {
        tags,
        security,
        params: Id,
        querystring: SessionSamplesQuery,
        summary: "The session's series, downsampled, as the history endpoint returns them",
        response: { 200: SamplesResponse },
      },
    },
    async (request) => sessions.samples(requirePrincipal(request), request.params.id, request.query),
  );

  http.post(
    '/api/v1/sessions/:id/stop',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'Stops a manual recording (409 unless it is running)',
        response: { 200: Session },
      },
    },
    async (request) => sessions.stop(requirePrincipal(request), request.params.id),
  );

  http.delete(
    '/api/v1/sessions/:id',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'Deletes the session and the samples inside it (who manages the vehicle)',
      },
    },
    async (request, reply) => {
      await sessions.delete(requirePrincipal(request), request.params.id);
      return reply.code(204).send();
    },
  );

  http.get(
    '/api/v1/admin/processing',
    {
      schema: {
        tags,
        security,
        summary: 'After-commit processing: backlog and the vehicles a processor is failing on (admins)',
        response: { 200: ProcessingStatus },
      },
    },
    async (request) => sessions.processingStatus(requirePrincipal(request)),
  );
}
