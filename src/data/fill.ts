// Fills the user tables of a database (every one, or the ones named and those they take foreign keys
// from) with generated rows that satisfy their constraints, so that the PR's migrations run on
// tables that hold data (the data-aware gate). Set-based: one
// INSERT ... SELECT ... FROM generate_series per table, plus one UPDATE per foreign key that had to
// wait (cycles, self-references other than to an identity or serial key, which the INSERT sets). Runs as whatever role the URL names. A table it cannot fill is a
// notice with the reason, never an exception; only an unreachable database throws.

import os from 'node:os';
import type pg from 'pg';
import { describeError } from '../errors.js';
import { connect, withClient } from '../postgres/client.js';
import { readFillCatalog, type FillTable } from './fill-catalog.js';
import {
  addForeignKeysSql,
  deferredUpdateSql,
  deleteOrphansSql,
  dropForeignKeysSql,
  fillOrder,
  insertPlan,
  matchesSkip,
  meanAncestry,
  uncheckedForeignKeys,
  type UncheckedForeignKey,
} from './fill-plan.js';
import type { FillCatalog, FillForeignKey } from './fill-catalog.js';

export { explainFailure } from './explain-failure.js';

export interface FillOptions {
  readonly rowsPerTable: number;
  readonly seed: number;
  /** Tables not started when this much time has passed are reported as notices. */
  readonly budgetMs: number;
  /** Qualified table names or globs (`audit.*`, `public.big_*`); without a dot, the table name in any schema. */
  readonly skip: readonly string[];
  /** Connections fillDatabase fills independent tables on (default: up to 4, one per CPU). */
  readonly connections?: number;
  /**
   * Only these relations (qualified names as quote_ident writes them; a partition stands for its
   * partitioned table) and every table they take foreign keys from, transitively; the others stay
   * empty. Each table filled gets the same rows as in a fill of every table.
   */
  readonly only?: readonly string[];
  /**
   * No value at its type's limits (the largest and smallest integers, numerics and floats, years 1
   * and 9999, 1,000-year intervals, texts longer than 40 characters): the run that tells whether a
   * failure needs such a value.
   */
  readonly tame?: boolean;
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
  /**
   * With `only`: the relations the fill answered for (the names given, the tables filled with
   * them and those tables' partitions, and the tables `skip` leaves empty in any fill). A statement
   * that touches a table outside it met an empty table where production has rows.
   */
  readonly scope?: ReadonlySet<string>;
}

/** Candidates per wanted row in each round. */
const ROUND_FACTORS = [2, 8, 40] as const;

export async function fillDatabase(url: string, options: FillOptions): Promise<FillReport> {
  const wanted = Math.max(1, Math.min(8, Math.floor(options.connections ?? Math.min(4, os.availableParallelism()))));
  return withClient(
    url,
    async (client) => {
      // Tables whose parents are filled go in parallel, one per connection (no more than there are
      // tables); a connection the server refuses (max_connections) just means fewer. For every
      // table they connect while the catalog is read; for a few, once it says how many.
      let opened: Promise<pg.Client[]> | undefined;
      const more = (tables: number): Promise<readonly pg.Client[]> =>
        (opened ??= Promise.allSettled(Array.from({ length: Math.max(0, Math.min(wanted, tables) - 1) }, () => connect(url, { applicationName: 'drift-guard fill' }))).then((results) =>
          results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])),
        ));
      if (options.only === undefined) void more(wanted);
      try {
        return await fillOn(client, more, options);
      } finally {
        if (opened !== undefined) await Promise.all((await opened).map((c) => c.end().catch(() => undefined)));
      }
    },
    { applicationName: 'drift-guard fill' },
  );
}

/** meanAncestry of the tables a fill would fill (those `skip` leaves out aside), and how many they are. */
export async function ancestry(url: string, skip: readonly string[]): Promise<{ mean: number; tables: number }> {
  const catalog = await withClient(url, (client) => readFillCatalog(client), { applicationName: 'drift-guard fill' });
  const tables = catalog.tables.filter((table) => !matchesSkip(table, skip));
  return { mean: meanAncestry(tables), tables: tables.length };
}

/** The same on one connection the caller holds (e.g. the gate's own session). Leaves statement_timeout and jit as it found them. */
export function fillWithClient(client: pg.Client, options: FillOptions): Promise<FillReport> {
  return fillOn(client, () => Promise.resolve([]), options);
}

interface TableOutcome {
  readonly entry?: { table: string; rows: number; ms: number };
  readonly notices: FillNotice[];
  /** A self-reference every INSERT set itself. */
  readonly inlined?: FillForeignKey;
}

