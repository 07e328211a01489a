import { expect } from 'chai';
import {
  BACKLOG_SLACK,
  capacityOf,
  efficiencyOf,
  judgeBacklog,
  parseSteps,
  stepFailures,
  stepUp,
  sustainedRate,
} from '../capacity.js';
import { postgresTitleIsFor } from '../cpu.js';

const shippedAll = { orders: 100, created: 100, shipped: 100, postFailures: 0, p99: 120 };

describe('bench capacity: backlog judgement', () => {
  it('when the backlog rises to a level and wanders around it, then it is bounded', () => {
    const values = [0, 12, 30, 41, 38, 44, 40, 39, 45, 42, 37, 43, 41, 44, 40, 42];
    const j = judgeBacklog(values);
    expect(j.bounded).to.equal(true);
    expect(j.max).to.equal(45);
    expect(j.firstHalfMax).to.equal(44);
    expect(j.lastQuarterMax).to.equal(44);
  });

  it('when the backlog keeps growing while orders arrive, then it is not bounded', () => {
    const values = Array.from({ length: 16 }, (_, i) => i * 10); // 0 … 150
    const j = judgeBacklog(values);
    expect(j.bounded).to.equal(false);
    expect(j.firstHalfMax).to.equal(70);
    expect(j.lastQuarterMax).to.equal(150);
  });

  it('when a low rate jitters by a few rows from zero, then the slack keeps it bounded', () => {
    const values = [0, 0, 1, 0, 0, 2, 0, 0, 1, 0, 3, BACKLOG_SLACK, 0, 1, 0, 2];
    expect(judgeBacklog(values).bounded).to.equal(true);
  });

  it('when there are too few samples for a trend, then only a backlog past the slack fails', () => {
    expect(judgeBacklog([1, 5, 3]).bounded).to.equal(true);
    expect(judgeBacklog([1, BACKLOG_SLACK + 1]).bounded).to.equal(false);
    expect(judgeBacklog([]).bounded).to.equal(true);
  });
});

describe('bench capacity: a step and the stepping', () => {
  const bounded = judgeBacklog([0, 5, 5, 5, 5, 5, 5, 5]);

  it('when every order shipped within the p99 and the backlog held, then the step passes', () => {
    expect(stepFailures(shippedAll, bounded)).to.deep.equal([]);
  });

  it('when p99 is over 250 ms, orders are missing or POSTs failed, then each reason is named', () => {
    const why = stepFailures(
      { orders: 100, created: 98, shipped: 90, postFailures: 2, p99: 251 },
      judgeBacklog(Array.from({ length: 8 }, (_, i) => i * 40)),
    );
    expect(why).to.have.length(4);
    expect(why.join(' | ')).to.match(/2 POSTs failed/);
    expect(why.join(' | ')).to.match(/10 of 100 not shipped/);
    expect(why.join(' | ')).to.match(/p99 251 ms > 250 ms/);
    expect(why.join(' | ')).to.match(/backlog grew/);
  });

  it('when no order shipped (p99 unknown), then the step fails on p99 too', () => {
    const why = stepFailures({ ...shippedAll, shipped: 0, p99: Number.NaN }, bounded);
    expect(why.some((w) => w.startsWith('p99 —'))).to.equal(true);
  });

  it('when a step fails, then stepping stops after it and the capacity is the step below', async () => {
    const ran: number[] = [];
    const steps = await stepUp([10, 20, 40, 60], async (rate) => {
      ran.push(rate);
      return { rate, passed: rate < 40 };
    });
    expect(ran).to.deep.equal([10, 20, 40]);
    expect(capacityOf(steps)).to.equal(20);
  });

  it('when every step passes, then the capacity is the highest step', async () => {
    const steps = await stepUp([10, 20], async (rate) => ({ rate, passed: true }));
    expect(capacityOf(steps)).to.equal(20);
  });

  it('when the first step fails, then the capacity is 0 (below the lowest step)', () => {
    expect(capacityOf([{ rate: 10, passed: false }])).to.equal(0);
    expect(capacityOf([])).to.equal(0);
  });

  it('when the run is aborted, then no further step starts', async () => {
    const controller = new AbortController();
    const steps = await stepUp(
      [10, 20, 40],
      async (rate) => {
        controller.abort();
        return { rate, passed: true };
      },
      controller.signal,
    );
    expect(steps.map((s) => s.rate)).to.deep.equal([10]);
  });

  it('when the sustained rate is chosen, then it is half the capacity, or half the lowest step', () => {
    expect(sustainedRate(60, [10, 20])).to.equal(30);
    expect(sustainedRate(0, [10, 20])).to.equal(5);
    expect(sustainedRate(1, [1])).to.equal(1);
  });

  it('when --steps is given, then only increasing whole rates are taken', () => {
    expect(parseSteps('10, 20,40')).to.deep.equal([10, 20, 40]);
    for (const bad of ['', '10,10', '20,10', '0,10', '1.5', 'ten', '10,,20']) {
      expect(() => parseSteps(bad), bad).to.throw(/--steps/);
    }
  });
});

