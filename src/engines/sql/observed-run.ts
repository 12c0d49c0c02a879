// Applies one migration the way `migrate` does (same transaction rule, same history row) but one
// statement at a time, and after each statement reads what PostgreSQL did from the runner's own
// session: the locks it holds (pg_locks, before commit), the tables whose storage was replaced
// (pg_class.relfilenode), the rows a data statement touched, and the time. These are the PR
// gate's measured facts; nothing here judges them.

import type pg from 'pg';
import { DriftGuardError } from '../../errors.js';
import type { Finding } from '../../report/finding.js';
import type { BaseTables, ObservedLock, ObservedMigration, ObservedStatement } from '../engine.js';
import { applyFailure, beforeScript, planScript, runWrites, wholeFileRefusal } from './execute.js';
import type { Discovered, Migration, MigrationScript } from './layout.js';
import { discover, withMigrationSession, type RunSettings, type SqlMigrations } from './migrator.js';
import { lineAndColumn, loadParser, type SqlStatement } from './sql-script.js';

const USER_RELATIONS = `
SELECT c.oid::int8::text AS oid, c.relfilenode::int8::text AS filenode, c.relkind::text AS relkind,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(COALESCE(t.relname, c.relname)) AS qname,
       COALESCE(x.indrelid, c.oid)::int8::text AS table_oid
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid LEFT JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
 WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp)'`;

// Every relation lock this session holds, with the relation's table (an index's lock counts on its
// table) and current storage. Dropped relations are gone from pg_class for this session: their
// names come from the snapshot taken before the migration.
const HELD_LOCKS = `
SELECT l.relation::int8::text AS oid, l.mode, c.relkind::text AS relkind, c.relfilenode::int8::text AS filenode,
       CASE WHEN c.oid IS NULL THEN NULL ELSE pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) END AS qname,
       n.nspname AS schema_name, c.relname AS rel_name,
       (SELECT pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.relname)
          FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class t ON t.oid = x.indrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
         WHERE x.indexrelid = l.relation) AS index_table,
       COALESCE((SELECT x.indrelid FROM pg_catalog.pg_index x WHERE x.indexrelid = l.relation), l.relation)::int8::text AS table_oid
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted AND l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND (n.nspname IS NULL OR (n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'))`;

// Rows each user table has given so far (sequential scans and index fetches): what a validating
// scan, an index build, a rewrite or a data statement read. The counters are the session's own:
// the open transaction's, plus what earlier transactions of the session read until the session
// reports them to the statistics system (at most once a second), so a statement's rows are the
// difference from a reading taken when its transaction began. pg_stat_xact_user_tables' columns
// (seq_tup_read + idx_tup_fetch), for every user table: read when a transaction begins.
const READ_ROWS = `
SELECT pg_catalog.quote_ident(schemaname) || '.' || pg_catalog.quote_ident(relname) AS qname, relid::int8::text AS oid,
       (seq_tup_read + COALESCE(idx_tup_fetch, 0))::int8::text AS n
  FROM pg_catalog.pg_stat_xact_user_tables
 WHERE seq_tup_read + COALESCE(idx_tup_fetch, 0) > 0`;

// The same counters after a statement, for the tables the transaction holds a lock on (an index's
// lock counts on its table). A statement reads a table only under a lock, held until the
// transaction ends, so no other table's counter moved since the reading at BEGIN: this costs the
// few locked tables, where the view above computes every table and index of the database (14 ms a
// statement on 1,000 tables). A lock released early (a subtransaction rolled back, e.g. a PL/pgSQL
// EXCEPTION block) hides its table's rows until a later statement locks the table again.
const READ_ROWS_LOCKED = `
SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS qname, c.oid::int8::text AS oid,
       (pg_catalog.pg_stat_get_xact_tuples_returned(c.oid)
        + COALESCE((SELECT pg_catalog.sum(pg_catalog.pg_stat_get_xact_tuples_fetched(i.indexrelid)) FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid)
                   + pg_catalog.pg_stat_get_xact_tuples_fetched(c.oid), 0))::int8::text AS n
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid IN (SELECT COALESCE(x.indrelid, l.relation) FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = l.relation
                  WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted AND l.locktype = 'relation'
                    AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))
   AND c.relkind IN ('r', 't', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'`;

interface HeldLock {
  oid: string;
  mode: string;
  relkind: string | null;
  filenode: string | null;
  qname: string | null;
  /** The relation's schema and name as they are (NULL once dropped). */
  schema_name: string | null;
  rel_name: string | null;
  index_table: string | null;
  /** The table's oid (an index's: its table's). */
  table_oid: string;
}

