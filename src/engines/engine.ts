// The interface every migration engine implements. The CLI, the PR gate and the production tools
// ask an engine what it can do (capabilities), never which engine it is.

import type { Finding } from '../report/finding.js';
import type { MigrationStatus } from './sql/integrity.js';
import type { MigrationBody } from './sql/layout.js';
import type { MigrationEvent, RunOutcome } from './sql/migrator.js';
import type { Reporter } from '../util/reporter.js';

export type EngineName = 'sql' | 'efcore' | 'command';

export interface EngineCapabilities {
  /** Down migrations / rolling back to a target. */
  readonly rollback: boolean;
  /** A model to compare migrations with (EF's model; the SQL engine's declarative schema file). */
  readonly modelCheck: boolean;
  /** Reads a database's migration history (status); engine: command leaves that to the user's tool. */
  readonly history: boolean;
  /**
   * How finely the PR gate can watch the engine apply migrations: `statement` (drift-guard runs the
   * SQL itself: locks, rewrites, rows and time per statement), `migration` (the tool applies one
   * migration at a time on request: schema delta and rewrites per migration) or `batch` (the tool
   * applies everything at once).
   */
  readonly granularity: 'statement' | 'migration' | 'batch';
}

/** One migration as the gate sees it in files. */
export interface MigrationRef {
  /** The id the tool records in its history (SQL: the version; EF: 20240101000000_AddOrders). */
  readonly id: string;
  /** Short name for messages. */
  readonly label: string;
  /** The main (up) file, relative to the project root (the config file's folder), when known. */
  readonly file?: string;
  /** What the migration belongs to when a project gates several (EF: its DbContext); the report groups by it. */
  readonly group?: string;
}

/** A migration's files at one commit, for the gate's git analysis. */
export interface MigrationSource extends MigrationRef {
  readonly file: string;
  /** Everything that defines the migration (up, down, designer...), for edit detection. */
  readonly text: string;
  /** The up script's own text, for finding lines. */
  readonly upText: string;
  /** The down (undo) file, relative to the project root, when the migration has one. */
  readonly downFile?: string;
  /** Whether it can be rolled back (a down file, a down section, EF's Down method). */
  readonly hasDown: boolean;
  /** It has a down script with no statement in it (irreversible on purpose). */
  readonly downEmpty?: true;
}

/** What the PR gate reads from files and git, engine by engine, without a database. */
export interface GateFiles {
  /** Migrations in the working tree, in apply order (SQL: discovered by the layout). */
  head(): Promise<readonly MigrationSource[]>;
  /** Migrations at a commit, in apply order. */
  at(commit: string): Promise<readonly MigrationSource[]>;
  /** Apply order of two ids. */
  compare(a: string, b: string): number;
  /** Problems of the migrations directory in the working tree (unrecognised files, duplicates...). */
  problems(): readonly Finding[];
  /** Whether a project-relative file belongs to a migration (never an entity then). */
  isMigrationFile(file: string): boolean;
  /**
   * Whether the tool would ever have applied a migration of the base (EF Core: its files carry a
   * [Migration] attribute); one it never discovered cannot have been deleted or edited "after it
   * ran". Absent: every migration counts.
   */
  discoverable?(migration: MigrationSource): boolean;
  /** Whether a project-relative file shapes the schema (ENTITY_WITHOUT_MIGRATION); undefined when nothing is configured. */
  readonly isEntity: ((file: string) => boolean) | undefined;
  /**
   * The engine that builds the base schema. `target` set: the PR's own engine applies the base's
   * migrations up to it (no second build); otherwise `engine` is the base checkout's own.
   */
  baseEngine(commit: string, options: { historyRewritten: boolean; baseLast: string | undefined }): Promise<{ engine: Engine; target?: string; how: string; dispose(): Promise<void> }>;
  /**
   * What the base schema is built from at `commit`, as content (git's object ids of every file in
   * the migrations folder, with their paths): the key of the base-schema cache. Only engines whose
   * base is made of those files alone have it (no build, no user command).
   */
  baseFingerprint?(commit: string): Promise<string>;
  /** Whether migrations run after the versioned ones (Flyway's repeatables): the gate applies them after the last. */
  runsAfterVersioned(): boolean;
  /** Whether the migration files are the SQL that runs (SQL files), rather than code that makes it (EF Core). */
  readonly plainSql: boolean;
  /** What to add so that a migration can be rolled back (a file name or a section). */
  downHint(migration: MigrationSource): string;
  /** How to move an out-of-order migration to the end / what to do when the base gained migrations. */
  readonly reorderHint: string;
  readonly rebaseHint: string;
  /** The groups a project gates apart (EF: the DbContexts, when several are configured); the report has a line per group. */
  readonly groups?: readonly string[];
  /** Where the gate's lint reads each new migration's SQL; lines match the files only when `linesMatchFiles`. */
  lintInputs(added: readonly MigrationSource[], baseLast: string | undefined, reporter: Reporter): Promise<{ inputs: { file: string; sql: string; lineOffset: number }[]; linesMatchFiles: boolean }>;
}

export interface RunContext {
  readonly databaseUrl: string;
  readonly reporter: Reporter;
  readonly onEvent?: ((event: MigrationEvent) => void) | undefined;
}

export interface EngineStatus {
  readonly statuses: readonly MigrationStatus[];
  readonly findings: readonly Finding[];
}

