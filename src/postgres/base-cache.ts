// The PR gate's base schema kept across runs, as a stopped PostgreSQL cluster. The first gate on a
// given set of base migration files applies them, stops its embedded server cleanly and archives the
// whole data directory (the base database and the role that owns it inside) in
// <cache root>/bases/<key>/, with the caller's serialized base schema (schema.json) next to it; the
// next gate on the same base unpacks that instead of initdb, starts the server on it, takes the
// base's schema from schema.json and applies only the pull request's migrations. Unpacking a
// cluster (about 100 MB and 8,000 files for 1,000 tables) costs a fraction of applying a long
// history, which a pg_dump/pg_restore round trip does not (it replays the same DDL).
//
// The cluster is kept as three archives, unpacked at once (tar -x is bound by one core's system
// calls): cluster.tar, everything but the databases' files (the shared catalogs in global/, WAL,
// pg_xact, pg_control: a few MB), and base-1.tar / base-2.tar, the files of every database
// (base/<oid>: the base, template1, template0, postgres) split in two halves of about the same
// cost (every other file). The server starts as soon as cluster.tar is out: until a session connects to a database,
// PostgreSQL reads nothing in its directory (no process but a session's opens one). At start
// it only removes temporary relation files and pg_internal.init (the relation cache's init file)
// in every base/<oid>; a clean shutdown has no temporary files and the archives never hold
// pg_internal.init (each database's first session writes it again), so a start racing the halves
// has nothing of theirs to remove. Unlogged relations are reset only after a crash (recovery),
// never on a clean shutdown's cluster. The server is handed out once every archive is out.
//
// The key is chosen by the caller (the base's files, the engine's settings) and completed here with
// what the cluster depends on: the server binary and its version, the account it runs as, initdb's
// options, drift-guard's version (its migrator writes the history table) and this file's format. The cache is never a source of truth: an entry that cannot be
// read, copied, started or verified is a miss (removed; the caller builds the base and stores it
// again), never an error. Entries are written under a temporary name and renamed into place, are
// owner-only, and only the most recently used few are kept.

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors.js';
import { cacheRoot } from '../util/cache-root.js';
import type { Reporter } from '../util/reporter.js';
import { registerSecret } from '../util/secrets.js';
import type { PostgresInstallation } from './binaries.js';
import { INITDB_ARGS, runTar } from './data-dir-cache.js';
import type { RunAs } from './run-as.js';
import type { CachedBaseContents } from './server.js';
import { VERSION } from '../version.js';

/** Bumped when an entry's layout or meaning changes: older entries then miss. */
// 2: the generated rows changed (fill algorithm of session 5) and entries keep the schema model.
// 3: the data-aware gate fills the tables each PR touches, per run; an entry keeps a copy of the base
// filled in every table only for a base whose tables reference most of the others.
// 4: the cluster in three archives (cluster.tar, base-1.tar, base-2.tar), without pg_internal.init.
// 5: the kept schema is the base read's catalog rows (a CatalogSnapshot), not its model.
// 6: a tenth of the generated rows hold their column's constant default (the kept filled copy).
export const BASE_CACHE_FORMAT = 6;
/** Entries kept after a store (most recently stored or used first). */
export const BASE_CACHE_KEEP = 3;
const RECORD = 'entry.json';
const PASSWORD = 'password';
/** The stopped cluster's data directory but the files of its own databases, as a tar archive. */
const CLUSTER = 'cluster.tar';
/** The files of every database (base/<oid>), in two halves. */
const HALVES = ['base-1.tar', 'base-2.tar'] as const;
/** The relation cache's init file: removed by the server at start, rebuilt by a database's first session. */
const RELCACHE_INIT = 'pg_internal.init';
/** The caller's serialized base schema (CachedBaseContents.schema), checked against the record's hash. */
const SCHEMA = 'schema.json';
const KEY_PATTERN = /^[0-9a-f]{64}$/;

/** What an entry says about itself (entry.json). */
export interface BaseEntryRecord {
  readonly format: number;
  readonly key: string;
  /** The server's version (installation.version) and binary the cluster was built with. */
  readonly version: string;
  readonly postgres: string;
  /** The base database inside the cluster, and the role that owns it (absent: the superuser). */
  readonly database: string;
  readonly role?: string;
  /** The filled copy of the base (the data-aware gate), and the caller's note about it. */
  readonly filled?: string;
  readonly note?: string;
  /** SHA-256 of the serialized base schema kept next to the cluster (schema.json), when there is one. */
  readonly schema?: string;
  /** The database directories (base/<oid>) whose files are in the halves; made before they are unpacked. */
  readonly directories: readonly string[];
  readonly storedAt: string;
}