/**
 * Applies the migration with version `version` (the next pending one) statement by statement.
 * `baseTables` are the tables the base schema has: a lock or rewrite on any other table (one this
 * PR creates) harms nobody and is recorded as not existing.
 */
export async function applyObserved(project: SqlMigrations, settings: RunSettings, version: string, baseTables: BaseTables, discovered: Discovered = discover(project)): Promise<ObservedMigration> {
  await loadParser();
  const { migrations } = discovered;
  const migration = migrations.find((m) => m.kind === 'versioned' && project.layout.compareVersions(m.version, version) === 0);
  if (migration === undefined) throw new DriftGuardError('USAGE', `no migration has version ${version} in ${project.dir}`);
  return withMigrationSession(project, settings, async (client, session) => {
    await project.layout.ensureHistory(client);
    const script = migration.up;
    const plan = planScript(script);
    beforeScript(client, script);
    const statements: SqlStatement[] = plan.unparsed === undefined ? [...plan.statements] : [{ text: script.sql, offset: 0, kind: 'Unparsed', transactionControl: false }];
    const inTransaction = plan.outsideTransaction === undefined;
    const refusal = project.layout.sendsWholeFile === true ? wholeFileRefusal(script, plan, project.layout.name) : undefined;
    if (refusal !== undefined) return { outcome: { ok: false, findings: [refusal], results: [] }, file: script.file, transaction: false, statements: [] };
    const snapshot = await relations(client);
    const observed: ObservedStatement[] = [];
    const started = performance.now();
    const label = { migration: migration.label, version: migration.version, direction: 'up' as const };
    const fail = async (finding: Finding, inOpenTransaction: boolean): Promise<ObservedMigration> => {
      if (inOpenTransaction) await client.query('ROLLBACK').catch(() => undefined);
      return {
        outcome: { ok: false, findings: [finding], results: [{ ...label, status: 'failed', ms: performance.now() - started }] },
        file: script.file,
        transaction: inTransaction,
        statements: observed,
      };
    };
    if (inTransaction) await client.query('BEGIN');
    else await runWrites(client, project.layout.markDirty?.(migration, session) ?? []);
    const watched = await watchStatements(statements, { client, baseTables, snapshot, inTransaction, position: (statement) => lineAndColumn(script.fileText, script.sqlOffset + statement.offset) });
    observed.push(...watched.observed);
    if (watched.failure !== undefined) return fail(applyFailure(script, watched.failure.statement, watched.failure.error), watched.failure.inOpenTransaction);
    try {
      await runWrites(client, project.layout.recordUp(migration, session, performance.now() - started));
      if (inTransaction) await client.query('COMMIT');
    } catch (error) {
      return fail({ check: 'apply', code: 'APPLY_FAILED', severity: 'error', message: `recording the migration in the history table failed: ${(error as Error).message}`, file: script.file }, inTransaction);
    }
    return {
      outcome: { ok: true, findings: [], results: [{ ...label, status: 'applied', ms: performance.now() - started }] },
      file: script.file,
      transaction: inTransaction,
      statements: observed,
    };
  });
}

/** How statements are watched: the session, what the base has, and where each statement is. */
export interface StatementWatch {
  readonly client: pg.Client;
  /** Tables the base schema has: locks and rewrites elsewhere harm nobody. */
  readonly baseTables: BaseTables;
  /** User relations before the migration (relations()); updated as storage changes. */
  readonly snapshot: Map<string, Relation>;
  /** Whether the caller opened the transaction the statements run in. */
  readonly inTransaction: boolean;
  /** A statement's place in the file it came from. */
  readonly position: (statement: SqlStatement) => { line: number; column: number };
}

/**
 * Runs statements one at a time and reads after each what PostgreSQL did (locks, rewrites, rows
 * read and written, time). A statement that would run on its own (autocommit) is wrapped in a
 * transaction of its own, which is what autocommit does anyway, so that its locks can be read
 * before commit; statements that manage transactions (BEGIN, START TRANSACTION, COMMIT) are run as
 * they are. Stops at the first failure, saying whether a transaction is still open.
 */
