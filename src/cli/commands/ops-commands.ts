// Production commands: drift, deploy, backup, restore, baseline; reset for development; init. The production URL
// only ever comes from the environment variable production.url-env names.

import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../engines/sql/project.js';
import { DriftGuardError } from '../../errors.js';
import { assertBackupDirUsable, backupDatabase, checkBackupFile, restoreBackup } from '../../ops/backup.js';
import { runDeploy, type DeployRecord } from '../../ops/deploy.js';
import { runDrift } from '../../ops/drift.js';
import { runBaseline } from '../../ops/baseline.js';
import { initProject } from '../../ops/init.js';
import { resetDatabase } from '../../ops/reset.js';
import { hasErrors } from '../../report/finding.js';
import { productionTarget, type ProductionRun, type ProductionTarget } from '../../ops/production.js';
import { formatTableSize, readProductionStats } from '../../ops/stats.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { postgresOptionsFromConfig } from '../../postgres/options-from-config.js';
import { renderDriftMarkdown, renderDriftText } from '../../report/render-drift.js';
import { renderFindingText } from '../../report/render-text.js';
import { registerConnectionString } from '../../util/secrets.js';
import type { CommandContext } from '../context.js';
import { resolveDatabaseUrl } from './migration-commands.js';

/** The config, production (from its variable) and scratch servers, for drift and deploy. */
function productionRun(context: CommandContext): ProductionRun {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  return { loaded, cwd: context.cwd, env: context.env, reporter, postgres: postgresOptionsFromConfig(loaded, context.env, reporter), production: productionTarget(loaded, context.env) };
}

export async function driftCommand(context: CommandContext, options: { format: 'text' | 'markdown' | 'json'; modelCheck: boolean }): Promise<number> {
  const result = await runDrift({ ...productionRun(context), skipModelCheck: !options.modelCheck });
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify(result, null, 2));
  else if (options.format === 'markdown') t.out(renderDriftMarkdown(result));
  else t.out(renderDriftText(result, t));
  return result.verdict === 'drift' ? 1 : 0;
}

/** --yes or CONFIRM=YES in automation; on a terminal, the word YES typed in; otherwise a refusal. */
function confirmation(context: CommandContext, yes: boolean, what: string): (question: string) => Promise<boolean> {
  if (yes || context.env.CONFIRM === 'YES') return async () => true;
  return async (question) => {
    const answer = await context.terminal.ask(question);
    if (answer === undefined) throw new DriftGuardError('USAGE', `${what} needs a confirmation: type YES on a terminal, or pass --yes (CONFIRM=YES) in automation`);
    return answer.trim() === 'YES';
  };
}

export async function deployCommand(
  context: CommandContext,
  options: { yes: boolean; allowDrift: boolean; rollbackOnFailure: boolean; backupDir?: string; keep?: number; healthUrl: string[]; bundle?: string | undefined; format: 'text' | 'json' },
): Promise<number> {
  const run = productionRun(context);
  const settings = run.loaded.config.production;
  const backupDir = path.resolve(projectRoot(run.loaded, context.cwd), options.backupDir ?? settings['backup-dir']);
  assertBackupDirUsable(backupDir);
  const record = await runDeploy({
    ...run,
    confirm: confirmation(context, options.yes, 'deploy'),
    allowDrift: options.allowDrift,
    rollbackOnFailure: options.rollbackOnFailure,
    bundle: options.bundle,
    backupDir,
    keep: options.keep ?? settings.keep,
    lockTimeoutMs: settings['lock-timeout'] * 1000,
    statementLockTimeoutMs: Math.round(settings['lock-timeout-statement'] * 1000),
    lockRetries: settings['lock-retries'],
    health: {
      urls: [...settings['health-urls'], ...options.healthUrl],
      sql: settings['health-sql'],
      timeoutMs: settings['health-timeout'] * 1000,
      retries: settings['health-retries'],
      intervalMs: settings['health-interval'] * 1000,
    },
  });
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify(record, null, 2));
  else t.out(renderDeployText(record, t));
  return record.outcome === 'deployed' || record.outcome === 'nothing-to-deploy' ? 0 : 1;
}