/** Where entries live: <cache root>/bases (DRIFT_GUARD_CACHE_DIR sets the root). */
export function baseCacheDir(env: NodeJS.ProcessEnv): string {
  return path.join(cacheRoot(env), 'bases');
}

/** The full key (sha256 hex): the caller's parts plus what the cluster itself depends on. */
export function baseCacheKey(parts: readonly string[], installation: PostgresInstallation, account: RunAs | undefined): string {
  const hash = createHash('sha256');
  // drift-guard's version too: the history table in the cluster is written by its migrator.
  const all = [`drift-guard base cache ${BASE_CACHE_FORMAT}`, VERSION, installation.version, binaryPath(installation), account?.user ?? '', ...INITDB_ARGS, ...parts];
  // Length-prefixed: ["ab", "c"] and ["a", "bc"] are different keys.
  for (const part of all) hash.update(`${Buffer.byteLength(part)}:`).update(part).update('\0');
  return hash.digest('hex');
}

/** The first 12 characters of a key, for reports. */
export function shortKey(key: string): string {
  return key.slice(0, 12);
}

export type LoadedEntry =
  | {
      readonly ok: true;
      readonly record: BaseEntryRecord;
      readonly password: string;
      readonly schema?: string | undefined;
      /** cluster.tar: already unpacked, unless the caller asked to do it itself (unpackCluster: false). */
      readonly cluster: string;
      /**
       * The databases' files, still being unpacked when this is returned (the server may start
       * meanwhile; no session may open a database until it settles). Never rejects: undefined when
       * they are out, else why not (the entry is then removed: a miss).
       */
      readonly databases: Promise<string | undefined>;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Unpacks the entry's cluster to `target` (which must not exist): returns once the server can
 * start on it, with the databases' files still coming (`databases`). With `unpackCluster: false`
 * cluster.tar is left to the caller (the embedded provider unpacks it in the process that then
 * becomes the server, so that the server starts however busy this process is). A miss says why; an entry
 * that is unreadable, incomplete, from another format or another server is removed on the way.
 */
export async function loadBaseEntry(
  key: string,
  installation: PostgresInstallation,
  account: RunAs | undefined,
  target: string,
  env: NodeJS.ProcessEnv,
  options: { readonly unpackCluster?: boolean } = {},
): Promise<LoadedEntry> {
  const entry = entryDir(env, key);
  const recordFile = path.join(entry, RECORD);
  if (!existsSync(recordFile)) return { ok: false, reason: 'no entry for this base yet' };
  const discard = (why: string): LoadedEntry => {
    discardBaseEntry(key, env);
    return { ok: false, reason: why };
  };
  let record: BaseEntryRecord;
  let password: string;
  let schema: string | undefined;
  try {
    record = JSON.parse(readFileSync(recordFile, 'utf8')) as BaseEntryRecord;
    password = readFileSync(path.join(entry, PASSWORD), 'utf8').trim();
    if (record.schema !== undefined) {
      schema = readFileSync(path.join(entry, SCHEMA), 'utf8');
      if (sha256(schema) !== record.schema) throw new Error(`${SCHEMA} does not match its record`);
    }
  } catch (error) {
    return discard(`the entry could not be read (${describeError(error)})`);
  }
  if (record.format !== BASE_CACHE_FORMAT || record.key !== key || typeof record.database !== 'string' || !validDirectories(record.directories) || password === '') {
    return discard('the entry was written by another drift-guard version');
  }
  const missing = [CLUSTER, ...HALVES].find((name) => !existsSync(path.join(entry, name)));
  if (missing !== undefined) return discard(`the entry could not be read (${missing} is missing)`);
  if (record.version !== installation.version || record.postgres !== binaryPath(installation)) {
    return discard(`the entry was built on PostgreSQL ${String(record.version)}, this server is ${installation.version}`);
  }
  let databases: Promise<string | undefined>;
  try {
    mkdirSync(target, { mode: 0o700 });
    // The halves' directories first: their archives hold files only, and may be out before cluster.tar.
    for (const dir of ['base', ...record.directories]) {
      const made = path.join(target, dir);
      if (!existsSync(made)) mkdirSync(made, { mode: 0o700 });
    }
    if (account !== undefined) for (const dir of ['.', 'base', ...record.directories]) chownSync(path.join(target, dir), account.uid, account.gid);
    // -p: modes as stored (PostgreSQL refuses a data directory others may read); owners too when
    // root. -m: no modification times set (8,000 calls PostgreSQL has no use for).
    const unpack = (name: string, background = false): Promise<void> => runTar(['-x', '-p', '-m', '-f', path.join(entry, name), '-C', target], undefined, { background });
    const cluster = options.unpackCluster === false ? Promise.resolve() : unpack(CLUSTER);
    cluster.catch(() => undefined);
    // Settled, both: a half that fails must not leave the other writing into a directory being removed.
    // In the background: drift-guard's own work meanwhile (the gate's git analysis, reading the
    // kept schema) is what a warm gate waits for on 2 cores, not the halves.
    databases = Promise.allSettled(HALVES.map((name) => unpack(name, true))).then((results) => {
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed === undefined) return undefined;
      discardBaseEntry(key, env);
      return describeError(failed.reason);
    });
    try {
      await cluster;
    } catch (error) {
      // Nothing may still write there when it is removed.
      await databases;
      throw error;
    }
  } catch (error) {
    rmSync(target, { recursive: true, force: true });
    return discard(`the entry could not be copied (${describeError(error)})`);
  }
  registerSecret(password);
  // Most recently used: the last to be pruned.
  const now = new Date();
  try {
    utimesSync(recordFile, now, now);
  } catch {
    // A read-only cache still serves.
  }
  return { ok: true, record, password, cluster: path.join(entry, CLUSTER), databases, ...(schema === undefined ? {} : { schema }) };
}

