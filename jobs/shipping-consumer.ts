/**
 * The Procfile's `consumer` entry: the Kafka consumer group on the shipping-responses topic
 * (jobs/start-shipping-consumer.ts), run by the one process runner.
 */
import { isMain } from '../lib/platform/main.js';
import { runProcess } from '../lib/platform/runner.js';
import { startShippingConsumer } from './start-shipping-consumer.js';

if (isMain(import.meta.url)) {
  runProcess({
    name: 'consumer',
    async start({ config, ...kit }) {
      const running = await startShippingConsumer(config, kit);
      return {
        stop: () => running.stop(),
        readiness: {
          postgres: () => kit.database.ping(),
          ...running.readiness,
        },
      };
    },
  });
}
