// A layout is one migration tool's conventions: how files are named and ordered, how a file says
// "no transaction", and what its history table looks like and holds. The migrator is written
// against this interface only; each tool is one small adapter in layouts/.

import type pg from 'pg';
import type { Finding } from '../../report/finding.js';

export const LAYOUT_NAMES = ['flyway', 'golang-migrate', 'goose', 'dbmate', 'diesel', 'plain'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];

/** One direction (up or down) of one migration. */
export interface MigrationScript {
  /** Path relative to the migrations directory's project root, for messages. */
  readonly file: string;
  /** The whole file, for line numbers and excerpts. */
  readonly fileText: string;
  /** The SQL to run: the whole file, or the file's up/down section. */
  readonly sql: string;
  /** Where `sql` starts in `fileText`. */
  readonly sqlOffset: number;
  /** False when the file opts out of a transaction with the layout's own marker. */
  readonly transaction: boolean;
}

export interface Migration {
  /** The version exactly as the tool records it in its history table (null for repeatables). */
  readonly version: string;
  readonly description: string;
  readonly kind: 'versioned' | 'repeatable';
  readonly up: MigrationScript;
  readonly down?: MigrationScript | undefined;
  /** The checksum the tool would record, when the tool records one. */
  readonly checksum?: string | undefined;
  /** Short name for messages and progress, e.g. "V3__add_orders.sql". */
  readonly label: string;
}

export interface AppliedMigration {
  readonly version: string;
  readonly description?: string | undefined;
  readonly kind: 'versioned' | 'repeatable';
  readonly checksum?: string | undefined;
  readonly appliedAt?: Date | undefined;
  readonly executionMs?: number | undefined;
  readonly appliedBy?: string | undefined;
  /** False for a failed attempt the tool recorded (Flyway on databases without transactional DDL). */
  readonly success: boolean;
}

export interface Discovered {
  readonly migrations: readonly Migration[];
  /** Problems in the directory itself (duplicate versions, unpaired down files...). */
  readonly problems: readonly Finding[];
}

export interface HistoryState {
  readonly applied: readonly AppliedMigration[];
  /** golang-migrate's dirty flag: the version whose migration failed half-way. */
  readonly dirtyVersion?: string | undefined;
}

/**
 * One statement on the history table, built without a round trip so that the migrator can send it
 * on the wire together with the migration it records (values are parameters, never spliced in).
 */
export interface HistoryWrite {
  readonly text: string;
  readonly values?: readonly unknown[] | undefined;
}

/** What history writes need from the session, read once when the run has taken its lock. */
export interface HistorySession {
  /** current_schema(): where golang-migrate and Flyway keep their tables. */
  readonly schema: string;
}

/**
 * The milliseconds since the transaction began, as an integer: a migration's execution time when
 * its history row is the last write of the migration's own transaction (the row travels with the
 * script, before the client could have measured anything).
 */
export const TRANSACTION_MS_SQL = 'round(extract(epoch FROM clock_timestamp() - transaction_timestamp()) * 1000)::integer';

/** Generated SQL for a new migration: statements (ending in ";") and "-- " comment lines, in order. */
export interface MigrationBody {
  readonly up: readonly string[];
  readonly down: readonly string[];
}

/** The statements as a script, one per line group, ending with a newline (empty when there are none). */
export function scriptOf(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export interface Layout {
  readonly name: LayoutName;
  /** The history table, as "schema.table" or "table" (the search_path decides). */
  readonly historyTable: string;
  /** Whether the history table records checksums (only then can a changed file be detected). */
  readonly recordsChecksums: boolean;
  /**
   * Whether the tool sends a whole file as one query (golang-migrate): PostgreSQL then runs its
   * statements as one implicit transaction, so a statement that refuses a transaction block fails
   * unless it is alone in its file.
   */
  readonly sendsWholeFile?: boolean;
  /** The advisory lock key this tool uses, so that drift-guard and the tool exclude each other. */
  lockKey(client: pg.Client): Promise<bigint>;
  /** Reads the directory; never throws for problems in it (they become findings). */
  discover(dir: string, root: string): Discovered;
  compareVersions(a: string, b: string): number;
  /** Creates the history table if needed; idempotent. */
  ensureHistory(client: pg.Client): Promise<void>;
  /** The recorded history; an empty one when the table does not exist yet. */
  readHistory(client: pg.Client, known: readonly Migration[]): Promise<HistoryState>;
  /**
   * What the tool writes after applying a migration (inside its transaction when it has one).
   * `executionMs` undefined: the writes end the migration's own transaction, and a layout that
   * records the time measures it there (TRANSACTION_MS_SQL).
   */
  recordUp(migration: Migration, session: HistorySession, executionMs: number | undefined): readonly HistoryWrite[];
  /** What the tool writes after rolling a migration back; `next` is the migration now newest, if any. */
  recordDown(migration: Migration, session: HistorySession, next: Migration | undefined): readonly HistoryWrite[];
  /**
   * golang-migrate marks the version dirty before running a migration outside a transaction: the
   * writes are committed on their own before the migration's first statement runs.
   */
  markDirty?(migration: Migration, session: HistorySession): readonly HistoryWrite[];
  /** Files to create for a new migration named `name`, in the tool's naming scheme (with `body` when generated). */
  newMigration(dir: string, name: string, existing: readonly Migration[], now: Date, body?: MigrationBody): { path: string; content: string }[];
}
