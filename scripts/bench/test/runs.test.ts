import { expect } from 'chai';
import type { BenchResults } from '../report.js';
import { formatRuns, spreadOf, summarizeRuns } from '../runs.js';

function run(capacity: number, cpu: number, redis?: number): BenchResults {
  return {
    meta: {
      startedAt: '2026-12-07T00:00:00.000Z',
      mode: 'processes',
      quick: false,
      cpus: 2,
      loadAverageBefore: [0, 0, 0],
      node: '20',
      poolSize: 10,
    },
    errors: [],
    capacity: { ordersPerSecond: capacity, steps: [], stepSeconds: 10 },
    efficiency: {
      cpuMsPerOrder: cpu,
      byProcess: {},
      jobsPerOrder: 7,
      run: 'sustained run',
      redisCommandsPerOrder: redis,
    },
  } as BenchResults;
}

describe('bench --runs: every target per run, with the spread', () => {
  it('when values are spread, then the median is the middle one (or the mean of the two middle ones)', () => {
    expect(spreadOf([3, 1, 2])).to.deep.equal({ median: 2, min: 1, max: 3 });
    expect(spreadOf([4, 1, 2, 3])).to.deep.equal({ median: 2.5, min: 1, max: 4 });
    expect(spreadOf([Number.NaN])).to.equal(undefined);
  });

  it('when three runs are summarized, then each figure has its runs, median, min and max, and a figure no run measured is left out', () => {
    const summary = summarizeRuns([run(100, 24), run(80, 26, 240), run(120, 22, 260)]);
    expect(summary.figures.map((f) => f.capacityOrdersPerSecond)).to.deep.equal([100, 80, 120]);
    expect(summary.spread.capacityOrdersPerSecond).to.deep.equal({
      median: 100,
      min: 80,
      max: 120,
    });
    expect(summary.spread.redisCommandsPerOrder).to.deep.equal({ median: 250, min: 240, max: 260 });
    expect(summary.spread).not.to.have.property('pgRoundTripsPerOrder');
    const text = formatRuns(summary);
    expect(text).to.match(/capacity, orders\/s\s+100\s+80\s+120\s+100\s+80\s+120/);
    expect(text).to.match(/Redis commands per order\s+—\s+240\s+260\s+250/);
  });
});
