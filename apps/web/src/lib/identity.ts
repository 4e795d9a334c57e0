import type { TokenView } from '@tacho/protocol';
import { client } from './api.js';

/** The CLI logins are the API tokens a `tacho login` made. */
export async function cliLogins(): Promise<TokenView[]> {
  return (await client.tokens.list()).filter((t) => t.cliHost);
}

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
