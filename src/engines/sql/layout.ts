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
  /** Writes what the tool writes after applying a migration (inside its transaction when it has one). */
  recordUp(client: pg.Client, migration: Migration, executionMs: number, previous: HistoryState): Promise<void>;
  /** Writes what the tool writes after rolling a migration back; `next` is the migration now newest, if any. */
  recordDown(client: pg.Client, migration: Migration, next: Migration | undefined): Promise<void>;
  /** golang-migrate marks the version dirty before running a migration outside a transaction. */
  markDirty?(client: pg.Client, migration: Migration): Promise<void>;
  /** Files to create for a new migration named `name`, in the tool's naming scheme (with `body` when generated). */
  newMigration(dir: string, name: string, existing: readonly Migration[], now: Date, body?: MigrationBody): { path: string; content: string }[];
}
