import type { AuthProviders, CliLoginView, IdentityView, TokenView } from '@tacho/protocol';
import { client } from './api.js';

/**
 * Sign-in with the OpenID provider, linked sign-ins, CLI logins and `tacho login` confirmations: the
 * dashboard's part of issue 20, through the same client as every other call.
 */
export const identityApi = {
  providers: (): Promise<AuthProviders> => client.auth.providers(),
  identities: (): Promise<IdentityView[]> => client.auth.identities(),
  unlinkIdentity: (id: string): Promise<void> => client.auth.unlinkIdentity(id),
  /** The CLI logins are the API tokens a `tacho login` made. */
  cliLogins: async (): Promise<TokenView[]> => (await client.tokens.list()).filter((t) => t.cliHost),
  revokeCliLogin: (id: string): Promise<void> => client.tokens.revoke(id),
  cliLogin: (connectionId: string): Promise<CliLoginView> => client.auth.cliLogin(connectionId),
  confirmCliLogin: (connectionId: string, userCode: string) =>
    client.auth.confirmCliLogin(connectionId, userCode),
  denyCliLogin: (connectionId: string) => client.auth.denyCliLogin(connectionId),
  /** Admin: any user's linked identities. */
  userIdentities: (userId: string): Promise<IdentityView[]> => client.users.identities(userId),
  linkUserIdentity: (userId: string, issuer: string, subject: string): Promise<IdentityView> =>
    client.users.linkIdentity(userId, { issuer, subject }),
  unlinkUserIdentity: (userId: string, identityId: string): Promise<void> =>
    client.users.unlinkIdentity(userId, identityId),
};

/** Where the browser goes to sign in with the provider (a full navigation: the provider's page). */
export function providerStartUrl(startUrl: string, next: string, link = false): string {
  const query = new URLSearchParams({ next });
  if (link) query.set('link', '1');
  return `${startUrl}?${query}`;
}

/** Why a provider sign-in came back refused (`/login?oidc_error=…`), in words. */
export function providerErrorMessage(code: string, name: string): string {
  switch (code) {
    case 'provider_unavailable':
      return `${name} is unavailable right now. Try again in a moment, or log in with your password.`;
    case 'not_linked':
      return `No Tacho account is linked to this ${name} sign-in. Ask an admin to invite you, or log in with your password and link it under Settings → Linked sign-ins.`;
    case 'email_unverified':
      return `${name} did not give a verified email address, which a new account needs. Ask an admin to link your sign-in.`;
    case 'account_exists':
      return `An account with your email exists already. Log in with its password and link ${name} under Settings → Linked sign-ins.`;
    case 'identity_linked':
      return `This ${name} sign-in is linked to another account.`;
    case 'no_role':
      return `${name} gives you no role in Tacho. Ask your administrator for access.`;
    case 'disabled':
      return 'This account is disabled.';
    case 'attempt_used':
    case 'no_attempt':
      return 'That sign-in was not started here, was used already or took too long. Start it again.';
    default:
      return `${name} sign-in failed. Start it again.`;
  }
}
