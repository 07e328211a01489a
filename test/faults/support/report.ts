/**
 * The suite's summary: one row per scenario (orders, final states correct, effects lost,
 * duplicates delivered, duplicates applied, and what else it measured), printed as a table when
 * mocha ends and written as JSON to $FAULTS_REPORT (default: faults-report.json in the system's
 * temporary directory), from which docs/reliability.md's table is made.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Ledger } from './ledger.js';
import type { ScenarioOutcome, ScenarioSpec } from './schedule.js';

export interface ReportRow extends Ledger {
  id: string;
  title: string;
  seconds: number;
  facts: ScenarioOutcome['facts'];
  /** Set when the scenario itself broke (could not start, threw) rather than finish. */
  error?: string;
}

const rows: ReportRow[] = [];

export function recordResult(r: {
  spec: ScenarioSpec;
  seconds: number;
  outcome?: ScenarioOutcome;
  error?: Error;
}): void {
  const l = r.outcome?.ledger;
  rows.push({
    id: r.spec.id,
    title: r.spec.title,
    seconds: Math.round(r.seconds),
    orders: l?.orders ?? 0,
    finalStatesCorrect: l?.finalStatesCorrect ?? 0,
    effects: l?.effects ?? 0,
    webhooks: l?.webhooks ?? 0,
    effectsLost: l?.effectsLost ?? 0,
    duplicatesDelivered: l?.duplicatesDelivered ?? 0,
    duplicatesApplied: l?.duplicatesApplied ?? 0,
    unexpectedEffects: l?.unexpectedEffects ?? 0,
    webhooksForeign: l?.webhooksForeign ?? 0,
    webhookSignaturesInvalid: l?.webhookSignaturesInvalid ?? 0,
    webhooksOutOfOrder: l?.webhooksOutOfOrder ?? 0,
    openOutbox: l?.openOutbox ?? 0,
    failedOutbox: l?.failedOutbox ?? 0,
    unprocessedInbox: l?.unprocessedInbox ?? 0,
    problems: l?.problems ?? [],
    facts: r.outcome?.facts ?? {},
    error: r.error ? `${r.error.message}` : undefined,
  });
}

export function reportPath(): string {
  return process.env.FAULTS_REPORT ?? path.join(tmpdir(), 'faults-report.json');
}

const COLUMNS: Array<[string, (r: ReportRow) => string]> = [
  ['scenario', (r) => r.title],
  ['orders', (r) => String(r.orders)],
  ['final states correct', (r) => String(r.finalStatesCorrect)],
  ['effects lost', (r) => `${r.effectsLost} of ${r.effects}`],
  ['duplicates delivered', (r) => String(r.duplicatesDelivered)],
  ['duplicates applied', (r) => String(r.duplicatesApplied)],
  ['time', (r) => `${r.seconds} s`],
];

/** The table as Markdown, docs/reliability.md's form. */
export function markdownTable(list: ReportRow[]): string {
  const cells = list.map((r) => COLUMNS.map(([, f]) => (r.error ? `${f(r)} (broke)` : f(r))));
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]) =>
    `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(COLUMNS.map(([h]) => h)),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...cells.map(line),
  ].join('\n');
}

/** Prints the table (and each scenario's extra facts and problems) and writes the JSON. */
export function writeReport(meta: Record<string, unknown>): void {
  if (rows.length === 0) return;
  const ordered = [...rows].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const settings = Object.entries(meta).map(([k, v]) => `${k} ${String(v)}`);
  const out = [
    `\nFault suite summary (${new Date().toISOString()}; ${settings.join(', ')})`,
    markdownTable(ordered),
  ];
  for (const r of ordered) {
    const facts = Object.entries(r.facts).map(([k, v]) => `${k}=${v}`);
    if (facts.length) out.push(`  ${r.id}: ${facts.join(', ')}`);
    if (r.error) out.push(`  ${r.id} broke: ${r.error}`);
    for (const p of r.problems.slice(0, 10)) out.push(`  ${r.id} problem: ${p}`);
  }
  const file = reportPath();
  writeFileSync(
    file,
    JSON.stringify({ at: new Date().toISOString(), ...meta, scenarios: ordered }, null, 2),
  );
  out.push(`  written to ${file}`);
  console.log(out.join('\n'));
}
