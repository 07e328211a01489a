import { expect } from 'chai';
import { efficiencyOf } from '../capacity.js';
import type { IntakeResults, ThroughputRun } from '../intake.js';
import { formatJson, formatText, verdicts, type BenchResults } from '../report.js';
import { summarize } from '../stats.js';

function throughput(perSecond: number): ThroughputRun {
  return {
    perSecond,
    count: perSecond * 5,
    seconds: 5,
    latency: summarize([5, 6, 7]),
    failures: 0,
    failureSamples: [],
  };
}

function results(): BenchResults {
  const intake: IntakeResults = {
    concurrency: 10,
    webProcesses: 1,
    postgres: throughput(1200),
    service: throughput(300),
    ratio: 0.25,
    rounds: [{ postgres: 1200, service: 300 }],
    diagnostics: [],
  };
  return {
    meta: {
      startedAt: '2026-11-29T00:00:00.000Z',
      mode: 'processes',
      quick: true,
      cpus: 2,
      loadAverageBefore: [0.5, 0.4, 0.3],
      node: '20',
      poolSize: 10,
    },
    capacity: {
      ordersPerSecond: 20,
      stepSeconds: 3,
      steps: [
        {
          rate: 10,
          orders: 30,
          p50: 40,
          p99: 90,
          backlog: 4,
          bounded: true,
          passed: true,
          failures: [],
        },
        {
          rate: 20,
          orders: 60,
          p50: 60,
          p99: 200,
          backlog: 9,
          bounded: true,
          passed: true,
          failures: [],
        },
        {
          rate: 30,
          orders: 90,
          p50: 400,
          p99: 900,
          backlog: 80,
          bounded: false,
          passed: false,
          failures: ['p99 900 ms > 250 ms'],
        },
      ],
    },
    efficiency: {
      ...efficiencyOf({ worker: 2800, web: 800, postgres: 2000 }, 100, 700, {
        node: 0.5,
        redis: 0.25,
      }),
      run: 'sustained run (10/s)',
      redisCommandsPerOrder: 260,
      pgRoundTripsPerOrder: 24,
    },
    burst: {
      orders: 200,
      concurrency: 32,
      failures: 0,
      unfinished: 0,
      drainSeconds: 9.5,
      p50: 4000,
      p99: 8000,
    },
    sustained: {
      rate: 10,
      seconds: 8,
      orders: 80,
      failures: 0,
      unfinished: 0,
      p50: 50,
      p99: 110,
      maxBacklog: 6,
      bounded: true,
      peakRssMb: { web: 150, worker: 210, consumer: 120 },
    },
    relay: {
      latency: {
        total: summarize([2, 2.5, 3, 9]),
        hops: {
          commitToAdded: summarize([1]),
          addedToActive: summarize([1]),
          activeToHandler: summarize([1]),
        },
      },
      throughput: [{ batchSize: 500, rows: 5000, seconds: 0.5, rowsPerSecond: 10_000 }],
    },
    intake,
    errors: [],
  };
}

describe('bench report', () => {
  it('when a run is written as JSON, then every figure of the performance targets is there', () => {
    const json = JSON.parse(formatJson(results())) as Record<string, Record<string, unknown>>;
    expect(json.capacity!.ordersPerSecond).to.equal(20);
    expect(json.capacity!.steps).to.have.length(3);
    expect(json.capacity!.steps).to.satisfy((steps: Record<string, unknown>[]) =>
      steps.every((s) => ['rate', 'p50', 'p99', 'backlog', 'passed'].every((k) => k in s)),
    );
    expect(json.efficiency!.cpuMsPerOrder).to.equal(56);
    expect(json.efficiency!.byProcess).to.deep.equal({ worker: 28, web: 8, postgres: 20 });
    expect(json.efficiency!.noopJobCpuMs).to.deep.equal({ node: 0.5, redis: 0.25 });
    expect(json.efficiency!.workerCpuPerJobRatio).to.equal(8);
    expect(json.efficiency).to.include({ redisCommandsPerOrder: 260, pgRoundTripsPerOrder: 24 });
    expect(json.intake!.ratio).to.equal(0.25);
    const total = (json.relay!.latency as { total: Record<string, number> }).total;
    expect(total).to.include.keys('p50', 'p99');
    expect(json.burst).to.include({ orders: 200, drainSeconds: 9.5, failures: 0 });
    expect(json.sustained!.maxBacklog).to.equal(6);
    expect(json.sustained!.peakRssMb).to.deep.equal({ web: 150, worker: 210, consumer: 120 });
  });

  it('when figures are judged, then each performance target is met or missed by its own rule', () => {
    const byName = (part: string) => verdicts(results()).find((v) => v.name.includes(part))!;
    expect(byName('capacity').met).to.equal(false); // 20 < 100
    expect(byName('CPU per order').met).to.equal(false); // 56 > 25
    expect(byName('no-op').met).to.equal(false); // 8× > 3×
    expect(byName('intake').met).to.equal(false); // 25% < 50%
    expect(byName('Redis commands').met).to.equal(false); // 260 > 250
    expect(byName('round trips').met).to.equal(true); // 24 ≤ 25
    expect(byName('processor p50').met).to.equal(true); // 2.5 ≤ 3
    expect(byName('processor p99').met).to.equal(true); // 9 ≤ 10
    expect(byName('burst').met).to.equal(true);
    expect(byName('max backlog').met).to.equal(true);
    expect(byName('RSS').met).to.equal(false); // the worker's 210 MB
    expect(byName('RSS').measured).to.equal(210);
  });

  it('when a burst leaves orders unfinished, then it is a miss with no drain time', () => {
    const r = results();
    r.burst = { ...r.burst!, unfinished: 3, drainSeconds: null };
    const burst = verdicts(r).find((v) => v.name.includes('burst'))!;
    expect(burst.met).to.equal(false);
    expect(burst.detail).to.match(/3 orders not final/);
    expect(JSON.parse(formatJson(r)).burst.drainSeconds).to.equal(null);
  });

  it('when written as text, then each figure stands beside its target', () => {
    const text = formatText(results());
    expect(text).to.match(/capacity.*20 orders\/s\s+≥ 100 orders\/s\s+MISS/);
    expect(text).to.match(/worker CPU per job ÷ no-op BullMQ job\s+8\.0×\s+≤ 3×\s+MISS/);
    expect(text).to.match(/30\/s\s+90\s+400\.0 ms\s+900\.0 ms\s+80\s+—\s+failed: p99 900 ms/);
  });
});
