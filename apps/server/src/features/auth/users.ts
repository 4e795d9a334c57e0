import {
  type CreateUserRequest,
  DEFAULT_UNIT_PREFERENCES,
  type UnitPreferences,
  type UpdateUserRequest,
  type UserView,
} from '@tacho/protocol';
import type { Db, Role, User } from '../../db/index.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/crypto.js';
import { Conflict, NotFound } from '../../lib/errors.js';
import type { EventBus } from '../../lib/events.js';
import type { Audit } from './audit.js';
import type { Logins } from './logins.js';
import type { PasswordHasher } from './password-hasher.js';
import { requireAdmin } from './permissions.js';
import type { Principal } from './principal.js';

export function toUserView(user: User): UserView {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    disabled: user.disabled_ms !== null,
    createdMs: user.created_ms,
    hasPassword: user.password_hash !== null,
    providerOnly: (user.provider_only_ms ?? null) !== null,
  };
}

function roleRank(role: Role): number {
  return role === 'admin' ? 3 : role === 'operator' ? 2 : 1;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** People: the admin's user management, and the lookups login, setup and sign-up need. */
const PREFERENCES_KEY_PREFIX = 'user.units:';

export class Users {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: EventBus,
    private readonly audit: Audit,
    private readonly logins: Logins,
    private readonly hasher: PasswordHasher,
  ) {}

  byId(id: string): Promise<User | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The user's display units (stored as a setting; the canonical units when never chosen). */
  async preferences(userId: string): Promise<UnitPreferences> {
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', `${PREFERENCES_KEY_PREFIX}${userId}`)
      .executeTakeFirst();
    if (!row) return { ...DEFAULT_UNIT_PREFERENCES };
    try {
      return { ...DEFAULT_UNIT_PREFERENCES, ...(JSON.parse(row.value) as Partial<UnitPreferences>) };
    } catch {
      return { ...DEFAULT_UNIT_PREFERENCES };
    }
  }

  async setPreferences(userId: string, preferences: UnitPreferences, nowMs: number): Promise<void> {
    const key = `${PREFERENCES_KEY_PREFIX}${userId}`;
    const value = JSON.stringify(preferences);
    await this.db
      .insertInto('settings')
      .values({ key, value, updated_ms: nowMs })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_ms: nowMs }))
      .execute();
  }

  byEmail(email: string): Promise<User | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('email', '=', normalizeEmail(email))
      .executeTakeFirst();
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Inserts a user; 409 when the email is taken. No permission check: callers decide who may. */
  async insert(input: { email: string; name: string; password: string; role: Role }): Promise<User> {
    return this.insertRow({ ...input, passwordHash: await this.hasher.hash(input.password) });
  }

  /**
   * A user without a password: invited by an admin (their first provider sign-in with this verified
   * email links), or created at a provider sign-in (TACHO_OIDC_AUTO_CREATE).
   */
  async insertWithoutPassword(input: { email: string; name: string; role: Role }): Promise<User> {
    return this.insertRow({ ...input, passwordHash: null });
  }

  private async insertRow(input: {
    email: string;
    name: string;
    passwordHash: string | null;
    role: Role;
  }): Promise<User> {
    const now = this.clock.now();
    const user: User = {
      id: newId(),
      email: normalizeEmail(input.email),
      name: input.name.trim(),
      password_hash: input.passwordHash,
      role: input.role,
      disabled_ms: null,
      tokens_valid_after_ms: 0,
      created_ms: now,
      updated_ms: now,
      provider_only_ms: null,
    };
    if (await this.byEmail(user.email))
      throw new Conflict('a user with that email exists already', 'duplicate_email');
    try {
      await this.db.insertInto('users').values(user).execute();
    } catch (error) {
      if (await this.byEmail(user.email))
        throw new Conflict('a user with that email exists already', 'duplicate_email');
      throw error;
    }
    return user;
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_ms: this.clock.now() })
      .where('id', '=', userId)
      .execute();
  }

  async list(actor: Principal): Promise<UserView[]> {
    requireAdmin(actor);
    const rows = await this.db.selectFrom('users').selectAll().orderBy('email').execute();
    return rows.map(toUserView);
  }

  /** Without a password the user is invited: their first provider sign-in with this verified email links. */
  async create(actor: Principal, input: CreateUserRequest): Promise<UserView> {
    const admin = requireAdmin(actor);
    const user =
      input.password === undefined
        ? await this.insertWithoutPassword(input)
        : await this.insert({ ...input, password: input.password });
    this.audit.log('user.created', { userId: admin.userId, targetUserId: user.id, role: user.role });
    return toUserView(user);
  }

  private async target(id: string): Promise<User> {
    const user = await this.byId(id);
    if (!user) throw new NotFound('no such user');
    return user;
  }

  /** Whether removing `user`'s admin rights would leave no enabled admin. */
  private async isLastAdmin(user: User): Promise<boolean> {
    if (user.role !== 'admin' || user.disabled_ms !== null) return false;
    const others = await this.db
      .selectFrom('users')
      .select('id')
      .where('role', '=', 'admin')
      .where('disabled_ms', 'is', null)
      .where('id', '!=', user.id)
      .limit(1)
      .execute();
    return others.length === 0;
  }

  /**
   * Renames, changes the role, disables/enables or resets the password. Disabling and a password reset
   * end every login at once; disabling also refuses the user's API tokens.
   */
  async update(actor: Principal, id: string, input: UpdateUserRequest): Promise<UserView> {
    const admin = requireAdmin(actor);
    const user = await this.target(id);
    const losesAdmin = (input.role !== undefined && input.role !== 'admin') || input.disabled === true;
    if (losesAdmin && (await this.isLastAdmin(user)))
      throw new Conflict('this is the last admin: make someone else admin first', 'last_admin');
    const now = this.clock.now();
    const changes: Partial<User> = { updated_ms: now };
    if (input.name !== undefined) changes.name = input.name.trim();
    if (input.role !== undefined) changes.role = input.role;
    if (input.disabled !== undefined) changes.disabled_ms = input.disabled ? (user.disabled_ms ?? now) : null;
    if (input.password !== undefined) changes.password_hash = await this.hasher.hash(input.password);
    if (input.providerOnly !== undefined)
      changes.provider_only_ms = input.providerOnly ? (user.provider_only_ms ?? now) : null;
    await this.db.updateTable('users').set(changes).where('id', '=', id).execute();
    if (input.providerOnly === true && !user.provider_only_ms) {
      // Logins begun with the password end: from now on only the provider lets this user in.
      this.audit.log('user.provider_only', { userId: admin.userId, targetUserId: id });
      await this.logins.endAll(id, 'provider_only');
    }

    if (input.role !== undefined && input.role !== user.role) {
      this.audit.log('user.role_changed', {
        userId: admin.userId,
        targetUserId: id,
        from: user.role,
        to: input.role,
      });
      // Fewer rights now: open streams re-check what the user may see.
      this.events.emit('access.revoked', { userId: id });
    }
    if (input.disabled === true && user.disabled_ms === null) {
      this.audit.log('user.disabled', { userId: admin.userId, targetUserId: id });
      await this.logins.endAll(id, 'user_disabled');
      this.events.emit('access.revoked', { userId: id });
    } else if (input.disabled === false && user.disabled_ms !== null) {
      this.audit.log('user.enabled', { userId: admin.userId, targetUserId: id });
    }
    if (input.password !== undefined) await this.logins.endAll(id, 'password_reset');
    if (input.name !== undefined) this.audit.log('user.updated', { userId: admin.userId, targetUserId: id });
    return toUserView({ ...user, ...changes });
  }

  /**
   * Sets the role the provider's role claim maps to at a sign-in (TACHO_OIDC_ROLE_CLAIM). The last
   * enabled admin keeps the role: the provider cannot lock every admin out.
   */
  async setRoleFromProvider(user: User, role: Role): Promise<User> {
    if (role !== 'admin' && (await this.isLastAdmin(user))) return user;
    const now = this.clock.now();
    await this.db.updateTable('users').set({ role, updated_ms: now }).where('id', '=', user.id).execute();
    this.audit.log('user.role_changed', {
      userId: user.id,
      targetUserId: user.id,
      from: user.role,
      to: role,
      via: 'oidc',
    });
    if (roleRank(role) < roleRank(user.role)) this.events.emit('access.revoked', { userId: user.id });
    return { ...user, role, updated_ms: now };
  }

  /** Deletes the user with their logins, tokens, grants and the vehicles they own (with all their data). */
  async delete(actor: Principal, id: string): Promise<void> {
    const admin = requireAdmin(actor);
    const user = await this.target(id);
    if (await this.isLastAdmin(user)) throw new Conflict('this is the last admin', 'last_admin');
    await this.logins.endAll(id, 'user_deleted');
    await this.db.transaction().execute(async (trx) => {
      const owned = trx.selectFrom('vehicles').select('id').where('owner_id', '=', id);
      // Tables keyed by vehicle without a foreign key (for write speed) are cleared by hand.
      await trx.deleteFrom('samples').where('vehicle_id', 'in', owned).execute();
      await trx.deleteFrom('rollups_minute').where('vehicle_id', 'in', owned).execute();
      await trx.deleteFrom('rollups_hour').where('vehicle_id', 'in', owned).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
    });
    this.audit.log('user.deleted', { userId: admin.userId, targetUserId: id });
    this.events.emit('access.revoked', { userId: id });
  }
}
