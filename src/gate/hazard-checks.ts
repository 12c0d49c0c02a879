// Checks over the collected facts, pure: destructive changes, locks on tables that exist in
// production, rewrites. A statement-level fact (what PostgreSQL did) wins over what the schema
// diff suggests; every finding says which migration, file and line caused it, and whether it was
// measured or inferred.

import type { LoadedConfig } from '../config/load-config.js';
import type { ObservedLock, ObservedStatement } from '../engines/engine.js';
import type { Finding } from '../report/finding.js';
import type { Change } from '../schema/diff.js';
import type { Hazard } from '../schema/hazards.js';
import type { SchemaModel } from '../schema/model.js';
import type { MigrationFacts } from './facts.js';
import { splitQualified, type DataTimes } from './production-size.js';

const BLOCKING: Readonly<Record<string, string>> = {
  AccessExclusiveLock: 'ACCESS EXCLUSIVE (reads and writes wait)',
  ExclusiveLock: 'EXCLUSIVE (writes wait)',
  ShareRowExclusiveLock: 'SHARE ROW EXCLUSIVE (writes wait)',
  ShareLock: 'SHARE (writes wait)',
};
const STRENGTH = ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'];

export interface HazardContext {
  readonly loaded: LoadedConfig;
  readonly labels: readonly string[];
  readonly baseSchema: SchemaModel;
  /** Migrations that also ran on generated rows (the data-aware gate). */
  readonly ranOnData?: ReadonlySet<string>;
  /** Their statements' times there, and the rows generated per table. */
  readonly onData?: { readonly perTable: number; readonly times: DataTimes };
}

/** A new migration file that carries the acknowledgement comment, if any. */
export function destructiveAcknowledgement(added: readonly { file: string; text: string }[]): { file: string; reason: string } | undefined {
  for (const migration of added) {
    const reason = /(?:--|\/\/)\s*drift-guard:\s*allow\s+DELETES_DATA\b\s*(.*)$/im.exec(migration.text)?.[1]?.trim();
    if (reason !== undefined) return { file: migration.file, reason };
  }
  return undefined;
}

