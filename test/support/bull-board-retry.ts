import { Queue, Worker, type Job } from 'bullmq';
import { expect } from 'chai';
import { once } from 'node:events';
import { closeRedis, createRedis, type RedisTarget } from '../../jobs/redis.js';
import type { RequestJson } from './api.js';

/**
 * What ops do on a bad day, through Bull Board's API: a payments job fails once (a throwaway
 * producer and worker on `prefix`, standing in for the relay and the worker), ops list the failed
 * jobs and see its error, retry it, and it runs again and completes. Checks each step; resolves
 * with how often the job ran.
 */
export async function expectRetriedThroughBullBoard(
  request: RequestJson,
  {
    redis,
    prefix,
    auth,
  }: { redis: RedisTarget | string; prefix: string; auth: Record<string, string> },
): Promise<{ runs: number }> {
  const producerConnection = createRedis(redis, 'producer');
  const producer = new Queue('payments', { connection: producerConnection, prefix });
  const workerConnection = createRedis(redis, 'worker');
  let runs = 0;
  const worker = new Worker(
    'payments',
    async () => {
      runs += 1;
      if (runs === 1) throw new Error('payments answered 503');
      return 'paid';
    },
    { connection: workerConnection, prefix },
  );
  try {
    const failed = once(worker, 'failed');
    await producer.add('payment.requested', { outboxId: 1 }, { jobId: 'outbox-1', attempts: 1 });
    await failed;

    const listing = await request(
      'GET',
      '/admin/queues/api/queues?activeQueue=payments&status=failed&page=1&jobsPerPage=10',
      undefined,
      auth,
    );
    expect(listing.status).to.equal(200);
    const payments = listing.body.queues.find((q: { name: string }) => q.name === 'payments');
    expect(payments.counts.failed).to.equal(1);
    expect(payments.jobs[0]).to.include({ id: 'outbox-1', failedReason: 'payments answered 503' });

    const completed = once(worker, 'completed') as Promise<[Job, unknown]>;
    const retry = await request(
      'PUT',
      '/admin/queues/api/queues/payments/outbox-1/retry',
      undefined,
      auth,
    );
    expect(retry.status).to.equal(204);
    const [job, result] = await completed;
    expect(job.id).to.equal('outbox-1');
    expect(result).to.equal('paid');
    expect(await producer.getJobState('outbox-1')).to.equal('completed');
    return { runs };
  } finally {
    await worker.close();
    await producer.close();
    await closeRedis(workerConnection);
    await closeRedis(producerConnection);
  }
}
