// Pieces several layouts share: reading migration files, numeric version order, checksums that
// ignore line endings and BOMs, and history-table existence checks.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { DriftGuardError } from '../../../errors.js';
import type { Finding } from '../../../report/finding.js';
import type { Migration, MigrationScript } from '../layout.js';

/** Reads a migration file as UTF-8 without its byte-order mark. */
export function readMigrationFile(file: string): string {
  const text = readFileSync(file, 'utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function listFiles(dir: string): string[] {
  return directoryEntries(dir).filter((e) => e.stats.isFile()).map((e) => e.name).sort();
}

export function listDirs(dir: string): string[] {
  return directoryEntries(dir).filter((e) => e.stats.isDirectory()).map((e) => e.name).sort();
}

/**
 * A migrations folder's entries with what they point at. An entry no tool could read (a symbolic
 * link to nowhere or in a loop, a name that is not UTF-8) is a usage error naming it and the fix:
 * the folder is read fail-closed, never with an entry silently skipped.
 */
export function directoryEntries(dir: string): { name: string; stats: Pick<Stats, 'isFile' | 'isDirectory'> }[] {
  let entries: import('node:fs').Dirent<Buffer>[];
  try {
    entries = readdirSync(dir, { encoding: 'buffer', withFileTypes: true });
  } catch (error) {
    // A folder that does not exist holds no migrations: the base of the PR that adds the first
    // ones. (The configured folder itself is checked for existence where the project is read.)
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries.map((entry) => {
    const raw = entry.name;
    const name = raw.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(raw)) {
      throw new DriftGuardError('USAGE', `${path.join(dir, escapeBytes(raw))}: the file name is not UTF-8; rename it (migration tools and git disagree on such names)`);
    }
    // The entry's own type, without a stat per file (a history has thousands); a symbolic link
    // (or an entry of unknown type) is followed.
    if (entry.isFile() || entry.isDirectory()) return { name, stats: entry };
    const full = path.join(dir, name);
    try {
      return { name, stats: statSync(full) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new DriftGuardError('USAGE', `${full}: a symbolic link to ${safeReadlink(full)}, which does not exist; remove the link or restore its target`);
      if (code === 'ELOOP') throw new DriftGuardError('USAGE', `${full}: a loop of symbolic links; remove the link`);
      throw new DriftGuardError('USAGE', `${full}: cannot be read (${code ?? (error as Error).message}); fix its permissions or remove it`);
    }
  });
}

function safeReadlink(file: string): string {
  try {
    return readlinkSync(file);
  } catch {
    return 'a missing target';
  }
}

/** A byte string with non-ASCII and control bytes as \xNN. */
function escapeBytes(raw: Buffer): string {
  return [...raw].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

export function wholeFileScript(file: string, root: string, transaction = true): MigrationScript {
  const text = readMigrationFile(file);
  return { file: path.relative(root, file), fileText: text, sql: text, sqlOffset: 0, transaction };
}

/** Compares digit strings as numbers of any size. */
export function compareNumeric(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
}

/** SHA-256 of the text with line endings normalised, so CRLF/LF and BOM changes are not "changes". */
export function contentChecksum(text: string): string {
  return createHash('sha256').update(text.replace(/^\ufeff/, '').replace(/\r\n?/g, '\n')).digest('hex');
}

/** Findings for versions that appear more than once. */
export function duplicateVersions(migrations: readonly Migration[], check: string): Finding[] {
  const byVersion = new Map<string, Migration[]>();
  for (const migration of migrations) {
    if (migration.kind !== 'versioned') continue;
    const list = byVersion.get(migration.version) ?? [];
    list.push(migration);
    byVersion.set(migration.version, list);
  }
  return [...byVersion.values()]
    .filter((list) => list.length > 1)
    .map((list) => ({
      check,
      code: 'MIGRATION_DUPLICATE_VERSION' as const,
      severity: 'error' as const,
      message: `version ${list[0]!.version} is used by ${list.length} migrations (${list.map((m) => m.up.file).join(', ')}); give each a unique version`,
      file: list[1]!.up.file,
    }));
}

/** Whether a table exists, by a possibly schema-qualified name, without raising. */
export async function tableExists(client: pg.Client, qualifiedName: string): Promise<boolean> {
  const result = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [qualifiedName]);
  return result.rows[0]?.oid !== null && result.rows[0]?.oid !== undefined;
}

/**
 * The version a new migration takes, following the numbering the project already uses (as
 * golang-migrate's `create -seq` and goose's `fix` do): when the newest migration is numbered
 * sequentially (001, 000005, 7), the next number with the same zero-padded width; when it is a
 * Unix timestamp (10 digits), the clock in seconds; otherwise (date-time stamps, or no migration
 * yet) `stamp(now)`, the tool's own format. `numberOf` reads a migration's number from its file
 * name (digits only; the leading ones of the name by default).
 */
export function nextVersion(existing: readonly Migration[], now: Date, stamp: (now: Date) => string, numberOf: (migration: Migration) => string | undefined = leadingNumber): string {
  const numbers = existing
    .filter((m) => m.kind === 'versioned')
    .map(numberOf)
    .filter((n): n is string => n !== undefined && /^\d+$/.test(n));
  if (numbers.length === 0) return stamp(now);
  const newest = numbers.reduce((a, b) => (compareNumeric(a, b) >= 0 ? a : b));
  const value = BigInt(newest);
  if (value >= SEQUENTIAL_BELOW) return newest.length === 10 ? String(Math.floor(now.getTime() / 1000)) : stamp(now);
  return String(value + 1n).padStart(newest.length, '0');
}

/** Numbers from 1e9 up are clocks (Unix seconds, yyyymmddHHMMSS), not counters. */
const SEQUENTIAL_BELOW = 1_000_000_000n;

/** The digits a migration's file (or folder) name starts with, after Flyway's V and without diesel's dashes. */
export function leadingNumber(migration: Migration): string | undefined {
  const name = path.basename(migration.label).replace(/^[VU]/, '');
  return /^[\d-]*\d/.exec(name)?.[0].replace(/-/g, '');
}

/** The next file-name version from the clock, as yyyymmddHHMMSS in UTC. */
export function utcTimestamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** A migration name as a file-name slug: "Add orders" -> "add_orders". */
export function slug(name: string): string {
  return name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** A stable 63-bit advisory lock key from a string (for layouts whose tool defines none). */
export function lockKeyFromName(name: string): bigint {
  const digest = createHash('sha256').update(name).digest();
  return digest.readBigInt64BE(0) & 0x7fffffffffffffffn;
}

/** The schema unqualified names resolve to (where golang-migrate and Flyway put their tables). */
export async function currentSchema(client: pg.Client): Promise<string> {
  const result = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  return result.rows[0]?.schema ?? 'public';
}
