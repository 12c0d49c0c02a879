// `drift-guard scratch -- <command>`: runs a command against a throwaway database (DATABASE_URL
// and the libpq PG* variables set), then drops the database and stops the server. Exits with the
// command's exit code.

import { spawn } from 'node:child_process';
import { DriftGuardError } from '../../errors.js';
import { postgresOptionsFromConfig } from '../../postgres/options-from-config.js';
import { withScratchDatabase } from '../../postgres/scratch.js';
import { registerCleanup } from '../../util/cleanup.js';
import type { CommandContext } from '../context.js';
import { libpqEnvironment } from '../../postgres/libpq-env.js';

export async function scratchCommand(context: CommandContext, command: readonly string[]): Promise<number> {
  const [program, ...args] = command;
  if (program === undefined) {
    throw new DriftGuardError('USAGE', 'scratch needs a command to run, e.g. drift-guard scratch -- psql -c "select version()"');
  }
  const reporter = context.terminal.reporter();
  const options = postgresOptionsFromConfig(context.config(), context.env, reporter);
  return withScratchDatabase(options, async (db) => {
    reporter.info(`scratch database ${db.displayUrl}`);
    return runChild(program, args, { ...context.env, DATABASE_URL: db.url, ...libpqEnvironment(db.url) });
  });
}

function runChild(program: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: 'inherit', env });
    const exited = new Promise<void>((done) => child.on('exit', () => done()));
    // On SIGTERM/SIGINT the command is stopped before its database is dropped.
    const release = registerCleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((done) => setTimeout(done, 5_000).unref())]);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      release();
      reject(
        error.code === 'ENOENT'
          ? new DriftGuardError('USAGE', `scratch: cannot run "${program}": command not found on PATH`)
          : new DriftGuardError('USAGE', `scratch: cannot run "${program}": ${error.message}`),
      );
    });
    child.on('exit', (code, signal) => {
      release();
      resolve(code ?? 128 + signalNumber(signal));
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return (signal === null ? undefined : numbers[signal]) ?? 1;
}
