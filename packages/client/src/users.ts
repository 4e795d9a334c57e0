import type {
  CreateUserRequest,
  IdentityView,
  LinkIdentityRequest,
  UpdateUserRequest,
  UserView,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

/** User administration (admin). */
export class UsersApi {
  constructor(private readonly http: HttpTransport) {}

  list(): Promise<UserView[]> {
    return this.http.request('GET', 'users');
  }
  create(input: CreateUserRequest): Promise<UserView> {
    return this.http.request('POST', 'users', { body: input });
  }
  update(id: string, input: UpdateUserRequest): Promise<UserView> {
    return this.http.request('PATCH', `users/${encodeURIComponent(id)}`, { body: input });
  }
  delete(id: string): Promise<void> {
    return this.http.request('DELETE', `users/${encodeURIComponent(id)}`);
  }
  /** A user's linked provider identities, (issuer, subject) each. */
  identities(id: string): Promise<IdentityView[]> {
    return this.http.request('GET', `users/${encodeURIComponent(id)}/identities`);
  }
  linkIdentity(id: string, input: LinkIdentityRequest): Promise<IdentityView> {
    return this.http.request('POST', `users/${encodeURIComponent(id)}/identities`, { body: input });
  }
  unlinkIdentity(id: string, identityId: string): Promise<void> {
    return this.http.request(
      'DELETE',
      `users/${encodeURIComponent(id)}/identities/${encodeURIComponent(identityId)}`,
    );
  }
}
