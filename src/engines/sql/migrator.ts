// Applies and rolls back a migrations directory on a database, the way its tool would: one lock
// for the whole run, integrity verified first, each migration in its own transaction with its
// history row (or outside one when it must, said out loud). Like kysely's migrator it never throws
// half-way: it returns how far it got, with the failure as a finding.

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { DriftGuardError } from '../../errors.js';
import { withAdvisoryLock } from '../../postgres/advisory-lock.js';
import { abortConnection, connect } from '../../postgres/client.js';
import { hasErrors, type Finding } from '../../report/finding.js';
import { registerCleanup } from '../../util/cleanup.js';
import type { Reporter } from '../../util/reporter.js';
import { applyFailure, beforeScript, type ExecutionPlan, needsParsing, planScript, runStatements, runWrites, scriptFailure, sendInTransaction, type SentOutcome, StatementError, wholeFileRefusal } from './execute.js';
import { verify, type Verification } from './integrity.js';
import type { Discovered, HistorySession, HistoryWrite, Layout, Migration, MigrationScript } from './layout.js';
import { currentSchema } from './layouts/common.js';
import { loadParser } from './sql-script.js';
import { unrecognizedFiles } from './unrecognized.js';

export interface SqlMigrations {
  /** Absolute path of the migrations directory. */
  readonly dir: string;
  /** Project root; file names in messages are relative to it. */
  readonly root: string;
  readonly layout: Layout;
  /** Globs (relative to `dir`) of SQL files the layout does not read and that are not migrations (sql.ignore). */
  readonly ignore?: readonly string[] | undefined;
  /**
   * false: files the layout does not read do not stop migrate/rollback (the PR gate reports them
   * itself and still applies what the layout reads). Default true: fail closed.
   */
  readonly failOnUnrecognized?: boolean | undefined;
}

export interface RunSettings {
  readonly databaseUrl: string;
  readonly reporter: Reporter;
  readonly lockTimeoutMs: number;
  readonly allowOutOfOrder: boolean;
  readonly onEvent?: ((event: MigrationEvent) => void) | undefined;
}

export type Direction = 'up' | 'down';

export type MigrationEvent =
  | { readonly event: 'plan'; readonly direction: Direction; readonly total: number; readonly migrations: readonly string[]; readonly dryRun: boolean }
  | {
      readonly event: 'start';
      readonly direction: Direction;
      readonly index: number;
      readonly total: number;
      readonly migration: string;
      readonly version: string;
      /** The file this step runs: the down script when rolling back. */
      readonly file?: string | undefined;
      readonly transaction: boolean;
      readonly reason?: string | undefined;
    }
  | { readonly event: 'done'; readonly direction: Direction; readonly index: number; readonly total: number; readonly migration: string; readonly version: string; readonly file?: string | undefined; readonly ms: number }
  | {
      readonly event: 'failed';
      readonly direction: Direction;
      readonly index: number;
      readonly total: number;
      readonly migration: string;
      readonly version: string;
      readonly file?: string | undefined;
      readonly ms: number;
      readonly finding: Finding;
      /** Statements that stayed applied: always 0 for a migration run in a transaction. */
      readonly statementsApplied: number;
    };

export interface MigrationResult {
  readonly migration: string;
  readonly version: string;
  readonly direction: Direction;
  /** The file run (or to run): the down script when rolling back. */
  readonly file?: string | undefined;
  readonly status: 'applied' | 'rolled-back' | 'failed' | 'not-executed';
  readonly ms?: number | undefined;
  readonly outsideTransaction?: string | undefined;
}

export interface RunOutcome {
  readonly ok: boolean;
  readonly results: readonly MigrationResult[];
  readonly findings: readonly Finding[];
}

/** The layout's migrations, and every SQL file in the directory that it does not read as an error (fail closed). */
export function discover(project: SqlMigrations): Discovered {
  const discovered = project.layout.discover(project.dir, project.root);
  const unrecognized = unrecognizedFiles(project.dir, project.root, project.layout.name, discovered, project.ignore ?? []);
  return unrecognized.length === 0 ? discovered : { migrations: discovered.migrations, problems: [...discovered.problems, ...unrecognized] };
}

/** Applies pending migrations (up to `target`, inclusive). */
export async function migrateUp(project: SqlMigrations, settings: RunSettings, options: { target?: string | undefined; dryRun?: boolean } = {}): Promise<RunOutcome> {
  const discovered = discover(project);
  const { layout } = project;
  if (options.target !== undefined) assertKnownVersion(discovered.migrations, options.target, layout);
  return withMigrationSession(project, settings, async (client, session) => {
    if (options.dryRun !== true) await layout.ensureHistory(client);
    const history = await layout.readHistory(client, discovered.migrations);
    const verification = verify(layout, discovered.migrations, history, { allowOutOfOrder: settings.allowOutOfOrder });
    const findings = [...problemsOf(project, discovered), ...verification.findings];
    if (hasErrors(findings)) return { ok: false, results: [], findings };
    const target = options.target;
    const versioned = verification.pending.filter((m) => target === undefined || layout.compareVersions(m.version, target) <= 0);
    // Repeatable migrations run after all versioned ones, as in Flyway; not when migrating to a target.
    const todo = target === undefined ? [...versioned, ...verification.repeatables] : versioned;
    return run('up', todo, client, project, settings, findings, session, options.dryRun === true);
  });
}

