import {
  CLI_LOGIN_PATH,
  CliLoginConfirm,
  CliLoginPoll,
  type CliLoginServerMessage,
  CliLoginToken,
  CliLoginView,
} from '@tacho/protocol';
import { Type } from 'typebox';
import type { WebSocket } from 'ws';
import type { Db } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { HttpServer } from '../../transports/http/server.js';
import { type Auth, requirePrincipal } from '../auth/index.js';
import type { LiveBus } from '../live/index.js';
import {
  CLI_LOGIN_TTL_MS,
  CLI_POLL_INTERVAL_S,
  type CliLoginRow,
  CliLogins,
  cleanClient,
} from './cli-login.service.js';

export { CliLogins, newUserCode, normalizeUserCode, USER_CODE_LENGTH } from './cli-login.service.js';

/** The control-channel message that tells every instance an attempt was decided. */
const CONTROL_TYPE = 'cli-login.decided';
/** How often an instance checks its waiting sockets' attempts itself, in case a bus message was lost. */
const BACKSTOP_MS = 2000;
/** Open `tacho login` sockets one address may hold on an instance: nobody needs more, a flood gets no rows. */
const SOCKETS_PER_ADDRESS = 20;

export interface CliLoginFeature {
  readonly logins: CliLogins;
  close(): void;
}

const tags = ['cli-login'];
const security: Array<Record<string, string[]>> = [{ cookie: [] }];
const ConnectionParams = Type.Object({ connectionId: Type.String({ minLength: 1, maxLength: 100 }) });

/**
 * `tacho login` through the browser (issue 20.4): the WebSocket at /api/v1/cli-login, the confirmation
 * routes the page uses, and the polling fallback. A confirmation may land on another instance than the
 * socket: it is announced on the live bus's control channel, and each instance also re-reads its waiting
 * attempts every 2 s, so a lost message delays the token by at most that.
 */
