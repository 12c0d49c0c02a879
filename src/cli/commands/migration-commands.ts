// migrate, status, rollback, new, script: the SQL engine's commands. Each resolves the directory,
// layout and database from flags and config, calls the engine, and renders its result.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SqlLayoutSetting } from '../../config/config-schema.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { LAYOUTS, resolveSqlMigrations } from '../../engines/sql/project.js';
import type { MigrationStatus } from '../../engines/sql/integrity.js';
import { discover, migrateDown, migrateUp, migrationStatus, type RunOutcome, type RunSettings, type SqlMigrations } from '../../engines/sql/migrator.js';
import { planScript } from '../../engines/sql/execute.js';
import { loadParser } from '../../engines/sql/sql-script.js';
import { DriftGuardError } from '../../errors.js';
import { hasErrors, type Finding } from '../../report/finding.js';
import { renderFindingText } from '../../report/render-text.js';
import { registerConnectionString } from '../../util/secrets.js';
import type { CommandContext } from '../context.js';
import { formatMs, migrationProgress } from '../migration-progress.js';

export interface SqlCommandOptions {
  readonly databaseUrl?: string | undefined;
  readonly dir?: string | undefined;
  readonly layout?: SqlLayoutSetting | undefined;
  readonly format: 'text' | 'json';
}

export async function migrateCommand(context: CommandContext, options: SqlCommandOptions & { to?: string; dryRun?: boolean }): Promise<number> {
  const { project, settings, progress } = prepare(context, options);
  try {
    const outcome = await migrateUp(project, settings, { target: options.to, dryRun: options.dryRun === true });
    return finish(context, options.format, outcome, 'up');
  } finally {
    progress.stop();
  }
}

export async function rollbackCommand(context: CommandContext, options: SqlCommandOptions & { steps?: number; to?: string; dryRun?: boolean }): Promise<number> {
  if (options.steps !== undefined && options.to !== undefined) throw new DriftGuardError('USAGE', 'rollback takes --steps or --to, not both');
  const { project, settings, progress } = prepare(context, options);
  try {
    const outcome = await migrateDown(project, settings, { steps: options.steps, target: options.to, dryRun: options.dryRun === true });
    return finish(context, options.format, outcome, 'down');
  } finally {
    progress.stop();
  }
}

export async function statusCommand(context: CommandContext, options: SqlCommandOptions): Promise<number> {
  const loaded = context.config();
  const project = resolveSqlMigrations(loaded, context.cwd, options);
  const databaseUrl = resolveDatabaseUrl(loaded, context.env, options.databaseUrl);
  const status = await migrationStatus(project, { databaseUrl, allowOutOfOrder: loaded.config.sql['allow-out-of-order'] });
  const t = context.terminal;
  if (options.format === 'json') {
    t.out(
      JSON.stringify(
        { layout: project.layout.name, dir: path.relative(context.cwd, project.dir) || '.', historyTable: project.layout.historyTable, migrations: status.statuses, findings: status.findings },
        null,
        2,
      ),
    );
  } else {
    t.out(`${path.relative(context.cwd, project.dir) || '.'} (${project.layout.name}, history in ${project.layout.historyTable})`);
    t.out(renderStatusTable(status.statuses, t));
    const counts = countStates(status.statuses);
    t.out(Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(', ') || 'no migrations');
    for (const finding of status.findings) t.out(renderFindingText(finding, t));
  }
  return hasErrors(status.findings) ? 1 : 0;
}

export function newCommand(context: CommandContext, name: string, options: Pick<SqlCommandOptions, 'dir' | 'layout'>): number {
  if (!/[A-Za-z0-9]/.test(name)) throw new DriftGuardError('USAGE', `"${name}" is not a usable migration name; use letters and digits, e.g. add_orders`);
  const loaded = context.config();
  const project = resolveForNew(loaded, context.cwd, options);
  const existing = existsSync(project.dir) ? discover(project).migrations : [];
  const files = project.layout.newMigration(project.dir, name, existing, new Date());
  for (const file of files) {
    if (existsSync(file.path)) throw new DriftGuardError('USAGE', `${path.relative(context.cwd, file.path)} already exists; wait a second or pick another name`);
  }
  for (const file of files) {
    mkdirSync(path.dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.content, { flag: 'wx' });
    context.terminal.out(`created ${path.relative(context.cwd, file.path)}`);
  }
  return 0;
}

export async function scriptCommand(context: CommandContext, options: Pick<SqlCommandOptions, 'dir' | 'layout'> & { from?: string; to?: string }): Promise<number> {
  await loadParser();
  const loaded = context.config();
  const project = resolveSqlMigrations(loaded, context.cwd, options);
  const { migrations, problems } = discover(project);
  const { layout } = project;
  const selected = migrations.filter(
    (m) =>
      m.kind === 'versioned' &&
      (options.from === undefined || layout.compareVersions(m.version, options.from) > 0) &&
      (options.to === undefined || layout.compareVersions(m.version, options.to) <= 0),
  );
  const t = context.terminal;
  for (const problem of problems) t.err(renderFindingText(problem, t));
  t.out(`-- drift-guard script: ${selected.length} migration(s) from ${path.relative(context.cwd, project.dir) || '.'} (${layout.name})`);
  for (const migration of selected) {
    const plan = planScript(migration.up);
    t.out(`\n-- ${migration.up.file} (version ${migration.version})`);
    if (plan.outsideTransaction === undefined) t.out('BEGIN;');
    else t.out(`-- runs outside a transaction: ${plan.outsideTransaction}`);
    for (const statement of plan.statements) t.out(`${statement.text};`);
    t.out(`-- then: record version ${migration.version} in ${layout.historyTable}, as ${layout.name} does`);
    if (plan.outsideTransaction === undefined) t.out('COMMIT;');
  }
  return hasErrors(problems) ? 1 : 0;
}

