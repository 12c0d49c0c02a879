// The facts the gate collects before it judges anything: per migration, what it changed in the
// schema and, where the engine lets PostgreSQL be watched, what each statement did (locks, rewrites,
// rows, time). A fact that was not observed is absent, never empty: checks that need it say "not
// checked" instead of passing.

import type { MigrationSource, ObservedStatement } from '../engines/engine.js';
import type { Change } from '../schema/diff.js';
import type { SchemaModel } from '../schema/model.js';

export interface MigrationFacts {
  /** The migration (for `batch` engines: the last of the batch; `ids` lists them all). */
  readonly source: MigrationSource;
  readonly ids: readonly string[];
  /** How finely this migration was watched. */
  readonly granularity: 'statement' | 'migration' | 'batch';
  /** Statement by statement (SQL engine), in file order; absent when not observed. */
  readonly statements?: readonly ObservedStatement[];
  /** Existing tables whose storage the migration replaced, measured around the whole migration. */
  readonly rewrites?: readonly string[];
  /** Whether it ran inside one transaction (locks are held until it commits). */
  readonly transaction?: boolean;
  /** What it did to the schema (introspected before and after). */
  readonly delta: readonly Change[];
  /** The schema right after it, for the rollback check. */
  readonly schemaAfter: SchemaModel;
  readonly ms: number;
  /** Other migrations a change may come from (merged ones the PR deletes or edits), searched when the source does not name it. */
  readonly elsewhere?: readonly MigrationSource[];
}

export interface NotChecked {
  readonly check: string;
  readonly reason: string;
}

export interface GateFacts {
  readonly baseSchema?: SchemaModel;
  readonly headSchema?: SchemaModel;
  readonly migrations: readonly MigrationFacts[];
  /** How the base schema was built (for the report). */
  readonly baseHow?: string;
}
