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
}
