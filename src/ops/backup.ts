// Verified backups with pg_dump -Fc. A backup is written under a temporary name and renamed only
// when pg_dump succeeded; it then must list cleanly with pg_restore --list; its sha256 and a small
// JSON record are written beside it. Only then are older backups of the same database pruned, so a
// failed backup never costs a good one. The connection goes to pg_dump through libpq's environment
// variables, never its command line (where `ps` would show the password).
//
// Production data never lies around: backups are 0600 in a folder drift-guard creates 0700; a
// pg_dump or psql child ends with drift-guard (SIGINT/SIGTERM) and the `.partial` file with it; a
// restore streams pg_restore's SQL straight into psql, so no plain-SQL copy is ever written.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { DriftGuardError } from '../errors.js';
import { withAdvisoryLock } from '../postgres/advisory-lock.js';
import { connect, withClient } from '../postgres/client.js';
import { clientToolsFor, type ClientTools } from '../postgres/client-tools.js';
import { libpqEnvironment } from '../postgres/libpq-env.js';
import { readServerIdentity } from '../postgres/server-identity.js';
import { trackChild } from '../util/child-process.js';
import { registerCleanup } from '../util/cleanup.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { maskSecrets } from '../util/secrets.js';

/** pg_advisory_lock key of deploys and restores ("drftdply"): one of them per database at a time. */
export const DEPLOY_LOCK_KEY = 0x6472667464706c79n;

export const BACKUP_RECORD_VERSION = 1;

export interface BackupRecord {
  readonly version: typeof BACKUP_RECORD_VERSION;
  /** The backup file's name (in the same folder as this record). */
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly database: string;
  /** PostgreSQL version of the server that was dumped. */
  readonly server: string;
  readonly pgDump: string;
  readonly createdAt: string;
  readonly ms: number;
  /** Entries pg_restore --list found in it. */
  readonly entries: number;
  /** Why it was made: "backup" (by hand), "deploy". */
  readonly reason: string;
  /**
   * The cluster's pg_control_system().system_identifier and the database's oid: which database
   * this is, whatever its URL was called. Pruning only ever deletes backups of the same one.
   * Missing in records written before drift-guard recorded it (those are never pruned).
   */
  readonly systemIdentifier?: string | undefined;
  readonly databaseOid?: number | undefined;
  /** inet_server_port() of the dumped server (null over a Unix socket). */
  readonly serverPort?: number | null | undefined;
}

export interface BackupOptions {
  readonly url: string;
  /** Where backups live (created when missing). */
  readonly dir: string;
  /** Backups of this database to keep, this one included. */
  readonly keep: number;
  readonly env: NodeJS.ProcessEnv;
  readonly reason: string;
}

export interface BackupOutcome {
  readonly path: string;
  readonly record: BackupRecord;
  /** Older backups deleted to keep `keep`. */
  readonly pruned: readonly string[];
}

/** Checks, before anything else happens, that backups can be written to `dir` (created 0700 when missing). */
export function assertBackupDirUsable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    const probe = path.join(dir, `.drift-guard-probe-${process.pid}`);
    writeFileSync(probe, 'probe');
    rmSync(probe);
  } catch (error) {
    throw new DriftGuardError('USAGE', `cannot write backups to ${dir}: ${(error as Error).message.replace(/^[A-Z]+: /, '')}; fix its permissions or set production.backup-dir (BACKUP_DIR)`);
  }
}

