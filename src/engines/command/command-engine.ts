// engine: command - the project's own migration commands behind the Engine interface. Each runs in
// a shell at the project root with DATABASE_URL and libpq's PG* variables pointing at the target.

import { spawn } from 'node:child_process';
import type { LoadedConfig } from '../../config/load-config.js';
import { DriftGuardError } from '../../errors.js';
import type { Finding } from '../../report/finding.js';
import { maskSecrets } from '../../util/secrets.js';
import { libpqEnvironment } from '../../postgres/libpq-env.js';
import type { Reporter } from '../../util/reporter.js';
import type { Engine } from '../engine.js';
import { projectRoot } from '../sql/project.js';
import { commandGateFiles } from './command-gate.js';
import { trackChild } from '../../util/child-process.js';

export function commandEngine(loaded: LoadedConfig, cwd: string, env: NodeJS.ProcessEnv): Engine {
  const config = loaded.config.command;
  const root = projectRoot(loaded, cwd);
  const required = (key: 'apply' | 'rollback' | 'model-check'): string => {
    const command = config[key];
    if (command === undefined) throw new DriftGuardError('USAGE', `engine: command needs command.${key} in .drift-guard.yml for this`);
    return command;
  };
  const exec = (command: string, databaseUrl: string | undefined, reporter: Reporter, extra: Record<string, string> = {}): Promise<{ code: number; output: string }> =>
    runShell(command, root, { ...env, ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl, ...libpqEnvironment(databaseUrl) }), ...extra }, (line) => reporter.info(`  | ${maskSecrets(line)}`));
  const failure = (what: string, result: { code: number; output: string }): Finding => ({
    check: 'apply',
    code: 'APPLY_FAILED',
    severity: 'error',
    message: `${what} exited with ${result.code}: ${maskSecrets(result.output.trim().split('\n').slice(-3).join(' / ')) || 'no output'}`,
  });

  return {
    name: 'command',
    capabilities: { rollback: config.rollback !== undefined, modelCheck: config['model-check'] !== undefined, history: false, granularity: 'batch' },
    gate: commandGateFiles({ loaded, cwd, root, relocated: (other, at) => commandEngine(other, at, env) }),
    location: root,
    details: { apply: config.apply ?? '(not set)', rollback: config.rollback ?? '(not set)', 'model-check': config['model-check'] ?? '(not set)' },
    async migrate(context, options) {
      if (options.dryRun === true) throw new DriftGuardError('USAGE', 'engine: command cannot do a dry run');
      if (options.target !== undefined) throw new DriftGuardError('USAGE', 'engine: command applies every migration (command.apply); drop --to');
      const result = await exec(required('apply'), context.databaseUrl, context.reporter);
      return result.code === 0 ? { ok: true, results: [], findings: [] } : { ok: false, results: [], findings: [failure(`command.apply (${config.apply})`, result)] };
    },
    async rollback(context, options) {
      if (options.steps !== undefined || options.target === undefined) throw new DriftGuardError('USAGE', 'drift-guard rollback with engine: command needs a target: pass --to <migration id> (0: all)');
      if (options.dryRun === true) throw new DriftGuardError('USAGE', 'engine: command cannot do a dry run');
      const target = options.target;
      const result = await exec(required('rollback'), context.databaseUrl, context.reporter, { DRIFT_GUARD_TARGET: target, DRIFT_GUARD_TARGET_VERSION: target.split('_')[0] ?? target });
      return result.code === 0 ? { ok: true, results: [], findings: [] } : { ok: false, results: [], findings: [failure(`command.rollback (${config.rollback})`, result)] };
    },
    async status() {
      throw new DriftGuardError('USAGE', 'engine: command has no status; run your tool');
    },
    async create() {
      throw new DriftGuardError('USAGE', 'engine: command cannot create migrations; run your tool');
    },
    async script() {
      throw new DriftGuardError('USAGE', 'engine: command cannot script migrations; run your tool');
    },
    async checkModel(reporter) {
      const result = await exec(required('model-check'), undefined, reporter);
      if (result.code === 0) return [];
      if (result.code === 1) {
        return [{ check: 'model', code: 'MODEL_PENDING_CHANGES', severity: 'error', message: `command.model-check (${config['model-check']}) reports that the model changed since the last migration: ${maskSecrets(result.output.trim().split('\n').slice(-2).join(' / '))}` }];
      }
      throw new DriftGuardError('TOOL_MISSING', `command.model-check failed with exit code ${result.code}: ${maskSecrets(result.output.trim().split('\n').slice(-3).join(' / '))}`);
    },
  };
}

/** Runs a shell command, handing each line of its output (stdout and stderr) to onLine as it comes. */
function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv, onLine: (line: string) => void): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that the command's own children end with drift-guard too.
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    void trackChild(child, { group: true });
    let output = '';
    const pending = { stdout: '', stderr: '' };
    const take = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      const lines = (pending[stream] + text).split('\n');
      pending[stream] = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.on('data', take('stdout'));
    child.stderr.on('data', take('stderr'));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const rest of [pending.stdout, pending.stderr]) if (rest !== '') onLine(rest);
      resolve({ code: code ?? (signal === null ? 1 : 128), output });
    });
  });
}
