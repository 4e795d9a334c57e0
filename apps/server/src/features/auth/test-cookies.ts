import type { LightMyRequestResponse } from 'fastify';

/** A browser's cookie jar for `inject` tests: keeps what Set-Cookie says, sends it back by path. */
export class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  /** Takes the response's Set-Cookie headers; answers them for assertions. */
  take(res: LightMyRequestResponse) {
    for (const c of res.cookies) {
      if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() <= Date.now()))
        this.cookies.delete(c.name);
      else this.cookies.set(c.name, { value: c.value, path: c.path ?? '/' });
    }
    return res.cookies;
  }

  get(name: string): string | undefined {
    return this.cookies.get(name)?.value;
  }

  set(name: string, value: string, path = '/'): void {
    this.cookies.set(name, { value, path });
  }

  /** The Cookie header a browser would send to `url`. */
  header(url: string): { cookie?: string } {
    const path = url.split('?')[0] ?? url;
    const pairs = [...this.cookies]
      .filter(
        ([, c]) =>
          path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/',
      )
      .map(([name, c]) => `${name}=${c.value}`);
    return pairs.length > 0 ? { cookie: pairs.join('; ') } : {};
  }
}
