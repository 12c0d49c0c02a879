// `drift-guard deploy` (make migrate-prod): the one path by which migrations reach production.
// In this order, each step timed and logged: confirmation; an advisory lock that keeps a second
// deploy out; pre-flight (history and schema drift, via runDrift); a verified backup; apply;
// verify (nothing pending, production's schema equals every migration's); health checks. If
// anything fails before the apply, nothing is applied. If anything fails after it, the result
// names what was applied, the exact restore command and the rollback command (and, with
// rollbackOnFailure, runs the rollback). A JSON deploy record is written beside the backups.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load-config.js';
import { createEngine } from '../engines/create-engine.js';
import { connectionVariables } from '../engines/efcore/dotnet-ef.js';
import { resolveBundle, runBundle } from '../engines/efcore/efbundle.js';
import type { RunContext } from '../engines/engine.js';
import type { RunOutcome } from '../engines/sql/migrator.js';
import { DriftGuardError, describeError, isDriftGuardError } from '../errors.js';
import { introspectUrl } from '../introspect/introspect.js';
import { withAdvisoryLock } from '../postgres/advisory-lock.js';
import { connect } from '../postgres/client.js';
import { withScratchDatabase } from '../postgres/scratch.js';
import { hasErrors, type Finding } from '../report/finding.js';
import { diffSchemas } from '../schema/diff.js';
import { modelOptions } from '../schema/sources.js';
import { phaseTimer, type PhaseTiming } from '../util/phases.js';
import type { Reporter } from '../util/reporter.js';
import { maskSecrets } from '../util/secrets.js';
import { backupDatabase, DEPLOY_LOCK_KEY, type BackupOutcome } from './backup.js';
import { runDrift } from './drift.js';
import { runHealthChecks, type HealthResult, type HealthSettings } from './health.js';
import type { ProductionRun } from './production.js';

export const DEPLOY_RECORD_VERSION = 1;
/** pg_advisory_lock key of deploys ("drftdply"): one deploy or restore per database at a time. */
export { DEPLOY_LOCK_KEY } from './backup.js';

export interface DeployOptions extends ProductionRun {
  /** Asks for (or checks) the go-ahead; false stops the deploy. */
  readonly confirm: (question: string) => Promise<boolean>;
  readonly allowDrift: boolean;
  readonly rollbackOnFailure: boolean;
  readonly backupDir: string;
  readonly keep: number;
  readonly lockTimeoutMs: number;
  /** lock_timeout for the migrations' own statements (production.lock-timeout-statement); 0: none. */
  readonly statementLockTimeoutMs?: number;
  /** Retries of a migration whose lock was not granted in time (production.lock-retries). */
  readonly lockRetries?: number;
  readonly health: HealthSettings;
  /** engine: efcore: apply (and roll back, and build the expected schema) with this migration bundle instead of dotnet ef. */
  readonly bundle?: string | undefined;
}

export type DeployOutcome = 'deployed' | 'nothing-to-deploy' | 'stopped' | 'failed-after-apply' | 'rolled-back';

export interface DeployRecord {
  readonly version: typeof DEPLOY_RECORD_VERSION;
  readonly outcome: DeployOutcome;
  readonly production: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Migrations pending before the deploy, and those it applied. */
  readonly pending: readonly string[];
  readonly applied: readonly string[];
  /** The newest migration production had before the deploy (the rollback target). */
  readonly previous: string | undefined;
  readonly backup?: { readonly file: string; readonly sha256: string; readonly bytes: number } | undefined;
  readonly findings: readonly Finding[];
  readonly health: readonly HealthResult[];
  readonly timings: readonly PhaseTiming[];
  /** Why it stopped or failed, in one line. */
  readonly error?: string | undefined;
  /** After a failure: how to get production back. */
  readonly restoreCommand?: string | undefined;
  readonly rollbackCommand?: string | undefined;
  /** Where this record was written. */
  readonly recordFile?: string | undefined;
}

