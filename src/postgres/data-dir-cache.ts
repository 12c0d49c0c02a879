// initdb is the slowest part of starting a throwaway server (about a second). Each binary version
// gets one initialised data directory in the user's cache, built once, and every run copies it.
// The template is built in a temp dir and renamed into place, so concurrent first runs are safe.
// It is kept as one tar archive: unpacking it takes a quarter of the time copying its thousand
// files does (cp reads each file of the cache's disk and maps a buffer for it).

import { execFile, spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DriftGuardError } from '../errors.js';
import type { Reporter } from '../util/reporter.js';
import { registerSecret } from '../util/secrets.js';
import { cacheRoot } from '../util/cache-root.js';
import type { PostgresInstallation } from './binaries.js';
import { assertReachable, type RunAs } from './run-as.js';
import { trackChild } from '../util/child-process.js';

const execFileAsync = promisify(execFile);
// 2: the data directory as data.tar (format 1 kept it as a directory).
const TEMPLATE_FORMAT = 2;
const TEMPLATE_ARCHIVE = 'data.tar';

/** Options every template is initialised with; part of the cache key. */
// 1 MB WAL segments keep the template (copied on every start) at 24 MB instead of 39 MB.
export const INITDB_ARGS = ['--username=postgres', '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-sync', '--wal-segsize=1'] as const;

export function templateDir(installation: PostgresInstallation, account: RunAs | undefined, env: NodeJS.ProcessEnv): string {
  const key = createHash('sha256')
    .update([TEMPLATE_FORMAT, realpathSync(installation.postgres), installation.version, account?.user ?? '', ...INITDB_ARGS].join('\0'))
    .digest('hex')
    .slice(0, 12);
  return path.join(cacheRoot(env), 'pgdata', `${installation.version}-${key}`);
}

export interface MaterializedDataDir {
  /** The generated superuser password of this data directory (registered as a secret). */
  readonly password: string;
  readonly fromCache: boolean;
}

/** Puts an initialised data directory at `target` (which must not exist), owned by `account`. */
export async function materializeDataDir(
  installation: PostgresInstallation,
  account: RunAs | undefined,
  target: string,
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
): Promise<MaterializedDataDir> {
  const template = templateDir(installation, account, env);
  if (!isComplete(template)) {
    await reporter.step(`initialising a PostgreSQL ${installation.version} data directory (once per version)`, () =>
      buildTemplate(installation, account, template, reporter),
    );
  }
  if (isComplete(template)) {
    try {
      mkdirSync(target, { mode: 0o700 });
      if (account !== undefined) chownSync(target, account.uid, account.gid);
      // -p: modes as stored (PostgreSQL refuses a data directory others may read); owners too when
      // root. -m: no modification times set (PostgreSQL has no use for them).
      await runTar(['-x', '-p', '-m', '-f', path.join(template, TEMPLATE_ARCHIVE), '-C', target]);
      const password = readFileSync(path.join(template, 'password'), 'utf8').trim();
      registerSecret(password);
      return { password, fromCache: true };
    } catch (error) {
      // A damaged template (a truncated archive): built again by the next run, initdb in place now.
      rmSync(target, { recursive: true, force: true });
      rmSync(template, { recursive: true, force: true });
      reporter.warn(`the cached PostgreSQL data directory in ${template} could not be unpacked (${(error as Error).message}); it was removed`);
    }
  }
  // The cache could not be written (read-only home, full disk): initialise in place instead.
  const scratch = await initdb(installation, account);
  renameSync(path.join(scratch.dir, 'data'), target);
  rmSync(scratch.dir, { recursive: true, force: true });
  return { password: scratch.password, fromCache: false };
}

function isComplete(template: string): boolean {
  return existsSync(path.join(template, 'password')) && existsSync(path.join(template, TEMPLATE_ARCHIVE));
}