async function fillOn(client: pg.Client, more: (tables: number) => Promise<readonly pg.Client[]>, options: FillOptions): Promise<FillReport> {
  const started = performance.now();
  const catalog = await readFillCatalog(client);
  const skipped = (table: FillTable): boolean => matchesSkip(table, options.skip);
  // A table's values are salted with its place in the order of every table, so filling a few of
  // them gives each the rows it has when all are filled: a failure reproduces either way.
  const everyTable = fillOrder(catalog.tables.filter((table) => !skipped(table)));
  const chosen = options.only === undefined ? undefined : await chooseTables(client, catalog, options.only, skipped);
  const order = chosen === undefined ? everyTable : everyTable.filter((p) => chosen.tables.has(p.table.oid));
  const salts = chosen === undefined ? order.map((_, i) => i) : everyTable.flatMap((p, i) => (chosen.tables.has(p.table.oid) ? [i] : []));
  const clients = [client, ...(await more(order.length))];
  const rows = Math.max(0, Math.floor(options.rowsPerTable));
  const filled = new Map<number, number>();
  const deadline = started + options.budgetMs;
  const budgetText = `the time budget of ${(options.budgetMs / 1000).toFixed(1)} s was used up`;
  const previous = (
    await client.query<{ timeout: string; jit: string; mergejoin: string }>(
      "SELECT current_setting('statement_timeout') AS timeout, current_setting('jit') AS jit, current_setting('enable_mergejoin') AS mergejoin",
    )
  ).rows[0];

  const fillTable = async (db: pg.Client, index: number): Promise<TableOutcome> => {
    const planned = order[index]!;
    const { table } = planned;
    if (performance.now() >= deadline) return { notices: [{ table: table.display, reason: `not filled: ${budgetText}` }] };
    const tableStarted = performance.now();
    let inserted: number | undefined;
    let failure: string | undefined;
    let tame = options.tame === true;
    // Without ON CONFLICT until a statement meets a duplicate of a unique key; from then on with it.
    let onConflict = false;
    let next = 1;
    const inlined: (FillForeignKey | undefined)[] = [];
    // Rounds: candidates are generated, filtered by the constraints and inserted; a round that
    // kept too few is followed by a larger one over the next row numbers (at most three rounds).
    for (let round = 0; round < ROUND_FACTORS.length && (inserted ?? 0) < rows; ) {
      const want = rows - (inserted ?? 0);
      const probe = insertPlan(catalog, planned, { rows: want, from: next, to: next, seed: options.seed, tame, tableIndex: salts[index]! });
      if (probe.kind === 'impossible') {
        failure = probe.reason;
        break;
      }
      const size = probe.filtered || round > 0 ? want * ROUND_FACTORS[round]! : want;
      const plan = insertPlan(catalog, planned, { rows: want, from: next, to: next + size - 1, seed: options.seed, tame, tableIndex: salts[index]!, onConflict });
      if (plan.kind === 'impossible') break;
      try {
        inserted = (inserted ?? 0) + ((await db.query(plan.sql)).rowCount ?? 0);
        inlined.push(plan.inlined);
        failure = undefined;
      } catch (error) {
        if (!onConflict && (error as { code?: unknown }).code === '23505') {
          onConflict = true; // the same round again, skipping the duplicates
          continue;
        }
        failure = failureText(error, budgetText);
        if (tame || (error as { code?: unknown }).code === '57014') break;
        tame = true; // an extreme value overflowed something: the same round again without extremes
        continue;
      }
      next += size;
      round++;
    }
    const ms = performance.now() - tableStarted;
    if (inserted === undefined) return { notices: [{ table: table.display, reason: failure ?? 'not filled' }] };
    filled.set(table.oid, inserted);
    const notices = inserted === 0 && rows > 0 ? [{ table: table.display, reason: emptyReason(table, catalog.tables, filled) }] : [];
    const selfSet = inlined[0] !== undefined && inlined.every((fk) => fk === inlined[0]) ? inlined[0] : undefined;
    return { entry: { table: table.display, rows: inserted, ms }, notices, ...(selfSet === undefined ? {} : { inlined: selfSet }) };
  };

  const outcomes: TableOutcome[] = new Array<TableOutcome>(order.length);
  // Foreign keys whose values come from the parents' rows anyway are dropped while rows go in and
  // added back: a trigger call per row becomes one set-based validation per key.
  const unchecked = await dropForeignKeys(client, uncheckedForeignKeys(catalog, order));
  const pending = new Set(unchecked);
  const runUpdate = async (db: pg.Client, index: number, fk: FillForeignKey): Promise<void> => {
    const planned = order[index]!;
    const { table } = planned;
    if (!filled.get(table.oid)) return;
    const sql = deferredUpdateSql(catalog, table, fk, options.seed, salts[index]!);
    if (sql === undefined) return;
    const outcome = outcomes[index]!;
    if (performance.now() >= deadline) {
      outcome.notices.push({ table: table.display, reason: `foreign key ${fk.name} left NULL: ${budgetText}` });
      return;
    }
    const updateStarted = performance.now();
    try {
      await db.query(sql);
    } catch (error) {
      outcome.notices.push({ table: table.display, reason: `foreign key ${fk.name} left NULL: ${failureText(error, budgetText)}` });
    }
    if (outcome.entry !== undefined) outcome.entry.ms += performance.now() - updateStarted;
  };
  try {
    // One statement can use the whole budget; between statements the deadline is checked here.
    // JIT compiling the generator's expressions costs more than it saves on a few thousand rows.
    // The joins to parent keys and value pools are on a computed row number: a merge join sorts
    // every candidate row once per join, a hash join does not.
    await Promise.all(clients.map((c) => c.query(`SET statement_timeout = ${Math.max(1, Math.ceil(options.budgetMs))}; SET jit = off; SET enable_mergejoin = off`)));

    // A table starts once every parent it takes keys from has finished (fillOrder puts those
    // first), so its rows, picked from the parents' rows in their physical order, are the same
    // whatever the number of connections. A table has finished once its rows are in and its
    // self-references are set (that UPDATE moves rows, so its children wait for it).
    const inOrder = new Set(order.map((p) => p.table.oid));
    const parents = order.map((p) =>
      p.table.foreignKeys.filter((fk) => !p.deferred.includes(fk) && fk.parent !== p.table.oid && inOrder.has(fk.parent)).map((fk) => fk.parent),
    );
    // A table's dropped keys go back once its own rows are final and its parents' keys are back,
    // in one ALTER TABLE on whichever connection is free. That locks the table, then its parents
    // in the order of their oids; since a table's parents are done first, two connections can only
    // wait for each other over a reference cycle, whose tables (and keys into them) wait for the
    // end. Keys into a parent column that is set at the end wait too.
    const late = new Set(order.flatMap((p) => p.deferred.filter((fk) => fk.parent !== p.table.oid).flatMap((fk) => [p.table.oid, fk.parent])));
    const deferredColumns = new Map(order.map((p) => [p.table.oid, new Set(p.deferred.flatMap((fk) => fk.columns))]));
    const restoreKeys = order.map(({ table }) =>
      late.has(table.oid)
        ? []
        : unchecked
            .filter((key) => key.table.oid === table.oid && !late.has(key.fk.parent))
            .filter((key) => key.fk.parent === table.oid || !key.fk.parentColumns.some((c) => deferredColumns.get(key.fk.parent)?.has(c) === true))
            .sort((a, b) => a.fk.parent - b.fk.parent),
    );
    const positions = new Map(order.map((p, i) => [p.table.oid, i]));
    const restoreAfter = restoreKeys.map((keys, i) => [...new Set(keys.map((key) => positions.get(key.fk.parent)).filter((p): p is number => p !== undefined && p !== i))]);
    const state = order.map(() => 'waiting' as 'waiting' | 'running' | 'done');
    const restoring = restoreKeys.map((keys) => (keys.length === 0 ? 'done' : 'waiting') as 'waiting' | 'running' | 'done');
    const finished = new Set<number>();
    let wake: () => void = () => undefined;
    let changed = new Promise<void>((resolve) => (wake = resolve));
    const notifyAll = (): void => {
      const notify = wake;
      changed = new Promise<void>((resolve) => (wake = resolve));
      notify();
    };
    const worker = async (db: pg.Client): Promise<void> => {
      for (;;) {
        const index = state.findIndex((s, i) => s === 'waiting' && parents[i]!.every((oid) => finished.has(oid)));
        if (index >= 0) {
          state[index] = 'running';
          const planned = order[index]!;
          try {
            outcomes[index] = await fillTable(db, index);
            for (const fk of planned.deferred) if (fk.parent === planned.table.oid && fk !== outcomes[index].inlined) await runUpdate(db, index, fk);
          } finally {
            state[index] = 'done';
            finished.add(planned.table.oid);
            notifyAll();
          }
          continue;
        }
        const ready = restoring.findIndex((r, i) => r === 'waiting' && state[i] === 'done' && restoreAfter[i]!.every((p) => restoring[p] === 'done'));
        if (ready >= 0) {
          restoring[ready] = 'running';
          const keys = restoreKeys[ready]!;
          for (const key of keys) pending.delete(key);
          try {
            await db.query(addForeignKeysSql(keys));
          } catch {
            for (const key of keys) pending.add(key); // one at a time at the end, with the others
          } finally {
            restoring[ready] = 'done';
            notifyAll();
          }
          continue;
        }
        if (!state.includes('waiting') && !restoring.includes('waiting')) return;
        await changed;
      }
    };
    await Promise.all(clients.map(worker));

    // Keys through a reference cycle, once every table has rows.
    for (const [index, planned] of order.entries()) {
      for (const fk of planned.deferred) if (fk.parent !== planned.table.oid) await runUpdate(client, index, fk);
    }
  } finally {
    if (previous !== undefined) {
      await client
        .query(`SET statement_timeout = ${literalSetting(previous.timeout)}; SET jit = ${literalSetting(previous.jit)}; SET enable_mergejoin = ${literalSetting(previous.mergejoin)}`)
        .catch(() => undefined);
    }
    const removed = await restoreForeignKeys(client, catalog, unchecked.filter((key) => pending.has(key)));
    for (const [index, planned] of order.entries()) {
      for (const notice of removed.filter((r) => r.table === planned.table.display)) {
        (outcomes[index] ??= { notices: [] }).notices.push(notice);
      }
    }
  }
  const tables = outcomes.flatMap((o) => (o?.entry === undefined ? [] : [o.entry]));
  const notices = outcomes.flatMap((o) => o?.notices ?? []);
  return { tables, notices, totalRows: tables.reduce((sum, t) => sum + t.rows, 0), ms: performance.now() - started, ...(chosen === undefined ? {} : { scope: chosen.scope }) };
}

