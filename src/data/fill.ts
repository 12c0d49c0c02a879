// Fills every user table of a database with generated rows that satisfy its constraints, so that
// the PR's migrations run on tables that hold data (the data-aware gate). Set-based: one
// INSERT ... SELECT ... FROM generate_series per table, plus one UPDATE per foreign key that had to
// wait (cycles, self-references). Runs as whatever role the URL names. A table it cannot fill is a
// notice with the reason, never an exception; only an unreachable database throws.

import type pg from 'pg';
import { describeError } from '../errors.js';
import { withClient } from '../postgres/client.js';
import { readFillCatalog, type FillTable } from './fill-catalog.js';
import { deferredUpdateSql, fillOrder, insertPlan, matchesSkip } from './fill-plan.js';

export { explainFailure } from './explain-failure.js';

export interface FillOptions {
  readonly rowsPerTable: number;
  readonly seed: number;
  /** Tables not started when this much time has passed are reported as notices. */
  readonly budgetMs: number;
  /** Qualified table names or globs (`audit.*`, `public.big_*`); without a dot, the table name in any schema. */
  readonly skip: readonly string[];
}

export interface FillNotice {
  readonly table: string;
  readonly reason: string;
}

export interface FillReport {
  readonly tables: { readonly table: string; readonly rows: number; readonly ms: number }[];
  readonly notices: FillNotice[];
  readonly totalRows: number;
  readonly ms: number;
}

/** Candidates per wanted row in each round. */
const ROUND_FACTORS = [2, 8, 40] as const;

export async function fillDatabase(url: string, options: FillOptions): Promise<FillReport> {
  return withClient(url, (client) => fillWithClient(client, options), { applicationName: 'drift-guard fill' });
}

/** The same on a connection the caller holds (e.g. the gate's own session). Leaves statement_timeout as it found it. */
export async function fillWithClient(client: pg.Client, options: FillOptions): Promise<FillReport> {
  const started = performance.now();
  const catalog = await readFillCatalog(client);
  const tables: { table: string; rows: number; ms: number }[] = [];
  const notices: FillNotice[] = [];
  const skipped = (table: FillTable): boolean => matchesSkip(table, options.skip);
  const order = fillOrder(catalog.tables.filter((table) => !skipped(table)));
  const rows = Math.max(0, Math.floor(options.rowsPerTable));
  const filled = new Map<number, number>();
  const deadline = started + options.budgetMs;
  const previousTimeout = (await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]?.statement_timeout ?? '0';

  const run = async (sql: string): Promise<number> => (await client.query(sql)).rowCount ?? 0;

  try {
    // One statement can use the whole budget; between statements the deadline is checked here.
    await client.query(`SET statement_timeout = ${Math.max(1, Math.ceil(options.budgetMs))}`);
    for (const [index, planned] of order.entries()) {
      const { table } = planned;
      if (performance.now() >= deadline) {
        notices.push({ table: table.display, reason: `not filled: the time budget of ${(options.budgetMs / 1000).toFixed(1)} s was used up` });
        continue;
      }
      const tableStarted = performance.now();
      let inserted: number | undefined;
      let failure: string | undefined;
      let tame = false;
      let next = 1;
      // Rounds: candidates are generated, filtered by the constraints and inserted; a round that
      // kept too few is followed by a larger one over the next row numbers (at most three rounds).
      for (let round = 0; round < ROUND_FACTORS.length && (inserted ?? 0) < rows; ) {
        const want = rows - (inserted ?? 0);
        const probe = insertPlan(catalog, planned, { rows: want, from: next, to: next, seed: options.seed, tame, tableIndex: index });
        if (probe.kind === 'impossible') {
          failure = probe.reason;
          break;
        }
        const size = probe.filtered || round > 0 ? want * ROUND_FACTORS[round]! : want;
        const plan = insertPlan(catalog, planned, { rows: want, from: next, to: next + size - 1, seed: options.seed, tame, tableIndex: index });
        if (plan.kind === 'impossible') break;
        try {
          inserted = (inserted ?? 0) + (await run(plan.sql));
          failure = undefined;
        } catch (error) {
          failure = failureText(error, options.budgetMs);
          if (tame || (error as { code?: unknown }).code === '57014') break;
          tame = true; // an extreme value overflowed something: the same round again without extremes
          continue;
        }
        next += size;
        round++;
      }
      const ms = performance.now() - tableStarted;
      if (inserted === undefined) {
        notices.push({ table: table.display, reason: failure ?? 'not filled' });
        continue;
      }
      filled.set(table.oid, inserted);
      tables.push({ table: table.display, rows: inserted, ms });
      if (inserted === 0 && rows > 0) notices.push({ table: table.display, reason: emptyReason(table, catalog.tables, filled) });
    }

    for (const [index, planned] of order.entries()) {
      const { table } = planned;
      if (!filled.get(table.oid)) continue;
      for (const fk of planned.deferred) {
        const sql = deferredUpdateSql(catalog, table, fk, options.seed, index);
        if (sql === undefined) continue;
        const updateStarted = performance.now();
        try {
          await run(sql);
        } catch (error) {
          notices.push({ table: table.display, reason: `foreign key ${fk.name} left NULL: ${failureText(error, options.budgetMs)}` });
        }
        const entry = tables.find((t) => t.table === table.display);
        if (entry !== undefined) entry.ms += performance.now() - updateStarted;
      }
    }
  } finally {
    await client.query(`SET statement_timeout = ${literalSetting(previousTimeout)}`).catch(() => undefined);
  }
  return { tables, notices, totalRows: tables.reduce((sum, t) => sum + t.rows, 0), ms: performance.now() - started };
}

function literalSetting(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function failureText(error: unknown, budgetMs: number): string {
  const code = (error as { code?: unknown }).code;
  if (code === '57014') return `not filled: the time budget of ${(budgetMs / 1000).toFixed(1)} s was used up`;
  const detail = (error as { detail?: unknown }).detail;
  return `${describeError(error)}${typeof detail === 'string' && detail !== '' ? ` (${detail})` : ''}${typeof code === 'string' ? ` [SQLSTATE ${code}]` : ''}`;
}

function emptyReason(table: FillTable, all: readonly FillTable[], filled: ReadonlyMap<number, number>): string {
  for (const fk of table.foreignKeys) {
    const parent = all.find((t) => t.oid === fk.parent);
    const notNull = fk.columns.every((name) => table.columns.find((c) => c.name === name)?.notNull === true);
    if (parent !== undefined && parent.oid !== table.oid && notNull && !filled.get(parent.oid)) {
      return `no rows: NOT NULL foreign key ${fk.name} references ${parent.display}, which has no generated rows`;
    }
  }
  const constraints = [
    ...table.checks.map((c) => `CHECK ${c.name}`),
    ...(table.partitioning !== undefined ? ['the partition bounds'] : []),
  ];
  return `no generated row satisfied ${constraints.length > 0 ? constraints.join(', ') : 'the table\'s constraints'} (the constraint may be unsatisfiable, or need values the generator does not try)`;
}
