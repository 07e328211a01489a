/**
 * `npm run config:docs`: writes .env.example, the configuration table of docs/configuration.md and
 * the descriptions of app.json's variables from the declarations in lib/platform/config/, so that
 * adding or rewording a variable is one declaration and this command.
 * test/unit/config-docs.test.ts and test/unit/platform-manifests.test.ts fail when a file is not
 * what this would write.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { SECTIONS } from '../lib/platform/config.js';
import { variablesOf, type AnyVariable } from '../lib/platform/config/define.js';
import { isMain } from '../lib/platform/main.js';

export const ENV_EXAMPLE = fileURLToPath(new URL('../.env.example', import.meta.url));
export const CONFIG_DOC = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
export const APP_JSON = fileURLToPath(new URL('../app.json', import.meta.url));

const TABLE_START =
  '<!-- config-table: generated from lib/platform/config/ by `npm run config:docs`; edit those declarations, not this table -->';
const TABLE_END = '<!-- config-table: end -->';
const WIDTH = 100;

/** The values a rule accepts when it is a fixed list (`valid(...)`), blank left out. */
function allowedValues(v: AnyVariable): string[] {
  const d = v.rule.describe() as { flags?: { only?: boolean }; allow?: unknown[] };
  return d.flags?.only ? (d.allow ?? []).map(String).filter(Boolean) : [];
}

const list = (items: readonly string[]) =>
  items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;

/** The description and what the declaration says besides: the allowed values, who needs it, secret. */
export function meaning(v: AnyVariable): string {
  const values = allowedValues(v);
  return [
    v.description,
    values.length ? `One of ${values.map((x) => `\`${x}\``).join(', ')}.` : '',
    v.neededBy.length
      ? `Needed by the ${list(v.neededBy)} process${v.neededBy.length > 1 ? 'es' : ''}.`
      : '',
    v.secret ? 'Secret.' : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** Words at most `width` wide per line; a `code span` is never broken. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.match(/(?:`[^`]*`|[^\s`])+/g) ?? []) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export function renderEnvExample(): string {
  const out = [
    '# Order Service configuration: every variable the service reads, set to its default or to an',
    '# example. Generated from lib/platform/config/ by `npm run config:docs`: edit the declarations',
    '# there, not this file. Locally every variable is optional: the defaults work against',
    '# PostgreSQL and Redis on 127.0.0.1. `npm run dev` reads a .env file if there is one.',
  ];
  for (const section of SECTIONS) {
    out.push('', `# --- ${section.title} `.padEnd(WIDTH, '-'));
    for (const v of variablesOf(section.variables)) {
      const value = v.default === undefined ? (v.example ?? '') : String(v.default);
      out.push(...wrap(meaning(v), WIDTH - 2).map((l) => `# ${l}`), `${v.env}=${value}`);
    }
  }
  return `${out.join('\n')}\n`;
}

function defaultCell(v: AnyVariable): string {
  if (v.default === undefined) return '—';
  return v.default === '' ? '(empty)' : `\`${String(v.default)}\``;
}

/** The table, unformatted (prettier aligns it). */
export function renderConfigTable(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = SECTIONS.flatMap((s) => variablesOf(s.variables)).map(
    (v) => `| \`${v.env}\` | ${cell(defaultCell(v))} | ${cell(meaning(v))} |`,
  );
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** The document with the table between the markers replaced, formatted as `npm run lint` wants. */
export async function renderConfigDoc(doc: string): Promise<string> {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(
      `docs/configuration.md: the configuration table's markers are missing:\n${TABLE_START}\n${TABLE_END}`,
    );
  }
  const text = `${doc.slice(0, start + TABLE_START.length)}\n\n${renderConfigTable()}\n\n${doc.slice(end)}`;
  const options = await prettier.resolveConfig(CONFIG_DOC);
  return prettier.format(text, { ...options, filepath: CONFIG_DOC });
}

/** app.json with each declared variable's description taken from its declaration. */
export async function renderAppJson(text: string): Promise<string> {
  const app = JSON.parse(text) as { env?: Record<string, { description?: string }> };
  const declared = new Map(
    SECTIONS.flatMap((s) => variablesOf(s.variables)).map((v) => [v.env, v.description]),
  );
  for (const [name, entry] of Object.entries(app.env ?? {})) {
    const description = declared.get(name);
    if (description !== undefined) entry.description = description;
  }
  const options = await prettier.resolveConfig(APP_JSON);
  return prettier.format(JSON.stringify(app, null, 2), { ...options, filepath: APP_JSON });
}

if (isMain(import.meta.url)) {
  await writeFile(ENV_EXAMPLE, renderEnvExample());
  await writeFile(CONFIG_DOC, await renderConfigDoc(await readFile(CONFIG_DOC, 'utf8')));
  await writeFile(APP_JSON, await renderAppJson(await readFile(APP_JSON, 'utf8')));
  console.log(
    'wrote .env.example, the configuration table of docs/configuration.md and app.json’s descriptions',
  );
}
