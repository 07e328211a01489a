import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadConfig, SECTIONS } from '../../lib/platform/config.js';
import {
  variablesOf,
  type AnyVariable,
  type ProcessName,
} from '../../lib/platform/config/define.js';
import { processes } from '../../lib/platform/config/processes.js';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

interface AppJsonVar {
  description?: string;
  value?: string;
  required?: boolean;
  generator?: string;
}
interface AppJson {
  formation: Record<string, { quantity: number; size: string }>;
  addons: { plan: string; as?: string }[];
  env: Record<string, AppJsonVar>;
}

const declared = new Map<string, AnyVariable>(
  SECTIONS.flatMap((s) => variablesOf(s.variables)).map((v) => [v.env, v]),
);

/**
 * What each add-on sets on the app, by Heroku's documentation: the attachment name (`as`, or the
 * add-on's default) followed by `_URL`, and for Kafka its certificates and, on multi-tenant plans,
 * the topic prefix.
 */
const ADDON_VARIABLES: Record<string, { attachment: string; extra: string[] }> = {
  'heroku-postgresql': { attachment: 'DATABASE', extra: [] },
  'heroku-redis': { attachment: 'REDIS', extra: [] },
  'heroku-kafka': {
    attachment: 'KAFKA',
    extra: ['TRUSTED_CERT', 'CLIENT_CERT', 'CLIENT_CERT_KEY', 'PREFIX'],
  },
};

/** Needed variables that another one can stand in for (the process takes either). */
const ALTERNATIVES = [['KAFKA_URL', 'KAFKA_BOOTSTRAP_SERVERS']];

/** Values a person filling in the Deploy form would give, for the variables with no example. */
const FILLED_IN: Record<string, string> = {
  PAYMENTS_CALLBACK_URL: 'https://order-service.example.com/api/v1/orders/payment-callback',
  PAYMENTS_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}`,
  CAPASHINO_SERVICE_ACCESS_TOKEN: 'token',
};

/** Plausible values of what the add-ons set. */
const FROM_ADDONS: Record<string, string> = {
  DATABASE_URL: 'postgres://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1',
  REDIS_URL: 'rediss://:p@ec2-1-2-3-4.compute-1.amazonaws.com:6380',
  KAFKA_URL: 'kafka+ssl://ec2-1-2-3-4.compute-1.amazonaws.com:9096',
  KAFKA_TRUSTED_CERT: '-----BEGIN CERTIFICATE-----',
  KAFKA_CLIENT_CERT: '-----BEGIN CERTIFICATE-----',
  KAFKA_CLIENT_CERT_KEY: '-----BEGIN RSA PRIVATE KEY-----',
  KAFKA_PREFIX: 'tenant-1234.',
};

function addonVariables(app: AppJson): Set<string> {
  return new Set(
    app.addons.flatMap(({ plan, as }) => {
      const known = ADDON_VARIABLES[plan.split(':')[0]!];
      if (!known) return [];
      const name = as ?? known.attachment;
      return [`${name}_URL`, ...known.extra.map((x) => `${name}_${x}`)];
    }),
  );
}

/** The processes of the Procfile, the release phase included. */
function procfileTypes(): string[] {
  return read('Procfile')
    .split('\n')
    .filter((l) => /^\w+:/.test(l))
    .map((l) => l.slice(0, l.indexOf(':')));
}

/**
 * Everything app.json gets wrong against the config declarations and the Procfile; empty when it
 * is right. Each problem names the variable or process.
 */
function appJsonProblems(app: AppJson): string[] {
  const problems: string[] = [];
  const fromAddons = addonVariables(app);
  const given = (name: string) => name in app.env || fromAddons.has(name);

  for (const [name, entry] of Object.entries(app.env)) {
    const v = declared.get(name);
    if (!v) {
      problems.push(`${name}: in app.json but not declared in lib/platform/config/`);
      continue;
    }
    if (entry.description !== v.description)
      problems.push(`${name}: its description differs from its declaration's`);
    const keys = Object.keys(entry).filter(
      (k) => !['description', 'value', 'required', 'generator'].includes(k),
    );
    if (keys.length) problems.push(`${name}: unknown keys ${keys.join(', ')}`);
  }

  for (const v of declared.values()) {
    if (!v.neededBy.length) continue;
    const group = ALTERNATIVES.find((g) => g.includes(v.env)) ?? [v.env];
    if (!group.some(given))
      problems.push(
        `${v.env}: needed by ${v.neededBy.join(', ')}, but neither in app.json nor set by an add-on`,
      );
    else if (v.env in app.env && app.env[v.env]!.required === false)
      problems.push(`${v.env}: needed by ${v.neededBy.join(', ')}, but marked not required`);
  }
  // The defaults of these point at 127.0.0.1: on the platform they must come from an add-on.
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'KAFKA_URL'])
    if (!fromAddons.has(name)) problems.push(`${name}: no add-on sets it`);

  // The form filled in as app.json asks: every process must accept the result in production.
  const env: NodeJS.ProcessEnv = { NODE_ENV: 'production', DYNO: 'web.1' };
  for (const name of fromAddons) env[name] = FROM_ADDONS[name] ?? 'x';
  for (const [name, entry] of Object.entries(app.env)) {
    if (entry.value !== undefined) env[name] = entry.value;
    else if (entry.generator === 'secret') env[name] = randomBytes(32).toString('hex');
    else if (entry.required !== false)
      env[name] = declared.get(name)?.example ?? FILLED_IN[name] ?? '';
  }
  for (const process of ['web', 'worker', 'consumer'] as ProcessName[]) {
    try {
      loadConfig(env, { process });
    } catch (err) {
      problems.push(`the ${process} process refuses app.json's config: ${(err as Error).message}`);
    }
  }

  const types = procfileTypes();
  if (!types.includes('release')) problems.push('Procfile: no release phase (the migrations)');
  const running = types.filter((t) => t !== 'release').sort();
  if (JSON.stringify(Object.keys(app.formation).sort()) !== JSON.stringify(running))
    problems.push(
      `formation: ${Object.keys(app.formation).join(', ')}; Procfile: ${running.join(', ')}`,
    );
  return problems;
}

