import { getTableColumns, sql, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { pgHandleOf, type Executor } from './client.js';

/**
 * Statements on the hot paths (run for every job, every order, every relay batch), written once
 * as SQL text and run as named prepared statements on node-postgres directly (unnamed, parsed
 * every time, when the Database was made without prepared statements: behind PgBouncer). drizzle's query
 * builder costs about 0.3 ms of CPU per statement (measured: 0.41 ms per select by id against
 * 0.12 ms prepared), more than the round trip itself, and an order takes some 30 of them; a named
 * statement is also parsed and planned by Postgres once per connection instead of every time.
 * The rest of db/ keeps drizzle's builder: a statement moves here only when a profile shows it.
 */
export interface Statement<Row> {
  /** Unique per text: node-postgres refuses one name with two texts on a connection. */
  readonly name: string;
  readonly text: string;
  /** Only carries the row type. */
  readonly row?: Row;
}

export function statement<Row = Record<string, unknown>>(
  name: string,
  text: string,
): Statement<Row> {
  return { name, text };
}

/**
 * Runs `st` with its parameters ($1, $2, … in order) on `ex`, in its transaction when `ex` is one.
 * Values go to node-postgres as they are: pass JSON text (JSON.stringify) for a jsonb parameter
 * holding an array, which node-postgres would otherwise send as a Postgres array.
 */
export async function run<Row>(
  ex: Executor,
  st: Statement<Row>,
  values: unknown[],
): Promise<Row[]> {
  const handle = pgHandleOf(ex);
  if (handle) {
    const result = await handle.pg.query(
      handle.preparedStatements
        ? { name: st.name, text: st.text, values }
        : { text: st.text, values },
    );
    return result.rows as Row[];
  }
  // A handle db/client.ts did not make (a nested transaction's): the same text through drizzle,
  // which hands timestamps over as text; the row mappers below accept both.
  const result = await ex.execute(asSql(st.text, values));
  return result.rows as Row[];
}

/**
 * The name to give drizzle's `.prepare(name)` for a query on `ex`: `name`, or the empty name
 * (node-postgres's unnamed statement, parsed every time) when `ex` was made without prepared
 * statements. drizzle still builds the query's text once.
 */
export function preparedName(ex: Executor, name: string): string {
  return pgHandleOf(ex)?.preparedStatements === false ? '' : name;
}

function asSql(text: string, values: unknown[]): SQL {
  const parts = text.split(/\$(\d+)/);
  const chunks: SQL[] = [];
  parts.forEach((part, i) => {
    chunks.push(i % 2 === 0 ? sql.raw(part) : sql`${values[Number(part) - 1]}`);
  });
  return sql.join(chunks);
}

/**
 * A table's columns for a select list (`"id", "job_id", …`) and the mapping of a raw row to the
 * row type drizzle would return, by the columns' own decoders, so a hand-written statement cannot
 * drift from the schema. With `alias` and `prefix` (for a join), the list reads
 * `i."id" as "i_id", …` and `map` reads the prefixed names. With `pick`, only those columns (by
 * their property names), and `map` returns that part of the row.
 */
export function tableRows<
  T extends PgTable,
  K extends keyof T['$inferSelect'] & string = keyof T['$inferSelect'] & string,
>(
  table: T,
  { alias, prefix = '', pick }: { alias?: string; prefix?: string; pick?: readonly K[] } = {},
): { columns: string; map(raw: Record<string, unknown>): Pick<T['$inferSelect'], K> } {
  const columns = Object.entries(getTableColumns(table)).filter(
    ([key]) => !pick || pick.includes(key as K),
  );
  return {
    columns: columns
      .map(([, c]) => (alias ? `${alias}."${c.name}" as "${prefix}${c.name}"` : `"${c.name}"`))
      .join(', '),
    map(raw) {
      const row: Record<string, unknown> = {};
      for (const [key, column] of columns) {
        const value = raw[prefix + column.name];
        row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
      }
      return row as Pick<T['$inferSelect'], K>;
    },
  };
}