async function buildTemplate(installation: PostgresInstallation, account: RunAs | undefined, template: string, reporter: Reporter): Promise<void> {
  const built = await initdb(installation, account);
  try {
    await runTar(['-c', '-f', path.join(built.dir, TEMPLATE_ARCHIVE), '-C', path.join(built.dir, 'data'), '.']);
    chmodSync(path.join(built.dir, TEMPLATE_ARCHIVE), 0o600);
    rmSync(path.join(built.dir, 'data'), { recursive: true, force: true });
    // The password last: a template without one is incomplete and never read.
    writeFileSync(path.join(built.dir, 'password'), `${built.password}\n`, { mode: 0o600 });
    mkdirSync(path.dirname(template), { recursive: true });
    try {
      renameSync(built.dir, template);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EXDEV') {
        const partial = `${template}.partial-${process.pid}`;
        await copyTree(built.dir, partial);
        renameSync(partial, template);
      } else if (code !== 'ENOTEMPTY' && code !== 'EEXIST') {
        throw error;
      }
      // ENOTEMPTY/EEXIST: a concurrent run finished first; its template is as good as ours.
    }
  } catch (error) {
    reporter.warn(`cannot cache the PostgreSQL data directory in ${path.dirname(template)} (${(error as Error).message}); every start will run initdb`);
  } finally {
    rmSync(built.dir, { recursive: true, force: true });
  }
}

async function initdb(installation: PostgresInstallation, account: RunAs | undefined): Promise<{ dir: string; password: string }> {
  if (account !== undefined) assertReachable(os.tmpdir(), account);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-initdb-'));
  const password = randomBytes(18).toString('base64url');
  registerSecret(password);
  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (account !== undefined) {
    chownSync(dir, account.uid, account.gid);
    chownSync(pwfile, account.uid, account.gid);
  }
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(installation.initdb, ['-D', path.join(dir, 'data'), `--pwfile=${pwfile}`, ...INITDB_ARGS], {
      cwd: dir,
      env: serverEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(account === undefined ? {} : { uid: account.uid, gid: account.gid }),
    });
    void trackChild(child);
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.on('error', reject);
    child.on('close', resolve);
  }).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw new DriftGuardError('POSTGRES_START_FAILED', `cannot run ${installation.initdb}: ${(error as Error).message}`);
  });
  rmSync(pwfile, { force: true });
  if (code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const reason = output.join('').split('\n').filter((line) => /error|fatal|could not|cannot/i.test(line)).slice(-2).join(' / ');
    throw new DriftGuardError(
      'POSTGRES_START_FAILED',
      `initdb (${installation.origin}) failed with exit code ${String(code)}: ${reason || 'no output'}${account === undefined ? '' : ` (running as ${account.user}: it must be able to read ${installation.binDir})`}`,
    );
  }
  return { dir, password };
}

/**
 * Runs tar (GNU or bsdtar: both read these options); rejects with its first lines of errors.
 * `input`: written to its standard input (a list of names for `-T -`). `background`: tar runs at a
 * lower priority than drift-guard.
 */
export function runTar(args: readonly string[], input?: string, options: { readonly background?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    void trackChild(child);
    if (options.background === true && child.pid !== undefined) {
      // Below drift-guard's own priority: it gets the cores first, tar the time it leaves idle.
      try {
        os.setPriority(child.pid, 10);
      } catch {
        // Not permitted here: tar runs at the same priority.
      }
    }
    if (input !== undefined) {
      // A tar that fails early closes its end: the error is its exit status, not EPIPE here.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input);
    }
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString();
    });
    child.on('error', (error) => reject(new Error(`cannot run tar: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`tar ${args[0]} failed (${signal ?? `exit ${String(code)}`}): ${stderr.trim().split('\n').slice(0, 2).join(' / ') || 'no message'}`));
    });
  });
}

/**
 * Removes a directory tree (a stopped server's run directory). rm(1) removes a data directory's
 * thousands of files three times as fast as Node's recursive rmSync; where it is missing or
 * fails (a file appeared meanwhile), rmSync finishes the job.
 */
export async function removeTree(dir: string): Promise<void> {
  if (process.platform !== 'win32') {
    const removed = await new Promise<boolean>((resolve) => {
      const child = spawn('rm', ['-rf', '--', dir], { stdio: 'ignore' });
      void trackChild(child);
      child.on('error', () => resolve(false));
      child.on('close', (code) => resolve(code === 0));
    });
    if (removed && !existsSync(dir)) return;
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Copies a directory tree keeping modes and owners; reflinks where the filesystem allows. */
export async function copyTree(source: string, target: string): Promise<void> {
  if (process.platform === 'linux') {
    await execFileAsync('cp', ['-a', '--reflink=auto', source, target]);
  } else if (process.platform === 'darwin') {
    await execFileAsync('cp', ['-a', source, target]);
  } else {
    await cp(source, target, { recursive: true, preserveTimestamps: true });
  }
}

/** A predictable environment for server processes: C locale, UTC, no inherited PG* variables. */
export function serverEnvironment(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' };
}
