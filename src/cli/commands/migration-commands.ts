// migrate, status, rollback, new, script: the SQL engine's commands. Each resolves the directory,
// layout and database from flags and config, calls the engine, and renders its result.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SqlLayoutSetting } from '../../config/config-schema.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { createEngine } from '../../engines/create-engine.js';
import type { Engine, RunContext } from '../../engines/engine.js';
import { LAYOUTS, projectRoot } from '../../engines/sql/project.js';
import type { MigrationBody } from '../../engines/sql/layout.js';
import type { MigrationStatus } from '../../engines/sql/integrity.js';
import type { RunOutcome } from '../../engines/sql/migrator.js';
import { productionTarget } from '../../ops/production.js';
import { postgresOptionsFromConfig } from '../../postgres/options-from-config.js';
import { DriftGuardError } from '../../errors.js';
import { hasErrors, type Finding } from '../../report/finding.js';
import { renderFindingText } from '../../report/render-text.js';
import { diffSchemas } from '../../schema/diff.js';
import type { SchemaModel } from '../../schema/model.js';
import { loadSchemas, parseSource, type SchemaSource } from '../../schema/sources.js';
import { registerConnectionString } from '../../util/secrets.js';
import type { CommandContext } from '../context.js';
import { formatMs, jsonText, migrationProgress } from '../migration-progress.js';
import { assertConnectionUrl } from '../../postgres/connection-url.js';

export interface SqlCommandOptions {
  readonly databaseUrl?: string | undefined;
  /** status: the production database (production.url-env) instead. */
  readonly production?: boolean | undefined;
  readonly dir?: string | undefined;
  readonly layout?: SqlLayoutSetting | undefined;
  readonly format: 'text' | 'json';
}

export async function migrateCommand(context: CommandContext, options: SqlCommandOptions & { to?: string; dryRun?: boolean }): Promise<number> {
  const { engine, run, progress } = prepare(context, options);
  try {
    const outcome = await engine.migrate(run, { target: options.to, dryRun: options.dryRun === true });
    return finish(context, options.format, outcome, 'up');
  } finally {
    progress.stop();
  }
}

export async function rollbackCommand(context: CommandContext, options: SqlCommandOptions & { steps?: number; to?: string; dryRun?: boolean }): Promise<number> {
  if (options.steps !== undefined && options.to !== undefined) throw new DriftGuardError('USAGE', 'rollback takes --steps or --to, not both');
  const { engine, run, progress } = prepare(context, options);
  try {
    const outcome = await engine.rollback(run, { steps: options.steps, target: options.to, dryRun: options.dryRun === true });
    return finish(context, options.format, outcome, 'down');
  } finally {
    progress.stop();
  }
}

export async function statusCommand(context: CommandContext, options: SqlCommandOptions & { exitCode?: boolean }): Promise<number> {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const engine = createEngine({ loaded, cwd: context.cwd, env: context.env, reporter, dir: options.dir, layout: options.layout });
  const databaseUrl = options.production === true ? productionTarget(loaded, context.env).url : resolveDatabaseUrl(loaded, context.env, options.databaseUrl);
  const status = await engine.status({ databaseUrl, reporter });
  const t = context.terminal;
  if (options.format === 'json') {
    t.out(jsonText({ engine: engine.name, location: engine.location, ...engine.details, migrations: status.statuses, findings: status.findings }, { pretty: true }));
  } else {
    const facts = Object.entries(engine.details).map(([key, value]) => `${inWords(key)} ${value}`).join(', ');
    t.out(`${engine.location} (${engine.name === 'sql' ? 'SQL' : 'EF Core'}: ${facts})`);
    t.out(renderStatusTable(status.statuses, t));
    const counts = countStates(status.statuses);
    t.out(Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(', ') || 'no migrations');
    for (const finding of status.findings) t.out(renderFindingText(finding, t));
  }
  const pending = status.statuses.some((s) => s.state === 'pending');
  return hasErrors(status.findings) || (options.exitCode === true && pending) ? 1 : 0;
}

/** A details key as words for people: historyTable -> "history table", model-check -> "model check". */
function inWords(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/-/g, ' ').toLowerCase();
}

export async function newCommand(context: CommandContext, name: string, options: Pick<SqlCommandOptions, 'dir' | 'layout'>): Promise<number> {
  if (!/[A-Za-z0-9]/.test(name)) throw new DriftGuardError('USAGE', `"${name}" is not a usable migration name; use letters and digits, e.g. add_orders`);
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const engine = engineForNew(loaded, context, options);
  const body = engine.name === 'sql' ? await fromSchemaFile(context, engine.location) : undefined;
  for (const file of await engine.create(name, reporter, body)) context.terminal.out(`created ${file}`);
  if (body !== undefined) {
    const t = context.terminal;
    if (body.up.length === 0) t.err(`${loaded.config.sql['schema-file']} matches the migrations: the new migration is empty`);
    else t.out(`\n${t.style('bold', `generated from ${loaded.config.sql['schema-file']}; review it before applying:`)}\n${body.up.join('\n')}`);
  }
  return 0;
}

