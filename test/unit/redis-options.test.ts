import { expect } from 'chai';
import { redisOptions } from '../../jobs/redis.js';
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
});