function validDirectories(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((dir) => typeof dir === 'string' && /^base\/\d+$/.test(dir));
}

/** The caller's reading of a kept schema (BaseCacheRequest.decode); a throw is "not usable" (undefined). */
export function decodeQuietly(decode: (schema: string) => unknown, schema: string): unknown {
  try {
    return decode(schema);
  } catch {
    return undefined;
  }
}

/** Removes an entry (one that failed to load, start or verify). */
export function discardBaseEntry(key: string, env: NodeJS.ProcessEnv): void {
  rmSync(entryDir(env, key), { recursive: true, force: true });
}

/**
 * Keeps a stopped cluster's data directory as the entry for `key`. A failure to store is a
 * warning: the run that built the base has what it needs. `clusterArchived` is called once only the
 * databases' own files are still being read (the server may start again then: nothing it does
 * before a session opens one of those databases touches them); its promise is awaited before this
 * returns, and its rejection is this call's.
 */
export async function storeBaseEntry(
  key: string,
  installation: PostgresInstallation,
  dataDir: string,
  contents: CachedBaseContents & { readonly password: string },
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
  clusterArchived?: () => Promise<void>,
): Promise<boolean> {
  const dir = baseCacheDir(env);
  const entry = entryDir(env, key);
  const temp = path.join(dir, `.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  let resumed: Promise<void> | undefined;
  let stored = false;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    mkdirSync(temp, { mode: 0o700 });
    const split = splitDatabases(dataDir);
    // Archives, not files: writing thousands of small ones (a few per table and index) to a disk costs seconds.
    const exclude = [...split.directories.map((d) => `--exclude=./${d}`), `--exclude=${RELCACHE_INIT}`];
    await runTar(['-c', '-f', path.join(temp, CLUSTER), ...exclude, '-C', dataDir, '.']);
    resumed = clusterArchived?.();
    resumed?.catch(() => undefined);
    await Promise.all(HALVES.map((name, i) => runTar(['-c', '-f', path.join(temp, name), '-C', dataDir, '-T', '-'], split.halves[i]!.map((file) => `${file}\n`).join(''))));
    for (const name of [CLUSTER, ...HALVES]) chmodSync(path.join(temp, name), 0o600);
    writeFileSync(path.join(temp, PASSWORD), `${contents.password}\n`, { mode: 0o600 });
    if (contents.schema !== undefined) writeFileSync(path.join(temp, SCHEMA), contents.schema, { mode: 0o600 });
    const record: BaseEntryRecord = {
      format: BASE_CACHE_FORMAT,
      key,
      version: installation.version,
      postgres: binaryPath(installation),
      database: contents.database,
      ...(contents.role === undefined ? {} : { role: contents.role }),
      ...(contents.filled === undefined ? {} : { filled: contents.filled }),
      ...(contents.note === undefined ? {} : { note: contents.note }),
      ...(contents.schema === undefined ? {} : { schema: sha256(contents.schema) }),
      directories: split.directories,
      storedAt: new Date().toISOString(),
    };
    // The record last: an entry without one is incomplete and never read.
    writeFileSync(path.join(temp, RECORD), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    rmSync(entry, { recursive: true, force: true });
    try {
      renameSync(temp, entry);
    } catch (error) {
      // Another run stored the same key first: theirs is as good as ours.
      if (!existsSync(path.join(entry, RECORD))) throw error;
    }
    prune(dir, entry);
    stored = true;
  } catch (error) {
    reporter.warn(`could not keep the base schema in the cache (${dir}): ${describeError(error)}; the next run applies the base's migrations again`);
  } finally {
    try {
      rmSync(temp, { recursive: true, force: true });
    } catch {
      // Nothing was made there (the cache directory could not be created).
    }
  }
  await resumed;
  return stored;
}

