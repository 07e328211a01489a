import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import sinon from 'sinon';
import {
  debianLike,
  DEBIAN_FIX,
  DOCKER_FIX,
  ensureServices,
  ServicesUnavailableError,
  tcpAnswers,
  type ServiceHost,
  type ServiceTarget,
} from '../../scripts/dev/ensure-services.js';
import { localTestServices } from '../support/hooks.js';

const LOCAL: ServiceTarget[] = [
  {
    name: 'PostgreSQL',
    url: 'postgres://postgres@127.0.0.1:5432/order_service',
    variable: 'DATABASE_URL',
  },
  { name: 'Redis', url: 'redis://127.0.0.1:6379', variable: 'REDIS_URL' },
];

/**
 * A machine where the given host:port pairs answer; running scripts/services.sh (a spy) makes
 * `startedByScript` answer too, as the real script does.
 */
function fakeHost({
  answering = [] as string[],
  startedByScript = [] as string[],
  root = false,
  debian = false,
  scriptExit = 0,
} = {}) {
  const up = new Set(answering);
  const said: string[] = [];
  const host = {
    answers: sinon.spy((h: string, p: number) => Promise.resolve(up.has(`${h}:${p}`))),
    runServicesScript: sinon.spy((_env: NodeJS.ProcessEnv) => {
      startedByScript.forEach((s) => up.add(s));
      return Promise.resolve(scriptExit);
    }),
    isRoot: () => root,
    isDebianLike: () => debian,
    say: (line: string) => said.push(line),
  } satisfies ServiceHost;
  return { host, said };
}

async function refusal(promise: Promise<void>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(ServicesUnavailableError);
    return (err as Error).message;
  }
  throw new Error('expected a ServicesUnavailableError');
}

describe('ensureServices (npm run dev and npm test on a bare machine)', () => {
  it('when Postgres and Redis answer, then nothing is run', async () => {
    const { host } = fakeHost({
      answering: ['127.0.0.1:5432', '127.0.0.1:6379'],
      root: true,
      debian: true,
    });
    await ensureServices(LOCAL, host);
    expect(host.answers.callCount).to.equal(2);
    expect(host.runServicesScript.called).to.equal(false);
  });

  it('when they do not answer and this is root on Debian, then scripts/services.sh brings them up, once', async () => {
    const { host, said } = fakeHost({
      startedByScript: ['127.0.0.1:5432', '127.0.0.1:6379'],
      root: true,
      debian: true,
    });
    await ensureServices(LOCAL, host);
    expect(host.runServicesScript.callCount).to.equal(1);
    const env = host.runServicesScript.firstCall.args[0];
    expect([env.PG_PORT, env.REDIS_PORT]).to.deep.equal(['5432', '6379']);
    expect(said.join('\n')).to.contain('PostgreSQL on 127.0.0.1:5432 (DATABASE_URL)');
    expect(said.join('\n')).to.contain('scripts/services.sh');
  });

  it('when only Redis is down on root Debian, then the script runs once and the check passes', async () => {
    const { host } = fakeHost({
      answering: ['127.0.0.1:5432'],
      startedByScript: ['127.0.0.1:6379'],
      root: true,
      debian: true,
    });
    await ensureServices(LOCAL, host);
    expect(host.runServicesScript.callCount).to.equal(1);
  });

  it('when scripts/services.sh fails, then the refusal says so with its exit code', async () => {
    const { host } = fakeHost({ root: true, debian: true, scriptExit: 100 });
    const message = await refusal(ensureServices(LOCAL, host));
    expect(message).to.contain('scripts/services.sh failed (exit 100');
  });

  it('when scripts/services.sh succeeds but a URL names another port, then the refusal names that service', async () => {
    const targets: ServiceTarget[] = [{ ...LOCAL[1]!, url: 'redis://localhost:6380' }];
    const { host } = fakeHost({ startedByScript: ['localhost:6379'], root: true, debian: true });
    const message = await refusal(ensureServices(targets, host));
    expect(message).to.contain('Redis on localhost:6380 (REDIS_URL)');
    expect(host.runServicesScript.firstCall.args[0].REDIS_PORT).to.equal('6380');
  });

  it('when they do not answer for a non-root user on Debian, then one message names both and the sudo command, and nothing runs', async () => {
    const { host } = fakeHost({ root: false, debian: true });
    const message = await refusal(ensureServices(LOCAL, host));
    expect(message).to.equal(
      'PostgreSQL on 127.0.0.1:5432 (DATABASE_URL) and Redis on 127.0.0.1:6379 (REDIS_URL) do not answer.\n' +
        `Fix: ${DEBIAN_FIX}`,
    );
    expect(host.runServicesScript.called).to.equal(false);
  });

  it('when one does not answer on another OS, then the message names it and docker compose, even as root', async () => {
    const { host } = fakeHost({ answering: ['127.0.0.1:6379'], root: true, debian: false });
    const message = await refusal(ensureServices(LOCAL, host));
    expect(message).to.equal(
      `PostgreSQL on 127.0.0.1:5432 (DATABASE_URL) does not answer.\nFix: ${DOCKER_FIX}`,
    );
    expect(host.runServicesScript.called).to.equal(false);
  });

  it('when a remote service does not answer, then nothing local is started and the message names its variable', async () => {
    const targets: ServiceTarget[] = [
      { ...LOCAL[0]!, url: 'postgres://u:secret@db.example.com/orders' },
      LOCAL[1]!,
    ];
    const { host } = fakeHost({ answering: ['127.0.0.1:6379'], root: true, debian: true });
    const message = await refusal(ensureServices(targets, host));
    expect(message).to.contain('PostgreSQL on db.example.com:5432 (DATABASE_URL) does not answer');
    expect(message).not.to.contain('secret');
    expect(host.runServicesScript.called).to.equal(false);
  });

  it('when a URL does not parse, then it is left to the config validation, which names it', async () => {
    const { host } = fakeHost({ answering: ['127.0.0.1:6379'] });
    await ensureServices([{ ...LOCAL[0]!, url: '' }, LOCAL[1]!], host);
    expect(host.answers.callCount).to.equal(1);
  });
});

