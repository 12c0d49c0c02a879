// The no-Docker default: a private PostgreSQL server from real binaries (npm or system), on a free
// loopback port, in a temp dir, with durability off (the data is thrown away). Stopped with an
// immediate shutdown and its directory removed; runs left behind by a killed process are reaped
// on the next start.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, chownSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describeError, DriftGuardError } from '../../errors.js';
import type { Reporter } from '../../util/reporter.js';
import type { PostgresInstallation } from '../binaries.js';
import { maskSecrets, registerSecret } from '../../util/secrets.js';
import { baseCacheKey, decodeQuietly, discardBaseEntry, loadBaseEntry, storeBaseEntry, trimWal } from '../base-cache.js';
import { withClient } from '../client.js';
import { materializeDataDir, removeTree, serverEnvironment } from '../data-dir-cache.js';
import { quoteIdent } from '../sql.js';
import { assertReachable, type RunAs } from '../run-as.js';
import { runRoots } from '../run-root.js';
import type { BaseCacheRequest, BaseCacheState, CachedBaseContents, RunningServer, ServerHandle } from '../server.js';

export const RUN_DIR_PREFIX = 'drift-guard-pg-';
const READY_LINE = 'database system is ready to accept connections';
const BIND_FAILURE = /could not bind|Address already in use|could not create any TCP\/IP sockets/i;

/** Settings for a throwaway server: no durability, small footprint, TCP on loopback only. */
const SERVER_SETTINGS: Readonly<Record<string, string>> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '50',
  shared_buffers: '64MB',
  max_wal_size: '1GB',
  checkpoint_timeout: '1h',
  autovacuum: 'off',
  // Dynamic shared memory as files in the data directory, so that it goes with the directory even
  // when the server is killed (posix segments would stay in /dev/shm).
  dynamic_shared_memory_type: 'mmap',
};

export interface EmbeddedServerOptions {
  readonly installation: PostgresInstallation;
  /** Directory for the run directory: tmpfs or the temp directory (see run-root.ts). */
  readonly runRoot: string;
  readonly account: RunAs | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  readonly startupTimeoutMs: number;
  /** Start from a cached cluster holding the base schema when there is one (src/postgres/base-cache.ts). */
  readonly baseCache?: BaseCacheRequest | undefined;
}

