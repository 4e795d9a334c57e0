import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import nodemailer, { type Transporter } from 'nodemailer';

/**
 * How notifications leave: email through the configured SMTP server, webhooks as signed JSON POSTs. Both
 * answer with what happened (never throw), for the delivery log.
 */

export interface SendOutcome {
  readonly ok: boolean;
  /** The receiver's HTTP status or the SMTP reply code, when there was one. */
  readonly status: number | null;
  readonly error: string | null;
}

export const WEBHOOK_TIMEOUT_MS = 5000;

/** Addresses a webhook may reach only with an admin's allowance: private, loopback, link-local, special. */
const restricted = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  restricted.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  restricted.addSubnet(net, prefix, 'ipv6');

/** Whether an IP address is private, loopback, link-local or otherwise not a public host. */
export function isRestrictedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return restricted.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return restricted.check(mapped[1]!, 'ipv4');
    return restricted.check(address, 'ipv6');
  }
  return true;
}

/**
 * Checks a webhook URL as given: http(s) only; without the admin's allowance https only, and not to a
 * host that is (or resolves to) a private address. Returns the reason it is refused, or null.
 */
export async function webhookUrlProblem(raw: string, allowPrivate: boolean): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username || url.password) return 'must not carry credentials (the body is signed instead)';
  if (allowPrivate) return null;
  if (url.protocol !== 'https:') return 'must be https (http only to a private address an admin allows)';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return 'points at a private address';
  if (isIP(host)) return isRestrictedAddress(host) ? 'points at a private address' : null;
  // A name is checked again at each delivery (it may resolve elsewhere later); one that does not resolve
  // now is let through, since the resolver may be down for a moment.
  const addresses = await new Promise<LookupAddress[]>((resolve) =>
    dnsLookup(host, { all: true }, (error, found) => resolve(error ? [] : found)),
  );
  return addresses.some((a) => isRestrictedAddress(a.address)) ? 'points at a private address' : null;
}

/** `sha256=<hex HMAC-SHA256 of the body with the secret>`. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs the body. Redirects are not followed (a receiver must answer where it was registered); the
 * resolved address is checked again unless private ones are allowed (a name that moved inside).
 */
export function postWebhook(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  options: { allowPrivate: boolean; timeoutMs?: number },
): Promise<SendOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: SendOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return done({ ok: false, status: null, error: 'not a URL' });
    }
    const request = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : null;
    if (!request) return done({ ok: false, status: null, error: 'not an http(s) URL' });
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'Tacho-Webhook/1',
          ...headers,
        },
        lookup: (hostname, opts, callback) => {
          dnsLookup(hostname, { ...opts, all: true }, (error, found) => {
            if (error) return callback(error, '', 4);
            const list = found as unknown as LookupAddress[];
            if (!options.allowPrivate && list.some((a) => isRestrictedAddress(a.address)))
              return callback(
                Object.assign(new Error(`${hostname} resolves to a private address`), { code: 'EPRIVATE' }),
                '',
                4,
              );
            if ((opts as { all?: boolean }).all)
              return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
            callback(null, list[0]!.address, list[0]!.family);
          });
        },
        timeout: options.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('error', () => {});
        if (status >= 200 && status < 300) done({ ok: true, status, error: null });
        else if (status >= 300 && status < 400)
          done({
            ok: false,
            status,
            error: `redirect to ${res.headers.location ?? '(nowhere)'} not followed`,
          });
        else done({ ok: false, status, error: `HTTP ${status}` });
      },
    );
    // The whole exchange, not only each idle gap, is bounded.
    const deadline = setTimeout(() => {
      req.destroy(new Error(`no answer within ${(options.timeoutMs ?? WEBHOOK_TIMEOUT_MS) / 1000} s`));
    }, options.timeoutMs ?? WEBHOOK_TIMEOUT_MS);
    deadline.unref();
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => done({ ok: false, status: null, error: error.message }));
    req.on('close', () => clearTimeout(deadline));
    req.end(body);
  });
}

/** A header value as it may be sent: no CR or LF (header injection), trimmed, bounded. */
export function headerSafe(value: string, max = 200): string {
  return value
    .replace(/[\r\n]+/g, ' ')
    .trim()
    .slice(0, max);
}

export interface Email {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The same for every try of one delivery, so mail clients fold a repeat into one. */
  readonly messageId: string;
}

/**
 * Sends through `TACHO_SMTP_URL`. smtp:// requires STARTTLS with the server's certificate checked unless
 * the URL says `?ignoreTLS=true` or `?tls.rejectUnauthorized=false`; smtps:// is TLS from the start.
 */
export class Mailer {
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    const url = new URL(smtpUrl);
    const secure = url.protocol === 'smtps:';
    const q = url.searchParams;
    const ignoreTLS = q.get('ignoreTLS') === 'true';
    this.transport = nodemailer.createTransport({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port) || (secure ? 465 : 587),
      secure,
      ignoreTLS,
      requireTLS: !secure && !ignoreTLS,
      ...(url.username
        ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
        : {}),
      tls: { rejectUnauthorized: q.get('tls.rejectUnauthorized') !== 'false' },
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
  }

  async send(email: Email): Promise<SendOutcome> {
    try {
      await this.transport.sendMail({
        from: this.from,
        to: headerSafe(email.to, 254),
        subject: headerSafe(email.subject, 300),
        text: email.text,
        html: email.html,
        messageId: email.messageId,
      });
      return { ok: true, status: 250, error: null };
    } catch (error) {
      const e = error as { message?: string; responseCode?: number };
      return { ok: false, status: e.responseCode ?? null, error: String(e.message ?? error).slice(0, 500) };
    }
  }

  close(): void {
    this.transport.close();
  }
}

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