/** Rolls back the newest `steps` migrations, or every migration newer than `target` ("0": all). */
export async function migrateDown(
  project: SqlMigrations,
  settings: RunSettings,
  options: { steps?: number | undefined; target?: string | undefined; dryRun?: boolean },
): Promise<RunOutcome> {
  const discovered = discover(project);
  const { layout } = project;
  if (options.target !== undefined && options.target !== '0') assertKnownVersion(discovered.migrations, options.target, layout);
  return withMigrationSession(project, settings, async (client, session) => {
    const history = await layout.readHistory(client, discovered.migrations);
    const verification = verify(layout, discovered.migrations, history, { allowOutOfOrder: true });
    const findings = [...problemsOf(project, discovered), ...verification.findings];
    if (hasErrors(findings)) return { ok: false, results: [], findings };
    const appliedVersions = new Set(verification.statuses.filter((s) => s.kind === 'versioned' && s.state === 'applied').map((s) => s.version));
    const applied = discovered.migrations
      .filter((m) => m.kind === 'versioned' && appliedVersions.has(m.version))
      .sort((a, b) => layout.compareVersions(b.version, a.version));
    const todo =
      options.target !== undefined
        ? applied.filter((m) => options.target === '0' || layout.compareVersions(m.version, options.target!) > 0)
        : applied.slice(0, options.steps ?? 1);
    const withoutDown = todo.filter((m) => m.down === undefined);
    if (withoutDown.length > 0) {
      const missing: Finding[] = withoutDown.map((m) => ({
        check: 'rollback',
        code: 'MIGRATION_DOWN_MISSING',
        severity: 'error',
        message: `${m.label} has no down migration, so it cannot be rolled back; add ${downFileHint(layout, m)}`,
        file: m.up.file,
      }));
      return { ok: false, results: [], findings: [...findings, ...missing] };
    }
    return run('down', todo, client, project, settings, findings, session, options.dryRun === true, applied);
  });
}

