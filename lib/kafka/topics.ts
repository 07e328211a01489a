/**
 * The service's topics on a real cluster: created at start where the cluster allows it, and a
 * clear error naming the topic where it does not and nobody created it beforehand.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../platform/logger.js';

/** Answers by which a cluster refuses to let this client create topics: multi-tenant plans
 * (Heroku's, with KAFKA_PREFIX), ACLs, a CreateTopicPolicy, too few brokers for the default
 * replication. The topics must then be created by an operator beforehand. */
const CREATION_REFUSED = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'POLICY_VIOLATION',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_PARTITIONS',
]);

function refusalOf(err: unknown): string | undefined {
  const errors = (err as { errors?: unknown[] }).errors ?? [err];
  const types = errors.map((e) => (e as { type?: string }).type);
  return types.every((t) => t !== undefined && CREATION_REFUSED.has(t)) ? types[0] : undefined;
}

/** What a broker answers about a topic created a moment ago, until the news reaches it. */
const NOT_YET_SERVED = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/** Bound on waiting for new topics' partitions to have leaders. */
const LEADERS_TIMEOUT_MS = 30_000;

/**
 * Resolves once every partition of `topics` has a leader. kafkajs's own `waitForLeaders` gives
 * up on the first UNKNOWN_TOPIC_OR_PARTITION, which a broker answers for a topic created a moment
 * ago until the controller's news reaches it (tulios/kafkajs#1222, #815): seen on a busy machine
 * as a consumer or a producer failing to start.
 */
async function leadersOf(admin: Admin, topics: string[]): Promise<void> {
  const deadline = Date.now() + LEADERS_TIMEOUT_MS;
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      const served = found.every(
        (t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0),
      );
      if (served && found.length === topics.length) return;
    } catch (err) {
      if (!NOT_YET_SERVED.has(kafkaErrorType(err) ?? '')) throw err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Kafka topics ${topics.join(', ')} still have partitions without a leader after ` +
          `${LEADERS_TIMEOUT_MS} ms`,
      );
    }
    await sleep(100);
  }
}

/**
 * Creates those of `topics` that do not exist, with the cluster's default partitions and
 * replication, and waits until their partitions have leaders. Apache Kafka answers a subscription
 * to a missing topic with UNKNOWN_TOPIC_OR_PARTITION, so the consumer needs its topic before it
 * subscribes. A cluster that refuses creation is logged and tolerated: the topics may have been
 * created beforehand (the only way on Heroku's multi-tenant plans), and if not, subscribing or
 * sending names the missing topic. Not reaching the cluster throws.
 */
export async function ensureTopics(kafka: Kafka, topics: string[], logger: Logger): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Only the missing ones: asking for an existing topic makes kafkajs log an error.
    const existing = new Set(await admin.listTopics());
    const missing = [...new Set(topics)].filter((topic) => !existing.has(topic));
    if (missing.length === 0) return;
    try {
      // False when another client created them first: their leaders are still awaited below.
      const made = await admin.createTopics({
        topics: missing.map((topic) => ({ topic })),
        waitForLeaders: false,
      });
      if (made) logger.info({ topics: missing }, 'Kafka topics created');
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      logger.warn(
        { topics: missing, refusal },
        'the cluster refused to create these topics; they must be created beforehand',
      );
      return;
    }
    await leadersOf(admin, missing);
  } finally {
    await admin.disconnect();
  }
}

/** Kafka's error code (kafkajs's `type`, e.g. UNKNOWN_TOPIC_OR_PARTITION) of an error or of
 * the error it wraps: kafkajs wraps the broker's answer in KafkaJSNumberOfRetriesExceeded's
 * `cause` once its retries run out. */
export function kafkaErrorType(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let e = err; e && typeof e === 'object' && !seen.has(e); e = (e as Error).cause) {
    seen.add(e);
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

/**
 * An error naming `topic` when kafkajs's `err` says it is missing or forbidden, else undefined.
 * kafkajs's own message ("This server does not host this topic-partition") names no topic, and
 * with ensureTopics tolerating a refused creation, this is where a topic nobody created shows.
 * `purpose` says which setting the topic came from, e.g. 'shipping responses'.
 */
export function topicUnavailableError(
  err: unknown,
  topic: string,
  purpose: string,
): Error | undefined {
  switch (kafkaErrorType(err)) {
    case 'UNKNOWN_TOPIC_OR_PARTITION':
      return new Error(
        `the ${purpose} topic "${topic}" does not exist on the Kafka cluster and this client ` +
          'could not create it: create it beforehand (on a multi-tenant plan, with the name ' +
          'KAFKA_PREFIX included)',
        { cause: err },
      );
    case 'TOPIC_AUTHORIZATION_FAILED':
      return new Error(
        `the Kafka cluster refused this client access to the ${purpose} topic "${topic}" ` +
          "(TOPIC_AUTHORIZATION_FAILED): check the topic's name and its ACLs for this client",
        { cause: err },
      );
    default:
      return undefined;
  }
}
