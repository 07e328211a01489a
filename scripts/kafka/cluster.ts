/**
 * Apache Kafka (KRaft) started from the Maven-resolved classpath: one node, or several, each a
 * broker and a controller in one JVM, on 127.0.0.1, with settings for tests. Used by the test
 * setup (scripts/testkit/kafka.ts), by `npm run kafka` (main.ts) and by dev mode when asked.
 *
 * A node keeps its ports for life (they are written to `cluster.json` in the data directory), so
 * a node that was stopped or killed comes back as the same member of the quorum, and a cluster
 * started again on a kept data directory finds its topics and committed offsets where they were.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '../testkit/ports.js';
import { LOG4J_CONFIG, kafkaClasspath, kafkaVersion } from './classpath.js';

/** An SSL listener beside the plaintext one, with PEM material the caller made. */
export interface SslListenerOptions {
  /** CA that signed the clients' certificates (and usually the broker's). */
  caPem: string;
  /** The broker's certificate chain and its PKCS#8 private key. */
  certPem: string;
  keyPem: string;
  /** @defaultValue 'required': clients must present a certificate, as on Heroku Kafka. */
  clientAuth?: 'required' | 'requested' | 'none';
}

/**
 * A SASL/PLAIN listener with Kafka's StandardAuthorizer switched on: the named users may do only
 * what ACLs allow them (as on a multi-tenant plan where topic creation is refused). Clients on
 * the plaintext listener are super users, so tests can set ACLs and pre-create topics there.
 */
export interface SaslListenerOptions {
  /** user name → password */
  users: Record<string, string>;
}

export interface KafkaClusterOptions {
  /** Number of nodes. @defaultValue 1 */
  brokers?: number;
  /** Client port of the first node; the others take free ports. @defaultValue a free port */
  port?: number;
  /** Holds each node's log directory and `cluster.json`. A directory from an earlier run is used
   * as it is (not formatted again). @defaultValue a new temporary directory */
  dataDir?: string;
  /** Leave the data directory on stop(), and stop nodes gracefully. @defaultValue false */
  keepData?: boolean;
  /** Heap of each JVM. @defaultValue 256 */
  heapMb?: number;
  ssl?: SslListenerOptions;
  sasl?: SaslListenerOptions;
  /** Extra broker settings, written last. */
  properties?: Record<string, string | number | boolean>;
  /** Each line a node prints (Kafka's warnings and errors, and its start-up line). */
  onOutput?: (nodeId: number, line: string) => void;
  /** @defaultValue 90000 */
  startTimeoutMs?: number;
}

