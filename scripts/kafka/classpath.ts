/**
 * Apache Kafka's runtime classpath, resolved by Maven from `pom.xml` beside this file and cached
 * outside the repo, so only the first start on a machine pays for the download (~10 s).
 *
 * The cache key is a hash of the descriptor: changing the pinned version resolves again. A cached
 * classpath whose jars have since vanished from ~/.m2 is resolved again too.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const KAFKA_DIR = path.dirname(fileURLToPath(import.meta.url));
const POM = path.join(KAFKA_DIR, 'pom.xml');
export const LOG4J_CONFIG = path.join(KAFKA_DIR, 'log4j2.properties');

/** Where resolved classpaths are kept: KAFKA_CACHE_DIR, else the XDG cache directory. */
export function cacheDir(): string {
  if (process.env.KAFKA_CACHE_DIR) return process.env.KAFKA_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache');
  return path.join(base, 'order-service', 'kafka');
}

/** The Kafka version pinned in pom.xml (the one source of it). */
export async function kafkaVersion(): Promise<string> {
  const pom = await readFile(POM, 'utf8');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!match?.[1]) throw new Error(`${POM} has no <kafka.version>`);
  return match[1];
}

/** Whether this machine can run Apache Kafka from Maven: `java` and `mvn` on the PATH. */
export async function javaAndMavenPresent(): Promise<boolean> {
  const found = async (cmd: string) =>
    run(cmd, ['-version'], { timeout: 30_000 }).then(
      () => true,
      () => false,
    );
  const [java, mvn] = await Promise.all([found('java'), found('mvn')]);
  return java && mvn;
}

/** The classpath of `kafka.Kafka`, resolving it with Maven when the cache has none. */
export async function kafkaClasspath(): Promise<string> {
  const pom = await readFile(POM);
  const key = createHash('sha256').update(pom).digest('hex').slice(0, 16);
  const file = path.join(cacheDir(), `classpath-${key}.txt`);
  if (existsSync(file)) {
    const cached = (await readFile(file, 'utf8')).trim();
    if (cached.split(path.delimiter).every((jar) => existsSync(jar))) return cached;
  }
  await mkdir(cacheDir(), { recursive: true });
  try {
    await run(
      'mvn',
      ['-q', '-B', '-f', POM, 'dependency:build-classpath', `-Dmdep.outputFile=${file}`],
      { timeout: 10 * 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(
      `Maven could not resolve Apache Kafka from ${POM}: ${(stderr || stdout).trim().slice(-2000)}`,
      { cause: err },
    );
  }
  return (await readFile(file, 'utf8')).trim();
}
