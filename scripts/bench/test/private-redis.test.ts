import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createCleanup } from '../cleanup.js';
import { privateRedis } from '../system.js';

describe('bench: a Redis of the run’s own', () => {
  it('when the run starts, then it gets a redis-server on a free port of its own, stopped by the cleanup', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-redis-'));
    const cleanup = createCleanup(() => undefined);
    try {
      const url = await privateRedis(cleanup);
      expect(url).to.match(/^redis:\/\/127\.0\.0\.1:\d+$/);
      const client = new Redis(url!, { maxRetriesPerRequest: 0 });
      expect(await client.dbsize()).to.equal(0);
      client.disconnect();

      expect(await cleanup.run()).to.deep.equal([]);
      const after = new Redis(url!, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      const refused: string[] = [];
      after.on('error', (err: Error) => refused.push(err.message));
      const error = await after.connect().then(
        () => 'connected',
        (err: Error) => err.message,
      );
      after.disconnect();
      expect(error).not.to.equal('connected');
      expect(refused.join(' ')).to.match(/ECONNREFUSED/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when redis-server cannot be started, then there is none, and the run falls back to the shared one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-redis-'));
    const before = process.env.BENCH_REDIS_SERVER;
    process.env.BENCH_REDIS_SERVER = join(dir, 'no-such-redis-server');
    try {
      expect(await privateRedis(createCleanup(() => undefined))).to.equal(undefined);
    } finally {
      if (before === undefined) delete process.env.BENCH_REDIS_SERVER;
      else process.env.BENCH_REDIS_SERVER = before;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