export async function backupDatabase(options: BackupOptions): Promise<BackupOutcome> {
  const started = performance.now();
  assertBackupDirUsable(options.dir);
  const facts = await withClient(options.url, async (client) => {
    const row = await client.query<{ database: string; version: string; num: string }>("SELECT current_database() AS database, current_setting('server_version') AS version, current_setting('server_version_num') AS num");
    return { ...row.rows[0]!, identity: await readServerIdentity(client) };
  });
  const serverMajor = Math.floor(Number(facts.num) / 10_000);
  const serverVersion = facts.version.split(' ')[0]!;
  const tools = await clientToolsFor(serverMajor, serverVersion, options.env);

  const stamp = new Date().toISOString().replace(/[-:]/g, ''); // 20261121T063000.123Z: sorts by time
  const base = `${safeName(facts.database)}-${stamp}`;
  const file = path.join(options.dir, `${base}.dump`);
  if (existsSync(file)) throw new DriftGuardError('USAGE', `${file} already exists; wait a second and try again`);
  const partial = path.join(options.dir, `.${base}.dump.partial`);
  // Removed on every path out, signals included (after pg_dump has been stopped: cleanup ends children first).
  const forget = registerCleanup(() => rmSync(partial, { force: true }));
  try {
    // Created 0600 before pg_dump opens it, whatever the umask: pg_dump keeps an existing file's mode.
    closeSync(openSync(partial, 'wx', 0o600));
    await run(tools.pgDump, ['--format=custom', '--no-password', `--file=${partial}`], options.url, options.env, 'pg_dump');
    chmodSync(partial, 0o600);
    fsyncFile(partial);
    renameSync(partial, file);
    fsyncFile(options.dir);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    forget();
  }
  const entries = await verifyBackup(file, tools, options.env);
  const record: BackupRecord = {
    version: BACKUP_RECORD_VERSION,
    file: path.basename(file),
    bytes: statSync(file).size,
    sha256: await sha256Of(file),
    database: facts.database,
    server: serverVersion,
    pgDump: tools.version,
    createdAt: new Date().toISOString(),
    ms: Math.round(performance.now() - started),
    entries,
    reason: options.reason,
    systemIdentifier: facts.identity.systemIdentifier,
    databaseOid: facts.identity.databaseOid,
    serverPort: facts.identity.port,
  };
  writeAtomically(recordPath(file), `${JSON.stringify(record, null, 2)}\n`);
  writeAtomically(`${file}.sha256`, `${record.sha256}  ${record.file}\n`);
  return { path: file, record, pruned: prune(options.dir, record, options.keep, file) };
}

/** pg_restore --list must read the whole table of contents; returns its entry count. */
export async function verifyBackup(file: string, tools: Pick<ClientTools, 'pgRestore'>, env: NodeJS.ProcessEnv): Promise<number> {
  const listing = await run(tools.pgRestore, ['--list', file], undefined, env, 'pg_restore --list');
  const entries = listing.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';')).length;
  if (!/^;\s+Archive created at/m.test(listing)) throw new DriftGuardError('BACKUP_FAILED', `${file} is not a readable pg_dump archive`);
  return entries;
}

/** Checks a backup against its record (sha256) before it is restored. */
export async function checkBackupFile(file: string): Promise<BackupRecord | undefined> {
  if (!existsSync(file)) throw new DriftGuardError('USAGE', `${file} does not exist`);
  if (!statSync(file).isFile()) throw new DriftGuardError('USAGE', `${file} is not a file (a directory?); name the .dump file a backup wrote`);
  const recordFile = recordPath(file);
  if (!existsSync(recordFile)) return undefined;
  const record = readRecord(recordFile);
  const actual = await sha256Of(file);
  if (actual !== record.sha256) {
    throw new DriftGuardError('USAGE', `${file} does not match its record: sha256 ${actual}, recorded ${record.sha256}; the file is damaged or was replaced, so it is not restored`);
  }
  return record;
}

/** A backup's JSON record, or a usage error naming the file when it is not one. */
function readRecord(recordFile: string): BackupRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(recordFile, 'utf8'));
  } catch (error) {
    throw new DriftGuardError('USAGE', `${recordFile} is not a backup record (${(error as Error).message.split('\n')[0]}); restore a backup whose record is intact, or move the record away to restore without the sha256 check`);
  }
  const record = parsed as Partial<BackupRecord> | null;
  if (record === null || typeof record !== 'object' || Array.isArray(record) || typeof record.sha256 !== 'string' || typeof record.file !== 'string') {
    throw new DriftGuardError('USAGE', `${recordFile} is not a backup record (no file and sha256 in it); restore a backup whose record is intact, or move the record away to restore without the sha256 check`);
  }
  return record as BackupRecord;
}

