import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../lib/clock.js';
import { ACCESS_COOKIE, REFRESH_COOKIE } from './http-auth.js';
import type { IssuedLogin } from './logins.js';

/** The refresh cookie goes only to the auth routes that need it, never to the rest of the API. */
export const REFRESH_COOKIE_PATH = '/api/v1/auth';

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Cookies are Secure unless the server is reached over plain HTTP on a loopback address, where browsers
 * would otherwise drop them (and where nothing travels over a network).
 */
export function secureCookies(request: FastifyRequest): boolean {
  return request.protocol === 'https' || !isLoopback(request.hostname);
}

export function setLoginCookies(
  request: FastifyRequest,
  reply: FastifyReply,
  login: IssuedLogin,
  clock: Clock,
): void {
  const secure = secureCookies(request);
  const now = clock.now();
  reply.setCookie(ACCESS_COOKIE, login.access.token, {
    httpOnly: true,
    sameSite: 'lax',
    secure,
    path: '/',
    maxAge: Math.max(1, Math.floor((login.access.expiresMs - now) / 1000)),
  });
  reply.setCookie(REFRESH_COOKIE, login.refreshToken, {
    httpOnly: true,
    sameSite: 'lax',
    secure,
    path: REFRESH_COOKIE_PATH,
    maxAge: Math.max(1, Math.floor((login.loginExpiresMs - now) / 1000)),
  });
}

export function clearLoginCookies(request: FastifyRequest, reply: FastifyReply): void {
  const secure = secureCookies(request);
  reply.clearCookie(ACCESS_COOKIE, { httpOnly: true, sameSite: 'lax', secure, path: '/' });
  reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, sameSite: 'lax', secure, path: REFRESH_COOKIE_PATH });
}
