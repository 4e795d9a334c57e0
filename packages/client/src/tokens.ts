import type { CreatedToken, CreateTokenRequest, TokenView } from '@tacho/protocol';
import type { HttpTransport } from './http.js';

/** The caller's API tokens (the secret is only in the answer to `create`). */
export class TokensApi {
  constructor(private readonly http: HttpTransport) {}

  create(input: CreateTokenRequest): Promise<CreatedToken> {
    return this.http.request('POST', 'tokens', { body: input });
  }
  list(): Promise<TokenView[]> {
    return this.http.request('GET', 'tokens');
  }
  revoke(id: string): Promise<void> {
    return this.http.request('DELETE', `tokens/${encodeURIComponent(id)}`);
  }
  /** Revokes the token this client authenticates with (`tacho logout`). */
  revokeCurrent(): Promise<void> {
    return this.http.request('DELETE', 'tokens/current');
  }
}
