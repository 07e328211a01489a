import { silentLogger } from '../../lib/platform/logger.js';
import { startPeers, type Peers } from '../../scripts/peers/index.js';

/**
 * The four development peers, quiet and answering at once (Payments calls back at once, Shipping
 * answers at once), with Shipping on `brokers` under the test's own topic and group names
 * (`uniqueKafkaNames().shippingPeer`): what an end-to-end test of the service's processes needs.
 */
export function startInstantPeers(options: {
  webhookSecret: string;
  brokers: string[];
  kafkaNames: { requestsTopic: string; responsesTopic: string; groupId?: string };
}): Promise<Peers> {
  return startPeers({
    logger: silentLogger(),
    payments: { webhookSecret: options.webhookSecret, callbackDelayMs: 0, logger: silentLogger() },
    notifications: { logger: silentLogger() },
    shipping: {
      brokers: options.brokers,
      ...options.kafkaNames,
      delayMs: 0,
      logger: silentLogger(),
    },
  });
}