/**
 * The tables `names` stand for (a partition for its root), with every table they take foreign keys
 * from; the scope adds the tables `skipped` leaves empty in any fill.
 */
async function chooseTables(client: pg.Client, catalog: FillCatalog, names: readonly string[], skipped: (table: FillTable) => boolean): Promise<{ tables: Set<number>; scope: Set<string> }> {
  const roots = await client.query<{ oid: string }>(
    `SELECT DISTINCT COALESCE(pg_catalog.pg_partition_root(r.oid), r.oid)::int8::text AS oid
       FROM unnest($1::text[]) AS x(name) CROSS JOIN LATERAL (SELECT pg_catalog.to_regclass(x.name) AS oid) r
      WHERE r.oid IS NOT NULL`,
    [[...names]],
  );
  const byOid = new Map(catalog.tables.map((t) => [t.oid, t]));
  const tables = new Set<number>();
  const visit = (oid: number): void => {
    const table = byOid.get(oid);
    if (table === undefined || tables.has(oid)) return;
    tables.add(oid);
    for (const fk of table.foreignKeys) visit(fk.parent);
  };
  for (const row of roots.rows) visit(Number(row.oid));
  const scope = new Set(names);
  for (const oid of tables) scope.add(byOid.get(oid)!.qname);
  for (const table of catalog.tables) if (skipped(table)) scope.add(table.qname);
  const partitioned = [...tables].filter((oid) => byOid.get(oid)!.partitioning !== undefined);
  if (partitioned.length > 0) {
    const members = await client.query<{ qname: string }>(
      `SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS qname
         FROM unnest($1::int8[]) AS r(oid) CROSS JOIN LATERAL pg_catalog.pg_partition_tree(r.oid::regclass) p
         JOIN pg_catalog.pg_class c ON c.oid = p.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`,
      [partitioned],
    );
    for (const row of members.rows) scope.add(row.qname);
  }
  return { tables, scope };
}

