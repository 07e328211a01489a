import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Joi from 'joi';
import {
  Kafka,
  logLevel,
  Partitioners,
  type Consumer,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import { loadConfig } from '../../lib/platform/config.js';
import { bunyanLogCreator, createKafka, kafkajsLogLevel } from '../../lib/kafka/client.js';
import { ensureTopics } from '../../lib/kafka/topics.js';
import { createLogger, type Logger } from '../../lib/platform/logger.js';
import { isMain } from '../../lib/platform/main.js';
import {
  changeWaiters,
  envChoice,
  envInteger,
  listen,
  requestTarget,
  runUntilSignal,
  sendJson,
  timerSet,
  type StartedServer,
} from './http-server.js';

/**
 * Development Shipping: a kafkajs consumer group on the shipping requests topic that answers each
 * `order.paid` request on the responses topic (key = order id) a moment later, with
 * `order.shipped` and a shipment id, or `shipping.failed` when the fail rule says so. The hold
 * rule makes some orders wait longer before they ship (packing; by default quantity 12, for
 * `holdMs`), which leaves time to cancel them.
 *
 * `order.cancel_requested` `{order_id, idempotency_key}` is answered at once: an order not yet
 * shipped is cancelled (`order.cancelled`) unless the cancel rule says to ship it anyway; one
 * already shipped is answered with its `order.shipped` again (the cancellation came too late). A
 * cancellation that overtakes its order's request (they travel separately) is answered
 * `order.cancelled`, and the request, when it comes, is not shipped.
 *
 * Requests are deduplicated by idempotency key: a repeat is counted, and once its request was
 * answered the same answer (same shipment id) is published again, as an idempotent peer answers a
 * request it already has (the sender may have lost the first answer: its database restored); a
 * repeat of a request still being answered waits for that one answer. Messages
 * of any other type are skipped, so both directions may share one topic. `GET /shipments` (or
 * `/_recorded`, `?order_id=` to filter) on its small HTTP server shows what it saw.
 */
export interface ShippingRequest {
  event_type: 'order.paid';
  order_id: string;
  item_id: string;
  quantity: number;
  idempotency_key: string;
}

export interface CancelRequest {
  event_type: 'order.cancel_requested';
  order_id: string;
  idempotency_key: string;
}

export interface ShippingAnswer {
  event_type: 'order.shipped' | 'shipping.failed' | 'order.cancelled';
  order_id: string;
  /** Absent on a cancellation of an order whose request never arrived. */
  item_id?: string;
  quantity?: number;
  shipment_id: string | null;
  /** Why shipping failed or was cancelled; not on `order.shipped`. */
  reason?: string;
}

/** Returns why the request cannot be shipped, or undefined to ship it. */
export type ShippingFailRule = (request: ShippingRequest) => string | undefined;

/** The default rule: a quantity of exactly 13 cannot be shipped; anything else ships. */
export const failWhenQuantityIs13: ShippingFailRule = (r) =>
  r.quantity === 13 ? 'quantity 13 cannot be shipped (development rule)' : undefined;

export const SHIPPING_FAIL_RULES = {
  rule: failWhenQuantityIs13,
  ship: () => undefined,
  fail: () => 'shipping refused (SHIPPING_OUTCOME=fail)',
} as const satisfies Record<string, ShippingFailRule>;

/** True to pack the request slowly: it ships after `holdMs` instead of `delayMs`. */
export type ShippingHoldRule = (request: ShippingRequest) => boolean;

/** The default hold rule: a quantity of exactly 12 (a dozen, packed by hand) takes `holdMs`. */
export const holdWhenQuantityIs12: ShippingHoldRule = (r) => r.quantity === 12;

/** What to do with a cancellation of an order not shipped yet: cancel it, or ship it anyway. */
export type ShippingCancelRule = (request: ShippingRequest) => 'cancel' | 'ship';

export const SHIPPING_CANCEL_RULES = {
  cancel: () => 'cancel',
  ship: () => 'ship',
} as const satisfies Record<string, ShippingCancelRule>;

export interface ShipmentRecord {
  idempotency_key: string;
  request: ShippingRequest;
  /** answering: waiting out the delay or producing; packing: held by the hold rule; unanswered:
   * the answer could not be produced and will be tried again (Kafka delivers the request again,
   * or, for a held one, a timer). */
  state: 'answering' | 'packing' | 'answered' | 'unanswered';
  answer: ShippingAnswer | null;
  received_at: string;
  answered_at: string | null;
  /** How many repeats of this idempotency key came after the first. */
  duplicates: number;
  partition: number;
  offset: string;
}

/** One cancellation request (one per idempotency key) and how it was answered. */
export interface CancellationRecord {
  idempotency_key: string;
  order_id: string;
  /** cancelled: stopped in time (or never requested); too_late: already shipped, or the cancel
   * rule shipped it; settled: shipping had already failed, that answer is repeated. */
  outcome: 'cancelled' | 'too_late' | 'settled' | null;
  state: 'answering' | 'answered' | 'unanswered';
  answer: ShippingAnswer | null;
  received_at: string;
  duplicates: number;
}

export interface ShippingRecorded {
  shipments: ShipmentRecord[];
  cancellations: CancellationRecord[];
  /** Repeats of a known idempotency key (an answered one is answered again, the same). */
  duplicates: number;
  /** Messages of another type than a request (the service's own answers on a shared topic). */
  skipped: number;
  /** Requests that are not JSON or miss a field: logged and passed over. */
  invalid: number;
  /** Answers that could not be produced, and consumer crashes. */
  errors: number;
}

export interface ShippingPeerOptions {
  /** Broker addresses; needed unless `kafka` is given. */
  brokers?: string[];
  /** A ready kafkajs client (TLS, SASL); when given, `brokers` is not used. */
  kafka?: Kafka;
  /** @defaultValue 'shipping.requests' */
  requestsTopic?: string;
  /** @defaultValue 'shipping.responses' */
  responsesTopic?: string;
  /** @defaultValue 'dev-shipping' */
  groupId?: string;
  /** Wait before answering a request; 0 for benchmarks. @defaultValue 10 */
  delayMs?: number;
  /** @defaultValue {@link failWhenQuantityIs13} */
  failRule?: ShippingFailRule;
  /** @defaultValue {@link holdWhenQuantityIs12} */
  holdRule?: ShippingHoldRule;
  /** How long a held request packs before it ships. @defaultValue 30000 */
  holdMs?: number;
  /** @defaultValue cancel whatever has not shipped yet */
  cancelRule?: ShippingCancelRule;
  /** Port of the HTTP server showing what it saw. @defaultValue 0 (a free port) */
  port?: number;
  /**
   * Where a group without committed offsets starts. kafkajs applies it only then, so a restarted
   * peer resumes where it was; from the beginning, a request produced before the group first
   * joined is still answered. @defaultValue true
   */
  fromBeginning?: boolean;
  /** Create both topics at start (a failure is logged: they may exist or be auto-created).
   * @defaultValue true */
  createTopics?: boolean;
  /**
   * Longest a fetch waits for new requests. The broker answers as soon as one arrives, so this
   * costs no latency; it bounds `stop()`, which waits for the fetch in flight. @defaultValue 500
   */
  maxWaitTimeInMs?: number;
  /**
   * The group session timeout (heartbeats every third of it, at most every 3 s). A restarted
   * broker keeps the group's old member until this runs out, so it bounds how soon the peer
   * answers again; tests shorten it. @defaultValue 30000 (kafkajs's)
   */
  sessionTimeout?: number;
  /** Bound on joining the consumer group at start. @defaultValue 30000 */
  readyTimeoutMs?: number;
  /** @defaultValue a bunyan logger named dev-shipping */
  logger?: Logger;
}

export interface ShippingPeer extends StartedServer {
  requestsTopic: string;
  responsesTopic: string;
  groupId: string;
  /** What it recorded, optionally for one order; a copy. */
  recorded(filter?: { order_id?: string }): ShippingRecorded;
  /** Resolves once `check()` holds, re-checked after each thing the peer records. */
  until(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Replaces the cancel rule (tests); undefined restores the configured one. */
  setCancelRule(rule: ShippingCancelRule | undefined): void;
}

const cancelSchema = Joi.object({
  event_type: Joi.string().valid('order.cancel_requested').required(),
  order_id: Joi.string().min(1).max(200).required(),
  idempotency_key: Joi.string().min(1).max(200).required(),
})
  .unknown(true)
  .required();

const requestSchema = Joi.object({
  event_type: Joi.string().valid('order.paid').required(),
  order_id: Joi.string().min(1).max(200).required(),
  item_id: Joi.string().min(1).max(200).required(),
  quantity: Joi.number().integer().min(1).required(),
  idempotency_key: Joi.string().min(1).max(200).required(),
})
  .unknown(true)
  .required();

function eventType(value: unknown): unknown {
  return value !== null && typeof value === 'object'
    ? (value as { event_type?: unknown }).event_type
    : undefined;
}

export async function startShippingPeer(options: ShippingPeerOptions): Promise<ShippingPeer> {
  const {
    requestsTopic = 'shipping.requests',
    responsesTopic = 'shipping.responses',
    groupId = 'dev-shipping',
    delayMs = 10,
    failRule = failWhenQuantityIs13,
    holdRule = holdWhenQuantityIs12,
    holdMs = 30_000,
    cancelRule: configuredCancelRule = SHIPPING_CANCEL_RULES.cancel,
    port = 0,
    fromBeginning = true,
    createTopics = true,
    maxWaitTimeInMs = 500,
    sessionTimeout = 30_000,
    readyTimeoutMs = 30_000,
    logger = createLogger({ name: 'dev-shipping' }),
  } = options;
  if (!options.kafka && !options.brokers?.length) {
    throw new Error('startShippingPeer needs `brokers` or a `kafka` client');
  }
  if (!Number.isInteger(delayMs) || delayMs < 0) {
    throw new Error(`delayMs must be a whole number ≥ 0, got ${delayMs}`);
  }
  const kafka =
    options.kafka ??
    new Kafka({
      clientId: groupId,
      brokers: options.brokers!,
      // Not below WARN: kafkajs's INFO lines about joins and commits drown the peer's own.
      logLevel: Math.min(kafkajsLogLevel(logger.level()), logLevel.WARN),
      logCreator: bunyanLogCreator(logger),
    });

  const waiters = changeWaiters();
  const timers = timerSet();
  const byKey = new Map<string, ShipmentRecord>();
  const byOrder = new Map<string, ShipmentRecord[]>();
  const cancellations = new Map<string, CancellationRecord>();
  const cancellationsByOrder = new Map<string, CancellationRecord[]>();
  const counts = { duplicates: 0, skipped: 0, invalid: 0, errors: 0 };
  // Answers being produced: their record must not be answered again meanwhile.
  const sending = new Map<ShipmentRecord | CancellationRecord, Promise<void>>();
  let cancelRule = configuredCancelRule;

  /** Publishes a request's answer again, for a repeat of its key (the record stays as it is). */
  async function republish(record: ShipmentRecord | CancellationRecord, producer: Producer) {
    const reply = record.answer!;
    try {
      await producer.send({
        topic: responsesTopic,
        acks: -1,
        messages: [{ key: reply.order_id, value: JSON.stringify(reply) }],
      });
    } catch (err) {
      counts.errors++;
      logger.error(
        { err, order_id: reply.order_id, idempotency_key: record.idempotency_key },
        'shipping answer not published again; the repeat will be delivered again',
      );
      throw err;
    }
  }

  /** A repeat of a known key: counted, and answered again once the first was answered. */
  function repeated(
    record: ShipmentRecord | CancellationRecord,
    producer: Producer,
  ): Promise<void> | void {
    record.duplicates++;
    counts.duplicates++;
    waiters.changed();
    if (record.state === 'answered' && record.answer) return republish(record, producer);
  }

  async function produce(
    record: ShipmentRecord | CancellationRecord,
    reply: ShippingAnswer,
    producer: Producer,
  ): Promise<void> {
    const sent = producer.send({
      topic: responsesTopic,
      acks: -1,
      messages: [{ key: reply.order_id, value: JSON.stringify(reply) }],
    });
    const done = sent.then(
      () => undefined,
      () => undefined,
    );
    sending.set(record, done);
    try {
      await sent;
    } catch (err) {
      // Marked so that Kafka's redelivery of the batch is answered, not taken for a duplicate.
      record.state = 'unanswered';
      counts.errors++;
      logger.error(
        { err, order_id: reply.order_id, idempotency_key: record.idempotency_key },
        'shipping answer not produced; it will be tried again',
      );
      waiters.changed();
      throw err;
    } finally {
      sending.delete(record);
    }
    record.state = 'answered';
    record.answer = reply;
    if ('answered_at' in record) record.answered_at = new Date().toISOString();
    waiters.changed();
  }

  /** What Shipping does with a request: ship it, or say why not. */
  function verdict(request: ShippingRequest): ShippingAnswer {
    const reason = failRule(request);
    return {
      event_type: reason === undefined ? 'order.shipped' : 'shipping.failed',
      order_id: request.order_id,
      item_id: request.item_id,
      quantity: request.quantity,
      shipment_id: reason === undefined ? randomUUID() : null,
      ...(reason === undefined ? {} : { reason }),
    };
  }

  const cancelledAnswer = (orderId: string, request?: ShippingRequest): ShippingAnswer => ({
    event_type: 'order.cancelled',
    order_id: orderId,
    ...(request && { item_id: request.item_id, quantity: request.quantity }),
    shipment_id: null,
    reason: request
      ? "cancelled at the customer's request before it shipped"
      : 'cancelled before the shipping request arrived',
  });

  /** Answers a request after the delay, unless a cancellation answered it meanwhile. */
  async function answer(record: ShipmentRecord, producer: Producer): Promise<void> {
    if (delayMs > 0) await sleep(delayMs);
    if (record.state !== 'answering' || sending.has(record)) return;
    let reply: ShippingAnswer;
    try {
      reply = verdict(record.request);
    } catch (err) {
      record.state = 'unanswered';
      counts.errors++;
      logger.error({ err, order_id: record.request.order_id }, 'shipping rule failed');
      waiters.changed();
      throw err;
    }
    await produce(record, reply, producer);
  }

  /** A held request ships after holdMs (by timer: holding it in the batch would stall the
   * partition, and its cancellation behind it). A failed send is tried again a second later. */
  function pack(record: ShipmentRecord, producer: Producer, waitMs = holdMs): void {
    record.state = 'packing';
    waiters.changed();
    timers.after(waitMs, () => {
      if (record.state !== 'packing') return;
      record.state = 'answering';
      answer(record, producer).catch(() => pack(record, producer, 1000));
    });
  }

  function ordersOf<T>(map: Map<string, T[]>, orderId: string, record: T): void {
    const list = map.get(orderId) ?? [];
    list.push(record);
    map.set(orderId, list);
  }

  function takeRequest(
    partition: number,
    message: KafkaMessage,
    request: ShippingRequest,
    producer: Producer,
  ): Promise<void> | void {
    const known = byKey.get(request.idempotency_key);
    if (known && known.state !== 'unanswered') return repeated(known, producer);
    if (known) {
      // Its answer failed to go out before; Kafka delivered it again, so try again.
      known.state = 'answering';
      return answer(known, producer);
    }
    const record: ShipmentRecord = {
      idempotency_key: request.idempotency_key,
      request,
      state: 'answering',
      answer: null,
      received_at: new Date().toISOString(),
      answered_at: null,
      duplicates: 0,
      partition,
      offset: message.offset,
    };
    byKey.set(record.idempotency_key, record);
    ordersOf(byOrder, request.order_id, record);
    waiters.changed();
    // Its cancellation came first: it is not shipped.
    if (cancellationsByOrder.has(request.order_id)) {
      return produce(record, cancelledAnswer(request.order_id, request), producer);
    }
    if (holdRule(request)) return pack(record, producer);
    return answer(record, producer);
  }

  async function decideCancellation(record: CancellationRecord, producer: Producer): Promise<void> {
    const shipment = byOrder.get(record.order_id)?.at(-1);
    // An answer on its way decides: wait for it rather than race it.
    const inFlight = shipment && sending.get(shipment);
    if (inFlight) await inFlight;
    let reply: ShippingAnswer;
    if (!shipment) {
      record.outcome = 'cancelled';
      reply = cancelledAnswer(record.order_id);
    } else if (shipment.state === 'answered' && shipment.answer) {
      // Repeat what was said: shipped (too late), or failed or cancelled already.
      const said = shipment.answer.event_type;
      record.outcome =
        said === 'order.shipped'
          ? 'too_late'
          : said === 'order.cancelled'
            ? 'cancelled'
            : 'settled';
      reply = { ...shipment.answer };
    } else if (cancelRule(shipment.request) === 'cancel') {
      record.outcome = 'cancelled';
      reply = cancelledAnswer(record.order_id, shipment.request);
      // The shipment's own answer: its delay or packing timer then finds it answered.
      await produce(shipment, reply, producer);
    } else {
      record.outcome = 'too_late';
      reply = verdict(shipment.request);
      await produce(shipment, reply, producer);
    }
    if (shipment?.answer === reply) {
      // Already on the topic as the shipment's answer: record it, do not send it twice.
      record.state = 'answered';
      record.answer = reply;
      return waiters.changed();
    }
    await produce(record, reply, producer);
  }

  function takeCancellation(request: CancelRequest, producer: Producer): Promise<void> | void {
    const known = cancellations.get(request.idempotency_key);
    if (known && known.state !== 'unanswered') return repeated(known, producer);
    const record: CancellationRecord = known ?? {
      idempotency_key: request.idempotency_key,
      order_id: request.order_id,
      outcome: null,
      state: 'answering',
      answer: null,
      received_at: new Date().toISOString(),
      duplicates: 0,
    };
    record.state = 'answering';
    if (!known) {
      cancellations.set(record.idempotency_key, record);
      ordersOf(cancellationsByOrder, record.order_id, record);
    }
    waiters.changed();
    return decideCancellation(record, producer).catch((err: unknown) => {
      // So that Kafka's redelivery of the batch decides it again.
      record.state = 'unanswered';
      waiters.changed();
      throw err;
    });
  }

  /** Checks one message; returns the answer to wait for, or nothing when it needs none. */
  function take(
    partition: number,
    message: KafkaMessage,
    producer: Producer,
  ): Promise<void> | void {
    const text = message.value?.toString('utf8') ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON cannot be a request; keep going so one bad message never blocks the partition.
      parsed = undefined;
    }
    const type = eventType(parsed);
    if (parsed !== undefined && type !== 'order.paid' && type !== 'order.cancel_requested') {
      counts.skipped++;
      return waiters.changed();
    }
    const schema = type === 'order.cancel_requested' ? cancelSchema : requestSchema;
    const { error, value } = schema.validate(parsed);
    if (error) {
      counts.invalid++;
      logger.warn(
        {
          partition,
          offset: message.offset,
          problem: parsed === undefined ? 'not JSON' : error.message,
        },
        `shipping request passed over: not a valid ${String(type ?? 'order.paid')} request`,
      );
      return waiters.changed();
    }
    if (type === 'order.cancel_requested') {
      return takeCancellation(value as CancelRequest, producer);
    }
    return takeRequest(partition, message, value as ShippingRequest, producer);
  }

  function recorded(filter: { order_id?: string } = {}): ShippingRecorded {
    const source =
      filter.order_id === undefined ? [...byKey.values()] : (byOrder.get(filter.order_id) ?? []);
    const cancelled =
      filter.order_id === undefined
        ? [...cancellations.values()]
        : (cancellationsByOrder.get(filter.order_id) ?? []);
    return {
      shipments: source.map((r) => ({
        ...r,
        request: { ...r.request },
        answer: r.answer && { ...r.answer },
      })),
      cancellations: cancelled.map((c) => ({ ...c, answer: c.answer && { ...c.answer } })),
      ...counts,
    };
  }

  // The default partitioner named explicitly: otherwise kafkajs warns on every start.
  const producer = kafka.producer({
    allowAutoTopicCreation: true,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer: Consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: true,
    maxWaitTimeInMs,
    sessionTimeout,
    heartbeatInterval: Math.min(3000, Math.floor(sessionTimeout / 3)),
  });
  let server: StartedServer | undefined;
  const stopAll = async () => {
    waiters.cancel('shipping peer stopped');
    timers.close();
    // The consumer first: it waits for the batch in hand, whose answers need the producer.
    const results = await Promise.allSettled([
      consumer.disconnect().then(() => producer.disconnect()),
      server?.stop(),
    ]);
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) {
      throw new AggregateError(
        failed.map((r) => (r as PromiseRejectedResult).reason),
        'shipping peer did not stop cleanly',
      );
    }
  };

  try {
    if (createTopics) await ensureTopics(kafka, [requestsTopic, responsesTopic], logger);
    await producer.connect();
    await consumer.connect();
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      counts.errors++;
      logger.error({ err: payload.error, restart: payload.restart }, 'shipping consumer crashed');
    });
    const joined = new Promise<void>((resolve) => {
      const off = consumer.on(consumer.events.GROUP_JOIN, () => {
        off();
        resolve();
      });
    });
    await consumer.subscribe({ topics: [requestsTopic], fromBeginning });
    await consumer.run({
      // A whole batch is answered concurrently, so the delay is paid once per batch, not once per
      // message; offsets are committed only after every answer in it was produced.
      eachBatch: async ({ batch, heartbeat }) => {
        // Settled, not all: a retried batch must not meet answers still in flight.
        const results = await Promise.allSettled(
          batch.messages.map((m) => take(batch.partition, m, producer)),
        );
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        await heartbeat();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      joined,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `shipping consumer did not join group ${groupId} within ${readyTimeoutMs} ms`,
              ),
            ),
          readyTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));

    server = await listen((req, res) => {
      const { path, query } = requestTarget(req);
      if (req.method === 'GET' && (path === '/shipments' || path === '/_recorded')) {
        return sendJson(res, 200, recorded({ order_id: query.get('order_id') ?? undefined }));
      }
      sendJson(res, 404, { detail: 'GET /shipments lists what this peer saw' });
    }, port);
  } catch (err) {
    await stopAll().catch((stopErr: unknown) =>
      logger.error({ err: stopErr }, 'shipping peer did not stop cleanly after a failed start'),
    );
    throw err;
  }

  return {
    ...server,
    requestsTopic,
    responsesTopic,
    groupId,
    recorded,
    until: waiters.until,
    setCancelRule(rule) {
      cancelRule = rule ?? configuredCancelRule;
    },
    stop: stopAll,
  };
}

