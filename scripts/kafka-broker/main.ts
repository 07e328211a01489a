/**
 * `npm run dev:kafka`: the in-repo Kafka-protocol broker on its own, on 127.0.0.1:KAFKA_DEV_PORT
 * (default 9092), for running the service's processes or a kafkajs script against it by hand.
 *
 * Why under scripts/: it is a tool, not part of the service. The development mode (scripts/dev.ts)
 * and the tests (scripts/testkit/kafka.ts) start the same broker in-process; production and
 * docker-compose use real Kafka. See broker.ts for what it implements and what it does not.
 */
import { loadConfigOrExit } from '../../lib/platform/config.js';
import { createLogger } from '../../lib/platform/logger.js';
import { startBroker } from './broker.js';

const config = loadConfigOrExit();
const logger = createLogger({ name: 'kafka-dev-broker', level: config.logLevel });

try {
  // Loopback only: it has no authentication and is not meant to be reachable from elsewhere.
  const broker = await startBroker({ port: config.kafka.devPort, host: '127.0.0.1', logger });
  logger.info(
    { brokers: broker.address },
    'Point KAFKA_BOOTSTRAP_SERVERS here; this broker is for tests and development only',
  );
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'Stopping the development broker');
    broker.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'Development broker did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  logger.fatal({ err, port: config.kafka.devPort }, 'Development broker could not start');
  process.exit(1);
}
