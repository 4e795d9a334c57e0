import type {
  AliasQuery,
  AliasRegistryList,
  AliasRegistryQuery,
  AliasSeenList,
  AliasView,
  CreateAliasRequest,
  UpdateAliasRequest,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

/** The alias registry: what raw device keys mean, per make and model. */
export class AliasesApi {
  constructor(private readonly http: HttpTransport) {}

  list(query: AliasQuery): Promise<AliasView[]> {
    return this.http.request('GET', 'aliases', { query: { ...query } });
  }
  /** Proposed entries with their state (pending with confirmations, or applied). */
  registry(query: AliasRegistryQuery = {}): Promise<AliasRegistryList> {
    return this.http.request('GET', 'aliases/registry', { query: { ...query } });
  }
  /** VinFast device keys the caller's cars sent, per model. */
  seen(): Promise<AliasSeenList> {
    return this.http.request('GET', 'aliases/seen');
  }
  propose(input: CreateAliasRequest): Promise<AliasView> {
    return this.http.request('POST', 'aliases', { body: input });
  }
  update(id: string, input: UpdateAliasRequest): Promise<AliasView> {
    return this.http.request('PATCH', `aliases/${encodeURIComponent(id)}`, { body: input });
  }
  delete(id: string): Promise<void> {
    return this.http.request('DELETE', `aliases/${encodeURIComponent(id)}`);
  }
}
