/**
 * What a failure's cause is, for grouping failures of many jobs or messages into a few groups ops
 * can read and act on: the error class and its message with what varies between occurrences of
 * one cause (ids, numbers, URLs, quoted values) taken out. Pure: the ops console
 * (api/routes/console.ts) groups BullMQ's failed jobs and the dead letters by it.
 */

/** The longest cause kept: a group's name, not the whole message (the sample shows that). */
export const CAUSE_MAX_LENGTH = 200;

const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]+/gi;
const UUID_PATTERN = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
/** Quoted values: '…', "…", `…` (short of a line, so a stray apostrophe cannot swallow it all). */
const QUOTED_PATTERN = /'[^'\n]{0,200}'|"[^"\n]{0,200}"|`[^`\n]{0,200}`/g;
/** Long hex runs (trace ids, hashes) before plain numbers, so they go whole. */
const HEX_PATTERN = /\b(?=[0-9a-f]*\d)[0-9a-f]{16,}\b/gi;
const NUMBER_PATTERN = /\d+(?:\.\d+)?/g;

/** The message with what varies between occurrences of one cause replaced by placeholders. */
export function normaliseMessage(message: string): string {
  const normalised = message
    .replace(URL_PATTERN, '<url>')
    .replace(UUID_PATTERN, '<id>')
    .replace(QUOTED_PATTERN, '<value>')
    .replace(HEX_PATTERN, '<id>')
    .replace(NUMBER_PATTERN, '<n>')
    .replace(/\s+/g, ' ')
    .trim();
  return normalised.length > CAUSE_MAX_LENGTH
    ? `${normalised.slice(0, CAUSE_MAX_LENGTH - 1)}…`
    : normalised;
}

/**
 * The error class named by a stack trace's first line (`PeerRejectedError: payments answered …`),
 * or `Error` when it names none (BullMQ keeps only the message when a job ends without a stack).
 */
export function errorClassOf(stack: string | undefined): string {
  const first = stack?.split('\n', 1)[0] ?? '';
  const match = /^([A-Za-z_$][\w$.]*)(?::|$)/.exec(first.trim());
  return match?.[1] ?? 'Error';
}

/** A failure's cause: `Class: normalised message`. */
export function normaliseCause(errorClass: string, message: string): string {
  const text = normaliseMessage(message);
  return text ? `${errorClass}: ${text}` : errorClass;
}

/** One failure to group: its cause (normaliseCause), when it happened, where, and what it is. */
export interface Failure<T> {
  cause: string;
  at: Date;
  /** The queue (or topic) it failed in. */
  source: string;
  item: T;
}

export interface FailureGroup<T> {
  cause: string;
  count: number;
  firstSeen: Date;
  lastSeen: Date;
  /** Where its failures are, sorted. */
  sources: string[];
  /** The most recent failure of the group. */
  sample: T;
  items: T[];
}

/** Failures grouped by cause, the largest group first (then the most recent). */
export function groupFailures<T>(failures: readonly Failure<T>[]): FailureGroup<T>[] {
  const groups = new Map<string, FailureGroup<T> & { sampleAt: Date; sourceSet: Set<string> }>();
  for (const f of failures) {
    const g = groups.get(f.cause);
    if (!g) {
      groups.set(f.cause, {
        cause: f.cause,
        count: 1,
        firstSeen: f.at,
        lastSeen: f.at,
        sources: [],
        sourceSet: new Set([f.source]),
        sample: f.item,
        sampleAt: f.at,
        items: [f.item],
      });
      continue;
    }
    g.count += 1;
    g.items.push(f.item);
    g.sourceSet.add(f.source);
    if (f.at < g.firstSeen) g.firstSeen = f.at;
    if (f.at >= g.lastSeen) {
      g.lastSeen = f.at;
      g.sample = f.item;
    }
  }
  return [...groups.values()]
    .map(({ sampleAt: _at, sourceSet, ...g }) => ({ ...g, sources: [...sourceSet].sort() }))
    .sort((a, b) => b.count - a.count || b.lastSeen.getTime() - a.lastSeen.getTime());
}