export interface RestoreOptions {
  readonly file: string;
  readonly url: string;
  readonly env: NodeJS.ProcessEnv;
  /** How long to wait for a deploy (or another restore) of the same database; default 5 minutes. */
  readonly lockTimeoutMs?: number;
  readonly reporter?: Reporter;
}

/**
 * Makes the database what the backup holds, in one transaction (all or nothing): objects the
 * backup does not have (what a failed deploy created) are dropped first, then pg_restore --clean
 * replaces the rest. Ownership and privileges stay as the target has them (--no-owner --no-acl).
 */
export async function restoreBackup(options: RestoreOptions): Promise<{ record: BackupRecord | undefined; ms: number; dropped: readonly string[] }> {
  const started = performance.now();
  const record = await checkBackupFile(options.file);
  const serverMajor = await withClient(options.url, async (client) => Math.floor(Number((await client.query<{ num: string }>("SELECT current_setting('server_version_num') AS num")).rows[0]!.num) / 10_000));
  const tools = await clientToolsFor(Math.max(serverMajor, record === undefined ? 0 : Number(record.pgDump.split('.')[0])), String(serverMajor), options.env);
  await verifyBackup(options.file, tools, options.env);
  const contents = tocKeys(await run(tools.pgRestore, ['--list', options.file], undefined, options.env, 'pg_restore --list'));
  // A restore and a deploy of the same database exclude each other (the deploy lock).
  const lockClient = await connect(options.url, { applicationName: 'drift-guard restore' });
  try {
    return await withAdvisoryLock(lockClient, { key: DEPLOY_LOCK_KEY, timeoutMs: options.lockTimeoutMs ?? 300_000, reporter: options.reporter ?? silentReporter, what: 'deploys and restores of this database' }, async () => {
      const extra = await withClient(options.url, (client) => objectsNotIn(client, contents));
      const prelude = `SET client_min_messages = warning;\n${extra.map((o) => `${o.drop};`).join('\n')}\n`;
      await restoreThroughPipe(tools, options, prelude);
      return { record, ms: Math.round(performance.now() - started), dropped: extra.map((o) => o.name) };
    });
  } finally {
    await lockClient.end().catch(() => undefined);
  }
}

/**
 * pg_restore's SQL goes through a pipe into psql --single-transaction: no plain-SQL copy of the
 * data on disk. psql's input is closed (which lets it COMMIT) only after pg_restore exited 0; if
 * pg_restore fails, or drift-guard is interrupted, psql is killed first and its transaction is
 * rolled back by the server, so a cancelled restore changes nothing.
 */
