import { expect } from 'chai';
import { storeCostLines } from '../report.js';
import { parseCommandStats, storeCostSince, type StoreCounts } from '../store-counts.js';

const INFO = [
  '# Commandstats',
  'cmdstat_evalsha:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0',
  'cmdstat_hset:calls=400,usec=300,usec_per_call=0.75,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=3,usec=30,usec_per_call=10.00,rejected_calls=0,failed_calls=0',
  'cmdstat_client|setname:calls=2,usec=1,usec_per_call=0.50,rejected_calls=0,failed_calls=0',
].join('\r\n');

function counts(over: Partial<StoreCounts>): StoreCounts {
  return {
    redisCalls: {},
    pgTransactions: 0,
    pgRowWrites: 0,
    walBytes: 0,
    ...over,
  };
}

describe('bench store counts: what an order costs Redis and Postgres', () => {
  it('when Redis lists its command stats, then each command gets its calls, subcommands kept whole', () => {
    expect(parseCommandStats(INFO)).to.deep.equal({
      evalsha: 120,
      hset: 400,
      info: 3,
      'client|setname': 2,
    });
  });

  it("when two readings are subtracted, then the first reading's own INFO and query are left out and script calls are told apart", () => {
    const before = counts({
      redisCalls: { evalsha: 100, hset: 300, info: 2 },
      pgTransactions: 50,
      pgRowWrites: 10,
      walBytes: 4096,
      pgRoundTrips: { web: 300, worker: 700 },
    });
    const after = counts({
      redisCalls: { evalsha: 130, hset: 420, info: 3, zadd: 5 },
      pgTransactions: 71,
      pgRowWrites: 70,
      walBytes: 14336,
      pgRoundTrips: { web: 350, worker: 1000, consumer: 20 },
    });
    const cost = storeCostSince(before, after);
    expect(cost.redisCommands).to.equal(30 + 120 + 5);
    expect(cost.redisScriptCalls).to.equal(30);
    expect(cost.redisTop[0]).to.deep.equal({ command: 'hset', calls: 120 });
    expect(cost.pgTransactions).to.equal(20);
    expect(cost.pgRowWrites).to.equal(60);
    expect(cost.walBytes).to.equal(10240);
    // The consumer was not counted at the first reading: left out, not counted from zero.
    expect(cost.pgRoundTrips).to.equal(350);
    expect(cost.pgRoundTripsByProcess).to.deep.equal({ web: 50, worker: 300 });
    expect(storeCostSince(counts({}), counts({ pgRoundTrips: { web: 5 } })).pgRoundTrips).to.equal(
      undefined,
    );
  });

  it('when the cost is reported, then it is per order, and unreadable counts say so', () => {
    const lines = storeCostLines(
      {
        redisCommands: 500,
        redisScriptCalls: 40,
        redisTop: [{ command: 'hset', calls: 100 }],
        pgTransactions: 30,
        pgRowWrites: 90,
        walBytes: 20480,
      },
      10,
    );
    expect(lines[0]).to.contain('50 commands run');
    expect(lines[0]).to.contain('4.0 of them script calls').and.contain('hset 10');
    expect(lines[1]).to.contain('3.0 transactions').and.contain('9.0 row writes');
    expect(lines[1]).to.contain('2.0 kB of WAL');
    expect(storeCostLines(undefined, 10)[0]).to.contain('n/a');
    const counted = storeCostLines(
      {
        redisCommands: 500,
        redisScriptCalls: 40,
        redisTop: [],
        pgTransactions: 30,
        pgRowWrites: 90,
        walBytes: 0,
        pgRoundTrips: 245,
        pgRoundTripsByProcess: { web: 30, worker: 215 },
      },
      10,
    );
    expect(counted[1]).to.contain('24.5 round trips by the service (web 3.0, worker 21.5)');
    expect(lines[1]).not.to.contain('round trips');
  });
});
