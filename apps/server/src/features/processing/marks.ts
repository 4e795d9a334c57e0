import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../../db/index.js';

/**
 * Which after-commit processors a batch leaves marks for (decision 0017). A processor with nothing to do
 * anywhere costs ingest nothing: alerts get marks only while some rule is enabled. At 10,000 messages a
 * second from 100 vehicles each batch holds about one sample per vehicle, so every processor marked
 * doubled the rows the batch wrote (and its pass deleted them all again).
 *
 * The gate is read inside the batch's transaction: a rule enabled before the batch commits is seen, and
 * one enabled after it starts at the newest data anyway (the alerts processor never replays history).
 * The same gate tells the runner that a processor has nothing to do anywhere (it then drops the
 * processor's marks, see `gateShut`).
 */
export const MARK_GATES: Readonly<Partial<Record<string, string>>> = {
  alerts: 'select 1 as one from alert_rules where enabled = 1 limit 1',
};

/** Whether `gate` lets marks through now. */
export async function gateOpen(db: Kysely<Database>, gate: string): Promise<boolean> {
  return (await sql.raw(gate).execute(db)).rows.length > 0;
}

/**
 * A condition true only while `gate` is shut, for the statements that drop a gated processor's marks:
 * checked in the statement itself, so a mark written by a batch that saw the gate open (a rule enabled
 * after the pass found none) is never dropped.
 */
export function gateShut(gate: string): Expression<SqlBool> {
  return sql<SqlBool>`not exists (${sql.raw(gate)})`;
}

/** The processors among `processors` that want this transaction's marks. */
export async function markedProcessors(
  trx: Kysely<Database>,
  processors: readonly string[],
): Promise<readonly string[]> {
  const wanted: string[] = [];
  for (const processor of processors) {
    const gate = MARK_GATES[processor];
    if (gate === undefined || (await gateOpen(trx, gate))) wanted.push(processor);
  }
  return wanted;
}