export function hazardFindings(facts: readonly MigrationFacts[], context: HazardContext): Finding[] {
  const findings: Finding[] = [];
  const label = context.loaded.config.check['allow-destructive-label'];
  const acknowledgement = destructiveAcknowledgement(facts.map((f) => ({ file: f.source.file, text: f.source.upText })));
  const acknowledged = context.labels.includes(label)
    ? `acknowledged by the PR label ${label}`
    : acknowledgement !== undefined
      ? `acknowledged in ${acknowledgement.file}: ${acknowledgement.reason || 'no reason given'}`
      : undefined;
  const destructive = (migration: MigrationFacts, where: Where, message: string, evidence: 'measured' | 'inferred'): Finding => ({
    check: 'schema',
    code: 'DESTRUCTIVE_CHANGE',
    severity: acknowledged === undefined ? 'warning' : 'notice',
    message: `${message}${acknowledged === undefined ? ` To accept it, add the PR label ${label} or a line "-- drift-guard: allow DELETES_DATA <reason>" to the migration` : ` (${acknowledged})`}`,
    ...at(migration, where),
    evidence,
  });
  const existingTable = (table: string | undefined): boolean => table !== undefined && context.baseSchema.objects.has(`table:${table}`);

  for (const migration of facts) {
    const statements = migration.statements;
    // What PostgreSQL was seen doing, statement by statement.
    if (statements !== undefined) {
      // The strongest lock each table is already held under, and since which line (one transaction).
      const heldSince = new Map<string, { mode: string; line: number; table: string }>();
      for (const [i, statement] of statements.entries()) {
        const where = { line: statement.line, column: statement.column };
        if (statement.kind === 'TruncateStmt' && statement.rewrites.length > 0) {
          findings.push(destructive(migration, where, `TRUNCATE deletes every row of ${statement.rewrites.join(', ')}.`, 'measured'));
          continue;
        }
        const written = [...new Set([...(statement.written ?? []), ...(statement.locks ?? []).filter((l) => l.existing && l.mode === 'RowExclusiveLock').map((l) => l.table)])].sort();
        if (statement.kind === 'DeleteStmt' && written.length > 0) {
          const every = !/\bWHERE\b/i.test(statement.text);
          findings.push(destructive(migration, where, `${verb(statement)} deletes ${every ? 'every row' : 'rows'} of ${written.join(', ')}${every ? '' : '; make sure its condition matches only what it should on production\'s rows'}.`, 'measured'));
        }
        if (statement.kind === 'UpdateStmt' && written.length > 0 && !/\bWHERE\b/i.test(statement.text)) {
          findings.push({
            check: 'schema',
            code: 'LOCKING_CHANGE',
            severity: 'notice',
            message: `${verb(statement)} updates every row of ${written.join(', ')} in one transaction: every row stays locked against other writes until the migration commits, and the table doubles in size until vacuumed. Safer: backfill in batches (outside the schema migration, or in several migrations).`,
            ...at(migration, where),
            evidence: 'measured',
            // A backfill: its time on the generated rows, scaled to production's, is its weight.
            details: { statement: statement.text, tables: written, backfill: true },
          });
        }
        // A DROP TABLE's lock on the table it drops says nothing more than its DESTRUCTIVE_CHANGE.
        const dropped = (table: string): boolean => statement.kind === 'DropStmt' && !migration.schemaAfter.objects.has(`table:${table}`);
        const strong = (statement.locks ?? []).filter((l) => l.existing && BLOCKING[l.mode] !== undefined && !dropped(l.table));
        // By oid where known: a table renamed on an earlier line is the same table.
        const heldKey = (l: ObservedLock): string => l.tableOid ?? l.table;
        const earlier = strong.map((l) => ({ lock: l, before: heldSince.get(heldKey(l)) })).find(({ lock, before }) => before !== undefined && STRENGTH.indexOf(before.mode) > STRENGTH.indexOf(lock.mode));
        if (migration.transaction === true) {
          for (const l of statement.locks ?? []) {
            const before = heldSince.get(heldKey(l));
            if (BLOCKING[l.mode] !== undefined && (before === undefined || STRENGTH.indexOf(l.mode) > STRENGTH.indexOf(before.mode))) heldSince.set(heldKey(l), { mode: l.mode, line: statement.line, table: l.table });
          }
        }
        // How long the lock is held: on the generated rows when the migration ran there too.
        const onRows = context.onData?.times.get(migration.source.id)?.statements;
        const heldOnRows = onRows === undefined || onRows.length !== statements.length ? undefined : heldMs(onRows.filter((s) => s.line >= statement.line), 0, migration.transaction === true);
        const held = heldOnRows === undefined ? `${heldMs(statements, i, migration.transaction === true)} ms here on empty tables` : `${heldOnRows} ms on the generated rows, ${context.onData!.perTable} per table`;
        if (statement.rewrites.length > 0) {
          findings.push({
            check: 'schema',
            code: 'TABLE_REWRITE',
            severity: 'warning',
            message: `${verb(statement)} rewrote ${statement.rewrites.join(', ')} (PostgreSQL replaced the table's storage): every row is copied and every index rebuilt under ACCESS EXCLUSIVE, so reads and writes wait for as long as that takes on production's rows.${safer(statement, true)}`,
            ...at(migration, where),
            evidence: 'measured',
            details: { statement: statement.text, tables: statement.rewrites, locks: strong.map((l) => `${l.table} ${l.mode}`), ms: statement.ms },
          });
          continue;
        }
        // A new table's foreign keys lock the tables they reference only while the (empty) table is
        // created; the same holds for anything else CREATE TABLE locks.
        if (strong.length === 0 || statement.kind === 'CreateStmt') continue;
        const strongest = STRENGTH[Math.max(...strong.map((l) => STRENGTH.indexOf(l.mode)))]!;
        const tables = [...new Set(strong.filter((l) => l.mode === strongest).map((l) => l.table))].sort();
        const under = earlier === undefined ? '' : `; it runs while line ${earlier.before!.line}'s ${BLOCKING[earlier.before!.mode]} on ${earlier.before!.table === earlier.lock.table ? earlier.lock.table : `${earlier.before!.table} (now ${earlier.lock.table})`} is held, so that applies to it too`;
        findings.push({
          check: 'schema',
          code: 'LOCKING_CHANGE',
          severity: 'notice',
          message: `${verb(statement)} takes ${BLOCKING[strongest]} on ${tables.join(', ')}${migration.transaction === true ? `, held until the migration commits (${held})` : ''}${under}.${safer(statement, false)}`,
          ...at(migration, where),
          evidence: 'measured',
          details: { statement: statement.text, tables, locks: strong.map((l) => `${l.table} ${l.mode}`) },
        });
      }
    }
    // What the schema diff says, attributed to the statement (or line) that made the change.
    for (const change of migration.delta) {
      if (change.renamedFrom !== undefined && CLIENT_FACING.has(change.kind)) {
        findings.push({
          check: 'schema',
          code: 'BREAKING_RENAME',
          severity: 'notice',
          message: `${change.description}: the data stays, but code that still uses ${change.renamedFrom} fails from the moment this commits (the running version of the application during the deploy, reports, other services). Safer: first ship code that no longer uses the old name, or keep the old name for a while (a view under the old table name; a column: add the new one, write both, switch reads, then drop the old one).`,
          ...at(migration, locate(change, migration)),
          evidence: 'measured',
          details: { from: change.renamedFrom },
        });
      }
      for (const h of change.hazards) {
        if (h.code === 'DELETES_DATA') {
          // The scratch database lost the object: measured, whichever line it is put on.
          const lost = { ...(change.table === undefined ? {} : { table: change.table }), ...(change.kind === 'column' ? { column: names(change).own } : {}) };
          findings.push({ ...destructive(migration, locate(change, migration), `${change.description}: ${h.message}`, migration.granularity === 'batch' ? 'inferred' : 'measured'), details: lost });
          continue;
        }
        const failsOnRows = h.code === 'VALIDATES_ROWS' && /fails/.test(h.message);
        if (failsOnRows && existingTable(change.table)) {
          // The data-aware gate ran it on rows: FAILS_ON_DATA (measured) says it if it is true.
          if (context.ranOnData?.has(migration.source.id) === true) continue;
          findings.push({
            check: 'data',
            code: 'FAILS_ON_DATA',
            severity: 'warning',
            message: `${change.description}: ${h.message}${h.safeAlternative === undefined ? '' : ` Safer: ${h.safeAlternative}.`}`,
            ...at(migration, locate(change, migration)),
            evidence: 'inferred',
          });
          continue;
        }
        if (!existingTable(change.table)) continue;
        // A rewrite the gate's server cannot show (another TimeZone): a warning whatever it measured.
        if (h.unmeasurable === true) {
          findings.push({ ...inferredHazard(migration, change, h, locate(change, migration)), code: 'TABLE_REWRITE', severity: 'warning' });
          continue;
        }
        // Measured locks and rewrites replace the diff's guesses.
        if (statements !== undefined) continue;
        const where = locate(change, migration);
        findings.push(inferredHazard(migration, change, h, where));
      }
    }
    if (statements === undefined && migration.rewrites !== undefined) {
      for (const table of migration.rewrites) {
        const where = locate({ id: `table:${table}`, table } as Change, migration);
        findings.push({
          check: 'schema',
          code: 'TABLE_REWRITE',
          severity: 'warning',
          message: `${migration.source.label} rewrote ${table} (PostgreSQL replaced the table's storage): every row is copied and every index rebuilt under ACCESS EXCLUSIVE. Safer: add a new column, backfill it in batches, then switch over.`,
          ...at(migration, where),
          evidence: 'measured',
        });
      }
    }
  }
  return findings;
}