function renderDeployText(record: DeployRecord, t: CommandContext['terminal']): string {
  const lines: string[] = [];
  const ok = record.outcome === 'deployed' || record.outcome === 'nothing-to-deploy';
  const headline: Record<DeployRecord['outcome'], string> = {
    deployed: `deployed ${record.applied.length} migration(s) to ${record.production}: ${record.applied.join(', ') || '(the tool applied what it had)'}`,
    'nothing-to-deploy': `nothing to deploy: ${record.production} has every migration`,
    stopped: `deploy stopped, nothing was applied: ${record.error ?? ''}`,
    'failed-after-apply':
      record.applied.length === 0
        ? `DEPLOY FAILED before any migration completed (none is recorded as applied): ${record.error ?? ''}. A migration that runs in a transaction was rolled back with it; run drift-guard drift to see whether production changed before restoring anything`
        : `DEPLOY FAILED after applying ${record.applied.length} migration(s) (${record.applied.join(', ')}): ${record.error ?? ''}`,
    'rolled-back': `DEPLOY FAILED and was rolled back to ${record.previous ?? 'an empty history'}: ${record.error ?? ''}`,
  };
  lines.push(t.style(ok ? 'green' : 'red', headline[record.outcome]));
  for (const finding of record.findings.filter((f) => f.severity !== 'notice')) lines.push(renderFindingText(finding, t));
  if (record.backup !== undefined) lines.push(`backup: ${record.backup.file} (sha256 ${record.backup.sha256})`);
  for (const check of record.health) lines.push(`health: ${check.target}: ${check.ok ? 'ok' : 'FAILED'} (${check.detail})`);
  if (!ok && record.restoreCommand !== undefined) {
    lines.push('', t.style('bold', record.applied.length === 0 && record.outcome === 'failed-after-apply' ? 'if drift shows that production changed, restore the backup taken before this deploy:' : 'to restore the backup taken before this deploy:'), `  ${record.restoreCommand}`);
    if (record.rollbackCommand !== undefined && record.outcome !== 'rolled-back') lines.push(t.style('bold', 'or to roll back the migrations:'), `  ${record.rollbackCommand}`);
  }
  if (record.recordFile !== undefined) lines.push(t.style('dim', `deploy record: ${record.recordFile}`));
  lines.push(t.style('dim', record.timings.map((p) => `${p.phase} ${(p.ms / 1000).toFixed(1)}s`).join(' · ')));
  return lines.join('\n');
}

export async function backupCommand(context: CommandContext, options: { backupDir?: string; keep?: number; format: 'text' | 'json' }): Promise<number> {
  const loaded = context.config();
  const production = productionTarget(loaded, context.env);
  const dir = path.resolve(projectRoot(loaded, context.cwd), options.backupDir ?? loaded.config.production['backup-dir']);
  const outcome = await context.terminal.reporter().step(`backup ${production.display}`, () =>
    backupDatabase({ url: production.url, dir, keep: options.keep ?? loaded.config.production.keep, env: context.env, reason: 'backup' }),
  );
  if (options.format === 'json') context.terminal.out(JSON.stringify({ path: outcome.path, record: outcome.record, pruned: outcome.pruned }, null, 2));
  else {
    context.terminal.out(`${outcome.path} (${(outcome.record.bytes / 1024 / 1024).toFixed(1)} MiB, ${outcome.record.entries} entries, sha256 ${outcome.record.sha256}); verified with pg_restore --list`);
    for (const pruned of outcome.pruned) context.terminal.out(`deleted the older backup ${pruned}`);
  }
  return 0;
}

export async function restoreCommand(context: CommandContext, file: string, options: { production: boolean; databaseUrl?: string; yes: boolean }): Promise<number> {
  const loaded = context.config();
  const { url, display } = options.production ? productionTarget(loaded, context.env) : databaseTarget(loaded, context.env, options.databaseUrl);
  const backup = path.resolve(context.cwd, file);
  const record = await checkBackupFile(backup);
  const confirmed = await confirmation(context, options.yes, 'restore')(`Restore ${file}${record === undefined ? '' : ` (${record.database}, ${record.createdAt})`} into ${display}, replacing the objects it contains? Type YES to go on: `);
  if (!confirmed) {
    context.terminal.err('not confirmed; nothing was restored');
    return 1;
  }
  const result = await context.terminal.reporter().step(`restore into ${display}`, () => restoreBackup({ file: backup, url, env: context.env, lockTimeoutMs: loaded.config.production['lock-timeout'] * 1000, reporter: context.terminal.reporter() }));
  context.terminal.out(`restored ${file} into ${display} in ${(result.ms / 1000).toFixed(1)}s (one transaction)`);
  return 0;
}

