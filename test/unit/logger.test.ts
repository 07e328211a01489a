import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { createLogger, redact } from '../../lib/platform/logger.js';

describe('logger', () => {
  it('when a record holds secrets, then they never reach the output', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const log = createLogger({ name: 't', level: 'info', out }).child({ component: 'x' });

    log.info(
      {
        headers: { 'x-api-key': 'k-123', authorization: 'Basic b3BzOnB3' },
        config: { databaseUrl: 'postgres://app:hunter2@db:5432/o', adminPassword: 'pw-1' },
        note: 'secret is whsec_QUJDREVGR0g=',
      },
      'connecting to redis://:r3dis-pass@cache:6379',
    );
    await new Promise((r) => setImmediate(r));

    const line = chunks.join('');
    for (const secret of ['k-123', 'b3BzOnB3', 'hunter2', 'pw-1', 'QUJDREVGR0g', 'r3dis-pass']) {
      expect(line).not.to.contain(secret);
    }
    const record = JSON.parse(line) as Record<string, unknown>;
    expect(record.component).to.equal('x');
    expect(record.msg).to.contain('redis://:***@cache:6379');
  });

  it('when values are not secrets, then they pass unchanged', () => {
    expect(redact({ order_id: 'o-1', url: 'http://catalog/api' })).to.deep.equal({
      order_id: 'o-1',
      url: 'http://catalog/api',
    });
  });
});
