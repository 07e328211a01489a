import { expect } from 'chai';
import {
  ConfigError,
  directDatabaseUrl,
  loadConfig,
  parseBrokers,
} from '../../lib/platform/config.js';

describe('config', () => {
  it('when nothing is set, then defaults work against 127.0.0.1 with PORT 8000', () => {
    const c = loadConfig({});
    expect(c.port).to.equal(8000);
    expect(c.databaseUrl).to.match(/127\.0\.0\.1:5432/);
    expect(c.redisUrl).to.equal('redis://127.0.0.1:6379');
    expect(c.kafka.requestsTopic).to.equal('shipping.requests');
    expect(c.kafka.responsesTopic).to.equal('shipping.responses');
    expect(c.kafka.groupId).to.equal('order-service');
    expect(c.kafka.idempotent).to.equal(true);
    expect(c.bullPrefix).to.equal('{orders}');
  });

  it('when DATABASE_DIRECT_URL is unset, then LISTEN and the migrations use DATABASE_URL, with prepared statements on', () => {
    const url = 'postgres://app@db.internal:5432/orders';
    const c = loadConfig({ DATABASE_URL: url, DATABASE_DIRECT_URL: '' });
    expect(directDatabaseUrl(c)).to.equal(url);
    expect(c.databasePreparedStatements).to.equal(true);
  });

  it('when the service is behind PgBouncer, then DATABASE_DIRECT_URL is the direct connection and prepared statements can be turned off', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://app@pgbouncer.internal:6432/orders',
      DATABASE_DIRECT_URL: 'postgres://app@db.internal:5432/orders',
      DATABASE_PREPARED_STATEMENTS: 'false',
    });
    expect(directDatabaseUrl(c)).to.equal('postgres://app@db.internal:5432/orders');
    expect(c.databasePreparedStatements).to.equal(false);
  });

  it('when values are wrong, then one problem per variable is named, all at once', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        PAYMENTS_SERVICE_API_URL: 'not a url',
        JOB_RETRY_WINDOW_MS: '0',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const named = error!.problems.map((p) => p.split(':')[0]);
    expect(named).to.have.members([
      'PORT',
      'DATABASE_URL',
      'PAYMENTS_SERVICE_API_URL',
      'JOB_RETRY_WINDOW_MS',
    ]);
    expect(error!.message.split('\n')).to.have.length(5);
  });

  it('when nothing is set, then transient failures are retried for 24 h, from 500 ms, each delay at most 60 s', () => {
    expect(loadConfig({}).jobs).to.include({
      backoffMs: 500,
      backoffMaxMs: 60_000,
      retryWindowMs: 24 * 3600_000,
    });
  });

  it('when the backoff cap is below the first delay, then it is refused', () => {
    expect(() => loadConfig({ JOB_BACKOFF_MS: '5000', JOB_BACKOFF_MAX_MS: '1000' })).to.throw(
      ConfigError,
      /JOB_BACKOFF_MAX_MS must be at least JOB_BACKOFF_MS/,
    );
  });

  it('when the webhook secret is not whsec_<base64>, then it is refused without echoing it', () => {
    try {
      loadConfig({ PAYMENTS_WEBHOOK_SECRET: 'plain-secret-value' });
      expect.fail('should have thrown');
    } catch (e) {
      expect((e as ConfigError).problems[0]).to.match(/^PAYMENTS_WEBHOOK_SECRET/);
      expect((e as Error).message).not.to.contain('plain-secret-value');
    }
  });

  it('when only one of ADMIN_USER/ADMIN_PASSWORD is set, then it is refused', () => {
    expect(() => loadConfig({ ADMIN_USER: 'ops' })).to.throw(
      ConfigError,
      /ADMIN_USER and ADMIN_PASSWORD/,
    );
  });

  describe('in production', () => {
    const WEB = { process: 'web' } as const;
    const SECRET = `whsec_${Buffer.from('a production webhook secret').toString('base64')}`;
    const production = (env: Record<string, string> = {}) => ({
      NODE_ENV: 'production',
      PAYMENTS_WEBHOOK_SECRET: SECRET,
      ...env,
    });
    const problemsOf = (env: Record<string, string>, options = {}) => {
      try {
        loadConfig(env, options);
        return [];
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as ConfigError).problems;
      }
    };

    it('when the web process has no PAYMENTS_WEBHOOK_SECRET, then it is refused, naming the variable and the opt-out', () => {
      const problems = problemsOf({ NODE_ENV: 'production' }, WEB);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^PAYMENTS_WEBHOOK_SECRET is required in production/);
      expect(problems[0]).to.include('PAYMENTS_WEBHOOK_UNSIGNED=true');
      expect(
        problemsOf({ NODE_ENV: 'production', PAYMENTS_WEBHOOK_SECRET: '' }, WEB),
      ).to.have.length(1);
    });

    it('when PAYMENTS_WEBHOOK_UNSIGNED=true says so, then the web process may take unsigned callbacks', () => {
      const c = loadConfig({ NODE_ENV: 'production', PAYMENTS_WEBHOOK_UNSIGNED: 'true' }, WEB);
      expect(c.paymentsWebhookSecret).to.equal(undefined);
      expect(c.paymentsWebhookUnsigned).to.equal(true);
      expect(
        problemsOf({ NODE_ENV: 'production', PAYMENTS_WEBHOOK_UNSIGNED: 'false' }, WEB),
      ).to.have.length(1);
    });

    it('when the web process is given a well-known admin password, then it is refused without echoing it', () => {
      for (const password of ['change-me', 'CHANGE-ME', 'password1234']) {
        const problems = problemsOf(
          production({ ADMIN_USER: 'ops', ADMIN_PASSWORD: password }),
          WEB,
        );
        expect(problems, password).to.deep.equal([
          'ADMIN_PASSWORD is a well-known default; production needs a random one',
        ]);
      }
    });

    it('when the web process is given a short admin password, then it is refused without echoing it', () => {
      const problems = problemsOf(
        production({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'x7#Qp2!vL9' }),
        WEB,
      );
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/^ADMIN_PASSWORD is shorter than 12 characters/);
      expect(problems.join('\n')).not.to.include('x7#Qp2!vL9');
    });

    it('when every refusal applies, then each is named at once', () => {
      const problems = problemsOf(
        { NODE_ENV: 'production', ADMIN_USER: 'admin', ADMIN_PASSWORD: 'change-me' },
        WEB,
      );
      expect(problems.map((p) => p.split(' ')[0])).to.deep.equal([
        'PAYMENTS_WEBHOOK_SECRET',
        'ADMIN_PASSWORD',
      ]);
    });

    it('when the web process has a secret and a long random admin password, or no admin at all, then it starts', () => {
      const strong = production({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'k3Vh9-wQz2rT8mPx' });
      expect(loadConfig(strong, WEB).adminPassword).to.equal('k3Vh9-wQz2rT8mPx');
      expect(loadConfig(production(), WEB).adminUser).to.equal(undefined);
    });

    it('when it is not production, or not the web process, then the same defaults are taken', () => {
      const composeDefaults = { ADMIN_USER: 'admin', ADMIN_PASSWORD: 'change-me' };
      for (const nodeEnv of ['development', 'test']) {
        expect(problemsOf({ NODE_ENV: nodeEnv, ...composeDefaults }, WEB), nodeEnv).to.deep.equal(
          [],
        );
      }
      for (const process of ['worker', 'consumer'] as const) {
        expect(
          problemsOf({ NODE_ENV: 'production', ...composeDefaults }, { process }),
          process,
        ).to.deep.equal([]);
      }
      // The release phase and the tools name no process.
      expect(problemsOf({ NODE_ENV: 'production', ...composeDefaults })).to.deep.equal([]);
    });
  });

  describe('TRUST_PROXY_HOPS', () => {
    it('when it is unset, then no proxy is trusted (clients connect directly)', () => {
      expect(loadConfig({}).trustProxyHops).to.equal(0);
      expect(loadConfig({ NODE_ENV: 'production', TRUST_PROXY_HOPS: '' }).trustProxyHops).to.equal(
        0,
      );
    });

    it("when DYNO is set (Heroku), then the one hop of Heroku's router is trusted", () => {
      expect(loadConfig({ NODE_ENV: 'production', DYNO: 'web.1' }).trustProxyHops).to.equal(1);
      expect(loadConfig({ DYNO: '' }).trustProxyHops).to.equal(0);
    });

    it('when it is set, then it wins over the platform', () => {
      expect(loadConfig({ DYNO: 'web.1', TRUST_PROXY_HOPS: '0' }).trustProxyHops).to.equal(0);
      expect(loadConfig({ TRUST_PROXY_HOPS: '2' }).trustProxyHops).to.equal(2);
      expect(() => loadConfig({ TRUST_PROXY_HOPS: '-1' })).to.throw(
        ConfigError,
        /^[\s\S]*TRUST_PROXY_HOPS/,
      );
    });
  });

  it('when KAFKA_TOPIC is set, then it serves both directions, and KAFKA_PREFIX prefixes topics and group', () => {
    const c = loadConfig({ KAFKA_TOPIC: 'shipping-events', KAFKA_PREFIX: 'acme-42.' });
    expect(c.kafka.requestsTopic).to.equal('acme-42.shipping-events');
    expect(c.kafka.responsesTopic).to.equal('acme-42.shipping-events');
    expect(c.kafka.groupId).to.equal('acme-42.order-service');
  });

  it("when Heroku's KAFKA_URL is set, then brokers are parsed and TLS is on", () => {
    const c = loadConfig({ KAFKA_URL: 'kafka+ssl://b1.example:9096,kafka+ssl://b2.example:9096' });
    expect(c.kafka.brokers).to.deep.equal(['b1.example:9096', 'b2.example:9096']);
    expect(c.kafka.ssl).to.equal(true);
    expect(parseBrokers('localhost:9092, localhost:9093')).to.deep.equal({
      brokers: ['localhost:9092', 'localhost:9093'],
      ssl: false,
    });
  });
});

describe('.env.example', () => {
  it('when compared with the config schema, then it lists every variable and only those', async () => {
    const { readFile } = await import('node:fs/promises');
    const { CONFIG_VARIABLES } = await import('../../lib/platform/config.js');
    const text = await readFile(new URL('../../.env.example', import.meta.url), 'utf8');
    const listed = [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect(listed).to.have.members(CONFIG_VARIABLES);
  });
});