/** Drops `keys` in one transaction; none when any of them cannot be dropped (e.g. a table the role does not own). */
async function dropForeignKeys(client: pg.Client, keys: readonly UncheckedForeignKey[]): Promise<readonly UncheckedForeignKey[]> {
  if (keys.length === 0) return [];
  try {
    await client.query(dropForeignKeysSql(keys));
    return keys;
  } catch {
    return [];
  }
}

/**
 * Adds the dropped keys back, all in one transaction. Should a row break one (a trigger of the
 * schema's own changed a key), its orphans are deleted and named in a notice, so that the schema
 * leaves the fill exactly as it came; a key that still cannot be added is an error.
 */
async function restoreForeignKeys(client: pg.Client, catalog: FillCatalog, keys: readonly UncheckedForeignKey[]): Promise<FillNotice[]> {
  if (keys.length === 0) return [];
  try {
    await client.query(addForeignKeysSql(keys));
    return [];
  } catch {
    // One at a time, below.
  }
  const notices: FillNotice[] = [];
  for (const key of keys) {
    try {
      await client.query(addForeignKeysSql([key]));
      continue;
    } catch (error) {
      if ((error as { code?: unknown }).code !== '23503') throw error;
    }
    const sql = deleteOrphansSql(catalog, key);
    const deleted = sql === undefined ? 0 : ((await client.query(sql)).rowCount ?? 0);
    notices.push({ table: key.table.display, reason: `${deleted} generated row(s) removed: they broke foreign key ${key.fk.name}` });
    await client.query(addForeignKeysSql([key]));
  }
  return notices;
}

function literalSetting(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function failureText(error: unknown, budgetText: string): string {
  const code = (error as { code?: unknown }).code;
  if (code === '57014') return `not filled: ${budgetText}`;
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