export async function baselineCommand(context: CommandContext, options: { to?: string; production: boolean; databaseUrl?: string; yes: boolean; format: 'text' | 'json' }): Promise<number> {
  const loaded = context.config();
  const reporter = context.terminal.reporter();
  const target = options.production ? productionTarget(loaded, context.env) : databaseTarget(loaded, context.env, options.databaseUrl);
  const result = await runBaseline({
    loaded,
    cwd: context.cwd,
    env: context.env,
    reporter,
    postgres: postgresOptionsFromConfig(loaded, context.env, reporter),
    production: target,
    to: options.to,
    confirm: confirmation(context, options.yes, 'baseline'),
  });
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify(result, null, 2));
  else if (result.outcome === 'recorded') t.out(`recorded ${result.recorded.length} migration(s) as applied in ${result.database}: ${result.recorded.join(', ')}`);
  else if (result.outcome === 'not-confirmed') t.err('not confirmed; nothing was recorded');
  else {
    t.out(t.style('red', `refused: ${result.database} differs from the schema of the migrations up to ${result.to} in ${result.differences.length} place(s); nothing was recorded`));
    for (const change of result.differences) t.out(`  ${change.description}`);
    t.out('make the schemas equal (or choose --to), then run baseline again');
  }
  return result.outcome === 'recorded' ? 0 : 1;
}

/** The development database (--database-url, else database.url-env) as an operation target. */
export function databaseTarget(loaded: LoadedConfig, env: NodeJS.ProcessEnv, flag: string | undefined): ProductionTarget {
  const url = resolveDatabaseUrl(loaded, env, flag);
  return { url, display: registerConnectionString(url), variable: flag === undefined ? loaded.config.database['url-env'] : '--database-url' };
}

export async function resetCommand(context: CommandContext, options: { databaseUrl?: string; force: boolean; format: 'text' | 'json' }): Promise<number> {
  const loaded = context.config();
  const { url, display } = databaseTarget(loaded, context.env, options.databaseUrl);
  const { dropped, outcome } = await resetDatabase({ loaded, cwd: context.cwd, env: context.env, reporter: context.terminal.reporter(), url, display, force: options.force });
  const applied = outcome.results.filter((r) => r.status === 'applied').length;
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify({ dropped, ok: outcome.ok, results: outcome.results, findings: outcome.findings }, null, 2));
  else {
    for (const finding of outcome.findings) t.out(renderFindingText(finding, t));
    t.out(`reset ${display}: dropped ${dropped.length} object(s), applied ${applied} migration(s)`);
  }
  return outcome.ok && !hasErrors(outcome.findings) ? 0 : 1;
}

export async function initCommand(context: CommandContext, options: { projectDir?: string | undefined; migrationsDir?: string | undefined; postgresVersion: number; format: 'text' | 'json' }): Promise<number> {
  const dir = path.resolve(context.cwd, options.projectDir ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DriftGuardError('USAGE', `--project-dir ${options.projectDir}: no such folder`);
  const result = initProject(dir, { postgresVersion: options.postgresVersion, migrationsDir: options.migrationsDir });
  const t = context.terminal;
  if (options.format === 'json') t.out(JSON.stringify(result, null, 2));
  else {
    t.out(`found: ${result.detected}`);
    for (const file of result.created) t.out(`created ${file}`);
    for (const file of result.kept) t.out(`kept ${file} (exists; not changed)`);
    t.out(['next:', ...result.nextSteps.map((step) => `  ${step}`)].join('\n'));
  }
  return 0;
}

/** `drift-guard stats [-o FILE]`: production's table sizes from the catalog (never row data), as JSON. */
export async function statsCommand(context: CommandContext, options: { output?: string }): Promise<number> {
  const loaded = context.config();
  const production = productionTarget(loaded, context.env);
  const stats = await context.terminal.reporter().step(`read table statistics from ${production.display}`, () => readProductionStats(production.url));
  const text = `${JSON.stringify(stats, null, 2)}\n`;
  if (options.output === undefined) context.terminal.out(text.trimEnd());
  else {
    const target = path.resolve(context.cwd, options.output);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, text);
    const largest = [...stats.tables].sort((a, b) => b.bytes - a.bytes)[0];
    context.terminal.reporter().info(`wrote ${options.output}: ${stats.tables.length} table(s)${largest === undefined ? '' : `, the largest ${formatTableSize(largest)}`}`);
  }
  return 0;
}
