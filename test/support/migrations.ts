/**
 * drizzle-kit migration folders made up by a test, for the release (db/migrate.ts): the
 * committed migrations plus test-only ones, or test-only ones alone. They live in a temporary
 * folder, never in db/migrations.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MIGRATIONS_FOLDER } from '../../db/migrate.js';

export interface ExtraMigration {
  /** The file name without `.sql`. */
  tag: string;
  /** Statements, joined with drizzle-kit's breakpoint marker. */
  statements: string[];
}

/** The committed migrations' tags, in the order they apply. */
export async function committedTags(): Promise<string[]> {
  const journal = JSON.parse(
    await readFile(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8'),
  ) as Journal;
  return journal.entries.map((e) => e.tag);
}

/** Drops from the folder at `dir` every migration after `tag`. */
async function keepUpTo(dir: string, tag: string): Promise<void> {
  const journalPath = path.join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as Journal;
  const last = journal.entries.findIndex((e) => e.tag === tag);
  if (last < 0) throw new Error(`no committed migration is tagged ${tag}`);
  for (const later of journal.entries.slice(last + 1)) {
    await rm(path.join(dir, `${later.tag}.sql`));
  }
  journal.entries = journal.entries.slice(0, last + 1);
  await writeFile(journalPath, JSON.stringify(journal, null, 2));
}

interface Journal {
  version: string;
  dialect: string;
  entries: Array<{ idx: number; version: string; when: number; tag: string; breakpoints: boolean }>;
}

export interface MigrationsFolder {
  path: string;
  /** Adds a migration after the others (as `drizzle-kit generate` would). */
  add(migration: ExtraMigration): Promise<void>;
  remove(): Promise<void>;
}

/**
 * A folder holding the committed migrations (`withCommitted`), or those up to and including the
 * tag `committedUpTo`, or none, plus `extra`.
 */
export async function migrationsFolder(
  extra: ExtraMigration[],
  { withCommitted, committedUpTo }: { withCommitted: boolean; committedUpTo?: string },
): Promise<MigrationsFolder> {
  const dir = await mkdtemp(path.join(tmpdir(), 'os-migrations-'));
  if (withCommitted) {
    await cp(MIGRATIONS_FOLDER, dir, { recursive: true });
    if (committedUpTo !== undefined) await keepUpTo(dir, committedUpTo);
  } else {
    await mkdir(path.join(dir, 'meta'));
    const empty: Journal = { version: '7', dialect: 'postgresql', entries: [] };
    await writeFile(path.join(dir, 'meta', '_journal.json'), JSON.stringify(empty));
  }
  const folder: MigrationsFolder = {
    path: dir,
    async add({ tag, statements }) {
      const journalPath = path.join(dir, 'meta', '_journal.json');
      const journal = JSON.parse(await readFile(journalPath, 'utf8')) as Journal;
      const last = journal.entries.at(-1);
      journal.entries.push({
        idx: journal.entries.length,
        version: '7',
        // Later than every committed one, as a newly generated migration is.
        when: Math.max(Date.now(), (last?.when ?? 0) + 1),
        tag,
        breakpoints: true,
      });
      await writeFile(path.join(dir, `${tag}.sql`), statements.join('--> statement-breakpoint\n'));
      await writeFile(journalPath, JSON.stringify(journal, null, 2));
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  for (const m of extra) await folder.add(m);
  return folder;
}