function prepare(context: CommandContext, options: SqlCommandOptions): { project: SqlMigrations; settings: RunSettings; progress: ReturnType<typeof migrationProgress> } {
  const loaded = context.config();
  const project = resolveSqlMigrations(loaded, context.cwd, options);
  const databaseUrl = resolveDatabaseUrl(loaded, context.env, options.databaseUrl);
  const progress = migrationProgress(context.terminal, options.format);
  const settings: RunSettings = {
    databaseUrl,
    reporter: context.terminal.reporter(),
    lockTimeoutMs: loaded.config.sql['lock-timeout'] * 1000,
    allowOutOfOrder: loaded.config.sql['allow-out-of-order'],
    onEvent: (event) => progress.onEvent(event),
  };
  return { project, settings, progress };
}

function finish(context: CommandContext, format: 'text' | 'json', outcome: RunOutcome, direction: 'up' | 'down'): number {
  const t = context.terminal;
  if (format === 'json') {
    t.out(JSON.stringify({ event: 'summary', ok: outcome.ok, results: outcome.results, findings: outcome.findings }));
  } else {
    for (const finding of outcome.findings) t.out(renderFindingText(finding, t));
    const done = outcome.results.filter((r) => r.status === 'applied' || r.status === 'rolled-back');
    const failed = outcome.results.find((r) => r.status === 'failed');
    if (failed !== undefined) {
      const rest = outcome.results.filter((r) => r.status === 'not-executed').length;
      t.out(
        `${failed.migration} failed${failed.outsideTransaction === undefined ? ' and was rolled back: nothing of it stayed applied' : ''}; ${done.length} ${direction === 'up' ? 'applied' : 'rolled back'} before it, ${rest} not run`,
      );
    } else if (done.length > 0) {
      const total = done.reduce((sum, r) => sum + (r.ms ?? 0), 0);
      t.out(`${direction === 'up' ? 'applied' : 'rolled back'} ${done.length} migration${done.length === 1 ? '' : 's'} in ${formatMs(total)}`);
    }
  }
  return outcome.ok && !hasErrors(outcome.findings) ? 0 : 1;
}

/** --database-url, else the variable named by database.url-env (DATABASE_URL). */
export function resolveDatabaseUrl(loaded: LoadedConfig, env: NodeJS.ProcessEnv, flag: string | undefined): string {
  const url = flag ?? env[loaded.config.database['url-env']];
  if (url === undefined || url.trim() === '') {
    const name = loaded.config.database['url-env'];
    throw new DriftGuardError('USAGE', `no database to work on: pass --database-url or set ${name} (database.url-env)`);
  }
  registerConnectionString(url);
  return url.trim();
}

function resolveForNew(loaded: LoadedConfig, cwd: string, options: Pick<SqlCommandOptions, 'dir' | 'layout'>): SqlMigrations {
  const layoutSetting = options.layout ?? loaded.config.sql.layout;
  try {
    return resolveSqlMigrations(loaded, cwd, options, { mayBeEmpty: true });
  } catch (error) {
    // An empty or new directory has no layout to detect: the user must name one.
    if (layoutSetting === 'auto' && error instanceof DriftGuardError && /no migrations recognised|does not exist/.test(error.message)) {
      throw new DriftGuardError('USAGE', `cannot tell which tool this directory is for; pass --layout (${Object.keys(LAYOUTS).join(', ')}) or set sql.layout`);
    }
    throw error;
  }
}

function renderStatusTable(statuses: readonly MigrationStatus[], t: CommandContext['terminal']): string {
  const rows = statuses.map((s) => [
    s.kind === 'repeatable' ? '(repeatable)' : s.version,
    s.description,
    s.state,
    s.appliedAt === undefined ? '' : s.appliedAt.toISOString().replace('T', ' ').slice(0, 19),
  ]);
  const header = ['version', 'description', 'state', 'applied at'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const colour = (state: string): string =>
    state === 'applied' ? t.style('green', state) : state === 'pending' ? t.style('yellow', state) : state === 'out-of-order' || state === 'changed' || state === 'missing' || state === 'failed' ? t.style('red', state) : state;
  const line = (r: string[], styleState: boolean): string =>
    r.map((cell, i) => (i === 2 && styleState ? colour(cell) + ' '.repeat(widths[i]! - cell.length) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [t.style('dim', line(header, false)), ...rows.map((r) => line(r, true))].join('\n');
}

function countStates(statuses: readonly MigrationStatus[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of statuses) counts[s.state] = (counts[s.state] ?? 0) + 1;
  return counts;
}

export type { Finding };