interface Where {
  /** Another file than the migration's own (a merged migration the PR deletes or edits). */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

function at(migration: MigrationFacts, where: Where): Pick<Finding, 'file' | 'line' | 'column' | 'migration'> {
  return { file: where.file ?? migration.source.file, ...(where.line === undefined ? {} : { line: where.line }), ...(where.column === undefined ? {} : { column: where.column }), migration: migration.source.id };
}

function inferredHazard(migration: MigrationFacts, change: Change, h: Hazard, where: Where): Finding {
  return {
    check: 'schema',
    code: 'LOCKING_CHANGE',
    severity: 'notice',
    message: `${change.description}: ${h.message}${h.safeAlternative === undefined ? '' : ` Safer: ${h.safeAlternative}.`}`,
    ...at(migration, where),
    evidence: 'inferred',
    details: { hazard: h.code },
  };
}

/** How long a statement's locks are held: from it to the end of the migration's transaction. */
function heldMs(statements: readonly { readonly ms: number }[], index: number, inTransaction: boolean): number {
  const rest = inTransaction ? statements.slice(index) : [statements[index]!];
  return Math.round(rest.reduce((sum, s) => sum + s.ms, 0));
}

function verb(statement: ObservedStatement): string {
  const head = statement.text.replace(/\s+/g, ' ').trim();
  return `"${head.length > 60 ? `${head.slice(0, 57)}...` : head}"`;
}

/** The safe way to get the same result, from what the statement is. */
function safer(statement: ObservedStatement, rewrote: boolean): string {
  const text = statement.text.replace(/\s+/g, ' ');
  const say = (advice: string): string => ` Safer: ${advice}.`;
  switch (statement.kind) {
    case 'IndexStmt':
      return say(`CREATE ${/\bUNIQUE\b/i.test(text) ? 'UNIQUE ' : ''}INDEX CONCURRENTLY in a migration of its own, outside a transaction`);
    case 'DropStmt':
      return /\bINDEX\b/i.test(text) ? say('DROP INDEX CONCURRENTLY, outside a transaction') : say('set lock_timeout first so that the migration gives up instead of queueing every query behind it');
    case 'RefreshMatViewStmt':
      return say('REFRESH MATERIALIZED VIEW CONCURRENTLY (it needs a unique index on the view)');
    case 'AlterTableStmt':
      if (/\bTYPE\b/i.test(text) && /\bALTER\s+(COLUMN\s+)?\S+\s+(SET\s+DATA\s+)?TYPE\b/i.test(text)) return say('add a new column, backfill it in batches, then switch over');
      if (rewrote && /\bADD\b/i.test(text)) return say('add the column without the volatile default or generated expression, then backfill it in batches');
      if (/\bFOREIGN\s+KEY\b|\bREFERENCES\b/i.test(text)) return /\bNOT\s+VALID\b/i.test(text) ? '' : say('ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration');
      if (/\bPRIMARY\s+KEY\b|\bUNIQUE\b/i.test(text)) return /\bUSING\s+INDEX\b/i.test(text) ? '' : say('CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX');
      if (/\bEXCLUDE\b/i.test(text)) return say('no online form exists for exclusion constraints; run it when the table is quiet, with lock_timeout set');
      if (/\bCHECK\b/i.test(text)) return /\bNOT\s+VALID\b/i.test(text) ? '' : say('ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later migration');
      if (/\bSET\s+NOT\s+NULL\b/i.test(text)) return say('add CHECK (column IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ skips the scan)');
      return say('set lock_timeout first so that the migration gives up instead of queueing every query behind it');
    default:
      return say('set lock_timeout first so that the migration gives up instead of queueing every query behind it');
  }
}

/** The object's own name (unquoted, unqualified) and its table's, from a change id. */
function names(change: Change): { own: string; table: string | undefined } {
  const key = change.id.slice(change.id.indexOf(':') + 1).replace(/\(.*$/, '');
  const parts = splitQualified(key);
  const table = change.table === undefined ? undefined : splitQualified(change.table).at(-1);
  return { own: parts.at(-1) ?? key, table };
}

/** What application code names: renaming it breaks code that still uses the old name. */
const CLIENT_FACING = new Set<Change['kind']>(['schema', 'table', 'column', 'view', 'matview', 'function']);

/** Statements that read or write rows, not the schema. */
const DATA_STATEMENTS = new Set(['UpdateStmt', 'InsertStmt', 'DeleteStmt', 'SelectStmt', 'MergeStmt', 'CopyStmt']);

const mentions = (text: string, name: string | undefined): boolean =>
  name !== undefined && name !== '' && new RegExp(`(^|[^\\w$])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w$])`, 'i').test(text);

/**
 * The statement (or line) that made a change: the first statement that names the object and its
 * table (or locked the table); else one that locked or created the table; else any that names the
 * object or the table. Engines without statements: the first line of the migration that names it.
 */
export function locate(change: Change, migration: MigrationFacts): Where {
  const { own, table } = names(change);
  const statements = migration.statements;
  if (statements !== undefined && statements.length > 0) {
    const touches = (s: ObservedStatement): boolean => change.table !== undefined && ((s.locks ?? []).some((l) => l.table === change.table) || s.created.includes(change.table));
    // A schema change comes from DDL: a backfill that names the column first (UPDATE ... SET new =
    // old, then DROP COLUMN old) did not drop it. A drop from a statement that says DROP.
    const ddl = statements.filter((s) => !DATA_STATEMENTS.has(s.kind));
    const dropping = change.action === 'drop' ? ddl.filter((s) => /\bDROP\b/i.test(s.text)) : [];
    const pickFrom = (list: readonly ObservedStatement[]): ObservedStatement | undefined =>
      list.find((s) => mentions(s.text, own) && (touches(s) || mentions(s.text, table))) ?? list.find(touches) ?? list.find((s) => mentions(s.text, own)) ?? list.find((s) => mentions(s.text, table));
    const pick = (dropping.length > 0 ? dropping.find((s) => mentions(s.text, own) && (touches(s) || mentions(s.text, table))) : undefined) ?? pickFrom(ddl) ?? pickFrom(statements);
    if (pick !== undefined) return { line: pick.line, column: pick.column };
  }
  const lines = migration.source.upText.split('\n');
  const index = lines.findIndex((line) => mentions(line, own));
  if (index !== -1) return { line: index + 1 };
  for (const other of migration.elsewhere ?? []) {
    const at = other.upText.split('\n').findIndex((line) => mentions(line, own));
    if (at !== -1) return { file: other.file, line: at + 1 };
  }
  const tableIndex = lines.findIndex((line) => mentions(line, table));
  return tableIndex === -1 ? {} : { line: tableIndex + 1 };
}

/**
 * The schema summary's hazard labels from what PostgreSQL did, where it was watched: the diff
 * cannot see CONCURRENTLY or a lock already held, the statements can.
 */
export function measuredLabels(changes: readonly Change[], facts: readonly MigrationFacts[], baseSchema: SchemaModel): Change[] {
  return changes.map((change) => {
    const fact = [...facts].reverse().find((f) => f.delta.some((c) => c.id === change.id));
    const kept = change.hazards.filter((h) => h.code === 'DELETES_DATA' || (h.code === 'VALIDATES_ROWS' && /fails/.test(h.message)) || h.unmeasurable === true);
    if (fact?.statements === undefined || change.table === undefined || !baseSchema.objects.has(`table:${change.table}`)) return { ...change, hazards: kept };
    const line = locate(change, fact).line;
    const statement = fact.statements.find((s) => s.line === line);
    if (statement === undefined) return { ...change, hazards: kept };
    const measured: Hazard[] = [];
    if (statement.rewrites.includes(change.table)) measured.push({ code: 'TABLE_REWRITE', message: `${change.table} was rewritten (measured).` });
    const modes = (statement.locks ?? []).filter((l) => l.table === change.table && l.existing).map((l) => l.mode);
    if (modes.includes('AccessExclusiveLock')) measured.push({ code: 'ACCESS_EXCLUSIVE_LOCK', message: `ACCESS EXCLUSIVE on ${change.table} (measured).` });
    else if (modes.some((m) => BLOCKING[m] !== undefined)) measured.push({ code: 'BLOCKS_WRITES', message: `writes to ${change.table} wait (measured).` });
    return { ...change, hazards: [...kept, ...measured] };
  });
}