describe('bench capacity: efficiency', () => {
  it('when CPU is split by process, then per order and the worker-to-no-op ratio follow', () => {
    // 100 orders, 700 jobs: worker 2,100 ms → 3 ms a job; the no-op job 0.5 ms → 6×.
    const e = efficiencyOf({ worker: 2100, web: 800, postgres: 1500, redis: 600 }, 100, 700, {
      node: 0.5,
      redis: 0.25,
    });
    expect(e.cpuMsPerOrder).to.equal(50);
    expect(e.byProcess).to.deep.equal({ worker: 21, web: 8, postgres: 15, redis: 6 });
    expect(e.jobsPerOrder).to.equal(7);
    expect(e.workerCpuMsPerJob).to.equal(3);
    expect(e.workerCpuPerJobRatio).to.equal(6);
  });

  it('when several worker processes ran (--workers), then their CPU is added up per job, and no other part is', () => {
    const e = efficiencyOf(
      { worker: 1000, 'worker-2': 1100, 'web-2': 500, workers: 9999 },
      100,
      700,
      { node: 0.5, redis: 0.25 },
    );
    expect(e.workerCpuMsPerJob).to.equal(3);
    expect(e.workerCpuPerJobRatio).to.equal(6);
  });

  it('when there is no worker process or no floor, then the ratio is left out, not made up', () => {
    const inProcess = efficiencyOf({ bench: 1000 }, 10, 70, { node: 0.5, redis: 0.2 });
    expect(inProcess.workerCpuMsPerJob).to.equal(undefined);
    expect(inProcess.workerCpuPerJobRatio).to.equal(undefined);
    const noFloor = efficiencyOf({ worker: 700 }, 10, 70);
    expect(noFloor.workerCpuMsPerJob).to.equal(10);
    expect(noFloor.workerCpuPerJobRatio).to.equal(undefined);
    expect(efficiencyOf({ worker: 700 }, 10, 70, { node: 0, redis: 0 }).workerCpuPerJobRatio).to.be
      .undefined;
  });

  it('when no order was measured, then the per-order figures are NaN rather than Infinity', () => {
    const e = efficiencyOf({ worker: 100 }, 0, 0);
    expect(e.cpuMsPerOrder).to.be.NaN;
    expect(e.jobsPerOrder).to.be.NaN;
    expect(e.workerCpuMsPerJob).to.equal(undefined);
  });
});

describe("bench cpu: which Postgres processes are the bench database's", () => {
  const db = 'os_bench_1a2b3c4d';
  it('when a backend serves the bench database, then it counts, with or without a cluster name', () => {
    expect(postgresTitleIsFor(`postgres: 15/main: postgres ${db} 127.0.0.1(41708) idle`, db)).to.be
      .true;
    expect(postgresTitleIsFor(`postgres: postgres ${db} [local] INSERT`, db)).to.be.true;
    expect(postgresTitleIsFor(`postgres: 15/main: autovacuum worker ${db}`, db)).to.be.true;
  });

  it('when a backend serves another database, then it is left out', () => {
    expect(postgresTitleIsFor('postgres: 15/main: postgres os_restarts_1 127.0.0.1(1) idle', db)).to
      .be.false;
    expect(postgresTitleIsFor('postgres: 15/main: autovacuum worker os_other', db)).to.be.false;
    expect(postgresTitleIsFor(`postgres: 15/main: postgres ${db}x 127.0.0.1(1) idle`, db)).to.be
      .false;
  });

  it("when it is the cluster's writer or checkpointer, then it counts; launchers do not", () => {
    for (const p of ['checkpointer', 'background writer', 'walwriter']) {
      expect(postgresTitleIsFor(`postgres: 15/main: ${p} `, db), p).to.be.true;
    }
    for (const p of ['autovacuum launcher', 'logical replication launcher', 'archiver']) {
      expect(postgresTitleIsFor(`postgres: 15/main: ${p} `, db), p).to.be.false;
    }
  });
});