/** The history against the directory, without changing anything. */
export async function migrationStatus(project: SqlMigrations, settings: Pick<RunSettings, 'databaseUrl' | 'allowOutOfOrder'>): Promise<Verification & { problems: readonly Finding[] }> {
  const discovered = discover(project);
  const client = await connect(settings.databaseUrl, { applicationName: 'drift-guard status' });
  try {
    const history = await project.layout.readHistory(client, discovered.migrations);
    const verification = verify(project.layout, discovered.migrations, history, { allowOutOfOrder: settings.allowOutOfOrder });
    return { ...verification, problems: discovered.problems, findings: [...discovered.problems, ...verification.findings] };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Migrations in their own transactions that may be on the wire at once: the one the server runs
 * and the ones queued behind it, which it starts without waiting for drift-guard. An interrupted
 * run therefore ends with each of them either committed with its history row or not at all.
 */
const CHAIN_DEPTH = 3;

interface OnTheWire {
  readonly migration: Migration;
  readonly index: number;
  readonly script: MigrationScript;
  readonly plan: ExecutionPlan;
  readonly outcome: Promise<SentOutcome>;
  /** Says that the server got to it: its warnings and 'start' event. */
  readonly announce: () => void;
  started?: number;
}

async function run(
  direction: Direction,
  todo: readonly Migration[],
  client: pg.Client,
  project: SqlMigrations,
  settings: RunSettings,
  findings: Finding[],
  session: HistorySession,
  dryRun: boolean,
  appliedNewestFirst: readonly Migration[] = [],
): Promise<RunOutcome> {
  const emit = settings.onEvent ?? (() => undefined);
  emit({ event: 'plan', direction, total: todo.length, migrations: todo.map((m) => m.label), dryRun });
  const results: MigrationResult[] = [];
  const fileOf = (m: Migration): string | undefined => (direction === 'up' ? m.up : m.down)?.file;
  if (dryRun) {
    return { ok: true, findings, results: todo.map((m) => ({ migration: m.label, version: m.version, direction, file: fileOf(m), status: 'not-executed' })) };
  }
  const notExecuted = (from: number): void => {
    for (const rest of todo.slice(from)) results.push({ migration: rest.label, version: rest.version, direction, file: fileOf(rest), status: 'not-executed' });
  };
  const labelOf = (migration: Migration, index: number) => ({ direction, index: index + 1, total: todo.length, migration: migration.label, version: migration.version, file: fileOf(migration) });

  // Transactional migrations go out in a chain: each is sent while the ones ahead of it still run,
  // and runs only if the one ahead committed (sendInTransaction), so the server never waits for
  // drift-guard between two migrations.
  const chain: OnTheWire[] = [];
  const token = randomBytes(6).toString('hex');
  let after: string | undefined;
  /** Waits for the oldest migration on the wire; the run's outcome when it failed. */
  const settleOldest = async (): Promise<RunOutcome | undefined> => {
    const head = chain.shift()!;
    const outcome = await head.outcome;
    const ms = performance.now() - head.started!;
    const common = labelOf(head.migration, head.index);
    if (outcome.ok) {
      emit({ event: 'done', ...common, ms });
      results.push({ ...resultOf(head.migration, direction, head.script), status: direction === 'up' ? 'applied' : 'rolled-back', ms });
      const next = chain[0];
      if (next !== undefined) {
        next.started = performance.now();
        next.announce();
      }
      return undefined;
    }
    // The migrations behind it fail their check and leave nothing; the diagnosis waits for them.
    const behind = chain.splice(0);
    await Promise.all(behind.map((m) => m.outcome));
    after = undefined;
    const finding =
      outcome.stage === 'script'
        ? await scriptFailure(client, head.script, head.plan, outcome.error, outcome.prefixLength)
        : outcome.stage === 'history'
          ? historyFailure(head.script, outcome.error)
          : applyFailure(head.script, { text: head.script.sql, offset: 0, kind: 'Script', transactionControl: false }, outcome.error);
    emit({ event: 'failed', ...common, ms, finding, statementsApplied: 0 });
    results.push({ ...resultOf(head.migration, direction, head.script), status: 'failed', ms });
    notExecuted(head.index + 1);
    return { ok: false, results, findings: [...findings, finding] };
  };
  const settleAll = async (): Promise<RunOutcome | undefined> => {
    while (chain.length > 0) {
      const failed = await settleOldest();
      if (failed !== undefined) return failed;
    }
    after = undefined;
    return undefined;
  };

  for (const [index, migration] of todo.entries()) {
    const script = direction === 'up' ? migration.up : migration.down!;
    // The parser is loaded on the first script that needs it: most histories have none.
    if (needsParsing(script)) await loadParser();
    const plan = planScript(script);
    beforeScript(client, script);
    const refusal = project.layout.sendsWholeFile === true ? wholeFileRefusal(script, plan, project.layout.name) : undefined;
    if (refusal !== undefined) {
      const failed = await settleAll();
      if (failed !== undefined) return failed;
      // golang-migrate marks the version dirty before it sends the file, and the file fails.
      if (direction === 'up') await runWrites(client, project.layout.markDirty?.(migration, session) ?? []).catch(() => undefined);
      results.push({ migration: migration.label, version: migration.version, direction, status: 'failed' });
      notExecuted(index + 1);
      return { ok: false, results, findings: [...findings, refusal] };
    }
    const warn = (): void => {
      if (plan.unparsed !== undefined) {
        settings.reporter.warn(`${script.file}: drift-guard's SQL parser cannot read this file (${plan.unparsed.message}); sending it to the server whole`);
      }
    };
    const common = labelOf(migration, index);
    const next = direction === 'down' ? appliedNewestFirst[appliedNewestFirst.indexOf(migration) + 1] : undefined;
    // undefined: the writes end the migration's own transaction, which measures itself.
    const record = (ms: number | undefined): readonly HistoryWrite[] =>
      direction === 'up' ? project.layout.recordUp(migration, session, ms) : project.layout.recordDown(migration, session, next);

    if (plan.outsideTransaction === undefined) {
      const mark = `${token}:${index}`;
      const sent: OnTheWire = {
        migration,
        index,
        script,
        plan,
        outcome: sendInTransaction(client, script, record(undefined), { after, mark }),
        announce: () => {
          warn();
          emit({ event: 'start', ...common, transaction: true });
        },
      };
      after = mark;
      chain.push(sent);
      if (chain.length === 1) {
        sent.started = performance.now();
        sent.announce();
      }
      if (chain.length >= CHAIN_DEPTH) {
        const failed = await settleOldest();
        if (failed !== undefined) return failed;
      }
      continue;
    }

    // Outside a transaction: alone on the wire, statement by statement.
    const failed = await settleAll();
    if (failed !== undefined) return failed;
    warn();
    emit({ event: 'start', ...common, transaction: false, reason: plan.outsideTransaction });
    settings.reporter.info(`${migration.label} runs outside a transaction: ${plan.outsideTransaction}`);
    const started = performance.now();
    try {
      // Committed before the first statement: a migration that dies half-way outside a
      // transaction leaves its mark (golang-migrate's dirty flag).
      if (direction === 'up') await runWrites(client, project.layout.markDirty?.(migration, session) ?? []);
      await runStatements(client, script, plan);
      await runWrites(client, record(performance.now() - started));
    } catch (error) {
      const ms = performance.now() - started;
      const failure = error instanceof StatementError ? error : undefined;
      const finding = failure?.finding ?? historyFailure(script, error);
      const statementsApplied = failure?.completed ?? plan.statements.length;
      emit({ event: 'failed', ...common, ms, finding, statementsApplied });
      results.push({ ...resultOf(migration, direction, script), status: 'failed', ms, outsideTransaction: plan.outsideTransaction });
      notExecuted(index + 1);
      const partial =
        statementsApplied > 0
          ? {
              ...finding,
              message: `${finding.message} (${migration.label} ran outside a transaction: ${statementsApplied} of ${plan.statements.length} statements stayed applied; make the file safe to re-run, e.g. with IF NOT EXISTS)`,
            }
          : finding;
      return { ok: false, results, findings: [...findings, partial] };
    }
    const ms = performance.now() - started;
    emit({ event: 'done', ...common, ms });
    results.push({ ...resultOf(migration, direction, script), status: direction === 'up' ? 'applied' : 'rolled-back', ms, outsideTransaction: plan.outsideTransaction });
  }
  const failed = await settleAll();
  return failed ?? { ok: true, results, findings };
}

function resultOf(migration: Migration, direction: Direction, script: MigrationScript): Pick<MigrationResult, 'migration' | 'version' | 'direction' | 'file'> {
  return { migration: migration.label, version: migration.version, direction, file: script.file };
}

function historyFailure(script: MigrationScript, error: unknown): Finding {
  return {
    check: 'apply',
    code: 'APPLY_FAILED',
    severity: 'error',
    message: `recording the migration in the history table failed: ${(error as Error).message}`,
    file: script.file,
  };
}

/**
 * One connection for the whole run, holding the layout's advisory lock; dropped on signals too.
 * Pipelined, so that a migration, its history writes and its COMMIT travel together
 * (runInTransaction); code that awaits each query in turn runs on it as on any other client.
 */
export async function withMigrationSession<T>(project: SqlMigrations, settings: RunSettings, fn: (client: pg.Client, session: HistorySession) => Promise<T>): Promise<T> {
  const client = await connect(settings.databaseUrl, { applicationName: 'drift-guard migrate', pipeline: true });
  // Dropping the connection is what rolls back an interrupted migration and frees the lock. Not
  // client.end(): on a pipelined client it waits for what is on the wire, the COMMIT included.
  const release = registerCleanup(() => abortConnection(client));
  try {
    // PostgreSQL 14+: notice a vanished client during a long statement, so that a killed runner's
    // transaction and lock go within a second instead of when the statement ends.
    await client.query("SELECT set_config('client_connection_check_interval', '1000', false)").catch(() => undefined);
    const key = await project.layout.lockKey(client);
    return await withAdvisoryLock(client, { key, timeoutMs: settings.lockTimeoutMs, reporter: settings.reporter, what: `${project.layout.historyTable}` }, async () =>
      fn(client, { schema: await currentSchema(client) }),
    );
  } finally {
    release();
    await client.end().catch(() => undefined);
  }
}

function problemsOf(project: SqlMigrations, discovered: Discovered): readonly Finding[] {
  return project.failOnUnrecognized === false ? discovered.problems.filter((p) => p.code !== 'UNRECOGNIZED_MIGRATION_FILE') : discovered.problems;
}

function assertKnownVersion(migrations: readonly Migration[], version: string, layout: Layout): void {
  if (!migrations.some((m) => m.kind === 'versioned' && layout.compareVersions(m.version, version) === 0)) {
    const known = migrations.filter((m) => m.kind === 'versioned').map((m) => m.version);
    throw new DriftGuardError('USAGE', `no migration has version ${version} (known: ${known.length === 0 ? 'none' : `${known.slice(0, 3).join(', ')}${known.length > 3 ? ` ... ${known.at(-1)!}` : ''}`})`);
  }
}

export function downFileHint(layout: Layout, migration: Migration): string {
  switch (layout.name) {
    case 'flyway':
      return `U${migration.version}__${migration.description.replace(/ /g, '_')}.sql`;
    case 'golang-migrate':
      return migration.up.file.replace(/\.up\.sql$/, '.down.sql');
    case 'goose':
      return `a "-- +goose Down" section to ${migration.up.file}`;
    case 'dbmate':
      return `a "-- migrate:down" section to ${migration.up.file}`;
    case 'diesel':
      return `${migration.up.file.replace(/up\.sql$/, 'down.sql')}`;
    case 'plain':
      return migration.up.file.replace(/\.sql$/, '.down.sql');
  }
}
