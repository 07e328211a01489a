import { expect } from 'chai';
import { clusterOptions, parseClusterNodes, redisOptions } from '../../jobs/redis.js';
import { prefixOf, queuePrefix } from '../../jobs/outbox/queues.js';
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
    expect(clusterOptions(target, 'producer').redisOptions?.maxRetriesPerRequest).to.equal(1);
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
});