export interface MigrationRef {
  /** The id the tool records in its history (EF: 20240101000000_AddOrders). */
  readonly id: string;
  /** Short name for messages. */
  readonly label: string;
  /** The main file, relative to the project root (the config file's folder), when known. */
  readonly file?: string;
}

export interface Engine {
  readonly name: EngineName;
  readonly capabilities: EngineCapabilities;
  /** Where migrations live, for messages. */
  readonly location: string;
  /** Engine-specific facts for status output (the SQL layout and its history table, the EF project). */
  readonly details: Readonly<Record<string, string>>;
  /** Builds or loads what the engine needs, once per engine object; BUILD_FAILED findings (file, line, column from the compiler) when the project's code does not compile. Throws DriftGuardError('ENVIRONMENT') only when the tool chain itself is missing. */
  prepare?(reporter: Reporter): Promise<readonly Finding[]>;
  /** The migrations as the tool itself discovers them, in apply order (EF: one `migrations list --json`, reused). */
  list?(reporter: Reporter): Promise<readonly MigrationRef[]>;
  migrate(context: RunContext, options: { target?: string | undefined; dryRun?: boolean }): Promise<RunOutcome>;
  rollback(context: RunContext, options: { steps?: number | undefined; target?: string | undefined; dryRun?: boolean }): Promise<RunOutcome>;
  status(context: Omit<RunContext, 'onEvent'>): Promise<EngineStatus>;
  /** Creates the next migration (SQL engine: with `body` when generated); returns the files written. */
  create(name: string, reporter: Reporter, body?: MigrationBody): Promise<string[]>;
  /** The SQL of the migrations between two versions, for review. */
  script(options: { from?: string | undefined; to?: string | undefined; idempotent?: boolean }, reporter: Reporter): Promise<string>;
  /**
   * Records the migrations up to and including `target` as applied without running them, in one
   * transaction (a database made by EnsureCreated or by hand); returns the versions recorded.
   */
  baseline?(context: Omit<RunContext, 'onEvent'>, options: { target: string }): Promise<string[]>;
  /** Model against migrations (MODEL_PENDING_CHANGES and friends); only when capabilities.modelCheck. */
  checkModel?(reporter: Reporter, options: { secondOpinion: boolean }): Promise<readonly Finding[]>;
  /**
   * Builds or loads what the engine needs, once per engine object; BUILD_FAILED findings (file, line,
   * column from the compiler) when the project's code does not compile.
   */
  prepare?(reporter: Reporter): Promise<readonly Finding[]>;
  /** The migrations as the tool itself discovers them, in apply order. */
  list?(reporter: Reporter): Promise<readonly MigrationRef[]>;
  /** The PR gate's view of the migration files; absent for engines the gate cannot read. */
  readonly gate?: GateFiles;
  /**
   * Applies one migration (already next in line) and reports what PostgreSQL did, statement by
   * statement; only when capabilities.granularity is `statement`. Undefined, having applied
   * nothing: this one cannot be watched (e.g. SQL the parser cannot read); apply it with migrate.
   */
  applyObserved?(context: RunContext, id: string, baseTables: BaseTables): Promise<ObservedMigration | undefined>;
}

/**
 * The base's tables, by qualified name and, where the base was read from this database (or a copy
 * of it), by oid: a table the PR renames keeps its oid, so its locks and rewrites still count as a
 * base table's. With `oids`, a relation is a base table by oid alone.
 */
export type BaseTables = ReadonlySet<string> & { readonly oids?: ReadonlySet<string> };

/** A lock a statement took on a relation, read from pg_locks for the runner's own session. */
export interface ObservedLock {
  /** Qualified name of the table (an index's lock is reported on its table). */
  readonly table: string;
  readonly mode: string;
  /** Whether the relation existed before the PR's first migration (a lock on a new table harms nobody). */
  readonly existing: boolean;
  /** The table's oid, which a rename keeps: a lock before and one after are on the same table. */
  readonly tableOid?: string;
}

/** What one statement did, measured on the scratch database. */
export interface ObservedStatement {
  readonly index: number;
  /** 1-based line and column in the migration file. */
  readonly line: number;
  readonly column: number;
  /** Parse tree node type (AlterTableStmt, IndexStmt...). */
  readonly kind: string;
  /** The statement's text (up to 300 characters). */
  readonly text: string;
  readonly ms: number;
  /** Rows the statement reported (UPDATE, DELETE, INSERT). */
  readonly rows?: number;
  /** Whether it ran inside a transaction (its locks were read before commit). */
  readonly transaction: boolean;
  /** New locks it took; absent when they could not be read (outside a transaction). */
  readonly locks?: readonly ObservedLock[];
  /** Existing tables whose storage it replaced (relfilenode changed): a rewrite or a truncate. */
  readonly rewrites: readonly string[];
  /** Tables it created. */
  readonly created: readonly string[];
  /**
   * Tables of the base a data statement (INSERT, UPDATE, DELETE, MERGE) writes: its target, held
   * under ROW EXCLUSIVE, whether this statement took that lock or an earlier one of its transaction did.
   */
  readonly written?: readonly string[];
  /**
   * Rows it read from tables of the base (pg_stat_xact_user_tables: sequential scans and index
   * fetches): a validating scan, an index build, a rewrite's copy, a data statement. Absent when
   * none, or when it ran outside a watched transaction.
   */
  readonly read?: readonly { readonly table: string; readonly rows: number }[];
}

export interface ObservedMigration {
  readonly outcome: RunOutcome;
  readonly file: string;
  readonly transaction: boolean;
  readonly statements: readonly ObservedStatement[];
}
