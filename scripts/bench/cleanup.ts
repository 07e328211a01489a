/**
 * Everything the benchmark starts registers how to undo it here; `run()` undoes it all in reverse
 * order, once, whether the run finished, failed or was interrupted (Ctrl-C, SIGTERM). A step that
 * fails is reported and the others still run, so one stuck piece never leaves a database or Redis
 * keys behind.
 */
export interface Cleanup {
  /** Registers a step; steps run last-registered first. */
  add(name: string, step: () => Promise<unknown> | void): void;
  /** Runs every step once; later calls wait for the same run. Returns the failures. */
  run(): Promise<string[]>;
  /** Aborted when a signal arrived: long phases check it to stop early. */
  readonly signal: AbortSignal;
}

/** Bound on one cleanup step: a hung stop must not keep the rest from running. */
const STEP_TIMEOUT_MS = 15_000;

export function createCleanup(log: (line: string) => void): Cleanup {
  const steps: { name: string; step: () => Promise<unknown> | void }[] = [];
  const controller = new AbortController();
  let running: Promise<string[]> | undefined;

  async function runAll(): Promise<string[]> {
    const failures: string[] = [];
    while (steps.length > 0) {
      const { name, step } = steps.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`did not finish within ${STEP_TIMEOUT_MS} ms`)),
              STEP_TIMEOUT_MS,
            );
          }),
        ]);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    for (const f of failures) log(`cleanup: ${f}`);
    return failures;
  }

  const cleanup: Cleanup = {
    add(name, step) {
      steps.push({ name, step });
    },
    run() {
      running ??= runAll();
      return running;
    },
    signal: controller.signal,
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // A second Ctrl-C while cleaning up: the user wants out now.
      log(`${signal} again: exiting without waiting for cleanup`);
      process.exit(130);
    }
    log(`${signal}: stopping and cleaning up…`);
    controller.abort(new Error(`interrupted by ${signal}`));
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return cleanup;
}
