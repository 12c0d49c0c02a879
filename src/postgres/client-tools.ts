// pg_dump, pg_restore and psql for backups and restores. pg_dump refuses (or, worse, misreads) a server newer than
// itself, so the newest installed pair is used and a server newer than it is a clear error naming
// both versions and how to get a matching client.

import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DriftGuardError } from '../errors.js';
import { systemBinDirs } from './binaries.js';

const execFileAsync = promisify(execFile);

export interface ClientTools {
  readonly pgDump: string;
  readonly pgRestore: string;
  readonly psql: string;
  /** pg_dump's full version, e.g. "16.4". */
  readonly version: string;
  readonly major: number;
}

/** Every pg_dump/pg_restore pair installed here, newest first. */
export async function findClientTools(env: NodeJS.ProcessEnv): Promise<ClientTools[]> {
  const seen = new Set<string>();
  const found: ClientTools[] = [];
  for (const dir of systemBinDirs(env, 'pg_dump')) {
    const pgDump = path.join(dir, 'pg_dump');
    const pgRestore = path.join(dir, 'pg_restore');
    const psql = path.join(dir, 'psql');
    if (!existsSync(pgDump) || !existsSync(pgRestore) || !existsSync(psql)) continue;
    const version = await versionOf(pgDump);
    if (version === undefined) continue;
    const key = `${realpathOr(pgDump)} ${version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ pgDump, pgRestore, psql, version, major: Number(version.split('.')[0]) });
  }
  return found.sort((a, b) => compareVersions(b.version, a.version));
}

/** The tools that can dump a server of `serverMajor`: the newest pair, which must not be older. */
export async function clientToolsFor(serverMajor: number, serverVersion: string, env: NodeJS.ProcessEnv): Promise<ClientTools> {
  const tools = await findClientTools(env);
  const newest = tools[0];
  if (newest === undefined) {
    throw new DriftGuardError('TOOL_MISSING', `no pg_dump found (PATH, /usr/lib/postgresql/*/bin, ...); install the PostgreSQL ${serverMajor} client programs (Debian/Ubuntu: apt-get install postgresql-client-${serverMajor})`);
  }
  if (newest.major < serverMajor) {
    throw new DriftGuardError(
      'TOOL_MISSING',
      `pg_dump ${newest.version} (${newest.pgDump}) is older than the server (PostgreSQL ${serverVersion}); pg_dump must be at least the server's major version. Install the PostgreSQL ${serverMajor} client programs (Debian/Ubuntu: apt-get install postgresql-client-${serverMajor}) and put them first on PATH`,
    );
  }
  return newest;
}

async function versionOf(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 10_000 });
    return /\)\s*(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

function realpathOr(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}
