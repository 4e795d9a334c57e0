import {
  FirstStartStatus,
  LoginRequest,
  LoginView,
  PasswordChangeRequest,
  SessionView,
  SetupRequest,
  SetupStatus,
  SignupRequest,
  UnitPreferences,
  UserView,
} from '@tacho/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Config } from '../../config.js';
import type { User } from '../../db/index.js';
import type { LoginMethod } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { Forbidden, Unauthorized } from '../../lib/errors.js';
import type { HttpServer } from '../../transports/http/server.js';
import type { Audit } from './audit.js';
import { clearLoginCookies, setLoginCookies } from './cookies.js';
import { describeDevice } from './device.js';
import { REFRESH_COOKIE, requirePrincipal, authSecurity as security } from './http-auth.js';
import type { Logins } from './logins.js';
import type { PasswordCheck } from './password-check.js';
import type { PasswordHasher } from './password-hasher.js';
import { requireScope } from './permissions.js';
import type { FirstStart } from './setup.js';
import { toUserView, type Users } from './users.js';

export interface AuthRouteDeps {
  config: Config;
  clock: Clock;
  users: Users;
  logins: Logins;
  passwords: PasswordCheck;
  hasher: PasswordHasher;
  firstStart: FirstStart;
  audit: Audit;
}

const tags = ['auth'];