/**
 * The databases' directories, and their files (but pg_internal.init) in two lists of about the
 * same cost to archive and unpack: every other file in name order. A schema-only base is thousands
 * of files of one or two pages (tar's cost is per file), and sizes do not follow names; weighing
 * each file by its size would cost a stat per file (60 ms for 8,000) on every cold gate.
 */
function splitDatabases(dataDir: string): { directories: string[]; halves: [string[], string[]] } {
  const directories = readdirSync(path.join(dataDir, 'base'))
    .filter((name) => /^\d+$/.test(name))
    .sort()
    .map((name) => `base/${name}`);
  const halves: [string[], string[]] = [[], []];
  let next = 0;
  for (const dir of directories) {
    for (const name of readdirSync(path.join(dataDir, dir)).sort()) {
      if (name === RELCACHE_INIT) continue;
      halves[next]!.push(`./${dir}/${name}`);
      next = 1 - next;
    }
  }
  return { directories, halves };
}

/**
 * Removes the WAL segments a cleanly stopped cluster does not need: all but the one that was
 * current at shutdown and the next (the shutdown checkpoint may have crossed into it). Applying a
 * long history leaves dozens of old and recycled segments behind.
 */
export function trimWal(dataDir: string, current: string, segmentBytes: number): void {
  const match = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/.exec(current);
  if (match === null || !(segmentBytes > 0)) return;
  const perId = Math.floor(0x100000000 / segmentBytes);
  const log = parseInt(match[2]!, 16);
  const seg = parseInt(match[3]!, 16);
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
  const next = seg + 1 < perId ? `${match[1]}${hex(log)}${hex(seg + 1)}` : `${match[1]}${hex(log + 1)}${hex(0)}`;
  const dir = path.join(dataDir, 'pg_wal');
  for (const name of readdirSync(dir)) {
    if (/^[0-9A-F]{24}$/.test(name) && name !== current && name !== next) rmSync(path.join(dir, name), { force: true });
  }
}

function entryDir(env: NodeJS.ProcessEnv, key: string): string {
  if (!KEY_PATTERN.test(key)) throw new Error(`a base cache key is a sha256 hex string (baseCacheKey()), not ${JSON.stringify(key)}`);
  return path.join(baseCacheDir(env), key);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function binaryPath(installation: PostgresInstallation): string {
  try {
    return realpathSync(installation.postgres);
  } catch {
    return installation.postgres;
  }
}

/** Keeps the BASE_CACHE_KEEP entries stored or used most recently (always `current`). */
function prune(dir: string, current: string): void {
  const entries = readdirSync(dir)
    .filter((name) => KEY_PATTERN.test(name))
    .map((name) => {
      const file = path.join(dir, name, RECORD);
      return { dir: path.join(dir, name), used: existsSync(file) ? statSync(file).mtimeMs : 0 };
    })
    .filter((e) => e.dir !== current)
    .sort((a, b) => b.used - a.used);
  for (const stale of entries.slice(BASE_CACHE_KEEP - 1)) rmSync(stale.dir, { recursive: true, force: true });
  // Leftovers of runs that died while storing (an hour is far longer than any copy here).
  for (const name of readdirSync(dir).filter((n) => n.startsWith('.partial-'))) {
    const leftover = path.join(dir, name);
    try {
      if (Date.now() - statSync(leftover).mtimeMs > 3_600_000) rmSync(leftover, { recursive: true, force: true });
    } catch {
      // Gone already.
    }
  }
}