/**
 * With sql.schema-file (a declarative schema the developer edits), the new migration's SQL is
 * the diff from what the migrations produce to that file, and its down SQL the reverse.
 */
async function fromSchemaFile(context: CommandContext, migrationsDir: string): Promise<MigrationBody | undefined> {
  const loaded = context.config();
  const configured = loaded.config.sql['schema-file'];
  if (configured === undefined) return undefined;
  const file = path.resolve(projectRoot(loaded, context.cwd), configured);
  if (!existsSync(file)) return undefined;
  const reporter = context.terminal.reporter();
  const migrations = path.resolve(context.cwd, migrationsDir);
  const sources = [existsSync(migrations) ? parseSource(migrations, context.cwd) : undefined, parseSource(file, context.cwd)];
  const sourceContext = { loaded, cwd: context.cwd, env: context.env, reporter, postgres: postgresOptionsFromConfig(loaded, context.env, reporter) };
  const present = sources.filter((s): s is SchemaSource => s !== undefined);
  const models = await loadSchemas(present, sourceContext);
  const wanted = models.at(-1)!;
  const current: SchemaModel = present.length === 2 ? models[0]! : { objects: new Map(), dependencies: new Map(), unsupported: [], serverVersionNum: wanted.serverVersionNum };
  const up = diffSchemas(current, wanted);
  if (up.unsupported.length > 0) throw new DriftGuardError('USAGE', `cannot generate the migration from ${configured}: ${up.unsupported.join('; ')}; write it by hand`);
  return { up: up.statements, down: diffSchemas(wanted, current).statements };
}

export async function scriptCommand(context: CommandContext, options: Pick<SqlCommandOptions, 'dir' | 'layout'> & { from?: string; to?: string; idempotent?: boolean }): Promise<number> {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const engine = createEngine({ loaded, cwd: context.cwd, env: context.env, reporter, dir: options.dir, layout: options.layout });
  context.terminal.out(await engine.script({ from: options.from, to: options.to, idempotent: options.idempotent === true }, reporter));
  return 0;
}

/** has-pending-model-changes (and with --compare, migrations vs model in scratch databases). */
export async function modelCheckCommand(context: CommandContext, options: { compare: boolean; format: 'text' | 'json' }): Promise<number> {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const engine = createEngine({ loaded, cwd: context.cwd, env: context.env, reporter, postgres: postgresOptionsFromConfig(loaded, context.env, reporter) });
  if (engine.checkModel === undefined || !engine.capabilities.modelCheck) {
    throw new DriftGuardError('USAGE', `the ${engine.name} engine has no model to check against the migrations (engine: efcore has one)`);
  }
  const findings = await engine.checkModel(reporter, { secondOpinion: options.compare });
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify({ ok: !hasErrors(findings), findings }, null, 2));
  else if (findings.length === 0) t.out(`the model matches the migrations${options.compare ? ' (and applying them produces it)' : ''}`);
  else for (const finding of findings) t.out(renderFindingText(finding, t));
  return hasErrors(findings) ? 1 : 0;
}

function prepare(context: CommandContext, options: SqlCommandOptions): { engine: Engine; run: RunContext; progress: ReturnType<typeof migrationProgress> } {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const engine = createEngine({ loaded, cwd: context.cwd, env: context.env, reporter, dir: options.dir, layout: options.layout });
  const databaseUrl = resolveDatabaseUrl(loaded, context.env, options.databaseUrl);
  const progress = migrationProgress(context.terminal, options.format);
  return { engine, run: { databaseUrl, reporter, onEvent: (event) => progress.onEvent(event) }, progress };
}

function finish(context: CommandContext, format: 'text' | 'json', outcome: RunOutcome, direction: 'up' | 'down'): number {
  const t = context.terminal;
  if (format === 'json') {
    t.out(jsonText({ event: 'summary', ok: outcome.ok, results: outcome.results, findings: outcome.findings }));
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
  assertConnectionUrl(url.trim(), flag === undefined ? loaded.config.database['url-env'] : '--database-url');
  registerConnectionString(url);
  return url.trim();
}

function engineForNew(loaded: LoadedConfig, context: CommandContext, options: Pick<SqlCommandOptions, 'dir' | 'layout'>): Engine {
  const layoutSetting = options.layout ?? loaded.config.sql.layout;
  try {
    return createEngine({ loaded, cwd: context.cwd, env: context.env, reporter: context.terminal.reporter(), dir: options.dir, layout: options.layout, mayBeEmpty: true });
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