export function embeddedServer(options: EmbeddedServerOptions): ServerHandle {
  let runDir: string | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  /** A cached cluster's databases still being unpacked (or archived): the run directory waits for them. */
  let busy: Promise<unknown> | undefined;

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child !== undefined && exited !== undefined && child.exitCode === null && child.signalCode === null) {
        signalGroup(child, 'SIGQUIT');
        const killed = await Promise.race([exited.then(() => true), delay(5_000).then(() => false)]);
        if (!killed) {
          signalGroup(child, 'SIGKILL');
          await exited;
        }
      }
      await busy;
      if (runDir !== undefined) await removeTree(runDir);
    })());

  const start = async (): Promise<RunningServer> => {
    const { installation, account, env, reporter } = options;
    for (const root of runRoots()) await reapStaleRuns(root);
    if (account !== undefined) assertReachable(options.runRoot, account);
    runDir = mkdtempSync(path.join(options.runRoot, RUN_DIR_PREFIX));
    writeFileSync(path.join(runDir, 'owner.json'), JSON.stringify({ pid: process.pid, started: new Date().toISOString() }));
    if (account !== undefined) chownSync(runDir, account.uid, account.gid);
    const dataDir = path.join(runDir, 'data');
    const cwd = runDir;

    /** Starts the server on the data directory; retries another port when the first is taken. */
    const boot = async (first?: number, unpackFirst?: string): Promise<number> => {
      for (let attempt = 1; ; attempt++) {
        // `first` (chosen beforehand): the server is spawned within this call, before its first await.
        const port = attempt === 1 && first !== undefined ? first : await freePort();
        // stop() already ran (a signal while the data directory was prepared): start nothing it cannot stop.
        if (stopping !== undefined) throw new DriftGuardError('POSTGRES_START_FAILED', 'embedded PostgreSQL: stopped before it started');
        // The archive only once: a second attempt (another port) finds the cluster out.
        const launched = launch(installation, account, dataDir, port, cwd, attempt === 1 ? unpackFirst : undefined);
        child = launched.child;
        exited = launched.exited;
        const outcome = await launched.ready(options.startupTimeoutMs);
        if (outcome.ok) return port;
        signalGroup(launched.child, 'SIGKILL');
        await launched.exited;
        if (outcome.unpackFailed === true) throw new EntryNotCopied(outcome.reason);
        if (!BIND_FAILURE.test(outcome.log) || attempt >= 3) {
          throw new DriftGuardError('POSTGRES_START_FAILED', `embedded PostgreSQL ${installation.version} (${installation.origin}) did not start: ${outcome.reason}`);
        }
      }
    };
    const running = (port: number, password: string, baseCache: BaseCacheState | undefined): RunningServer => ({
      provider: 'embedded',
      description: `embedded PostgreSQL ${installation.version} (${installation.origin}) on 127.0.0.1:${port}${account === undefined ? '' : `, running as ${account.user}`}`,
      version: installation.version,
      major: installation.major,
      adminUrl: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      disposable: true,
      ...(baseCache === undefined ? {} : { baseCache }),
    });

    // The base-schema cache: a cached cluster replaces initdb's and already holds the base.
    const parts = options.baseCache === undefined ? undefined : await options.baseCache.parts.catch(() => undefined);
    const key = parts === undefined ? undefined : baseCacheKey(parts, installation, account);
    let missReason = 'no entry for this base yet';
    if (key !== undefined) {
      const t0 = performance.now();
      const choosing = freePort();
      choosing.catch(() => undefined);
      // cluster.tar is unpacked by the process that then becomes the server (see launch()): it
      // starts however long this process's event loop is held by the gate's own work meanwhile.
      const chained = process.platform !== 'win32';
      const entry = await loadBaseEntry(key, installation, account, dataDir, env, { unpackCluster: !chained });
      if (entry.ok) {
        busy = entry.databases;
        try {
          // The server starts on the cluster while the databases' files are still coming; nothing
          // connects to them before they are all out.
          const booting = boot(await choosing, chained ? entry.cluster : undefined);
          booting.catch(() => undefined);
          // The caller's reading of the kept schema, while the server starts and tar works (the
          // server is spawned already: this holds the event loop).
          const decode = options.baseCache?.decode;
          const decoded = decode !== undefined && entry.schema !== undefined ? { value: decodeQuietly(decode, entry.schema) } : undefined;
          const [port, notCopied] = await Promise.all([booting, entry.databases]);
          if (notCopied !== undefined) throw new EntryNotCopied(notCopied);
          const server = running(port, entry.password, undefined);
          const { database, role, filled, note } = entry.record;
          const rolePassword = await verifyCachedBase(server.adminUrl, key, [database, ...(filled === undefined ? [] : [filled])], role);
          return { ...server, baseCache: { hit: true, key, database, role, rolePassword, filled, note, schema: entry.schema, decoded, ms: Math.round(performance.now() - t0) } };
        } catch (error) {
          const notCopied = await entry.databases;
          if (stopping !== undefined) throw error;
          await killServer();
          rmSync(dataDir, { recursive: true, force: true });
          discardBaseEntry(key, env);
          missReason =
            notCopied !== undefined || error instanceof EntryNotCopied
              ? `the entry could not be copied (${notCopied ?? (error as Error).message})`
              : `the cached entry was unusable (${maskSecrets(describeError(error))}) and was removed`;
          reporter.warn(`base cache: ${missReason}; applying the base's migrations`);
        }
      } else {
        missReason = entry.reason;
      }
    }

    const { password } = await materializeDataDir(installation, account, dataDir, env, reporter);
    const port = await boot();
    const server = running(port, password, undefined);
    if (key === undefined) return server;
    const store = async (contents: CachedBaseContents): Promise<boolean> => {
      const databases = [contents.database, ...(contents.filled === undefined ? [] : [contents.filled])];
      // The mark a hit checks: the database is the one this entry was made for.
      const wal = await withClient(server.adminUrl, async (client) => {
        for (const database of databases) await client.query(`COMMENT ON DATABASE ${quoteIdent(database)} IS '${marker(key)}'`);
        const row = await client.query<{ file: string; size: string }>(
          "SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS file, (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS size",
        );
        return { current: row.rows[0]!.file, segmentBytes: Number(row.rows[0]!.size) };
      });
      // A clean (fast) shutdown: the copy then starts without recovery.
      child?.kill('SIGINT');
      const clean = await Promise.race([exited!.then(() => true), delay(30_000).then(() => false)]) && child?.exitCode === 0;
      // Started again as soon as only the databases' own files are still being archived (see storeBaseEntry).
      let restarted: Promise<void> | undefined;
      const restart = (): Promise<void> =>
        (restarted ??= (async () => {
          await killServer();
          if (stopping !== undefined) throw new DriftGuardError('POSTGRES_START_FAILED', 'embedded PostgreSQL: stopped while the base was cached');
          const launched = launch(installation, account, dataDir, port, cwd);
          child = launched.child;
          exited = launched.exited;
          const outcome = await launched.ready(options.startupTimeoutMs);
          if (!outcome.ok) throw new DriftGuardError('POSTGRES_START_FAILED', `embedded PostgreSQL ${installation.version} did not start again on port ${port} after the base was cached: ${outcome.reason}`);
        })());
      let stored = false;
      if (clean) {
        // Only the WAL segment with the shutdown checkpoint is needed: the rest (old and recycled) would make the copy half again as big.
        trimWal(dataDir, wal.current, wal.segmentBytes);
        const storing = storeBaseEntry(key, installation, dataDir, { ...contents, password }, env, reporter, restart);
        busy = storing.catch(() => undefined);
        stored = await storing;
      } else {
        reporter.warn('base cache: the server did not shut down cleanly; the base is not cached');
      }
      await restart();
      return stored;
    };
    return { ...server, baseCache: { hit: false, key, reason: missReason, store } };
  };

  /** Stops the current server process at once (no-op when it is not running). */
  const killServer = async (): Promise<void> => {
    if (child === undefined || exited === undefined || child.exitCode !== null || child.signalCode !== null) return;
    signalGroup(child, 'SIGKILL');
    await exited;
  };

  return { start, stop };
}