export async function watchStatements(
  statements: readonly SqlStatement[],
  watch: StatementWatch,
): Promise<{ observed: ObservedStatement[]; failure?: { statement: SqlStatement; error: unknown; inOpenTransaction: boolean } }> {
  const { client, baseTables, snapshot, inTransaction } = watch;
  const observed: ObservedStatement[] = [];
  // Inside the file's own BEGIN ... COMMIT (a file that manages its transactions).
  let userTransaction = false;
  const start = inTransaction ? await heldLocks(client, READ_ROWS) : { locks: [], read: new Map<string, number>(), oids: new Map<string, string>() };
  let held = start.locks;
  // The counters of rows read per table as the last statement left them.
  let readSoFar = start.read;
  for (const [index, statement] of statements.entries()) {
    const control = statement.transactionControl ? transactionControl(statement.text) : undefined;
    const wrap = !inTransaction && !userTransaction && control === undefined && statement.nonTransactional === undefined;
    const watched = inTransaction || userTransaction || wrap;
    let t0 = performance.now();
    let result: pg.QueryResult;
    try {
      if (wrap) {
        const [, rows] = (await client.query(`BEGIN;${READ_ROWS}`)) as unknown as [pg.QueryResult, pg.QueryResult<{ qname: string; n: string }>];
        held = [];
        readSoFar = readCounts(rows);
        t0 = performance.now();
      }
      result = await client.query(statement.text);
    } catch (error) {
      return { observed, failure: { statement, error, inOpenTransaction: inTransaction || userTransaction || wrap } };
    }
    const ms = performance.now() - t0;
    // The file's own transaction boundaries: what an earlier transaction held is released.
    if (control !== undefined) held = [];
    if (control === 'begin') (userTransaction = true), (readSoFar = readCounts(await client.query<{ qname: string; n: string }>(READ_ROWS)));
    if (control === 'end') userTransaction = false;
    let locks: ObservedLock[] | undefined;
    let rewrites: string[] = [];
    let created: string[] = [];
    let read: { table: string; rows: number }[] = [];
    let written: string[] = [];
    if (watched && control === undefined) {
      const now = await heldLocks(client, READ_ROWS_LOCKED);
      ({ locks, rewrites, created } = compare(held, now.locks, snapshot, baseTables));
      written = writtenTables(statement, now.locks, baseTables);
      read = [...now.read].filter(([table, n]) => isBaseTable(baseTables, table, now.oids.get(table)) && n > (readSoFar.get(table) ?? 0)).map(([table, n]) => ({ table, rows: n - (readSoFar.get(table) ?? 0) }));
      held = now.locks;
      // Only the locked tables were read again: the others keep their last reading.
      readSoFar = new Map([...readSoFar, ...now.read]);
    }
    if (wrap) await client.query('COMMIT');
    const { line, column } = watch.position(statement);
    const rows = /^(INSERT|UPDATE|DELETE|MERGE|COPY)$/.test(result.command ?? '') && typeof result.rowCount === 'number' ? result.rowCount : undefined;
    observed.push({
      index,
      line,
      column,
      kind: statement.kind,
      text: statement.text.length > 300 ? `${statement.text.slice(0, 297)}...` : statement.text,
      ms: Math.round(ms * 10) / 10,
      ...(rows === undefined ? {} : { rows }),
      transaction: watched && control === undefined,
      ...(locks === undefined ? {} : { locks }),
      rewrites,
      created,
      ...(written.length === 0 ? {} : { written }),
      ...(read.length === 0 ? {} : { read: read.sort((a, b) => a.table.localeCompare(b.table)) }),
    });
  }
  return { observed };
}

/** The migration's script with its statements, for callers that need lines (attribution). */
export function scriptOf(project: SqlMigrations, version: string): { migration: Migration; script: MigrationScript } | undefined {
  const migration = discover(project).migrations.find((m) => m.kind === 'versioned' && project.layout.compareVersions(m.version, version) === 0);
  return migration === undefined ? undefined : { migration, script: migration.up };
}

export interface Relation {
  filenode: string;
  /** The table's name; for an index, its table's. */
  qname: string;
  relkind: string;
  /** The table's oid; for an index, its table's. */
  tableOid: string;
}

/** Every user table, matview and index by oid, with its storage (relfilenode) and its table's name. */
export async function relations(client: pg.Client): Promise<Map<string, Relation>> {
  const result = await client.query<{ oid: string; filenode: string; relkind: string; qname: string; table_oid: string }>(USER_RELATIONS);
  return new Map(result.rows.map((row) => [row.oid, { filenode: row.filenode, qname: row.qname, relkind: row.relkind, tableOid: row.table_oid }]));
}

/** The session's relation locks and the rows read per table (`reading`: which tables), in one round trip. */
async function heldLocks(client: pg.Client, reading: string): Promise<{ locks: HeldLock[]; read: Map<string, number>; oids: Map<string, string> }> {
  const [locks, read] = (await client.query(`${HELD_LOCKS};${reading}`)) as unknown as [pg.QueryResult<HeldLock>, pg.QueryResult<{ qname: string; n: string; oid: string }>];
  return { locks: locks.rows, read: readCounts(read), oids: new Map(read.rows.map((row) => [row.qname, row.oid])) };
}

