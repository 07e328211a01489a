import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { startPrivateTestBroker, startRealCluster } from '../../scripts/testkit/kafka.js';
import { waitFor } from '../../scripts/testkit/wait.js';
import { expectSettled } from './support/expect.js';
import { unaccepted } from './support/load.js';
import { scenario } from './support/schedule.js';
import { startFaultSystem } from './support/system.js';

/** How long the single broker stays stopped. */
const BROKER_DOWN_MS = 10_000;

const brokerRestart = scenario({
  id: '4a',
  title: '4a. Kafka broker restarted, data kept',
  expectedSeconds: 100,
  async run(ctx) {
    const broker = await startPrivateTestBroker();
    ctx.defer(() => broker.destroy());
    if (broker.kind !== 'real') throw new Error('scenario 4 needs Apache Kafka');
    const sys = await startFaultSystem(ctx, { kafkaBrokers: [broker.address] });
    const load = sys.send({ count: 250, perSecond: 5 });

    await waitFor(() => load.accepted.length >= 80, { timeoutMs: 60_000, what: '80 orders' });
    await broker.stop();
    ctx.log(`broker stopped (controlled shutdown) at ${load.accepted.length} orders`);
    // The outage's length is the scenario's subject, not a guess at how long something takes.
    await sleep(BROKER_DOWN_MS);
    await broker.start();
    ctx.log('broker started again on its data');

    const ledger = await sys.settle(load, 240_000);
    return { ledger, facts: unaccepted(load) };
  },
});

const leaderKilled = scenario({
  id: '4b',
  title: '4b. three-broker Kafka: a partition leader killed',
  expectedSeconds: 130,
  async run(ctx) {
    const cluster = await startRealCluster({ brokers: 3 });
    ctx.defer(() => cluster.stop());
    ctx.log(`three brokers up: ${cluster.brokers.join(', ')}`);
    const sys = await startFaultSystem(ctx, { kafkaBrokers: cluster.brokers });
    const admin = new Kafka({
      clientId: 'faults-admin',
      brokers: cluster.brokers,
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    ctx.defer(() => admin.disconnect());
    const load = sys.send({ count: 250, perSecond: 5 });

    await waitFor(() => load.accepted.length >= 80, { timeoutMs: 60_000, what: '80 orders' });
    const topic = sys.kafka.requestsTopic;
    const leaderOf = async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader;
    };
    const leader = await leaderOf();
    const node = cluster.nodes.find((n) => n.nodeId === leader)!;
    await node.kill();
    ctx.log(`killed node ${leader}, leader of ${topic}[0], at ${load.accepted.length} orders`);
    let newLeader = leader;
    await waitFor(
      async () => {
        newLeader = await leaderOf().catch(() => leader);
        return newLeader !== leader && newLeader >= 0;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: `a new leader of ${topic}[0]` },
    );
    ctx.log(`node ${newLeader} leads ${topic}[0] now`);

    const ledger = await sys.settle(load, 240_000);
    return {
      ledger,
      facts: {
        killedLeader: leader,
        newLeader,
        ...unaccepted(load),
      },
    };
  },
});

describe('fault scenario 4: Kafka brokers', function () {
  this.timeout(15 * 60_000);

  it('when the broker is stopped mid-run and started again on its data, then every accepted order ends as expected and every effect happened once', async () => {
    const outcome = await brokerRestart.outcome();
    expectSettled(outcome);
  });

  it('when the leader of a partition is killed on a three-broker cluster, then another broker leads it and every accepted order ends as expected with every effect once', async () => {
    const outcome = await leaderKilled.outcome();
    const { facts } = outcome;

    expect(facts.newLeader).to.not.equal(facts.killedLeader);
    expectSettled(outcome);
  });
});
