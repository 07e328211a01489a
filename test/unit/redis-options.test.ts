import { expect } from 'chai';
import { clusterOptions, parseClusterNodes, redisOptions } from '../../jobs/redis.js';
import {
  prefixOf,
  queuePrefix,
  shardConcurrency,
  shardOf,
  shardQueueName,
} from '../../jobs/outbox/queues.js';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../lib/platform/config.js';

describe('redis connection options', () => {
  it('when the URL is rediss://, then TLS is on and verifies the certificate unless told not to', () => {
    expect(redisOptions('rediss://h:6380', 'producer').tls).to.deep.equal({
      rejectUnauthorized: true,
    });
    expect(redisOptions('REDISS://h:6380', 'worker', 'w', { verify: false }).tls).to.deep.equal({
      rejectUnauthorized: false,
    });
    expect(redisOptions('redis://h:6379', 'producer').tls).to.equal(undefined);
  });

  it('when a producer, then it fails fast; when a worker, then it waits out reconnects (BullMQ needs both)', () => {
    expect(redisOptions('redis://h', 'producer')).to.include({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    expect(redisOptions('redis://h', 'worker').maxRetriesPerRequest).to.equal(null);
  });

  it('when REDIS_TLS_VERIFY=false, then the config says so', () => {
    expect(loadConfig({}).redisTlsVerify).to.equal(true);
    expect(loadConfig({ REDIS_TLS_VERIFY: 'false' }).redisTlsVerify).to.equal(false);
  });

  it('when REDIS_CLUSTER_NODES lists seeds, then each becomes a host and port, and a bad one is refused', () => {
    expect(parseClusterNodes('10.0.0.1:7000, redis-2.internal:7001,')).to.deep.equal([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-2.internal', port: 7001 },
    ]);
    expect(() => parseClusterNodes('10.0.0.1')).to.throw(/host:port/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1,b' })).to.throw(/REDIS_CLUSTER_NODES/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1,b:99999' })).to.throw(
      /REDIS_CLUSTER_NODES: each port must be from 1 to 65535/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:0' })).to.throw(/REDIS_CLUSTER_NODES/);
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:1,b:2' }).redisClusterNodes).to.equal('a:1,b:2');
  });

  it("when on a cluster, then every node gets REDIS_URL's TLS and credentials and the role's retry rule", () => {
    const target = {
      url: 'rediss://user:p%40ss@ignored:6380',
      clusterNodes: 'a:1',
      tlsVerify: false,
    };
    const worker = clusterOptions(target, 'worker', 'w');
    expect(worker.redisOptions).to.deep.include({
      tls: { rejectUnauthorized: false },
      username: 'user',
      password: 'p@ss',
      maxRetriesPerRequest: null,
      connectionName: 'w',
    });
    expect(worker.enableOfflineQueue).to.equal(true);
    const producer = clusterOptions(target, 'producer');
    expect(producer.redisOptions?.maxRetriesPerRequest).to.equal(1);
    expect(producer.enableOfflineQueue, 'a producer fails fast when the cluster is lost').to.equal(
      false,
    );
    expect(
      clusterOptions({ url: 'redis://h', clusterNodes: 'a:1' }, 'producer').redisOptions,
    ).to.not.have.any.keys('tls', 'password', 'username');
  });

  it('when on a cluster, then each queue gets a hash tag of its own from BULLMQ_PREFIX, braces or not; on one Redis the prefix stays as configured', () => {
    expect(queuePrefix('{orders}', 'payments', true)).to.equal('{orders:payments}');
    expect(queuePrefix('orders', 'payments', true)).to.equal('{orders:payments}');
    expect(queuePrefix('{orders}', 'payments', false)).to.equal('{orders}');
    expect(prefixOf(loadConfig({}))('inbox')).to.equal('{orders}');
    expect(prefixOf(loadConfig({ REDIS_CLUSTER_NODES: 'a:1' }))('inbox')).to.equal(
      '{orders:inbox}',
    );
  });

  it('when a queue is split in N shards, then an order always maps to the same one, the orders spread over all, and shard 0 keeps the queue’s name', () => {
    const ids = Array.from({ length: 3000 }, () => randomUUID());
    const counts = [0, 0, 0];
    for (const id of ids) {
      const shard = shardOf(id, 3);
      expect(shardOf(id, 3)).to.equal(shard);
      counts[shard]! += 1;
    }
    for (const n of counts) expect(n).to.be.within(850, 1150);
    expect(shardOf('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1)).to.equal(0);
    expect(shardOf(null, 4)).to.equal(0);
    expect(shardQueueName('payments', 0)).to.equal('payments');
    expect(shardQueueName('payment-checks', 2)).to.equal('payment-checks.2');
    expect(queuePrefix('orders', shardQueueName('payments', 1), true)).to.equal(
      '{orders:payments.1}',
    );
    expect(shardConcurrency(16, 3)).to.equal(6);
    expect(shardConcurrency(1, 4)).to.equal(1);
    expect(loadConfig({}).queueShards.payments).to.equal(1);
    expect(loadConfig({ QUEUE_SHARDS_PAYMENTS: '4' }).queueShards.payments).to.equal(4);
    expect(() => loadConfig({ QUEUE_SHARDS_INBOX: '0' })).to.throw(/QUEUE_SHARDS_INBOX/);
  });
});
