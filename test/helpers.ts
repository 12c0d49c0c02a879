// Shared test helpers: running the built CLI, private temp directories, and looking for
// PostgreSQL processes and run directories that a test may have left behind.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PostgresOptions } from '../src/postgres/scratch.js';
import { afterAll, beforeAll } from 'vitest';
import { RecordingReporter } from '../src/util/reporter.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const cliPath = path.join(repoRoot, 'dist', 'cli.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A temp directory that an unprivileged server account can traverse (the suite may run as root). */
export function makeTempDir(prefix = 'dg-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** An environment for child processes without anything that would change provider selection. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    // DRIFT_GUARD_VERIFY_INCREMENTAL stays: every test checks the incremental schema reads (vitest.config.ts).
    if ((key.startsWith('DRIFT_GUARD_') && key !== 'DRIFT_GUARD_VERIFY_INCREMENTAL') || key.startsWith('PG') || key === 'DATABASE_URL' || key === 'NO_COLOR' || key === 'FORCE_COLOR') delete env[key];
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export function startCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn(process.execPath, [cliPath, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

export function runCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return collect(startCli(args, options));
}

/** Resolves when the child's stderr matches `pattern`; rejects if it exits first. */
export function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(pattern)}; stderr so far:\n${seen}`)), timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`process exited before ${String(pattern)}; stderr:\n${seen}`));
    });
  });
}

/** PIDs of running processes whose command line mentions `fragment` (Linux /proc). */
export function processesMentioning(fragment: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(fragment)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

export function runDirsIn(tmp: string): string[] {
  return existsSync(tmp) ? readdirSync(tmp).filter((entry) => entry.startsWith('drift-guard-')) : [];
}

export function pgOptions(overrides: Partial<PostgresOptions> = {}): PostgresOptions & { reporter: RecordingReporter } {
  return {
    provider: 'embedded',
    version: 16,
    url: undefined,
    urlEnvName: 'DRIFT_GUARD_DATABASE_URL',
    image: undefined,
    // Leftover checks look in this file's private TMPDIR; tmpfs storage has a test of its own.
    // Tests that look for no leftovers pass storage: 'memory' (a server starts and stops 1-2 s
    // sooner on a loaded machine, and each scratch database costs less): see startSharedServer.
    storage: 'disk',
    startupTimeoutMs: 60_000,
    env: cleanEnv(),
    reporter: new RecordingReporter(),
    ...overrides,
  } as PostgresOptions & { reporter: RecordingReporter };
}

export async function waitUntil(predicate: () => boolean, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return predicate();
}

/**
 * The shared memory a test's own servers hold, read while they run: their processes (found by a
 * fragment of their command line, e.g. the test's private TMPDIR), the SysV segments those
 * processes created (/proc/sysvipc/shm's cpid) and the /dev/shm/PostgreSQL.* files (posix dynamic
 * shared memory) they have mapped. Other servers on the machine, and what they create or leave,
 * never show up here, so a busy machine cannot fail a test that checks these are gone afterwards.
 */
export interface ServerResources {
  readonly pids: readonly number[];
  readonly sysvSegments: readonly string[];
  readonly shmFiles: readonly string[];
}

export function serverResources(fragment: string): ServerResources {
  const pids = processesMentioning(fragment);
  const shmFiles = new Set<string>();
  for (const pid of pids) {
    try {
      for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
        const file = /\s(\/dev\/shm\/PostgreSQL\.\S+)/.exec(line)?.[1];
        if (file !== undefined) shmFiles.add(file);
      }
    } catch {
      // The process ended while we looked.
    }
  }
  const created = new Set(pids.map(String));
  const sysvSegments = sysvSegments_().filter((segment) => created.has(segment.cpid)).map((segment) => segment.shmid);
  return { pids, sysvSegments, shmFiles: [...shmFiles].sort() };
}

/** Of what `serverResources` saw while the servers ran, what still exists now. */
export function resourcesStillThere(seen: ServerResources): { pids: number[]; sysvSegments: string[]; shmFiles: string[] } {
  const segments = new Set(sysvSegments_().map((segment) => segment.shmid));
  return {
    pids: seen.pids.filter((pid) => existsSync(`/proc/${pid}`)),
    sysvSegments: seen.sysvSegments.filter((id) => segments.has(id)),
    shmFiles: seen.shmFiles.filter((file) => existsSync(file)),
  };
}

function sysvSegments_(): { shmid: string; cpid: string }[] {
  let text: string;
  try {
    text = readFileSync('/proc/sysvipc/shm', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 6)
    .map((fields) => ({ shmid: fields[1]!, cpid: fields[4]! }));
}

/**
 * The PostgreSQL major the schema suites run on: 16 (the npm binaries) unless
 * DRIFT_GUARD_TEST_PG_MAJOR names another installed one (e.g. 15 for /usr/lib/postgresql/15).
 */
export const TEST_PG_MAJOR = Number(process.env.DRIFT_GUARD_TEST_PG_MAJOR ?? 16);

/**
 * One embedded server shared by a test file: started in beforeAll, stopped in afterAll. Tests take
 * scratch databases from it with server.withDatabase(). Its data directory is on tmpfs (storage:
 * memory, what postgres.storage: auto picks on a machine with /dev/shm): a scratch database's
 * CREATE and DROP copy and unlink hundreds of files, about 40% faster there than on disk. No test
 * looks for this server's leftovers in its TMPDIR (those start their servers with pgOptions()).
 */
export async function startSharedServer(options: Partial<PostgresOptions> = {}): Promise<{ server: PostgresServerHandle; stop: () => Promise<void> }> {
  const { withPostgresServer } = await import('../src/postgres/scratch.js');
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  let finished!: Promise<void>;
  const server = await new Promise<PostgresServerHandle>((ready, fail) => {
    finished = withPostgresServer(pgOptions({ storage: 'memory', ...options }), async (s) => {
      ready(s);
      await done;
    }).catch(fail);
  });
  return {
    server,
    stop: async () => {
      release();
      await finished;
    },
  };
}

export type PostgresServerHandle = import('../src/postgres/scratch.js').PostgresServer;

/** Writes files (relative path -> content) under dir, creating folders. */
export function writeTree(dir: string, files: Record<string, string>): void {
  for (const [relative, content] of Object.entries(files)) {
    const full = path.join(dir, relative);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

/** Runs git in `dir` with a fixed author, for the scratch repositories tests build. */
export function gitIn(dir: string): (...args: string[]) => string {
  return (...args) =>
    execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
}

export interface PrRepository {
  readonly dir: string;
  git(...args: string[]): string;
  /** Writes (or, for null, deletes) files and commits them on the current branch. */
  commit(files: Record<string, string | null>, message?: string): void;
}

/** A scratch repository: what is in `dir` committed on main, then a branch "pr" checked out. */
export function prRepository(dir: string): PrRepository {
  const git = gitIn(dir);
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'base');
  git('checkout', '-q', '-b', 'pr');
  return {
    dir,
    git,
    commit(files, message = 'pr') {
      for (const [file, content] of Object.entries(files)) {
        if (content === null) rmSync(path.join(dir, file));
        else writeTree(dir, { [file]: content });
      }
      git('add', '-A');
      git('commit', '-qm', message);
    },
  };
}

/**
 * A test file's temp folder and shared embedded server, set up in beforeAll and removed in
 * afterAll; `server()` is the running server inside tests.
 */
export function sharedServerSuite(prefix: string, options: Partial<PostgresOptions> = {}): { tmp: string; server: () => PostgresServerHandle } {
  const tmp = makeTempDir(prefix);
  let running: { server: PostgresServerHandle; stop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    running = await startSharedServer(options);
  }, 180_000);
  afterAll(async () => {
    await running?.stop();
    removeDir(tmp);
  });
  return {
    tmp,
    server: () => {
      if (running === undefined) throw new Error('the shared server is not running (only inside tests)');
      return running.server;
    },
  };
}

/** The installed dotnet SDK's version, or undefined when there is no dotnet (EF Core tests skip then). */
export function dotnetVersion(): string | undefined {
  try {
    return execFileSync('dotnet', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}