export interface KafkaNode {
  readonly nodeId: number;
  /** `127.0.0.1:port` of the plaintext listener. */
  readonly address: string;
  readonly sslAddress?: string;
  readonly saslAddress?: string;
  /** The JVM's pid while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Starts it again (after stop or kill) with the same ports and data; resolves when it serves. */
  start(): Promise<void>;
  /** SIGTERM (controlled shutdown), SIGKILL if it has not exited within 15 s. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

export interface KafkaCluster {
  version: string;
  /** Plaintext addresses of every node, for kafkajs's `brokers` or KAFKA_BOOTSTRAP_SERVERS. */
  brokers: string[];
  sslBrokers: string[];
  saslBrokers: string[];
  nodes: KafkaNode[];
  dataDir: string;
  /** Resolves when every running node answers and the cluster reports them all. */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

interface NodePorts {
  nodeId: number;
  port: number;
  controllerPort: number;
  sslPort?: number;
  saslPort?: number;
}

interface Layout {
  clusterId: string;
  nodes: NodePorts[];
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 15_000;

/** Every JVM this process started, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Kafka's cluster id: 16 random bytes, base64url without padding. Not starting with `-`, as
 * Kafka's own Uuid.randomUuid() ensures: the storage tool would read such an id (1 in 64 of them)
 * as an option and refuse to format.
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function loadOrPlanLayout(
  dataDir: string,
  count: number,
  opts: KafkaClusterOptions,
): Promise<Layout> {
  const file = path.join(dataDir, 'cluster.json');
  if (existsSync(file)) {
    const layout = JSON.parse(await readFile(file, 'utf8')) as Layout;
    if (layout.nodes.length !== count) {
      throw new Error(`${dataDir} holds a ${layout.nodes.length}-node cluster, not ${count}`);
    }
    return layout;
  }
  const nodes: NodePorts[] = [];
  for (let i = 0; i < count; i += 1) {
    nodes.push({
      nodeId: i + 1,
      port: i === 0 && opts.port ? opts.port : await freePort(),
      controllerPort: await freePort(),
      sslPort: opts.ssl ? await freePort() : undefined,
      saslPort: opts.sasl ? await freePort() : undefined,
    });
  }
  const layout = { clusterId: newClusterId(), nodes };
  await writeFile(file, JSON.stringify(layout, null, 2));
  return layout;
}

/** A Java properties value: backslashes and the characters properties files treat specially. */
function escapeValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function nodeProperties(
  layout: Layout,
  node: NodePorts,
  dirs: { log: string; ssl: string },
  opts: KafkaClusterOptions,
): string {
  const count = layout.nodes.length;
  const replicas = Math.min(count, 3);
  const minIsr = count >= 3 ? 2 : 1;
  const listeners = [`PLAINTEXT://${HOST}:${node.port}`];
  if (node.sslPort) listeners.push(`SSL://${HOST}:${node.sslPort}`);
  if (node.saslPort) listeners.push(`SASL_PLAINTEXT://${HOST}:${node.saslPort}`);
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': node.nodeId,
    'controller.quorum.voters': layout.nodes
      .map((n) => `${n.nodeId}@${HOST}:${n.controllerPort}`)
      .join(','),
    listeners: [...listeners, `CONTROLLER://${HOST}:${node.controllerPort}`].join(','),
    'advertised.listeners': listeners.join(','),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map':
      'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT',
    'log.dirs': dirs.log,
    'num.partitions': 3,
    'default.replication.factor': replicas,
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': replicas,
    // Fewer internal partitions than production's 50: a test group's coordinator loads sooner.
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': replicas,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': 10,
    'share.coordinator.state.topic.replication.factor': replicas,
    'share.coordinator.state.topic.min.isr': minIsr,
    // A test group starts consuming as soon as its first member joins.
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': true,
  };
  if (opts.ssl) {
    settings['listener.name.ssl.ssl.keystore.type'] = 'PEM';
    settings['listener.name.ssl.ssl.keystore.location'] = path.join(dirs.ssl, 'keystore.pem');
    settings['listener.name.ssl.ssl.truststore.type'] = 'PEM';
    settings['listener.name.ssl.ssl.truststore.location'] = path.join(dirs.ssl, 'truststore.pem');
    settings['listener.name.ssl.ssl.client.auth'] = opts.ssl.clientAuth ?? 'required';
  }
  if (opts.sasl) {
    const users = Object.entries(opts.sasl.users)
      .map(([user, password]) => `user_${user}="${password}"`)
      .join(' ');
    settings['sasl.enabled.mechanisms'] = 'PLAIN';
    settings['listener.name.sasl_plaintext.plain.sasl.jaas.config'] =
      `org.apache.kafka.common.security.plain.PlainLoginModule required ${users};`;
    settings['authorizer.class.name'] = 'org.apache.kafka.metadata.authorizer.StandardAuthorizer';
    // Brokers, controllers and the tests' own plaintext clients are all User:ANONYMOUS.
    settings['super.users'] = 'User:ANONYMOUS';
    settings['allow.everyone.if.no.acl.found'] = false;
  }
  Object.assign(settings, opts.properties);
  return Object.entries(settings)
    .map(([key, value]) => `${key}=${escapeValue(String(value))}`)
    .join('\n');
}

function javaArgs(classpath: string, heapMb: number, main: string, args: string[]): string[] {
  return [
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    // One GC thread: the machine has two cores and everything else runs on them too.
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    '-cp',
    classpath,
    main,
    ...args,
  ];
}

async function runToEnd(args: string[]): Promise<void> {
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`java ${args.at(-6) ?? ''} failed (${code}): ${output.trim()}`);
}

