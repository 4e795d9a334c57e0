// PROVISIONAL: a minimal cookie-mode transport used until packages/client's core lands; then removed.
import { API_PREFIX, type LiveServerMessage } from '@tacho/protocol';
import { ApiError, type LiveStatus } from './api.js';

type Query = Record<string, string | number | undefined>;

const lost = new Set<() => void>();
export function onSessionLost(listener: () => void): () => void {
  lost.add(listener);
  return () => lost.delete(listener);
}

let refreshing: Promise<boolean> | null = null;
function refresh(): Promise<boolean> {
  refreshing ??= fetch(`${API_PREFIX}/auth/refresh`, { method: 'POST', credentials: 'same-origin' })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => {
      setTimeout(() => {
        refreshing = null;
      }, 0);
    });
  return refreshing;
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

export async function request<T>(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown } = {},
): Promise<T> {
  const url = new URL(path.startsWith('/') ? path : `${API_PREFIX}/${path}`, window.location.origin);
  for (const [k, v] of Object.entries(options.query ?? {}))
    if (v !== undefined) url.searchParams.set(k, String(v));
  const send = () =>
    fetch(url, {
      method,
      credentials: 'same-origin',
      headers: options.body === undefined ? {} : { 'content-type': 'application/json' },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  let res = await send();
  // A failed login or refresh is an answer in itself, not an expired access token.
  const isAuth = url.pathname === `${API_PREFIX}/auth/login` || url.pathname === `${API_PREFIX}/auth/refresh`;
  if (res.status === 401 && !isAuth) {
    if (await refresh()) res = await send();
    if (res.status === 401) for (const l of lost) l();
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export interface LiveHandlers {
  status(status: LiveStatus): void;
  message(message: LiveServerMessage): void;
}

/** Live socket with reconnect and back-off; resubscribes (and so gets fresh snapshots) after each reconnect. */
export function openLive(vehicleIds: readonly string[], handlers: LiveHandlers): () => void {
  let socket: WebSocket | null = null;
  let closed = false;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connect = () => {
    handlers.status(attempt === 0 ? 'connecting' : 'reconnecting');
    const url = new URL(`${API_PREFIX}/live`, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'subscribe', vehicleIds }));
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as LiveServerMessage;
      if (message.type === 'snapshot' || message.type === 'ready') {
        attempt = 0;
        handlers.status('live');
      }
      handlers.message(message);
    };
    ws.onclose = async (event) => {
      if (closed) return;
      handlers.status('reconnecting');
      if (event.code === 4401) await refresh();
      attempt++;
      timer = setTimeout(connect, Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)));
    };
  };
  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
    socket?.close(1000);
  };
}
