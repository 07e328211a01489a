import { expect } from 'chai';
import { startTestApi, type TestApi } from '../support/api.js';
import { startPrivateRedis, type PrivateRedis } from '../../scripts/testkit/redis.js';

/**
 * BullMQ loses queued jobs when Redis may evict keys: /health/ready warns (and stays ready) when
 * `maxmemory-policy` is not noeviction. A Redis of the test's own, since CONFIG SET and ACL users
 * must not touch the shared one.
 */
describe('/health/ready and the Redis eviction policy', function () {
  this.timeout(30000);
  let redis: PrivateRedis;
  const apis: TestApi[] = [];

  before(async () => {
    redis = await startPrivateRedis();
  });
  after(async () => {
    for (const api of apis) await api.stop();
    await redis?.stop();
  });

  async function ready(url: string) {
    const api = await startTestApi({ label: 'policy', env: { REDIS_URL: url } });
    apis.push(api);
    return api;
  }

  it('when the policy is allkeys-lru, then ready stays 200 and warns naming the policy', async () => {
    await redis.client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const api = await ready(redis.url);
    const res = await api.request('GET', '/health/ready');
    expect(res.status).to.equal(200);
    expect(res.body.data.status).to.equal('ready');
    expect(res.body.data.checks.redis).to.equal('ok');
    expect(res.body.errors).to.deep.equal([]);
    expect(res.body.data.warnings).to.have.length(1);
    expect(res.body.data.warnings[0]).to.include({ code: 'dependency_warning', field: 'redis' });
    expect(res.body.data.warnings[0].message).to.match(/maxmemory-policy is allkeys-lru/);
    expect(res.body.data.warnings[0].message).to.match(/noeviction/);
  });

  it('when the policy is put back to noeviction, then the warning goes away', async () => {
    await redis.client.config('SET', 'maxmemory-policy', 'volatile-ttl');
    const api = await ready(redis.url);
    expect((await api.request('GET', '/health/ready')).body.data.warnings).to.have.length(1);
    await redis.client.config('SET', 'maxmemory-policy', 'noeviction');
    const res = await api.request('GET', '/health/ready');
    expect(res.status).to.equal(200);
    expect(res.body.data.warnings).to.deep.equal([]);
  });

  it('when INFO and CONFIG are refused (as on a managed Redis), then ready stays 200 and warns that the policy is unknown', async () => {
    await redis.client.config('SET', 'maxmemory-policy', 'noeviction');
    // A user allowed everything but the two commands that tell the policy.
    await redis.client.call('ACL', 'SETUSER', 'limited', 'on', '>limited-pw', '~*', '&*', '+@all');
    await redis.client.call('ACL', 'SETUSER', 'limited', '-info', '-config');
    const api = await ready(`redis://limited:limited-pw@127.0.0.1:${redis.port}`);
    const res = await api.request('GET', '/health/ready');
    expect(res.status).to.equal(200);
    expect(res.body.data.checks.redis).to.equal('ok');
    expect(res.body.data.warnings).to.have.length(1);
    expect(res.body.data.warnings[0].message).to.match(/could not be read/);
  });
});
