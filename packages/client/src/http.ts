import { API_PREFIX } from '@tacho/protocol';
import { ApiError } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface HttpOptions {
  /** Server origin, e.g. `http://127.0.0.1:8080`; empty (browser) = the page's own origin. */
  baseUrl?: string;
  /**
   * `cookie` (browser; the server's HttpOnly login cookies travel with each request and a 401 triggers
   * `POST /auth/refresh`), or `bearer` (CLI, scripts, tests: `Authorization: Bearer <token>`).
   */
  mode?: 'cookie' | 'bearer';
  /** Bearer mode: the token, or a function giving the current one. */
  token?: string | (() => string | null | undefined);
  /**
   * Bearer mode: called once on a 401 to get a fresh token (null = give up). Cookie mode refreshes the
   * login through `POST /api/v1/auth/refresh` unless this is given.
   */
  refresh?: () => Promise<string | boolean | null>;
  /** Called when a 401 survives the refresh: the login is gone, show the login page. */
  onSessionLost?: () => void;
  /** `fetch` to use (defaults to the global one). */
  fetch?: typeof fetch;
  /**
   * Cookie mode outside a browser (Node tests): keep the cookies the server sets and send them back,
   * as a browser would.
   */
  cookieJar?: boolean;
}

/**
 * The HTTP transport every API area uses. On a 401 it refreshes the login once and retries the request
 * once; however many requests fail at the same moment, only one refresh is in flight and they all wait
 * for it.
 */
export class HttpTransport {
  readonly baseUrl: string;
  readonly mode: 'cookie' | 'bearer';
  private readonly fetchImpl: typeof fetch;
  private refreshing: Promise<boolean> | null = null;
  /** Counts completed refreshes: a request that failed with credentials older than the last refresh just retries. */
  private generation = 0;
  private readonly jar: Map<string, string> | null;
  private tokenOverride: string | null = null;

  constructor(private readonly options: HttpOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.mode = options.mode ?? (options.token ? 'bearer' : 'cookie');
    this.fetchImpl = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.jar = options.cookieJar ? new Map() : null;
  }

  /** The bearer token currently used (bearer mode). */
  token(): string | null {
    if (this.tokenOverride) return this.tokenOverride;
    const t = this.options.token;
    return (typeof t === 'function' ? t() : t) ?? null;
  }

  /** Cookie header value of the jar (Node cookie mode), for the live socket's upgrade request. */
  cookieHeader(): string | null {
    if (!this.jar || this.jar.size === 0) return null;
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Forgets one cookie of the jar (tests simulate an expired access cookie). */
  dropCookie(name: string): void {
    this.jar?.delete(name);
  }

  url(path: string, query?: Query): string {
    const full = path.startsWith('/') ? path : `${API_PREFIX}/${path}`;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined && v !== null) params.set(k, String(v));
    const qs = params.toString();
    return `${this.baseUrl}${full}${qs ? `?${qs}` : ''}`;
  }

  async request<T>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown } = {},
  ): Promise<T> {
    const url = this.url(path, options.query);
    const sentWith = this.generation;
    let res = await this.send(method, url, options.body);
    const isAuthExchange = /\/auth\/(login|refresh|setup|signup)$/.test(url.split('?')[0]!);
    if (res.status === 401 && !isAuthExchange && !(await isMakerRefusal(res))) {
      const renewed = sentWith !== this.generation || (await this.refresh());
      if (renewed) res = await this.send(method, url, options.body);
      if (res.status === 401) this.options.onSessionLost?.();
    }
    if (!res.ok) throw await toError(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * A request whose body or answer is not JSON (exports and imports): the Response as it arrives, its body
   * unread, after one refresh on a 401 when the body can be sent again (not a stream). Errors throw
   * ApiError as `request` does.
   */
  async raw(
    method: string,
    path: string,
    options: { query?: Query; body?: BodyInit; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const url = this.url(path, options.query);
    const sentWith = this.generation;
    const streamed = typeof ReadableStream !== 'undefined' && options.body instanceof ReadableStream;
    const go = () => {
      const headers: Record<string, string> = { accept: '*/*' };
      if (options.contentType) headers['content-type'] = options.contentType;
      if (this.mode === 'bearer') {
        const token = this.token();
        if (token) headers.authorization = `Bearer ${token}`;
      }
      const cookie = this.cookieHeader();
      if (cookie) headers.cookie = cookie;
      return this.fetchImpl(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(streamed ? { duplex: 'half' } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(this.mode === 'cookie' && !this.jar ? { credentials: 'include' as const } : {}),
      } as RequestInit);
    };
    let res = await go();
    if (this.jar) this.keepCookies(res);
    if (res.status === 401 && !streamed) {
      const renewed = sentWith !== this.generation || (await this.refresh());
      if (renewed) res = await go();
      if (res.status === 401) this.options.onSessionLost?.();
    }
    if (!res.ok) throw await toError(res);
    return res;
  }

  /** Refreshes the login; concurrent callers share the one refresh in flight. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().then((ok) => {
      if (ok) this.generation++;
      this.refreshing = null;
      return ok;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    try {
      if (this.options.refresh) {
        const result = await this.options.refresh();
        if (typeof result === 'string') this.tokenOverride = result;
        return Boolean(result);
      }
      if (this.mode !== 'cookie') return false;
      const res = await this.send('POST', this.url('/api/v1/auth/refresh'), undefined);
      return res.ok;
    } catch {
      return false;
    }
  }

  private async send(method: string, url: string, body: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.mode === 'bearer') {
      const token = this.token();
      if (token) headers.authorization = `Bearer ${token}`;
    }
    const cookie = this.cookieHeader();
    if (cookie) headers.cookie = cookie;
    const res = await this.fetchImpl(url, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(this.mode === 'cookie' && !this.jar ? { credentials: 'include' as const } : {}),
    });
    if (this.jar) this.keepCookies(res);
    return res;
  }

  private keepCookies(res: Response): void {
    const headers = res.headers as Headers & { getSetCookie?: () => string[] };
    for (const line of headers.getSetCookie?.() ?? []) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      if (eq < 0) continue;
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) this.jar!.delete(name);
      else this.jar!.set(name, value);
    }
  }
}

/**
 * A 401 about a maker's account (VinFast refused the email and password the user typed: code
 * `vinfast_…`), not about the Tacho login: no refresh, and the user stays signed in.
 */
async function isMakerRefusal(res: Response): Promise<boolean> {
  const body = (await res
    .clone()
    .json()
    .catch(() => null)) as { error?: { code?: string } } | null;
  return /^vinfast_/.test(body?.error?.code ?? '');
}

async function toError(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  const retry = Number(res.headers.get('retry-after'));
  return new ApiError(
    res.status,
    body?.error?.code ?? 'http_error',
    body?.error?.message ?? `${res.status} ${res.statusText}`,
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}
