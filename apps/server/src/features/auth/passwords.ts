import { hash, verify } from '@node-rs/argon2';

/** `Algorithm.Argon2id`: a const enum, which `verbatimModuleSyntax` cannot import by name. */
const ARGON2ID = 2;

/** OWASP's argon2id parameters: 19 MiB of memory, 2 iterations, 1 lane. */
export const ARGON2_PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID, ...ARGON2_PARAMS });
}

/** Whether `password` matches the PHC string; a malformed hash is a mismatch, never an exception. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}

/**
 * Whether a stored hash is weaker than today's parameters (another algorithm, less memory or fewer
 * iterations); such a hash is replaced at the next successful login, while the password is at hand.
 */
export function needsRehash(phc: string): boolean {
  const match = /^\$(argon2(?:id|i|d))\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
  if (!match) return true;
  const [, algorithm, m, t, p] = match;
  return (
    algorithm !== 'argon2id' ||
    Number(m) < ARGON2_PARAMS.memoryCost ||
    Number(t) < ARGON2_PARAMS.timeCost ||
    Number(p) < ARGON2_PARAMS.parallelism
  );
}

let dummy: Promise<string> | null = null;

/**
 * A hash of nothing anyone knows, verified when the email is unknown so that an unknown email costs the
 * same time as a wrong password and the reply's timing does not tell which emails have accounts.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(`no such user ${Math.random()}`);
  return dummy;
}