describe('ensureServices on the real machine', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('when something listens on the port, then it answers; when the port is closed, then it does not', async () => {
    expect(await tcpAnswers('127.0.0.1', port)).to.equal(true);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await tcpAnswers('127.0.0.1', closedPort)).to.equal(false);
  });

  it('when /etc/os-release is Debian, Ubuntu or a derivative, then scripts/services.sh can run there', () => {
    expect(debianLike('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')).to.equal(true);
    expect(debianLike('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n')).to.equal(true);
    expect(debianLike('ID=linuxmint\nID_LIKE="ubuntu debian"\n')).to.equal(true);
    expect(debianLike('ID="fedora"\nPRETTY_NAME="Fedora Linux 40 (debian-free)"\n')).to.equal(
      false,
    );
    expect(debianLike('ID=alpine\n')).to.equal(false);
  });

  it('when a service is missing for a non-root user, then the process prints the message alone and exits 1', () => {
    const script = `
      import { ensureServicesOrExit } from './scripts/dev/ensure-services.ts';
      await ensureServicesOrExit(
        [{ name: 'Redis', url: 'redis://127.0.0.1:1', variable: 'REDIS_URL' }],
        { answers: async () => false, runServicesScript: async () => 0, isRoot: () => false,
          isDebianLike: () => true, say: () => undefined },
      );`;
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        timeout: 30000,
      },
    );
    expect(run.status).to.equal(1);
    expect(run.stderr.trim()).to.equal(
      `Redis on 127.0.0.1:1 (REDIS_URL) does not answer.\nFix: ${DEBIAN_FIX}`,
    );
    expect(run.stdout).to.equal('');
  });
});

describe('the test run’s services (test/support/hooks.ts)', () => {
  it('when TEST_DATABASE_ADMIN_URL and TEST_REDIS_URL are unset, then both local services are checked', () => {
    expect(localTestServices({}).map((t) => t.name)).to.deep.equal(['PostgreSQL', 'Redis']);
  });

  it('when either is set, then that service is someone else’s and is not checked', () => {
    expect(
      localTestServices({ TEST_DATABASE_ADMIN_URL: 'postgres://x@db:5432/postgres' }).map(
        (t) => t.name,
      ),
    ).to.deep.equal(['Redis']);
    expect(
      localTestServices({ TEST_REDIS_URL: 'redis://cache:6379' }).map((t) => t.name),
    ).to.deep.equal(['PostgreSQL']);
  });
});
