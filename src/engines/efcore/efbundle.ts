// Applies migrations with an EF Core migration bundle (`dotnet ef migrations bundle` -> efbundle),
// the artefact EF teams ship to production. The connection reaches the bundle's app the way it
// reaches dotnet ef: through the variables it reads (efcore.connection-env) and --connection
// written without the password (Npgsql reads PGPASSWORD); never a password on the command line.

import { trackChild } from '../../util/child-process.js';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { DriftGuardError } from '../../errors.js';
import type { Finding } from '../../report/finding.js';
import type { Reporter } from '../../util/reporter.js';
import { maskSecrets } from '../../util/secrets.js';
import type { MigrationEvent, MigrationResult, RunOutcome } from '../sql/migrator.js';
import { connectionEnvironment, npgsqlConnectionString, type ConnectionVariable } from './dotnet-ef.js';

export interface BundleRun {
  /** The bundle executable (absolute or relative to cwd). */
  readonly bundle: string;
  readonly cwd: string;
  readonly databaseUrl: string;
  readonly connectionEnv: readonly ConnectionVariable[];
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  /** A migration id to stop at (or 0); default: the bundle's last. */
  readonly target?: string | undefined;
  readonly onEvent?: ((event: MigrationEvent) => void) | undefined;
}

/** Checks that the bundle exists and can be run, before anything touches production. */
export function resolveBundle(bundle: string, cwd: string): string {
  const full = path.resolve(cwd, bundle);
  if (!existsSync(full)) throw new DriftGuardError('USAGE', `--bundle ${bundle}: no such file (build it with dotnet ef migrations bundle)`);
  const stat = statSync(full);
  if (!stat.isFile() || (stat.mode & 0o111) === 0) throw new DriftGuardError('USAGE', `--bundle ${bundle} is not an executable file (chmod +x it, or rebuild it with dotnet ef migrations bundle)`);
  return full;
}

/** Runs the bundle; one result per "Applying migration" line, APPLY_FAILED with EF's words on failure. */
export async function runBundle(run: BundleRun): Promise<RunOutcome> {
  const bundle = resolveBundle(run.bundle, run.cwd);
  const args = [...(run.target === undefined ? [] : [run.target]), '--connection', npgsqlConnectionString(run.databaseUrl, { password: false }), '--prefix-output', '--no-color'];
  const env = { ...run.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1', ...connectionEnvironment(run.connectionEnv, run.databaseUrl) };
  const emit = run.onEvent ?? (() => undefined);
  const results: MigrationResult[] = [];
  const errors: string[] = [];
  let current: { id: string; index: number; started: number } | undefined;
  const finishCurrent = (): void => {
    if (current === undefined) return;
    const ms = performance.now() - current.started;
    emit({ event: 'done', direction: 'up', index: current.index, total: 0, migration: current.id, version: current.id, ms });
    results.push({ migration: current.id, version: current.id, direction: 'up', status: 'applied', ms });
    current = undefined;
  };
  const started = performance.now();
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(bundle, args, { cwd: run.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    void trackChild(child, { group: true });
    let pending = '';
    const take = (chunk: Buffer): void => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const raw of lines) {
        const line = raw.replace(/\r$/, '');
        const text = line.replace(/^(?:info|data|warn|error|verbose):\s+/, '');
        if (line.startsWith('error:')) errors.push(text);
        const match = /^(?:Applying|Reverting) migration '([^']+)'/.exec(text);
        if (match === null) continue;
        finishCurrent();
        current = { id: match[1]!, index: results.length + 1, started: performance.now() };
        emit({ event: 'start', direction: 'up', index: current.index, total: 0, migration: current.id, version: current.id, transaction: true });
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const stop = (): void => {
      child.kill('SIGTERM');
    };
    process.once('exit', stop);
    child.on('error', (error) => {
      process.off('exit', stop);
      reject(new DriftGuardError('TOOL_MISSING', `cannot run the bundle ${run.bundle}: ${error.message}`));
    });
    child.on('close', (exit) => {
      process.off('exit', stop);
      resolve(exit ?? 1);
    });
  });
  run.reporter.info(`${path.basename(bundle)}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (code === 0) {
    finishCurrent();
    return { ok: true, results, findings: [] };
  }
  const failedId = current?.id ?? run.target ?? '(bundle)';
  const sqlState = errors.filter((line) => /^[0-9A-Z]{5}: /.test(line.trim()));
  const text = maskSecrets((sqlState.at(-1) ?? errors.slice(-3).join(' / ')) || `exit code ${code}`);
  const finding: Finding = { check: 'apply', code: 'APPLY_FAILED', severity: 'error', message: `the migration bundle failed${current === undefined ? '' : ` in ${current.id}`}: ${text}` };
  emit({ event: 'failed', direction: 'up', index: results.length + 1, total: 0, migration: failedId, version: failedId, ms: 0, finding, statementsApplied: 0 });
  results.push({ migration: failedId, version: failedId, direction: 'up', status: 'failed' });
  return { ok: false, results, findings: [finding] };
}