/** Browser logins with cookies, first-start setup, sign-up, and the user's own account. */
export function registerAuthRoutes(http: HttpServer, deps: AuthRouteDeps): void {
  const { config, clock, users, logins, passwords, hasher, firstStart, audit } = deps;

  async function startLogin(
    request: FastifyRequest,
    reply: FastifyReply,
    user: User,
    method: LoginMethod = 'password',
  ) {
    const device = describeDevice(request.headers['user-agent']);
    const login = await logins.start(user.id, device, request.ip, method);
    setLoginCookies(request, reply, login, clock);
    return { user: toUserView(user), accessExpiresMs: login.access.expiresMs };
  }

  http.post(
    '/api/v1/auth/login',
    {
      schema: {
        tags,
        summary: 'Log in with email and password; sets the tacho_access and tacho_refresh cookies',
        body: LoginRequest,
        response: { 200: SessionView },
      },
    },
    async (request, reply) => {
      const user = await passwords.check(request.body.email, request.body.password, request.ip);
      const session = await startLogin(request, reply, user);
      audit.log('login.succeeded', { userId: user.id, ip: request.ip });
      return session;
    },
  );

  http.post(
    '/api/v1/auth/refresh',
    {
      schema: {
        tags,
        summary: 'Exchange the refresh cookie for new cookies (each refresh token works once)',
        response: { 200: SessionView },
      },
    },
    async (request, reply) => {
      const token = request.cookies[REFRESH_COOKIE];
      const issued = token ? await logins.refresh(token, request.ip) : null;
      const user = issued ? await users.byId(issued.userId) : undefined;
      if (!issued || !user) {
        // The cookies are left alone: this request may carry a stale cookie while a concurrent answer (a
        // password change, another tab's login) has just set fresh ones, which clearing here would wipe.
        throw new Unauthorized('the login has ended: log in again', 'login_ended');
      }
      setLoginCookies(request, reply, issued, clock);
      return { user: toUserView(user), accessExpiresMs: issued.access.expiresMs };
    },
  );

  http.post(
    '/api/v1/auth/logout',
    { schema: { tags, summary: 'End this login and clear its cookies' } },
    async (request, reply) => {
      const token = request.cookies[REFRESH_COOKIE];
      const fromRefresh = token ? await logins.loginOfRefreshToken(token) : null;
      const principal = request.principal;
      const login =
        fromRefresh ??
        (principal?.kind === 'user' && principal.loginId
          ? { loginId: principal.loginId, userId: principal.userId }
          : null);
      if (login) await logins.end(login.loginId, login.userId, 'logout');
      clearLoginCookies(request, reply);
      return reply.status(204).send();
    },
  );

  http.get(
    '/api/v1/auth/me',
    { schema: { tags, security, summary: 'The user behind this request', response: { 200: UserView } } },
    async (request) => {
      const principal = requireScope(requirePrincipal(request), 'read');
      const user = await users.byId(principal.userId);
      if (!user) throw new Unauthorized();
      return toUserView(user);
    },
  );

  http.get(
    '/api/v1/auth/me/preferences',
    {
      schema: {
        tags,
        security,
        summary: 'The units the user reads values in (the dashboard converts; data stays canonical)',
        response: { 200: UnitPreferences },
      },
    },
    async (request) => {
      const principal = requireScope(requirePrincipal(request), 'read');
      return users.preferences(principal.userId);
    },
  );

  http.put(
    '/api/v1/auth/me/preferences',
    {
      schema: {
        tags,
        security,
        summary: 'Choose the units to read values in: km or mi, °C or °F, kPa, bar or psi',
        body: UnitPreferences,
        response: { 200: UnitPreferences },
      },
    },
    async (request) => {
      const principal = requireScope(requirePrincipal(request), 'write');
      await users.setPreferences(principal.userId, request.body, clock.now());
      return request.body;
    },
  );

  http.get(
    '/api/v1/auth/logins',
    {
      schema: {
        tags,
        security,
        summary: "The user's active logins",
        response: { 200: Type.Array(LoginView) },
      },
    },
    async (request) => {
      const principal = requireScope(requirePrincipal(request), 'read');
      return logins.list(principal.userId, principal.loginId);
    },
  );

  http.delete(
    '/api/v1/auth/logins/:id',
    {
      schema: {
        tags,
        security,
        summary: 'End one of your logins',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
      },
    },
    async (request, reply) => {
      const principal = requireScope(requirePrincipal(request), 'write');
      await logins.endOwn(principal.userId, request.params.id);
      if (request.params.id === principal.loginId) clearLoginCookies(request, reply);
      return reply.status(204).send();
    },
  );

  http.delete(
    '/api/v1/auth/logins',
    { schema: { tags, security, summary: 'Log out everywhere: end every login of yours, this one too' } },
    async (request, reply) => {
      const principal = requireScope(requirePrincipal(request), 'write');
      await logins.endAll(principal.userId, 'logged_out_everywhere');
      clearLoginCookies(request, reply);
      return reply.status(204).send();
    },
  );

  http.post(
    '/api/v1/auth/password',
    {
      schema: {
        tags,
        security,
        summary: 'Change your password; every login ends, this browser gets a fresh one',
        body: PasswordChangeRequest,
        response: { 200: SessionView },
      },
    },
    async (request, reply) => {
      const principal = requireScope(requirePrincipal(request), 'write');
      const user = await users.byId(principal.userId);
      if (!user) throw new Unauthorized();
      await passwords.confirm(user, request.body.currentPassword, request.ip);
      await users.setPasswordHash(user.id, await hasher.hash(request.body.newPassword));
      await logins.endAll(user.id, 'password_changed');
      audit.log('password.changed', { userId: user.id });
      if (request.authVia === 'cookie') return startLogin(request, reply, user);
      return { user: toUserView(user) };
    },
  );

  http.get(
    '/api/v1/auth/setup',
    {
      schema: {
        tags,
        summary: 'Whether the server waits for its first admin (no user exists yet); anyone may ask',
        response: { 200: FirstStartStatus },
      },
    },
    async () => ({ needed: await firstStart.needed() }),
  );

  http.get(
    '/api/v1/auth/setup/:token',
    {
      schema: {
        tags,
        summary: 'Whether a first-start setup link is still valid',
        params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: { 200: SetupStatus },
      },
    },
    async (request) => ({ valid: await firstStart.isValid(request.params.token) }),
  );

  http.post(
    '/api/v1/auth/setup',
    {
      schema: {
        tags,
        summary: 'Create the first admin with the one-time setup token; logs them in',
        body: SetupRequest,
        response: { 201: SessionView },
      },
    },
    async (request, reply) => {
      const admin = await firstStart.complete(request.body);
      const session = await startLogin(request, reply, admin, 'setup');
      return reply.status(201).send(session);
    },
  );

  http.post(
    '/api/v1/auth/signup',
    {
      schema: {
        tags,
        summary: 'Create a viewer account (only when TACHO_ALLOW_SIGNUP=true); logs them in',
        body: SignupRequest,
        response: { 201: SessionView },
      },
    },
    async (request, reply) => {
      if (!config.allowSignup) throw new Forbidden('sign-up is turned off on this server', 'signup_disabled');
      const user = await users.insert({ ...request.body, role: 'viewer' });
      audit.log('signup', { userId: user.id, ip: request.ip });
      const session = await startLogin(request, reply, user, 'signup');
      return reply.status(201).send(session);
    },
  );
}