function restoreThroughPipe(tools: Pick<ClientTools, 'pgRestore' | 'psql'>, options: RestoreOptions, prelude: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const psqlEnv = { ...options.env, ...libpqEnvironment(options.url), PGAPPNAME: 'drift-guard restore' };
    const psql = spawn(tools.psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--no-password', '-f', '-'], { env: psqlEnv, stdio: ['pipe', 'ignore', 'pipe'] });
    // SIGINT: psql cancels the statement running on the server, then exits without COMMIT.
    const psqlExited = trackChild(psql, { signal: 'SIGINT' });
    const dump = spawn(tools.pgRestore, ['--clean', '--if-exists', '--no-owner', '--no-acl', '--file=-', options.file], { env: { ...options.env, PGAPPNAME: 'drift-guard' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const dumpExited = trackChild(dump);
    let psqlErr = '';
    let dumpErr = '';
    psql.stderr.on('data', (chunk: Buffer) => (psqlErr += chunk.toString()));
    dump.stderr.on('data', (chunk: Buffer) => (dumpErr += chunk.toString()));
    psql.stdin.on('error', () => undefined); // psql gone early: its exit code says why.
    let failed = false;
    const fail = (error: DriftGuardError): void => {
      if (failed) return;
      failed = true;
      psql.kill('SIGKILL'); // Before its input ends: it never reaches COMMIT.
      dump.kill('SIGKILL');
      void Promise.all([psqlExited, dumpExited]).then(() => reject(error));
    };
    psql.on('error', (error) => fail(new DriftGuardError('TOOL_MISSING', `cannot run ${tools.psql}: ${error.message}`)));
    dump.on('error', (error) => fail(new DriftGuardError('TOOL_MISSING', `cannot run ${tools.pgRestore}: ${error.message}`)));
    psql.stdin.write(prelude);
    dump.stdout.pipe(psql.stdin, { end: false });
    dump.on('close', (code, signal) => {
      if (code !== 0) {
        fail(new DriftGuardError('BACKUP_FAILED', `pg_restore failed (${signal ?? `exit ${code}`}): ${maskSecrets(dumpErr.trim().split('\n').slice(0, 3).join(' / ')) || 'no message'}; nothing was restored`));
        return;
      }
      psql.stdin.end();
    });
    psql.on('close', (code, signal) => {
      if (failed) return;
      if (code === 0 && dump.exitCode === 0) resolve();
      else fail(new DriftGuardError('BACKUP_FAILED', `restore failed (${signal ?? `exit ${code}`}): ${maskSecrets(psqlErr.trim().split('\n').slice(0, 3).join(' / ')) || 'no message'}; nothing was restored`));
    });
  });
}

/** "KIND schema name" of every object a pg_restore --list shows. */
function tocKeys(listing: string): Set<string> {
  const kinds = ['MATERIALIZED VIEW', 'FOREIGN TABLE', 'FK CONSTRAINT', 'TABLE', 'VIEW', 'SEQUENCE', 'TYPE', 'DOMAIN', 'FUNCTION', 'PROCEDURE', 'AGGREGATE', 'SCHEMA', 'EXTENSION'];
  const keys = new Set<string>();
  for (const line of listing.split('\n')) {
    const entry = /^\d+; \d+ \d+ (.*)$/.exec(line)?.[1];
    if (entry === undefined) continue;
    const kind = kinds.find((k) => entry.startsWith(`${k} `) && !entry.startsWith(`${k} DATA`) && !entry.startsWith(`${k} OWNED BY`) && !entry.startsWith(`${k} SET`));
    if (kind === undefined) continue;
    // "<schema> <name...> <owner>": the owner is the last word (empty for extensions).
    const rest = entry.slice(kind.length + 1).replace(/ [^ ]*$/, '');
    keys.add(`${kind === 'FK CONSTRAINT' ? 'CONSTRAINT' : kind} ${rest}`);
  }
  return keys;
}

/** Objects in the database that are not in `contents` (keys of a backup's listing), with the statement that drops each. */
export async function objectsNotIn(client: pg.Client, contents: ReadonlySet<string>): Promise<{ name: string; drop: string }[]> {
  await client.query("SET search_path = ''");
  const rows = await client.query<{ key: string; name: string; drop: string }>(`
    WITH user_ns AS (
      SELECT oid, nspname FROM pg_namespace
       WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
    ), members AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
    SELECT 'EXTENSION - ' || e.extname AS key, 'extension ' || e.extname AS name, format('DROP EXTENSION IF EXISTS %I CASCADE', e.extname) AS drop
      FROM pg_extension e WHERE e.extname <> 'plpgsql'
    UNION ALL
    SELECT 'SCHEMA - ' || n.nspname, 'schema ' || n.nspname, format('DROP SCHEMA IF EXISTS %I CASCADE', n.nspname)
      FROM user_ns n WHERE n.nspname <> 'public' AND n.oid NOT IN (SELECT objid FROM members)
    UNION ALL
    SELECT (CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END) || ' ' || n.nspname || ' ' || c.relname,
           n.nspname || '.' || c.relname,
           format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname)
      FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition AND c.oid NOT IN (SELECT objid FROM members)
    UNION ALL
    SELECT (CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END) || ' ' || n.nspname || ' ' || t.typname,
           n.nspname || '.' || t.typname,
           format('DROP %s IF EXISTS %I.%I CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname)
      FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
     WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) AND t.oid NOT IN (SELECT objid FROM members)
    UNION ALL
    SELECT (CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END) || ' ' || n.nspname || ' ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           n.nspname || '.' || p.proname,
           format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure)
      FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
     WHERE p.oid NOT IN (SELECT objid FROM members) AND p.prokind <> 'w'
    UNION ALL
    SELECT 'CONSTRAINT ' || n.nspname || ' ' || c.relname || ' ' || k.conname,
           n.nspname || '.' || c.relname || '.' || k.conname,
           format('ALTER TABLE IF EXISTS %I.%I DROP CONSTRAINT IF EXISTS %I CASCADE', n.nspname, c.relname, k.conname)
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN user_ns n ON n.oid = c.relnamespace
     WHERE k.contype = 'f'`);
  // Functions: the listing names them with bare argument types, the catalog with argument names too; compare both ways.
  const bare = (key: string): string => key.replace(/\((.*)\)$/, (_m, args: string) => `(${args.split(', ').map((a) => a.replace(/^(IN |OUT |INOUT |VARIADIC )?"?[a-z_][a-z0-9_]*"? (?=.)/i, '$1')).join(', ')})`);
  return rows.rows.filter((row) => !contents.has(row.key) && !contents.has(bare(row.key))).map(({ name, drop }) => ({ name, drop }));
}

export function recordPath(file: string): string {
  return file.replace(/\.dump$/, '') + '.json';
}

/**
 * Deletes this database's oldest verified backups beyond `keep`: those whose record names the same
 * database on the same cluster (system identifier, database oid, server port). Two servers that each have a
 * database `app` can share a backup folder; a record without an identity is never deleted.
 */
function prune(dir: string, current: BackupRecord, keep: number, currentFile: string): string[] {
  if (current.systemIdentifier === undefined) return [];
  // Exactly <database>-<stamp>.dump: "shop" must not prune "shop-eu"'s backups.
  const ours = new RegExp(`^${safeName(current.database).replace(/[.]/g, '\\.')}-\\d{8}T\\d{6}\\.\\d{3}Z\\.dump$`);
  const sameDatabase = (name: string): boolean => {
    try {
      const record = readRecord(recordPath(path.join(dir, name)));
      return record.systemIdentifier === current.systemIdentifier && record.databaseOid === current.databaseOid && record.database === current.database && record.serverPort === current.serverPort;
    } catch {
      return false;
    }
  };
  const backups = readdirSync(dir)
    .filter((name) => ours.test(name) && existsSync(recordPath(path.join(dir, name))) && sameDatabase(name))
    .sort();
  const doomed = backups.slice(0, Math.max(0, backups.length - keep)).map((name) => path.join(dir, name)).filter((file) => file !== currentFile);
  for (const file of doomed) {
    rmSync(file, { force: true });
    rmSync(recordPath(file), { force: true });
    rmSync(`${file}.sha256`, { force: true });
  }
  return doomed;
}

function safeName(database: string): string {
  return database.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function run(binary: string, args: readonly string[], url: string | undefined, env: NodeJS.ProcessEnv, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const childEnv = { ...env, ...(url === undefined ? {} : libpqEnvironment(url)), PGAPPNAME: 'drift-guard' };
    const child = spawn(binary, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    void trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => reject(new DriftGuardError('TOOL_MISSING', `cannot run ${binary}: ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new DriftGuardError('BACKUP_FAILED', `${what} failed (exit ${code}): ${maskSecrets(stderr.trim().split('\n').slice(0, 3).join(' / ')) || 'no message'}`));
    });
  });
}

function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function writeAtomically(file: string, content: string): void {
  const temp = `${file}.partial`;
  writeFileSync(temp, content, { mode: 0o600 });
  chmodSync(temp, 0o600);
  fsyncFile(temp);
  renameSync(temp, file);
}

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