/** The cached cluster's databases could not be unpacked (a damaged or missing archive). */
class EntryNotCopied extends Error {}

function marker(key: string): string {
  return `drift-guard base cache ${key}`;
}

/**
 * A cached cluster must hold the databases it was stored with (marked with its key, their files
 * readable) and their owner role. Each database is opened (the catalog lists a database whose
 * folder may still be gone) and its catalog read; the marks and the role are read on the first
 * (shared catalogs: the same from every database). The role gets a new password there (the one it
 * had when the base was built was never kept), which this returns.
 */
async function verifyCachedBase(adminUrl: string, key: string, databases: readonly string[], role: string | undefined): Promise<string | undefined> {
  const password = role === undefined ? undefined : randomBytes(18).toString('hex');
  if (password !== undefined) registerSecret(password);
  for (const [index, database] of databases.entries()) {
    const url = new URL(adminUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    await withClient(
      url.toString(),
      async (client) => {
        await client.query('SELECT count(*) FROM pg_catalog.pg_class');
        if (index > 0) return;
        const found = await client.query<{ name: string; mark: string | null }>(`SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS mark FROM pg_database d WHERE d.datname = ANY($1)`, [databases]);
        for (const name of databases) {
          if (found.rows.find((row) => row.name === name)?.mark !== marker(key)) throw new Error(`it holds no database ${name} marked for this key`);
        }
        if (role !== undefined && (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount !== 1) throw new Error(`its role ${role} is missing`);
        // Hex password generated here: safe as a literal (ALTER ROLE takes no parameters).
        if (role !== undefined) await client.query(`ALTER ROLE ${quoteIdent(role)} PASSWORD '${password!}'`);
      },
      { connectTimeoutMs: 10_000 },
    );
  }
  return password;
}

interface Launched {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  ready(timeoutMs: number): Promise<{ ok: true } | { ok: false; reason: string; log: string; unpackFailed?: boolean }>;
}

/** Exit status of the launcher shell when its tar fails (the server never ran). */
const UNPACK_FAILED = 97;
/**
 * Unpacks the archive on standard input into $1, then becomes the server ("$@" after $1). Paths
 * and settings are arguments, never part of the script.
 */
const UNPACK_THEN_EXEC = `tar -x -p -m -f - -C "$1" || exit ${UNPACK_FAILED}; shift; exec "$@"`;

/**
 * Spawns the server. `unpackFirst`: an archive to unpack into the data directory first, by the
 * same process (a shell that then execs the server: same pid, same process group): the server
 * starts the moment tar is done, whatever drift-guard's own event loop is busy with. The archive
 * is opened here and handed over as standard input, so the account the server runs as needs no
 * access to the cache.
 */
function launch(installation: PostgresInstallation, account: RunAs | undefined, dataDir: string, port: number, cwd: string, unpackFirst?: string): Launched {
  const args = ['-D', dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(SERVER_SETTINGS)) args.push('-c', `${name}=${value}`);
  const archive = unpackFirst === undefined ? undefined : openSync(unpackFirst, 'r');
  let child: ChildProcess;
  try {
    child = spawn(archive === undefined ? installation.postgres : '/bin/sh', archive === undefined ? args : ['-c', UNPACK_THEN_EXEC, 'drift-guard-unpack', dataDir, installation.postgres, ...args], {
      cwd,
      env: serverEnvironment(),
      // Own process group: a terminal's Ctrl-C reaches drift-guard, which then shuts the server down in order.
      detached: true,
      stdio: [archive ?? 'ignore', 'ignore', 'pipe'],
      ...(account === undefined ? {} : { uid: account.uid, gid: account.gid }),
    });
  } finally {
    if (archive !== undefined) closeSync(archive);
  }
  const log: string[] = [];
  let readyResolve: ((ok: boolean) => void) | undefined;
  const readySeen = new Promise<boolean>((resolve) => (readyResolve = resolve));
  let pending = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      log.push(line);
      if (log.length > 50) log.shift();
      if (line.includes(READY_LINE)) readyResolve?.(true);
    }
  });
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('error', (error) => {
      spawnError = error;
      resolve();
    });
    child.on('exit', () => resolve());
  });
  void exited.then(() => readyResolve?.(false));

  return {
    child,
    exited,
    async ready(timeoutMs) {
      const timer = delay(timeoutMs).then(() => 'timeout' as const);
      const result = await Promise.race([readySeen, timer]);
      if (result === true) return { ok: true };
      const text = log.join('\n');
      if (spawnError !== undefined) return { ok: false, reason: `cannot run ${installation.postgres}: ${spawnError.message}`, log: text };
      if (result === 'timeout') return { ok: false, reason: `not ready after ${timeoutMs / 1000}s (postgres.startup-timeout)`, log: text };
      if (archive !== undefined && child.exitCode === UNPACK_FAILED) {
        const said = log.filter((line) => line.startsWith('tar:')).slice(0, 2).join(' / ');
        return { ok: false, reason: `tar -x failed (exit ${UNPACK_FAILED}): ${said || 'no message'}`, log: text, unpackFailed: true };
      }
      const fatal = log.filter((line) => /FATAL|PANIC|ERROR|error while loading/.test(line)).slice(-2);
      return { ok: false, reason: fatal.join(' / ') || `exited with code ${String(child.exitCode)}`, log: text };
    },
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Removes run directories left by drift-guard processes that no longer exist. A server still
 * running there gets a fast shutdown first (SIGKILL only if it ignores that), because only a
 * server that exits by itself releases its SysV shared memory segment.
 */
export async function reapStaleRuns(root: string): Promise<number> {
  let reaped = 0;
  let entries: string[];
  try {
    entries = readdirSync(root).filter((entry) => entry.startsWith(RUN_DIR_PREFIX));
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const dir = path.join(root, entry);
    const owner = readPid(path.join(dir, 'owner.json'), (text) => (JSON.parse(text) as { pid: number }).pid);
    if (owner === undefined || isAlive(owner)) continue;
    const postmaster = readPid(path.join(dir, 'data', 'postmaster.pid'), (text) => Number(text.split('\n')[0]));
    if (postmaster !== undefined && isAlive(postmaster)) {
      signalPid(postmaster, 'SIGINT');
      if (!(await waitForExit(postmaster, 5_000))) {
        signalPid(-postmaster, 'SIGKILL');
        signalPid(postmaster, 'SIGKILL');
      }
    }
    rmSync(dir, { recursive: true, force: true });
    reaped++;
  }
  return reaped;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Not ours to signal, or already gone.
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    // A timer that keeps the process alive: polling a server that is not our child is all that
    // happens here, and with an unref'd timer Node would exit mid-await (code 13, no message).
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return !isAlive(pid);
}

function readPid(file: string, parse: (text: string) => number): number | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const pid = parse(readFileSync(file, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