/**
 * The peer's options from the environment. Kafka comes from the service's own variables, read by
 * lib/config and lib/kafka (KAFKA_BOOTSTRAP_SERVERS or KAFKA_URL with Heroku's TLS and SASL,
 * KAFKA_PREFIX, KAFKA_SHIPPING_REQUESTS_TOPIC, KAFKA_SHIPPING_RESPONSES_TOPIC, KAFKA_TOPIC), so the
 * peer meets the service on the same topics; with no brokers configured, the in-repo broker on
 * 127.0.0.1:KAFKA_DEV_PORT. Then SHIPPING_PORT (8004), SHIPPING_GROUP_ID (dev-shipping, prefixed),
 * SHIPPING_DELAY_MS (10), SHIPPING_OUTCOME (rule: quantity 13 fails | ship | fail),
 * SHIPPING_HOLD_MS (30000: how long quantity 12 packs), SHIPPING_CANCEL_OUTCOME (cancel: what has
 * not shipped is cancelled | ship: it ships anyway, the cancellation is too late).
 */
export function shippingOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  logger: Logger = createLogger({ name: 'dev-shipping' }),
): ShippingPeerOptions {
  const { kafka } = loadConfig(env);
  const groupId = kafka.prefix + (env.SHIPPING_GROUP_ID || 'dev-shipping');
  const brokers = kafka.brokers.length ? kafka.brokers : [`127.0.0.1:${kafka.devPort}`];
  return {
    kafka: createKafka({ ...kafka, brokers, clientId: groupId }, logger),
    requestsTopic: kafka.requestsTopic,
    responsesTopic: kafka.responsesTopic,
    groupId,
    logger,
    port: envInteger(env, 'SHIPPING_PORT', 8004, { max: 65535 }),
    delayMs: envInteger(env, 'SHIPPING_DELAY_MS', 10),
    failRule:
      SHIPPING_FAIL_RULES[
        envChoice(env, 'SHIPPING_OUTCOME', ['rule', 'ship', 'fail'] as const, 'rule')
      ],
    ...shippingRulesFromEnv(env),
  };
}

/** The hold time and the cancel rule from the environment (the dev mode reads these too). */
export function shippingRulesFromEnv(
  env: NodeJS.ProcessEnv,
): Pick<ShippingPeerOptions, 'holdMs' | 'cancelRule'> {
  return {
    holdMs: envInteger(env, 'SHIPPING_HOLD_MS', 30_000),
    cancelRule:
      SHIPPING_CANCEL_RULES[
        envChoice(env, 'SHIPPING_CANCEL_OUTCOME', ['cancel', 'ship'] as const, 'cancel')
      ],
  };
}

if (isMain(import.meta.url)) {
  runUntilSignal(
    'development Shipping',
    () => {
      const logger = createLogger({ name: 'dev-shipping', level: loadConfig().logLevel });
      return startShippingPeer(shippingOptionsFromEnv(process.env, logger));
    },
    (peer) =>
      `development Shipping consuming ${peer.requestsTopic} (group ${peer.groupId}), ` +
      `answering on ${peer.responsesTopic}; GET ${peer.url}/shipments lists what it saw`,
  );
}
