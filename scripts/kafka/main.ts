/**
 * `npm run kafka`: Apache Kafka from Maven Central (see pom.xml) on 127.0.0.1, for tests, dev mode
 * or a kafkajs script run by hand. Needs Java 17+ and Maven on the PATH.
 *
 *   npm run kafka                          one node on KAFKA_PORT, else a free port
 *   npm run kafka -- --brokers 3           three nodes (replication 3, min.insync.replicas 2)
 *   npm run kafka -- --data-dir DIR        keep the log directories in DIR; run it again with the
 *                                          same DIR and topics and offsets are still there
 *   npm run kafka -- --resolve             only fetch Kafka (into ~/.m2) and print its version
 *
 * Prints the bootstrap address (`127.0.0.1:PORT`) on a line of its own once a kafkajs admin
 * client can list topics, then runs until SIGTERM or Ctrl-C. Set KAFKA_LOG=1 to see Kafka's log.
 */
import { parseArgs } from 'node:util';
import { kafkaClasspath, kafkaVersion } from './classpath.js';
import { startKafkaCluster } from './cluster.js';

const { values } = parseArgs({
  options: {
    brokers: { type: 'string', default: '1' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    resolve: { type: 'boolean', default: false },
  },
});

const err = (message: string) => process.stderr.write(`kafka: ${message}\n`);

async function main(): Promise<void> {
  const version = await kafkaVersion();
  if (values.resolve) {
    const started = Date.now();
    await kafkaClasspath();
    err(`Apache Kafka ${version} resolved in ${Date.now() - started} ms`);
    process.stdout.write(`${version}\n`);
    return;
  }
  const brokers = Number(values.brokers);
  const portText = values.port ?? process.env.KAFKA_PORT;
  const port = portText ? Number(portText) : undefined;
  if (!Number.isInteger(brokers) || brokers < 1) throw new Error('--brokers takes a count ≥ 1');
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new Error(`--port / KAFKA_PORT is not a port: ${portText}`);
  }
  const dataDir = values['data-dir'];
  const started = Date.now();
  const cluster = await startKafkaCluster({
    brokers,
    port,
    dataDir,
    keepData: Boolean(dataDir),
    onOutput: process.env.KAFKA_LOG ? (id, line) => err(`[node ${id}] ${line}`) : undefined,
  });
  err(
    `Apache Kafka ${cluster.version}, ${brokers} node(s), ready in ${Date.now() - started} ms` +
      (dataDir ? `, data kept in ${cluster.dataDir}` : ''),
  );
  process.stdout.write(`${cluster.brokers.join(',')}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    err(`${signal}: stopping`);
    cluster.stop().then(
      () => process.exit(0),
      (stopErr: unknown) => {
        err(`did not stop cleanly: ${(stopErr as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  err((e as Error).message);
  process.exit(1);
});