export async function createCliLogin(deps: {
  http: HttpServer;
  db: Db;
  clock: Clock;
  logger: Logger;
  auth: Auth;
  bus: LiveBus;
  publicUrl: string;
  /** How often waiting sockets re-read their attempt in case a bus message was lost (default 2 s). */
  recheckMs?: number;
}): Promise<CliLoginFeature> {
  const { http, clock, auth, bus } = deps;
  const log = deps.logger.child({ part: 'cli-login' });
  const logins = new CliLogins(deps.db, clock, auth.audit, auth.tokens, auth.users);
  /** The sockets on this instance, by attempt id. */
  const waiting = new Map<string, { socket: WebSocket; timer: NodeJS.Timeout }>();
  /** Open sockets per client address on this instance. */
  const perAddress = new Map<string, number>();

  const send = (socket: WebSocket, message: CliLoginServerMessage) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const detach = (id: string) => {
    const entry = waiting.get(id);
    if (!entry) return null;
    clearTimeout(entry.timer);
    waiting.delete(id);
    return entry.socket;
  };
  /** Gives a waiting socket the outcome of its attempt, if it has one; the token goes out here, once. */
  const settle = async (id: string) => {
    const entry = waiting.get(id);
    if (!entry) return;
    const row = await logins.byId(id);
    if (!row || row.status === 'pending') return;
    if (row.status === 'confirmed') {
      const collected = await logins.collect(id);
      const socket = detach(id);
      if (!socket) return;
      if (collected) {
        send(socket, { type: 'auth:success', token: collected.token, user: collected.user });
        socket.close(1000, 'logged in');
      }
      return;
    }
    const socket = detach(id);
    if (!socket) return;
    if (row.status === 'denied') send(socket, { type: 'auth:denied' });
    socket.close(1000, row.status === 'denied' ? 'denied' : 'over');
  };
  const settleSafely = (id: string) =>
    settle(id).catch((error: unknown) => log.warn({ err: error }, 'cli login delivery failed'));

  /** Holds the socket for the attempt until it is decided, expires or the socket closes. */
  const hold = (socket: WebSocket, row: CliLoginRow) => {
    const timer = setTimeout(
      () => {
        if (detach(row.id) !== socket) return;
        send(socket, { type: 'expired' });
        socket.close(1000, 'expired');
        void logins.end(row.id).catch(() => {});
      },
      Math.max(0, row.expires_ms - clock.now()),
    );
    timer.unref();
    waiting.set(row.id, { socket, timer });
  };

  const offControl = await bus.onControl((text) => {
    if (!text.includes(CONTROL_TYPE)) return;
    try {
      const message = JSON.parse(text) as { type?: unknown; id?: unknown };
      if (message.type === CONTROL_TYPE && typeof message.id === 'string' && waiting.has(message.id))
        void settleSafely(message.id);
    } catch {
      // Not ours: the control channel is shared.
    }
  });
  const backstop = setInterval(() => {
    for (const id of waiting.keys()) void settleSafely(id);
  }, deps.recheckMs ?? BACKSTOP_MS);
  backstop.unref();

  http.get(
    CLI_LOGIN_PATH,
    {
      websocket: true,
      schema: {
        tags,
        summary:
          'tacho login: sends {"type":"connection",connectionId,userCode,verificationUrl,expiresInS,resumeSecret}, later the token once',
        querystring: Type.Object({
          host: Type.Optional(Type.String({ maxLength: 200 })),
          os: Type.Optional(Type.String({ maxLength: 200 })),
          version: Type.Optional(Type.String({ maxLength: 100 })),
        }),
      },
    },
    async (socket, request) => {
      const open = perAddress.get(request.ip) ?? 0;
      if (open >= SOCKETS_PER_ADDRESS) {
        auth.audit.log('cli_login.refused', { reason: 'too_many_sockets', ip: request.ip });
        send(socket, {
          type: 'error',
          code: 'too_many',
          message: 'too many login requests from this address',
        });
        socket.close(1008, 'too many');
        return;
      }
      perAddress.set(request.ip, open + 1);
      let current: CliLoginRow | null = null;
      let finished = false;
      socket.on('close', (code) => {
        finished = true;
        const left = (perAddress.get(request.ip) ?? 1) - 1;
        if (left > 0) perAddress.set(request.ip, left);
        else perAddress.delete(request.ip);
        if (!current || detach(current.id) !== socket) return;
        // The CLI closed on purpose (or said cancel): the attempt ends. A dropped connection (no close
        // frame, 1006) leaves it pending, for the CLI to resume.
        if (code === 1000 || code === 1001) void logins.end(current.id).catch(() => {});
      });
      socket.on('message', (data) => {
        void (async () => {
          let message: { type?: unknown; connectionId?: unknown; resumeSecret?: unknown };
          try {
            message = JSON.parse(String(data)) as typeof message;
          } catch {
            return send(socket, { type: 'error', code: 'bad_message', message: 'messages are JSON' });
          }
          if (message.type === 'cancel') {
            if (current) await logins.end(current.id);
            socket.close(1000, 'cancelled');
            return;
          }
          if (message.type !== 'resume') return;
          const row =
            typeof message.connectionId === 'string' && typeof message.resumeSecret === 'string'
              ? await logins.resumable(message.connectionId, message.resumeSecret)
              : undefined;
          if (!row || row.expires_ms <= clock.now() || row.status === 'collected' || row.status === 'ended') {
            auth.audit.log('cli_login.refused', { reason: 'bad_resume', ip: request.ip });
            send(socket, {
              type: 'error',
              code: 'invalid_grant',
              message: 'that login request cannot be resumed',
            });
            socket.close(1008, 'invalid resume');
            return;
          }
          // The fresh attempt this socket was given is dropped for the resumed one.
          if (current) {
            detach(current.id);
            await logins.end(current.id);
          }
          const previous = detach(row.id);
          previous?.close(1000, 'resumed elsewhere');
          current = row;
          if (finished) return;
          hold(socket, row);
          send(socket, {
            type: 'resumed',
            connectionId: message.connectionId as string,
            expiresInS: Math.floor((row.expires_ms - clock.now()) / 1000),
          });
          await settleSafely(row.id);
        })().catch((error: unknown) => log.warn({ err: error }, 'cli login message failed'));
      });

      const client = cleanClient(request.query);
      const created = await logins.create(client, request.ip);
      if (finished) {
        await logins.end(created.row.id);
        return;
      }
      // A resume that arrived while this was being made has replaced it already.
      if (current) {
        await logins.end(created.row.id);
        return;
      }
      current = created.row;
      hold(socket, created.row);
      send(socket, {
        type: 'connection',
        connectionId: created.connectionId,
        userCode: created.row.user_code,
        verificationUrl: `${deps.publicUrl}/cli-login?c=${encodeURIComponent(created.connectionId)}`,
        expiresInS: CLI_LOGIN_TTL_MS / 1000,
        resumeSecret: created.resumeSecret,
        intervalS: CLI_POLL_INTERVAL_S,
      });
    },
  );

  http.get(
    '/api/v1/cli-login/:connectionId',
    {
      schema: {
        tags,
        security,
        params: ConnectionParams,
        summary: 'What the confirmation page shows: the user code, the client, what its token may do',
        response: { 200: CliLoginView },
      },
    },
    async (request) => logins.view(requirePrincipal(request), request.params.connectionId),
  );

  /** Every instance hears of a decision (this one too); the one holding the socket sends the outcome. */
  const announce = async (id: string, status: 'confirmed' | 'denied') => {
    await bus.publishControl(JSON.stringify({ type: CONTROL_TYPE, id })).catch((error: unknown) => {
      log.warn({ err: error }, 'cli login decision not announced; the 2 s re-check delivers it');
    });
    return { status };
  };

  http.post(
    '/api/v1/cli-login/:connectionId/confirm',
    {
      schema: {
        tags,
        security,
        params: ConnectionParams,
        body: CliLoginConfirm,
        summary:
          'Confirm a CLI login (signed-in browser, same origin): the CLI gets its token over its socket',
        response: { 200: Type.Object({ status: Type.String() }) },
      },
    },
    async (request) => {
      const { connectionId } = request.params;
      const principal = requirePrincipal(request);
      const id = await logins.decide(
        principal,
        request.authVia,
        connectionId,
        'confirmed',
        request.body.userCode,
      );
      return announce(id, 'confirmed');
    },
  );

  http.post(
    '/api/v1/cli-login/:connectionId/deny',
    {
      schema: {
        tags,
        security,
        params: ConnectionParams,
        summary: 'Refuse a CLI login: the CLI is told, and the attempt ends',
        response: { 200: Type.Object({ status: Type.String() }) },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      const id = await logins.decide(principal, request.authVia, request.params.connectionId, 'denied');
      return announce(id, 'denied');
    },
  );

  http.post(
    '/api/v1/cli-login/token',
    {
      schema: {
        tags,
        summary:
          'Polling fallback after a dropped socket (RFC 8628 style): 400 authorization_pending | slow_down | access_denied | expired_token | invalid_grant, or the token once',
        body: CliLoginPoll,
        response: { 200: CliLoginToken },
      },
    },
    async (request) => logins.poll(request.body.connectionId, request.body.resumeSecret),
  );

  return {
    logins,
    close() {
      offControl();
      clearInterval(backstop);
      for (const id of [...waiting.keys()]) detach(id)?.close(1001, 'server shutting down');
    },
  };
}
