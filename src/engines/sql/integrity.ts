// Integrity of a migrations directory against a database's history, verified before every run:
// changed files, files gone from disk, pending migrations older than applied ones, dirty state.

import type { Finding } from '../../report/finding.js';
import type { AppliedMigration, HistoryState, Layout, Migration } from './layout.js';

export type MigrationState = 'applied' | 'pending' | 'changed' | 'missing' | 'out-of-order' | 'failed';

export interface MigrationStatus {
  readonly version: string;
  readonly description: string;
  readonly kind: 'versioned' | 'repeatable';
  readonly state: MigrationState;
  readonly file?: string | undefined;
  readonly checksum?: string | undefined;
  readonly recordedChecksum?: string | undefined;
  readonly appliedAt?: Date | undefined;
  readonly executionMs?: number | undefined;
  readonly appliedBy?: string | undefined;
}

export interface Verification {
  readonly statuses: readonly MigrationStatus[];
  readonly findings: readonly Finding[];
  /** Versioned migrations still to apply, in order (out-of-order ones included). */
  readonly pending: readonly Migration[];
  /** Repeatable migrations that are new or whose checksum changed. */
  readonly repeatables: readonly Migration[];
}

export function verify(
  layout: Layout,
  migrations: readonly Migration[],
  history: HistoryState,
  options: { readonly allowOutOfOrder: boolean },
): Verification {
  const findings: Finding[] = [];
  const statuses: MigrationStatus[] = [];
  const appliedByVersion = new Map<string, AppliedMigration>();
  for (const row of history.applied) if (row.kind === 'versioned') appliedByVersion.set(row.version, row);
  const newestApplied = [...appliedByVersion.values()]
    .filter((row) => row.success)
    .map((row) => row.version)
    .sort(layout.compareVersions)
    .at(-1);

  if (history.dirtyVersion !== undefined) {
    findings.push({
      check: 'integrity',
      code: 'MIGRATION_DIRTY',
      severity: 'error',
      message: `the database is dirty at version ${history.dirtyVersion}: that migration failed part-way outside a transaction; repair the schema by hand, then record the version that is really applied (golang-migrate: migrate force <version>)`,
    });
  }

  const pending: Migration[] = [];
  const repeatables: Migration[] = [];
  for (const migration of migrations) {
    if (migration.kind === 'repeatable') {
      const latest = [...history.applied].reverse().find((row) => row.kind === 'repeatable' && row.description === migration.description);
      const changed = latest === undefined || latest.checksum !== migration.checksum;
      if (changed) repeatables.push(migration);
      statuses.push(status(migration, latest === undefined ? 'pending' : changed ? 'pending' : 'applied', latest));
      continue;
    }
    const row = appliedByVersion.get(migration.version);
    if (row === undefined) {
      const late = newestApplied !== undefined && layout.compareVersions(migration.version, newestApplied) < 0;
      if (late) {
        findings.push({
          check: 'integrity',
          code: 'MIGRATION_OUT_OF_ORDER',
          severity: options.allowOutOfOrder ? 'notice' : 'error',
          message: `${migration.label} (version ${migration.version}) is pending but older than the newest applied version ${newestApplied}${options.allowOutOfOrder ? '; it will be applied out of order (sql.allow-out-of-order)' : '; give it a newer version, or set sql.allow-out-of-order: true'}`,
          file: migration.up.file,
        });
      }
      pending.push(migration);
      statuses.push(status(migration, late ? 'out-of-order' : 'pending'));
      continue;
    }
    if (!row.success) {
      findings.push({
        check: 'integrity',
        code: 'MIGRATION_FAILED_IN_HISTORY',
        severity: 'error',
        message: `${migration.label} is recorded as failed in ${layout.historyTable}; repair the schema and remove the failed row (Flyway: flyway repair)`,
        file: migration.up.file,
      });
      statuses.push(status(migration, 'failed', row));
      continue;
    }
    if (layout.recordsChecksums && row.checksum !== undefined && migration.checksum !== undefined && row.checksum !== migration.checksum) {
      findings.push({
        check: 'integrity',
        code: 'MIGRATION_CHECKSUM_MISMATCH',
        severity: 'error',
        message: `${migration.label} was changed after it was applied (checksum applied ${row.checksum}, file now ${migration.checksum}); restore the file and put the change in a new migration`,
        file: migration.up.file,
        details: { applied: row.checksum, file: migration.checksum },
      });
      statuses.push(status(migration, 'changed', row));
      continue;
    }
    statuses.push(status(migration, 'applied', row));
  }

  const onDisk = new Set(migrations.filter((m) => m.kind === 'versioned').map((m) => m.version));
  for (const row of appliedByVersion.values()) {
    if (onDisk.has(row.version)) continue;
    findings.push({
      check: 'integrity',
      code: 'MIGRATION_MISSING_ON_DISK',
      severity: 'error',
      message: `version ${row.version}${row.description ? ` (${row.description})` : ''} is applied in the database but has no file; restore it from version control, or remove its row from ${layout.historyTable} if it was rolled back by hand`,
    });
    statuses.push({ version: row.version, description: row.description ?? '', kind: 'versioned', state: 'missing', appliedAt: row.appliedAt, recordedChecksum: row.checksum });
  }
  statuses.sort((a, b) => (a.kind === b.kind ? (a.kind === 'versioned' ? layout.compareVersions(a.version, b.version) : a.description.localeCompare(b.description)) : a.kind === 'versioned' ? -1 : 1));
  return { statuses, findings, pending, repeatables };
}

function status(migration: Migration, state: MigrationState, row?: AppliedMigration): MigrationStatus {
  return {
    version: migration.version,
    description: migration.description,
    kind: migration.kind,
    state,
    file: migration.up.file,
    checksum: migration.checksum,
    recordedChecksum: row?.checksum,
    appliedAt: row?.appliedAt,
    executionMs: row?.executionMs,
    appliedBy: row?.appliedBy,
  };
}
