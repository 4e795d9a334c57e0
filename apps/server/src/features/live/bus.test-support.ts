import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env.TACHO_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether the test Redis answers; callers fail under CI=true and skip otherwise. */
export async function redisProblem(): Promise<string | null> {
  const client = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    client.disconnect();
  }
}

export async function redisAvailable(): Promise<boolean> {
  return (await redisProblem()) === null;
}