/** Resolves when a kafkajs admin client talking to `address` alone can list topics. */
async function answers(address: string, deadline: number, alive: () => boolean): Promise<void> {
  const kafka = new Kafka({
    clientId: 'kafka-launcher',
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1000,
  });
  for (;;) {
    if (!alive()) throw new Error(`Kafka node at ${address} exited while starting`);
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`Kafka at ${address} did not answer in time`, { cause: err });
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function startKafkaCluster(opts: KafkaClusterOptions = {}): Promise<KafkaCluster> {
  const count = opts.brokers ?? 1;
  const heapMb = opts.heapMb ?? 256;
  const startTimeoutMs = opts.startTimeoutMs ?? 90_000;
  const [classpath, version] = await Promise.all([kafkaClasspath(), kafkaVersion()]);
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'kafka-')));
  await mkdir(dataDir, { recursive: true });
  const layout = await loadOrPlanLayout(dataDir, count, opts);

  const nodes = await Promise.all(
    layout.nodes.map(async (ports) => {
      const dir = path.join(dataDir, `node-${ports.nodeId}`);
      const dirs = { log: path.join(dir, 'log'), ssl: path.join(dir, 'ssl') };
      await mkdir(dirs.ssl, { recursive: true });
      if (opts.ssl) {
        await writeFile(
          path.join(dirs.ssl, 'keystore.pem'),
          `${opts.ssl.keyPem}\n${opts.ssl.certPem}`,
        );
        await writeFile(path.join(dirs.ssl, 'truststore.pem'), opts.ssl.caPem);
      }
      const propsFile = path.join(dir, 'server.properties');
      await writeFile(propsFile, nodeProperties(layout, ports, dirs, opts));
      if (!existsSync(path.join(dirs.log, 'meta.properties'))) {
        await runToEnd(
          javaArgs(classpath, 128, 'kafka.tools.StorageTool', [
            'format',
            '-t',
            layout.clusterId,
            '-c',
            propsFile,
          ]),
        );
      }
      return createNode(ports, propsFile, classpath, heapMb, startTimeoutMs, opts.onOutput);
    }),
  );

  const cluster: KafkaCluster = {
    version,
    brokers: nodes.map((n) => n.address),
    sslBrokers: nodes.flatMap((n) => (n.sslAddress ? [n.sslAddress] : [])),
    saslBrokers: nodes.flatMap((n) => (n.saslAddress ? [n.saslAddress] : [])),
    nodes,
    dataDir,
    async ready() {
      const deadline = Date.now() + startTimeoutMs;
      const running = nodes.filter((n) => n.running);
      await Promise.all(running.map((n) => answers(n.address, deadline, () => n.running)));
      const kafka = new Kafka({
        clientId: 'kafka-launcher',
        brokers: running.map((n) => n.address),
        logLevel: logLevel.NOTHING,
      });
      const admin = kafka.admin();
      await admin.connect();
      try {
        for (;;) {
          const { brokers } = await admin.describeCluster();
          if (brokers.length >= running.length) return;
          if (Date.now() > deadline) {
            throw new Error(`only ${brokers.length} of ${running.length} Kafka nodes registered`);
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      } finally {
        await admin.disconnect();
      }
    },
    async stop() {
      // Throwaway data needs no controlled shutdown; kept data gets one so it reopens cleanly.
      await Promise.all(nodes.map((n) => (opts.keepData ? n.stop() : n.kill())));
      if (!opts.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await cluster.ready();
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return cluster;
}

function createNode(
  ports: NodePorts,
  propsFile: string,
  classpath: string,
  heapMb: number,
  startTimeoutMs: number,
  onOutput: KafkaClusterOptions['onOutput'],
): KafkaNode & { start(): Promise<void> } {
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const address = `${HOST}:${ports.port}`;

  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    running.kill(sig);
    const timer = setTimeout(() => running.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  return {
    nodeId: ports.nodeId,
    address,
    sslAddress: ports.sslPort ? `${HOST}:${ports.sslPort}` : undefined,
    saslAddress: ports.saslPort ? `${HOST}:${ports.saslPort}` : undefined,
    get pid() {
      return this.running ? child?.pid : undefined;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (this.running) return;
      const proc = spawn('java', javaArgs(classpath, heapMb, 'kafka.Kafka', [propsFile]), {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      live.add(proc);
      exited = once(proc, 'exit').finally(() => live.delete(proc));
      let tail = '';
      const collect = (data: Buffer) => {
        const text = data.toString();
        tail = (tail + text).slice(-4000);
        if (onOutput) for (const line of text.split('\n')) if (line) onOutput(ports.nodeId, line);
      };
      proc.stdout?.on('data', collect);
      proc.stderr?.on('data', collect);
      try {
        await answers(address, Date.now() + startTimeoutMs, () => this.running);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- node ${ports.nodeId} output ---\n${tail}`, {
          cause: err,
        });
      }
    },
    stop: () => signal('SIGTERM', STOP_GRACE_MS),
    kill: () => signal('SIGKILL', 0),
  };
}
