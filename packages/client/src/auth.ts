import type {
  AuthProviders,
  CliLoginToken,
  CliLoginView,
  FirstStartStatus,
  IdentityView,
  LoginView,
  PasswordChangeRequest,
  SessionView,
  SetupRequest,
  SetupStatus,
  SignupRequest,
  UnitPreferences,
  UserView,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

/** Logins (cookie mode): login, refresh, logout, who am I, active logins, password, first-admin setup. */
export class AuthApi {
  constructor(private readonly http: HttpTransport) {}

  login(email: string, password: string): Promise<SessionView> {
    return this.http.request('POST', 'auth/login', { body: { email, password } });
  }
  /** Exchanges the refresh cookie for new cookies (the transport does this by itself on a 401). */
  refresh(): Promise<SessionView> {
    return this.http.request('POST', 'auth/refresh');
  }
  logout(): Promise<void> {
    return this.http.request('POST', 'auth/logout');
  }
  me(): Promise<UserView> {
    return this.http.request('GET', 'auth/me');
  }
  logins(): Promise<LoginView[]> {
    return this.http.request('GET', 'auth/logins');
  }
  endLogin(id: string): Promise<void> {
    return this.http.request('DELETE', `auth/logins/${encodeURIComponent(id)}`);
  }
  /** Log out everywhere. */
  endAllLogins(): Promise<void> {
    return this.http.request('DELETE', 'auth/logins');
  }
  changePassword(input: PasswordChangeRequest): Promise<SessionView> {
    return this.http.request('POST', 'auth/password', { body: input });
  }
  /** The units the user reads values in. */
  preferences(): Promise<UnitPreferences> {
    return this.http.request('GET', 'auth/me/preferences');
  }
  setPreferences(input: UnitPreferences): Promise<UnitPreferences> {
    return this.http.request('PUT', 'auth/me/preferences', { body: input });
  }
  /** Whether the server waits for its first admin (no user yet). */
  firstStart(): Promise<FirstStartStatus> {
    return this.http.request('GET', 'auth/setup');
  }
  setupStatus(token: string): Promise<SetupStatus> {
    return this.http.request('GET', `auth/setup/${encodeURIComponent(token)}`);
  }
  setup(input: SetupRequest): Promise<SessionView> {
    return this.http.request('POST', 'auth/setup', { body: input });
  }
  signup(input: SignupRequest): Promise<SessionView> {
    return this.http.request('POST', 'auth/signup', { body: input });
  }
  /** The OpenID provider the login page offers, and whether it answers now. */
  providers(): Promise<AuthProviders> {
    return this.http.request('GET', 'auth/providers');
  }
  /** The caller's linked provider sign-ins. */
  identities(): Promise<IdentityView[]> {
    return this.http.request('GET', 'auth/identities');
  }
  unlinkIdentity(id: string): Promise<void> {
    return this.http.request('DELETE', `auth/identities/${encodeURIComponent(id)}`);
  }
  /** A `tacho login` waiting for this browser: its code and the client it names. */
  cliLogin(connectionId: string): Promise<CliLoginView> {
    return this.http.request('GET', `cli-login/${encodeURIComponent(connectionId)}`);
  }
  confirmCliLogin(connectionId: string, userCode: string): Promise<{ status: string }> {
    return this.http.request('POST', `cli-login/${encodeURIComponent(connectionId)}/confirm`, {
      body: { userCode },
    });
  }
  /**
   * The CLI's polling fallback after a dropped socket: the token once, or an ApiError whose code is
   * RFC 8628's (`authorization_pending`, `slow_down`, `access_denied`, `expired_token`, `invalid_grant`).
   */
  pollCliLogin(connectionId: string, resumeSecret: string): Promise<CliLoginToken> {
    return this.http.request('POST', 'cli-login/token', { body: { connectionId, resumeSecret } });
  }
  denyCliLogin(connectionId: string): Promise<{ status: string }> {
    return this.http.request('POST', `cli-login/${encodeURIComponent(connectionId)}/deny`);
  }
}
