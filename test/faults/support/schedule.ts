/**
 * Runs the fault scenarios side by side so the suite stays short: scenario 5 waits out a 5-minute
 * outage and scenario 14 a 10-minute one, and the others run meanwhile. Each test file registers
 * its scenario when it is loaded; the first test to ask for an outcome starts them all, longest
 * first, at most FAULTS_CONCURRENCY at a time (3: scenario 5 mostly waits, and the other two lanes
 * share the rest; all together use well under the machine's two cores), then those marked `alone`
 * one by one; each test then awaits its own scenario's outcome and asserts on it. A scenario that
 * declares itself quiet (`ctx.quiet()`: from then on it only waits, sending nothing) gives its lane
 * back and finishes beside the others, and the `alone` ones may run beside it: scenario 14 sits
 * out most of its outage that way instead of holding a lane for 10 minutes. Scenarios never share
 * a database, a Redis prefix or Kafka topics, so running together changes only their timing.
 *
 * Random choices (which process to kill, when) come from one seeded generator per scenario:
 * FAULTS_SEED replays a run; the seed used is printed with the summary.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isClean, type Ledger } from './ledger.js';
import { recordResult } from './report.js';

export interface ScenarioContext {
  id: string;
  /** Uniform in [0, 1), seeded. */
  random(): number;
  /** A progress line on stderr, with the scenario's id and elapsed time. */
  log(message: string): void;
  /** A directory for logs; kept when the scenario fails or does not settle, else removed. */
  dir: string;
  /** Registers a clean-up; they run last-first when the scenario ends, whatever happened. */
  defer(cleanUp: () => Promise<unknown> | unknown): void;
  /**
   * From now on the scenario only waits (sends no load; its system does little but retry): its
   * lane takes the next scenario, and the `alone` ones need not wait for it to end.
   */
  quiet(): void;
}

export interface ScenarioOutcome {
  ledger: Ledger;
  /** What else the scenario measured, for its test to assert on and the report to show. */
  facts: Record<string, number | string | boolean>;
}

/** What the client was left without: orders refused, and orders never answered. */
export function clientLosses({ facts }: ScenarioOutcome): Array<[name: string, count: unknown]> {
  return [
    ['orders refused', facts.refused],
    ['orders never answered', facts.unanswered],
  ];
}

/** The ending every scenario promises: every order answered, and the ledger clean. */
export function isSettled(outcome: ScenarioOutcome): boolean {
  return clientLosses(outcome).every(([, n]) => Number(n ?? 0) === 0) && isClean(outcome.ledger);
}

export interface ScenarioSpec {
  /** Short id for logs and the report, e.g. `1 kill -9`. */
  id: string;
  title: string;
  /** Rough length on CI, to start the longest first. */
  expectedSeconds: number;
  /**
   * Runs by itself, after every other scenario: for a scenario whose promise is a latency, which
   * the other lanes' load on two cores would decide instead.
   */
  alone?: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

interface Entry {
  spec: ScenarioSpec;
  outcome: Promise<ScenarioOutcome>;
  settle(run: () => Promise<ScenarioOutcome>): Promise<void>;
}

export const DEFAULT_CONCURRENCY = 3;

const entries: Entry[] = [];
let started = false;

export const SEED = Number(process.env.FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: small, seedable, good enough to pick moments and processes. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runOne(entry: Entry, index: number, quiet: () => void): Promise<void> {
  const { spec } = entry;
  const startedAt = Date.now();
  const dir = await mkdtemp(path.join(tmpdir(), `faults-${index}-`));
  const cleanUps: Array<() => Promise<unknown> | unknown> = [];
  const ctx: ScenarioContext = {
    id: spec.id,
    random: seeded(SEED + index),
    dir,
    log: (message) =>
      process.stderr.write(
        `  [faults ${spec.id} +${((Date.now() - startedAt) / 1000).toFixed(1)}s] ${message}\n`,
      ),
    defer: (cleanUp) => void cleanUps.push(cleanUp),
    quiet() {
      ctx.log('quiet from now on: its lane goes to the next scenario');
      quiet();
    },
  };
  ctx.log(`started (logs in ${dir})`);
  await entry.settle(async () => {
    let failed = true;
    try {
      const outcome = await spec.run(ctx);
      recordResult({ spec, outcome, seconds: (Date.now() - startedAt) / 1000 });
      // The logs are what explains a scenario that ran through but did not end as promised.
      failed = !isSettled(outcome);
      return outcome;
    } catch (err) {
      recordResult({ spec, error: err as Error, seconds: (Date.now() - startedAt) / 1000 });
      throw err;
    } finally {
      for (const cleanUp of cleanUps.reverse()) {
        await Promise.resolve()
          .then(cleanUp)
          .catch((err: unknown) => ctx.log(`clean-up failed: ${(err as Error).message}`));
      }
      if (!failed) await rm(dir, { recursive: true, force: true });
      ctx.log(`${failed ? 'FAILED' : 'done'} in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
    }
  });
}

/**
 * Runs `items` in order, at most `lanes` at a time, and resolves once each has finished or freed
 * its lane (`laneFree`, its quiet()); a run that frees its lane goes on beside the next. A run
 * that fails breaks the whole, and is reported even when its lane was already freed.
 */
export async function runInLanes<T>(
  items: T[],
  lanes: number,
  run: (item: T, laneFree: () => void) => Promise<void>,
  onBroken: (item: T, err: unknown) => void = () => undefined,
): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const current = item;
        await new Promise<void>((laneFree, broke) => {
          run(current, laneFree).then(laneFree, (err: unknown) => {
            onBroken(current, err);
            broke(err);
          });
        });
      }
    }),
  );
}

function startAll(): void {
  if (started) return;
  started = true;
  const all = entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => b.entry.spec.expectedSeconds - a.entry.spec.expectedSeconds);
  const lanes = Math.max(1, Number(process.env.FAULTS_CONCURRENCY ?? DEFAULT_CONCURRENCY));
  void (async () => {
    await runInLanes(
      all.filter(({ entry }) => !entry.spec.alone),
      lanes,
      ({ entry, index }, laneFree) => runOne(entry, index, laneFree),
      // After quiet() nobody awaits the lane: the failure must still be heard.
      ({ entry }, err) =>
        process.stderr.write(`  [faults ${entry.spec.id}] broke: ${String(err)}\n`),
    );
    for (const { entry, index } of all.filter(({ entry }) => entry.spec.alone)) {
      // Nothing runs after it in its turn, so going quiet frees nothing.
      await runOne(entry, index, () => undefined);
    }
  })();
}

/** Registers a scenario; `outcome()` starts the suite's scenarios and awaits this one. */
export function scenario(spec: ScenarioSpec): { outcome(): Promise<ScenarioOutcome> } {
  let resolve!: (o: ScenarioOutcome) => void;
  let reject!: (e: unknown) => void;
  const outcome = new Promise<ScenarioOutcome>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Awaited by its test; a scenario whose test was filtered out must not crash the run.
  outcome.catch(() => undefined);
  entries.push({
    spec,
    outcome,
    settle: (run) => run().then(resolve, reject),
  });
  return {
    outcome() {
      startAll();
      return outcome;
    },
  };
}
