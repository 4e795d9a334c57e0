import {
  Alert,
  AlertDeliveryList,
  AlertPage,
  AlertRule,
  AlertRuleList,
  AlertsQuery,
  AlertTestResult,
  CreateAlertRule,
  UpdateAlertRule,
} from '@tacho/protocol';
import { Type } from 'typebox';
import type { HttpServer } from '../../transports/http/server.js';
import { requirePrincipal, authSecurity as security } from '../auth/http-auth.js';
import type { AlertsService } from './alerts.service.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const tags = ['alerts'];

export function registerAlertRoutes(http: HttpServer, alerts: AlertsService): void {
  http.post(
    '/api/v1/alert-rules',
    {
      schema: {
        tags,
        security,
        body: CreateAlertRule,
        summary: 'Creates an alert rule for a vehicle one manages, or (vehicleId null) for all of them',
        response: { 201: AlertRule },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await alerts.createRule(requirePrincipal(request), request.body)),
  );

  http.get(
    '/api/v1/alert-rules',
    {
      schema: {
        tags,
        security,
        querystring: Type.Object({ vehicleId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }),
        summary: 'The alert rules one owns or that watch a vehicle one may read',
        response: { 200: AlertRuleList },
      },
    },
    async (request) => alerts.listRules(requirePrincipal(request), request.query.vehicleId),
  );

  http.get(
    '/api/v1/alert-rules/:id',
    { schema: { tags, security, params: Id, summary: 'One alert rule', response: { 200: AlertRule } } },
    async (request) => alerts.getRule(requirePrincipal(request), request.params.id),
  );

  http.patch(
    '/api/v1/alert-rules/:id',
    {
      schema: {
        tags,
        security,
        params: Id,
        body: UpdateAlertRule,
        summary: 'Changes a rule (enable or disable it with `enabled`)',
        response: { 200: AlertRule },
      },
    },
    async (request) => alerts.updateRule(requirePrincipal(request), request.params.id, request.body),
  );

  http.delete(
    '/api/v1/alert-rules/:id',
    { schema: { tags, security, params: Id, summary: 'Deletes a rule; its alerts stay in the history' } },
    async (request, reply) => {
      await alerts.deleteRule(requirePrincipal(request), request.params.id);
      return reply.code(204).send();
    },
  );

  http.post(
    '/api/v1/alert-rules/:id/test',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: "Sends one test notification through each of the rule's channels now",
        response: { 200: AlertTestResult },
      },
    },
    async (request) => alerts.testRule(requirePrincipal(request), request.params.id),
  );

  http.get(
    '/api/v1/alerts',
    {
      schema: {
        tags,
        security,
        querystring: AlertsQuery,
        summary: 'Alerts of the vehicles one may read: open and acknowledged first, then newest first',
        response: { 200: AlertPage },
      },
    },
    async (request) => alerts.listAlerts(requirePrincipal(request), request.query),
  );

  http.post(
    '/api/v1/alerts/:id/acknowledge',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: 'Acknowledges an open alert (409 once resolved)',
        response: { 200: Alert },
      },
    },
    async (request) => alerts.acknowledge(requirePrincipal(request), request.params.id),
  );

  http.get(
    '/api/v1/alerts/:id/deliveries',
    {
      schema: {
        tags,
        security,
        params: Id,
        summary: "The alert's notifications and each attempt to send them",
        response: { 200: AlertDeliveryList },
      },
    },
    async (request) => alerts.deliveries(requirePrincipal(request), request.params.id),
  );
}
