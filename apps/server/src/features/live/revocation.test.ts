import { afterEach, describe, expect, it } from 'vitest';
import type { AppOptions } from '../../app.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { engines } from '../../test/storage.js';
import { createTestUser, type TestUser } from '../auth/testing.js';
import {
  addVehicle,
  CLOSE_CAP_MS,
  follow,
  loginSocket,
  NO_BACKSTOP_MS,
  revoke,
  share,
  tokenSocket,
} from './revocation.test-support.js';
import type { TestSocket } from './test-socket.js';

/**
 * Issue 24.2: a revocation (role lowered, user disabled, password changed, logout, token revoked,
 * access unshared) closes or re-authorises the open live sockets it concerns, as REST refuses at once.
 * These run on one instance with the in-process bus, the periodic re-check off unless a test is about it.
 */
for (const engine of engines) {
  describe(`live sockets after a revocation [${engine}]`, () => {
    let app: TestApp;
    let base: string;
    let admin: TestUser;
    let owner: TestUser;
    let theirs: string;
    const sockets: TestSocket[] = [];

    async function start(options: AppOptions = { recheckMs: NO_BACKSTOP_MS }) {
      app = await createTestApp(engine, {}, options);
      base = (await app.listen()).replace(/^http/, 'ws');
      admin = await createTestUser(app, 'admin');
      owner = await createTestUser(app, 'operator');
      theirs = await addVehicle(app, owner, '5YJ3E1EA7KF000301');
    }
    function keep<T extends { socket: TestSocket }>(opened: T): T {
      sockets.push(opened.socket);
      return opened;
    }

    afterEach(async () => {
      for (const s of sockets.splice(0)) s.close();
      await app?.dispose();
    });

    it('a role lowered from admin to viewer closes the socket following what the user may no longer see, and refuses new subscriptions to it', async () => {
      await start();
      const target = await createTestUser(app, 'admin');
      const following = keep(await loginSocket(app, base, target)).socket;
      await follow(following, theirs);
      const idle = keep(await tokenSocket(app, base, target)).socket;

      await revoke.role(app, admin, target.id, 'viewer');
      expect(await following.closed(CLOSE_CAP_MS)).toEqual({
        code: 4403,
        reason: 'access to a subscribed vehicle was revoked',
      });
      // The other socket stays, but acts with the lowered role from now on.
      idle.send({ type: 'subscribe', vehicleIds: [theirs] });
      expect(await idle.next('error')).toMatchObject({ code: 'not_found', vehicleId: theirs });
      expect(idle.messages.some((m) => m.type === 'snapshot')).toBe(false);
    });

    it('a subscribe acts with the role and credentials as they are now, whatever events said', async () => {
      await start();
      const target = await createTestUser(app, 'admin');
      const lowered = keep(await tokenSocket(app, base, target)).socket;
      const revoked = keep(await tokenSocket(app, base, target));
      // Straight in the database, so no event tells the hub.
      const db = app.storage.db;
      await db.updateTable('users').set({ role: 'viewer' }).where('id', '=', target.id).execute();
      await db.updateTable('api_tokens').set({ revoked_ms: 1 }).where('id', '=', revoked.tokenId).execute();

      lowered.send({ type: 'subscribe', vehicleIds: [theirs] });
      expect(await lowered.next('error')).toMatchObject({ code: 'not_found', vehicleId: theirs });
      revoked.socket.send({ type: 'subscribe', vehicleIds: [theirs] });
      expect((await revoked.socket.closed(CLOSE_CAP_MS)).code).toBe(4401);
      expect(revoked.socket.messages.some((m) => m.type === 'snapshot')).toBe(false);
    });

    it('disabling a user closes their sockets, those of API tokens as well as of logins', async () => {
      await start();
      const target = await createTestUser(app, 'operator');
      const mine = await addVehicle(app, target, '5YJ3E1EA7KF000302');
      const viaLogin = keep(await loginSocket(app, base, target)).socket;
      const viaToken = keep(await tokenSocket(app, base, target)).socket;
      await follow(viaToken, mine);
      const bystander = keep(await tokenSocket(app, base, owner)).socket;

      await revoke.disable(app, admin, target.id);
      expect((await viaLogin.closed(CLOSE_CAP_MS)).code).toBe(4401);
      expect((await viaToken.closed(CLOSE_CAP_MS)).code).toBe(4401);
      await bystander.roundTrip();
      expect(bystander.closeCode).toBeNull();
    });

    it("revoking an API token closes the socket it opened, not the user's others", async () => {
      await start();
      const opened = keep(await tokenSocket(app, base, owner));
      const other = keep(await tokenSocket(app, base, owner)).socket;
      await follow(opened.socket, theirs);

      await revoke.token(app, owner, opened.tokenId);
      expect(await opened.socket.closed(CLOSE_CAP_MS)).toEqual({
        code: 4401,
        reason: 'login ended: token revoked',
      });
      await other.roundTrip();
      expect(other.closeCode).toBeNull();
    });

    it('a password change closes the sockets of every login; a logout those of its own login', async () => {
      await start();
      const target = await createTestUser(app, 'operator');
      const first = keep(await loginSocket(app, base, target));
      const second = keep(await loginSocket(app, base, target));
      await revoke.logout(app, first.access);
      expect((await first.socket.closed(CLOSE_CAP_MS)).code).toBe(4401);
      await second.socket.roundTrip();
      expect(second.socket.closeCode).toBeNull();

      await revoke.password(app, target);
      expect((await second.socket.closed(CLOSE_CAP_MS)).code).toBe(4401);
    });

    it('re-checks every socket now and then, so a revocation whose event was lost still closes it', async () => {
      await start({ recheckMs: 100 });
      const sharee = await createTestUser(app, 'viewer');
      await share(app, owner, theirs, sharee.email, 'viewer');
      const unshared = keep(await tokenSocket(app, base, sharee)).socket;
      await follow(unshared, theirs);
      const revoked = keep(await tokenSocket(app, base, owner));
      const ended = keep(await loginSocket(app, base, owner));
      const untouched = keep(await tokenSocket(app, base, owner)).socket;
      await follow(untouched, theirs);

      // Changed in the database only: no event tells the hub (as when a pub/sub message is lost).
      const db = app.storage.db;
      await db.deleteFrom('vehicle_access').where('user_id', '=', sharee.id).execute();
      await db.updateTable('api_tokens').set({ revoked_ms: 1 }).where('id', '=', revoked.tokenId).execute();
      await db.updateTable('logins').set({ revoked_ms: 1 }).where('id', '=', ended.loginId).execute();

      expect((await unshared.closed(CLOSE_CAP_MS)).code).toBe(4403);
      expect((await revoked.socket.closed(CLOSE_CAP_MS)).code).toBe(4401);
      expect((await ended.socket.closed(CLOSE_CAP_MS)).code).toBe(4401);
      await untouched.roundTrip();
      expect(untouched.closeCode).toBeNull();
    });
  });
}