export async function runDeploy(options: DeployOptions): Promise<DeployRecord> {
  const { loaded, cwd, reporter, production } = options;
  const startedAt = new Date().toISOString();
  const { timings, timed } = phaseTimer(reporter);
  const engine = createEngine({ loaded, cwd, env: options.env, reporter, postgres: options.postgres });
  if (options.bundle !== undefined) {
    if (engine.name !== 'efcore') throw new DriftGuardError('USAGE', `--bundle is for engine: efcore (EF Core migration bundles); this project uses engine: ${engine.name}`);
    resolveBundle(options.bundle, cwd);
  }
  const bundle = options.bundle;
  /** The bundle when there is one, else the engine: the same migrations either way. */
  const apply = (context: RunContext, target?: string): Promise<RunOutcome> =>
    bundle === undefined
      ? engine.migrate(context, {})
      : runBundle({ bundle, cwd, databaseUrl: context.databaseUrl, connectionEnv: connectionVariables(loaded.config.efcore['connection-env']), env: options.env, reporter: context.reporter, target });
  const findings: Finding[] = [];
  let pending: readonly string[] = [];
  let applied: string[] = [];
  let previous: string | undefined;
  let backup: BackupOutcome | undefined;
  let health: HealthResult[] = [];
  /** How production differed from its migrations before the deploy, when --allow-drift let it go on. */
  let allowedDrift: readonly string[] = [];

  const finish = (outcome: DeployOutcome, extra: Partial<DeployRecord> = {}): DeployRecord => {
    const record: DeployRecord = {
      version: DEPLOY_RECORD_VERSION,
      outcome,
      production: production.display,
      startedAt,
      finishedAt: new Date().toISOString(),
      pending,
      applied,
      previous,
      backup: backup === undefined ? undefined : { file: backup.path, sha256: backup.record.sha256, bytes: backup.record.bytes },
      findings,
      health,
      timings,
      ...extra,
    };
    return writeRecord(options.backupDir, record);
  };

  if (!(await options.confirm(`Deploy the migrations in ${engine.location} to ${production.display}? Type YES to go on: `))) {
    return finish('stopped', { error: 'not confirmed' });
  }

  const lockClient = await connect(production.url, { applicationName: 'drift-guard deploy' });
  try {
    return await withAdvisoryLock(lockClient, { key: DEPLOY_LOCK_KEY, timeoutMs: options.lockTimeoutMs, reporter, what: `deploys to ${production.display}` }, async () => {
      // Pre-flight: nothing below this block runs unless production is what its history says.
      const drift = await timed('pre-flight: history and schema drift', () => runDrift({ ...options, skipModelCheck: true }));
      pending = drift.migrations.pending;
      previous = drift.production.lastApplied;
      const blocking = drift.findings.filter((f) => f.severity === 'error' && !(options.allowDrift && f.code === 'PRODUCTION_DRIFT'));
      if (options.allowDrift) allowedDrift = drift.schemaChanges.map((c) => c.description);
      findings.push(...drift.findings.filter((f) => f.code !== 'MIGRATION_PENDING'));
      if (blocking.length > 0) {
        const drifted = blocking.some((f) => f.code === 'PRODUCTION_DRIFT');
        return finish('stopped', {
          error: `pre-flight failed, nothing was applied: ${blocking.length} problem(s), first: ${blocking[0]!.message}${drifted ? ' (--allow-drift deploys anyway)' : ''}`,
        });
      }
      if (engine.capabilities.history && pending.length === 0) return finish('nothing-to-deploy');

      try {
        backup = await timed('backup (pg_dump -Fc, verified)', () =>
          backupDatabase({ url: production.url, dir: options.backupDir, keep: options.keep, env: options.env, reason: 'deploy' }),
        );
        reporter.info(`backup ${backup.path} (${(backup.record.bytes / 1024 / 1024).toFixed(1)} MiB, ${backup.record.entries} entries, sha256 ${backup.record.sha256.slice(0, 12)})`);
      } catch (error) {
        return finish('stopped', { error: `backup failed, nothing was applied: ${oneLine(error)}` });
      }

      // From here on production may change: every failure says how to get back.
      const recovery = {
        restoreCommand: `drift-guard restore ${shellQuote(backup.path)} --production --yes`,
        rollbackCommand: engine.capabilities.rollback ? rollbackCommandFor(loaded, previous) : undefined,
      };
      const failed = async (error: string): Promise<DeployRecord> => {
        if (!options.rollbackOnFailure || !engine.capabilities.rollback || applied.length === 0) return finish('failed-after-apply', { error, ...recovery });
        const down = await timed(`roll back to ${previous ?? 'an empty history'}`, () =>
          bundle === undefined ? engine.rollback({ databaseUrl: production.url, reporter }, { target: previous ?? '0' }) : apply({ databaseUrl: production.url, reporter }, previous ?? '0'),
        );
        if (down.ok && !hasErrors(down.findings)) {
          const rolledBack = applied;
          applied = [];
          return finish('rolled-back', { error: `${error}; rolled back ${rolledBack.join(', ')}`, ...recovery });
        }
        return finish('failed-after-apply', { error: `${error}; the rollback failed too: ${down.findings.find((f) => f.severity === 'error')?.message ?? 'unknown error'}`, ...recovery });
      };

      try {
        const outcome = await timed(`apply ${pending.length > 0 ? `${pending.length} migration(s)` : 'the migrations'}${bundle === undefined ? '' : ` with ${path.basename(bundle)}`}`, () => applyWithLockRetries());
        applied = outcome.results.filter((r) => r.status === 'applied').map((r) => r.version);
        findings.push(...outcome.findings.filter((f) => f.severity !== 'notice'));
        if (!outcome.ok || hasErrors(outcome.findings)) {
          return failed(`applying failed: ${outcome.findings.find((f) => f.severity === 'error')?.message ?? 'unknown error'}`);
        }

        const verified = await timed('verify (nothing pending, schema equals the migrations)', () => verify());
        if (verified !== undefined) return failed(verified);

        health = await timed('health check', () => runHealthChecks(production.url, options.health));
        const sick = health.filter((h) => !h.ok);
        if (sick.length > 0) return failed(`health check failed: ${sick.map((h) => `${h.target}: ${h.detail} after ${h.attempts} attempt(s)`).join('; ')}`);
        return finish('deployed');
      } catch (error) {
        return failed(`the deploy broke off after it began applying: ${oneLine(error)}`);
      }
    });
  } finally {
    await lockClient.end().catch(() => undefined);
  }

  /**
   * The migrations run with lock_timeout set on their session (strong_migrations / pgroll style): a
   * statement that cannot get its lock in time fails instead of queueing every query on the table
   * behind it. Its migration's transaction rolls back; it is tried again after 1, 2, 4... seconds.
   */
  async function applyWithLockRetries(): Promise<RunOutcome> {
    const timeoutMs = options.statementLockTimeoutMs ?? 0;
    const url = timeoutMs > 0 ? withSessionSetting(production.url, 'lock_timeout', `${timeoutMs}ms`) : production.url;
    const results: RunOutcome['results'][number][] = [];
    for (let attempt = 0; ; attempt++) {
      const outcome = await apply({ databaseUrl: url, reporter });
      results.push(...outcome.results.filter((r) => r.status === 'applied'));
      const lockTimedOut = !outcome.ok && outcome.findings.some((f) => f.severity === 'error' && (f.details as { sqlstate?: string } | undefined)?.sqlstate === '55P03');
      if (!lockTimedOut || attempt >= (options.lockRetries ?? 0)) return { ...outcome, results: [...results, ...outcome.results.filter((r) => r.status !== 'applied')] };
      const waitMs = Math.min(30_000, 1000 * 2 ** attempt);
      reporter.warn(`a migration statement waited more than ${timeoutMs / 1000}s for its lock (production.lock-timeout-statement) and was rolled back; retry ${attempt + 1} of ${options.lockRetries ?? 0} in ${waitMs / 1000}s`);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  async function verify(): Promise<string | undefined> {
    if (engine.capabilities.history) {
      const status = await engine.status({ databaseUrl: production.url, reporter });
      const left = status.statuses.filter((s) => s.kind === 'versioned' && (s.state === 'pending' || s.state === 'out-of-order'));
      if (left.length > 0) return `verify failed: still pending after the apply: ${left.map((s) => s.version).join(', ')}`;
    }
    const ignore = modelOptions(loaded);
    const expected = await withScratchDatabase(options.postgres, async (db) => {
      const outcome = await apply({ databaseUrl: db.url, reporter: quiet });
      if (!outcome.ok) throw new DriftGuardError('USAGE', `the migrations do not apply to an empty database: ${outcome.findings[0]?.message ?? 'unknown error'}`);
      return introspectUrl(db.url, ignore);
    });
    // With --allow-drift, the differences production already had are expected to remain: what
    // verify checks is that the migrations made their own changes (nothing else differs).
    const remaining = [...allowedDrift];
    const differences = diffSchemas(expected, await introspectUrl(production.url, ignore)).changes.filter((change) => {
      const known = remaining.indexOf(change.description);
      if (known < 0) return true;
      remaining.splice(known, 1);
      return false;
    });
    if (differences.length > 0) return `verify failed: production's schema differs from what the migrations produce: ${differences.slice(0, 3).map((c) => c.description).join('; ')}`;
    const kept = allowedDrift.length - remaining.length;
    if (kept > 0) reporter.warn(`verify: the migrations applied as written; the ${kept} difference(s) production had before (--allow-drift) remain: ${allowedDrift.filter((d) => !remaining.includes(d)).slice(0, 3).join('; ')}`);
    return undefined;
  }
}

const quiet: Reporter = { info: () => undefined, warn: () => undefined, step: (_label, fn) => fn() };

function rollbackCommandFor(loaded: LoadedConfig, previous: string | undefined): string {
  return `DATABASE_URL="$${loaded.config.production['url-env']}" drift-guard rollback --to ${previous ?? '0'}`;
}

function writeRecord(dir: string, record: DeployRecord): DeployRecord {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, `deploy-${record.startedAt.replace(/[-:]/g, '')}.json`);
    const withFile = { ...record, recordFile: file };
    writeFileSync(`${file}.partial`, maskSecrets(`${JSON.stringify(withFile, null, 2)}\n`), { mode: 0o600 });
    renameSync(`${file}.partial`, file);
    return withFile;
  } catch {
    return record; // The deploy's own outcome matters more than its record; the caller prints it.
  }
}

function oneLine(error: unknown): string {
  return maskSecrets(isDriftGuardError(error) ? error.message : describeError(error)).split('\n')[0]!;
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/** The URL with `-c name=value` added to its libpq `options` (a session setting for every connection made with it). */
export function withSessionSetting(connectionString: string, name: string, value: string): string {
  const url = new URL(connectionString);
  const options = url.searchParams.get('options');
  url.searchParams.set('options', `${options === null ? '' : `${options} `}-c ${name}=${value}`);
  return url.toString();
}
