import type { IdentityView, LinkIdentityRequest } from '@tacho/protocol';
import type { Selectable } from 'kysely';
import type { Db, User } from '../../db/index.js';
import type { UserIdentitiesTable } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/crypto.js';
import { Conflict, NotFound } from '../../lib/errors.js';
import type { Audit } from './audit.js';
import { requireAdmin, requireScope } from './permissions.js';
import type { Principal } from './principal.js';

type IdentityRow = Selectable<UserIdentitiesTable>;

function toIdentityView(row: IdentityRow): IdentityView {
  return {
    id: row.id,
    issuer: row.issuer,
    subject: row.subject,
    email: row.email,
    createdMs: row.created_ms,
    lastUsedMs: row.last_used_ms,
  };
}

/**
 * Provider identities linked to users. An identity is the provider's (issuer, subject): an email says
 * nothing about who holds an account here, so linking one takes the account's owner, signed in, or an
 * admin (decision 0021).
 */
export class Identities {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: Audit,
  ) {}

  /** The identity (issuer, subject) and the user it is linked to. */
  async find(issuer: string, subject: string): Promise<{ identity: IdentityRow; user: User } | undefined> {
    const identity = await this.db
      .selectFrom('user_identities')
      .selectAll()
      .where('issuer', '=', issuer)
      .where('subject', '=', subject)
      .executeTakeFirst();
    if (!identity) return undefined;
    const user = await this.db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', identity.user_id)
      .executeTakeFirst();
    return user ? { identity, user } : undefined;
  }

  async count(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('user_identities')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async list(userId: string): Promise<IdentityView[]> {
    const rows = await this.db
      .selectFrom('user_identities')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_ms')
      .orderBy('id')
      .execute();
    return rows.map(toIdentityView);
  }

  /**
   * Links (issuer, subject) to the user; no permission check (callers decide who may). Linking it again
   * to the same user changes nothing; linked to someone else it is 409 `identity_linked`.
   */
  async link(
    userId: string,
    input: { issuer: string; subject: string; email?: string | null },
    actorId: string,
  ): Promise<IdentityView> {
    const existing = await this.find(input.issuer, input.subject);
    if (existing) {
      if (existing.user.id !== userId)
        throw new Conflict('this identity is linked to another account', 'identity_linked');
      return toIdentityView(existing.identity);
    }
    const row: IdentityRow = {
      id: newId(),
      user_id: userId,
      issuer: input.issuer,
      subject: input.subject,
      email: input.email ?? null,
      created_ms: this.clock.now(),
      last_used_ms: null,
    };
    try {
      await this.db.insertInto('user_identities').values(row).execute();
    } catch (error) {
      // Linked at the same moment by another request: the unique (issuer, subject) decided.
      const raced = await this.find(input.issuer, input.subject);
      if (raced?.user.id === userId) return toIdentityView(raced.identity);
      if (raced) throw new Conflict('this identity is linked to another account', 'identity_linked');
      throw error;
    }
    this.audit.log('identity.linked', {
      userId: actorId,
      targetUserId: userId,
      identityId: row.id,
      issuer: row.issuer,
    });
    return toIdentityView(row);
  }

  /** Records a sign-in with the identity (and the email the provider gave this time). */
  async touch(identityId: string, email: string | null): Promise<void> {
    await this.db
      .updateTable('user_identities')
      .set({ last_used_ms: this.clock.now(), email })
      .where('id', '=', identityId)
      .execute();
  }

  /**
   * Unlinks one of the user's identities. Refused (409 `last_sign_in`) when it is the user's only way in:
   * no password (or provider sign-in required) and no other identity.
   */
  async unlink(user: User, identityId: string, actorId: string): Promise<void> {
    const all = await this.list(user.id);
    if (!all.some((i) => i.id === identityId)) throw new NotFound('no such linked sign-in');
    const others = all.filter((i) => i.id !== identityId);
    const passwordWorks = user.password_hash !== null && !user.provider_only_ms;
    if (others.length === 0 && !passwordWorks)
      throw new Conflict('this is the only way this account signs in: set a password first', 'last_sign_in');
    await this.db.deleteFrom('user_identities').where('id', '=', identityId).execute();
    this.audit.log('identity.unlinked', { userId: actorId, targetUserId: user.id, identityId });
  }

  private async user(id: string): Promise<User> {
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!user) throw new NotFound('no such user');
    return user;
  }

  /** Admin: the identities of any user. */
  async listFor(actor: Principal, userId: string): Promise<IdentityView[]> {
    requireAdmin(actor);
    await this.user(userId);
    return this.list(userId);
  }

  /** Admin: links an identity to any user. */
  async linkFor(actor: Principal, userId: string, input: LinkIdentityRequest): Promise<IdentityView> {
    const admin = requireAdmin(actor);
    await this.user(userId);
    return this.link(userId, { issuer: input.issuer.trim(), subject: input.subject }, admin.userId);
  }

  async unlinkFor(actor: Principal, userId: string, identityId: string): Promise<void> {
    const admin = requireAdmin(actor);
    await this.unlink(await this.user(userId), identityId, admin.userId);
  }

  /** The signed-in user's own identities (Settings → Linked sign-ins). */
  async listOwn(actor: Principal): Promise<IdentityView[]> {
    return this.list(requireScope(actor, 'read').userId);
  }

  async unlinkOwn(actor: Principal, identityId: string): Promise<void> {
    const me = requireScope(actor, 'write');
    await this.unlink(await this.user(me.userId), identityId, me.userId);
  }
}
