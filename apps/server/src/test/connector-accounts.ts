import { expect } from 'vitest';
import type { Db } from '../db/index.js';

type TokenColumn = 'access_token' | 'refresh_token' | 'id_token' | 'pending_refresh_token';

/**
 * Puts one account's sealed token value into another place (another row, another column, or both), as a
 * damaged row or a restore from elsewhere would: sealed for its own row and column, it must not open there.
 */
export async function moveSealedToken(
  db: Db,
  from: { accountId: string; column: TokenColumn },
  to: { accountId: string; column: TokenColumn },
): Promise<void> {
  const row = await db
    .selectFrom('connector_accounts')
    .select(from.column)
    .where('id', '=', from.accountId)
    .executeTakeFirstOrThrow();
  await db
    .updateTable('connector_accounts')
    .set({ [to.column]: (row as Record<TokenColumn, string | null>)[from.column] })
    .where('id', '=', to.accountId)
    .execute();
}

/** A request's refusal as a case: the body sent, and the status, error code and message expected. */
export type Refusal = [payload: unknown, status: number, code: string, message: RegExp];

/** Sends each case's body and expects its refusal: the status, the error shape's code and a message. */
export async function expectRefusals(
  send: (payload: unknown) => Promise<{ statusCode: number; json(): unknown }>,
  cases: readonly Refusal[],
): Promise<void> {
  for (const [payload, status, code, message] of cases) {
    const res = await send(payload);
    const { error } = res.json() as { error: { code: string; message: string } };
    expect(res.statusCode, JSON.stringify(payload)).toBe(status);
    expect(error, JSON.stringify(payload)).toMatchObject({ code });
    expect(error.message).toMatch(message);
  }
}