/**
 * The base tables a data statement writes: its target (the parse tree's relation) among the
 * tables the transaction holds ROW EXCLUSIVE on. A second statement on a table already written in
 * the transaction takes no new lock, so the new locks alone would miss it (UPDATE t ...; DELETE
 * FROM t ...). A target that is a view writes its table through the view: no match, the new locks
 * decide as before.
 */
function writtenTables(statement: SqlStatement, locks: readonly HeldLock[], baseTables: BaseTables): string[] {
  if (!/^(Insert|Update|Delete|Merge)Stmt$/.test(statement.kind)) return [];
  const relation = statement.node?.relation as { schemaname?: string; relname?: string } | undefined;
  if (relation?.relname === undefined) return [];
  // Names as the parser gives them (unquoted ones folded to lower case), as the catalog has them.
  const matches = (l: HeldLock): boolean => l.rel_name === relation.relname && (relation.schemaname === undefined || l.schema_name === relation.schemaname);
  const tables = locks.filter((l) => l.mode === 'RowExclusiveLock' && l.qname !== null && l.relkind !== 'i' && l.relkind !== 'I' && matches(l) && isBaseTable(baseTables, l.qname, l.table_oid));
  return [...new Set(tables.map((l) => l.qname!))].sort();
}

/**
 * Whether a table was in the base: by oid where the base's are known (a rename keeps the oid, so a
 * base table renamed by the PR is still one), else by name.
 */
function isBaseTable(baseTables: BaseTables, qname: string, oid: string | undefined): boolean {
  return baseTables.oids !== undefined && oid !== undefined ? baseTables.oids.has(oid) : baseTables.has(qname);
}

function readCounts(result: pg.QueryResult<{ qname: string; n: string }>): Map<string, number> {
  return new Map(result.rows.map((row) => [row.qname, Number(row.n)]));
}

function transactionControl(text: string): 'begin' | 'end' | undefined {
  if (/^\s*(BEGIN|START\s+TRANSACTION)\b/i.test(text)) return 'begin';
  if (/^\s*(COMMIT|END|ABORT)\b/i.test(text) || /^\s*ROLLBACK\s*(;|$|AND\b|WORK\b|TRANSACTION\b)/i.test(text)) return 'end';
  return undefined;
}

/** New locks since `before`, per table, and the tables whose storage changed (rewrites) or appeared. */
function compare(before: readonly HeldLock[], after: readonly HeldLock[], snapshot: Map<string, Relation>, baseTables: BaseTables): { locks: ObservedLock[]; rewrites: string[]; created: string[] } {
  // A relation this statement dropped is gone from pg_class (and its index from pg_index): its
  // table's oid is the snapshot's.
  const tableOf = (lock: HeldLock): string => (lock.relkind === null ? (snapshot.get(lock.oid)?.tableOid ?? lock.table_oid) : lock.table_oid);
  const had = new Set(before.map((l) => `${l.oid}:${l.mode}`));
  const locks = new Map<string, ObservedLock>();
  const rewrites = new Set<string>();
  const created = new Set<string>();
  for (const lock of after) {
    const known = snapshot.get(lock.oid);
    const isIndex = lock.relkind === 'i' || lock.relkind === 'I' || known?.relkind === 'i' || known?.relkind === 'I';
    // An index this statement builds is new: only its table's lock says who waits.
    if (isIndex && known === undefined) continue;
    const table = isIndex ? (lock.index_table ?? known?.qname ?? null) : (lock.qname ?? known?.qname ?? null);
    if (table === null) continue;
    if (!isIndex && lock.relkind !== null && known === undefined && (lock.relkind === 'r' || lock.relkind === 'p' || lock.relkind === 'm')) {
      created.add(table);
      snapshot.set(lock.oid, { filenode: lock.filenode ?? '', qname: table, relkind: lock.relkind, tableOid: lock.table_oid });
    } else if (!isIndex && known !== undefined && lock.filenode !== null && lock.filenode !== known.filenode && known.relkind !== 'p') {
      if (isBaseTable(baseTables, known.qname, lock.oid)) rewrites.add(lock.qname ?? known.qname);
      known.filenode = lock.filenode;
    }
    const tableOid = tableOf(lock);
    // An index's lock is reported on its table: none is new when the table itself is already held in that mode.
    if (had.has(`${lock.oid}:${lock.mode}`) || (isIndex && had.has(`${tableOid}:${lock.mode}`))) continue;
    const key = `${table}:${lock.mode}`;
    const existing = isBaseTable(baseTables, table, tableOid);
    // A table and its indexes give one lock per mode: it is on a base table if any of them says so.
    const seen = locks.get(key);
    if (seen === undefined || (existing && !seen.existing)) locks.set(key, { table, mode: lock.mode, existing, tableOid });
  }
  return { locks: [...locks.values()], rewrites: [...rewrites], created: [...created] };
}