const appJson = (): AppJson => JSON.parse(read('app.json')) as AppJson;

describe("app.json (Heroku's Deploy button and review apps)", () => {
  it('when checked against the config declarations and the Procfile, then nothing is wrong', () => {
    expect(appJsonProblems(appJson())).to.deep.equal([]);
  });

  it('when it has add-ons for Postgres, Redis and Kafka, then they set DATABASE_URL, REDIS_URL and KAFKA_URL', () => {
    const plans = appJson().addons.map((a) => a.plan.split(':')[0]);
    expect(plans).to.have.members(['heroku-postgresql', 'heroku-redis', 'heroku-kafka']);
    expect([...addonVariables(appJson())]).to.include.members([
      'DATABASE_URL',
      'REDIS_URL',
      'KAFKA_URL',
    ]);
  });

  it('when a variable a process needs is left out, then the check names it', () => {
    const app = appJson();
    delete app.env.CATALOG_SERVICE_API_URL;
    expect(appJsonProblems(app).join('\n')).to.contain('CATALOG_SERVICE_API_URL: needed by web');
  });

  it("when the webhook secret production's web process requires is left out, then the check names it", () => {
    const app = appJson();
    delete app.env.PAYMENTS_WEBHOOK_SECRET;
    expect(appJsonProblems(app).join('\n')).to.contain(
      "the web process refuses app.json's config: invalid configuration:\n  - PAYMENTS_WEBHOOK_SECRET is required in production",
    );
  });

  it('when it names a variable nobody declared, or the Kafka add-on is gone, then the check names each', () => {
    const app = appJson();
    app.env.ORDER_SERVICE_TURBO = { description: 'made up', value: '1' };
    app.addons = app.addons.filter((a) => !a.plan.startsWith('heroku-kafka'));
    const problems = appJsonProblems(app).join('\n');
    expect(problems).to.contain('ORDER_SERVICE_TURBO: in app.json but not declared');
    expect(problems).to.contain('KAFKA_URL: no add-on sets it');
  });

  it('when a description drifts from its declaration, then the check names the variable', () => {
    const app = appJson();
    app.env.PAYMENTS_CALLBACK_URL!.description = 'Somewhere.';
    expect(appJsonProblems(app)).to.deep.equal([
      "PAYMENTS_CALLBACK_URL: its description differs from its declaration's",
    ]);
  });
});

describe('the container conventions (Dockerfile, docker-compose.yml)', () => {
  const shutdownMaxMs = (
    processes.variables.shutdownTimeoutMs.rule.describe() as {
      rules: { name: string; args: { limit: number } }[];
    }
  ).rules.find((r) => r.name === 'max')!.args.limit;

  it('when docker compose stops a process, then it waits longer than the longest SHUTDOWN_TIMEOUT_MS', () => {
    const compose = read('docker-compose.yml');
    const anchor = compose.slice(compose.indexOf('x-service:'), compose.indexOf('\nservices:'));
    const grace = /^\s+stop_grace_period: (\d+)s$/m.exec(anchor);
    expect(grace, 'stop_grace_period in x-service').not.to.equal(null);
    expect(Number(grace![1]) * 1000).to.be.greaterThan(shutdownMaxMs);
    // Every process of the image takes the anchor, so every one gets the grace period.
    for (const service of ['web', 'worker', 'consumer']) {
      expect(compose, service).to.match(new RegExp(`\\n  ${service}:\\n    <<: \\*service\\n`));
    }
  });

  it('when the image runs, then Docker asks its health endpoint', () => {
    const dockerfile = read('Dockerfile').replace(/\\\n\s*/g, ' ');
    expect(dockerfile).to.match(
      /^HEALTHCHECK .*CMD \["node", "dist\/lib\/platform\/healthcheck\.js"\]$/m,
    );
    // Its compiled form is in the image: the build compiles lib/ (tsconfig.build.json).
    expect(read('tsconfig.build.json')).to.contain('"lib"');
  });
});
