// Findings are data: every check reports them in this one shape, and renderers (text, markdown,
// JSON, annotations) decide how they look. Codes are stable and documented in the README.

export type Severity = 'error' | 'warning' | 'notice';

export type FindingCode =
  // SQL engine integrity (verified on every run against the history table)
  | 'MIGRATION_CHECKSUM_MISMATCH'
  | 'MIGRATION_MISSING_ON_DISK'
  | 'MIGRATION_OUT_OF_ORDER'
  | 'MIGRATION_DUPLICATE_VERSION'
  | 'MIGRATION_DIRTY'
  | 'MIGRATION_FAILED_IN_HISTORY'
  | 'MIGRATION_DOWN_MISSING'
  | 'APPLY_FAILED'
  | 'UNRECOGNIZED_MIGRATION_FILE'
  | 'OUTSIDE_DATABASE'
  // EF Core engine
  | 'MODEL_PENDING_CHANGES'
  | 'MIGRATIONS_DIVERGE_FROM_MODEL'
  | 'MIGRATION_DESIGNER_MISSING'
  | 'MIGRATION_NOT_DISCOVERED'
  | 'MULTIPLE_SNAPSHOTS'
  | 'MIGRATIONS_SPLIT'
  | 'BUILD_FAILED'
  // PR gate
  | 'MIGRATION_MODIFIED'
  | 'MIGRATION_DELETED'
  | 'BASE_ADVANCED'
  | 'BASE_APPLY_FAILED'
  | 'DESTRUCTIVE_CHANGE'
  | 'BREAKING_RENAME'
  | 'LOCKING_CHANGE'
  | 'ROLLBACK_FAILED'
  | 'ROLLBACK_INCOMPLETE'
  | 'ROLLBACK_NOT_CHECKED'
  | 'SCHEMA_FILE_STALE'
  | 'ENTITY_WITHOUT_MIGRATION'
  | 'LINT'
  | 'TABLE_REWRITE'
  | 'FAILS_ON_DATA'
  | 'NOT_CHECKED'
  // Production: drift, deploy, baseline
  | 'PRODUCTION_DRIFT'
  | 'NO_MIGRATION_HISTORY'
  | 'MIGRATION_PENDING'
  | 'HISTORY_NOT_CHECKED'
  | 'DRIFT_INCOMPLETE';

export interface Finding {
  readonly check: string;
  readonly code: FindingCode;
  readonly severity: Severity;
  readonly message: string;
  /** Path relative to the project root, when the finding is about a file. */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly details?: Readonly<Record<string, unknown>>;
  /** The migration (its id) the finding is about, when it is about one. */
  readonly migration?: string;
  /** Whether PostgreSQL was watched doing it (`measured`) or it was read from the SQL or the schema diff (`inferred`). */
  readonly evidence?: 'measured' | 'inferred';
  /** Set when the same finding already holds on the base: reported apart, it does not fail the PR. */
  readonly existing?: boolean;
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((finding) => finding.severity === 'error');
}
