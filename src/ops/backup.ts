// Verified backups with pg_dump -Fc. A backup is written under a temporary name and renamed only
// when pg_dump succeeded; it then must list cleanly with pg_restore --list; its sha256 and a small
// JSON record are written beside it. Only then are older backups of the same database pruned, so a
// failed backup never costs a good one. The connection goes to pg_dump through libpq's environment
// variables, never its command line (where `ps` would show the password).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { DriftGuardError } from '../errors.js';
import { withClient } from '../postgres/client.js';
import { clientToolsFor, type ClientTools } from '../postgres/client-tools.js';
import { libpqEnvironment } from '../postgres/libpq-env.js';
import { maskSecrets } from '../util/secrets.js';

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

/** Checks, before anything else happens, that backups can be written to `dir`. */
export function assertBackupDirUsable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
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
    return row.rows[0]!;
  });
  const serverMajor = Math.floor(Number(facts.num) / 10_000);
  const serverVersion = facts.version.split(' ')[0]!;
  const tools = await clientToolsFor(serverMajor, serverVersion, options.env);

  const stamp = new Date().toISOString().replace(/[-:]/g, ''); // 20261121T063000.123Z: sorts by time
  const base = `${safeName(facts.database)}-${stamp}`;
  const file = path.join(options.dir, `${base}.dump`);
  if (existsSync(file)) throw new DriftGuardError('USAGE', `${file} already exists; wait a second and try again`);
  const partial = path.join(options.dir, `.${base}.dump.partial`);
  try {
    await run(tools.pgDump, ['--format=custom', '--no-password', `--file=${partial}`], options.url, options.env, 'pg_dump');
    fsyncFile(partial);
    renameSync(partial, file);
    fsyncFile(options.dir);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
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
  };
  writeAtomically(recordPath(file), `${JSON.stringify(record, null, 2)}\n`);
  writeAtomically(`${file}.sha256`, `${record.sha256}  ${record.file}\n`);
  return { path: file, record, pruned: prune(options.dir, facts.database, options.keep, file) };
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
  const recordFile = recordPath(file);
  if (!existsSync(recordFile)) return undefined;
  const record = JSON.parse(readFileSync(recordFile, 'utf8')) as BackupRecord;
  const actual = await sha256Of(file);
  if (actual !== record.sha256) {
    throw new DriftGuardError('USAGE', `${file} does not match its record: sha256 ${actual}, recorded ${record.sha256}; the file is damaged or was replaced, so it is not restored`);
  }
  return record;
}

export interface RestoreOptions {
  readonly file: string;
  readonly url: string;
  readonly env: NodeJS.ProcessEnv;
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
  const extra = await withClient(options.url, (client) => objectsNotIn(client, contents));
  const work = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-restore-'));
  try {
    const prelude = path.join(work, 'prelude.sql');
    const script = path.join(work, 'restore.sql');
    writeFileSync(prelude, `SET client_min_messages = warning;\n${extra.map((o) => `${o.drop};`).join('\n')}\n`);
    await run(tools.pgRestore, ['--clean', '--if-exists', '--no-owner', '--no-acl', `--file=${script}`, options.file], undefined, options.env, 'pg_restore');
    await run(tools.psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--no-password', '-f', prelude, '-f', script], options.url, options.env, 'restore');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { record, ms: Math.round(performance.now() - started), dropped: extra.map((o) => o.name) };
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

/** Deletes this database's oldest verified backups (those with a record) beyond `keep`. */
function prune(dir: string, database: string, keep: number, current: string): string[] {
  // Exactly <database>-<stamp>.dump: "shop" must not prune "shop-eu"'s backups.
  const ours = new RegExp(`^${safeName(database).replace(/[.]/g, '\\.')}-\\d{8}T\\d{6}\\.\\d{3}Z\\.dump$`);
  const backups = readdirSync(dir)
    .filter((name) => ours.test(name) && existsSync(recordPath(path.join(dir, name))))
    .sort();
  const doomed = backups.slice(0, Math.max(0, backups.length - keep)).map((name) => path.join(dir, name)).filter((file) => file !== current);
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
  writeFileSync(temp, content);
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
