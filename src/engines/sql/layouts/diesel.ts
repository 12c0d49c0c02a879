// diesel (2.x): one directory per migration, <version>_<name>/up.sql (+ down.sql, metadata.toml);
// __diesel_schema_migrations(version varchar(50), run_on timestamp). The version is the part of the
// directory name before the first "_" with every "-" removed, compared as a string. Rules from
// migrations_internals/src/lib.rs, file_based_migrations.rs and migration_harness.rs.

import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Finding } from '../../../report/finding.js';
import { type AppliedMigration, type Discovered, type Layout, type Migration, scriptOf } from '../layout.js';
import { listDirs, lockKeyFromName, nextVersion, slug, tableExists, wholeFileScript } from './common.js';

const TABLE = '__diesel_schema_migrations';

export const dieselLayout: Layout = {
  name: 'diesel',
  historyTable: TABLE,
  recordsChecksums: false,

  // diesel takes no lock; drift-guard runners still exclude each other.
  async lockKey() {
    return lockKeyFromName(`drift-guard:diesel:${TABLE}`);
  },

  discover(dir, root): Discovered {
    const migrations: Migration[] = [];
    const problems: Finding[] = [];
    const byVersion = new Map<string, Migration>();
    for (const name of listDirs(dir)) {
      if (name.startsWith('.')) continue;
      const migrationDir = path.join(dir, name);
      const relative = path.relative(root, migrationDir);
      const upFile = path.join(migrationDir, 'up.sql');
      if (!existsSync(upFile)) {
        problems.push({ check: 'migrations', code: 'APPLY_FAILED', severity: 'error', message: `${relative} has no up.sql; diesel refuses a migrations directory with such a folder`, file: relative });
        continue;
      }
      const transaction = runInTransaction(path.join(migrationDir, 'metadata.toml'));
      const up = wholeFileScript(upFile, root, transaction);
      const downFile = path.join(migrationDir, 'down.sql');
      const down = existsSync(downFile) ? wholeFileScript(downFile, root, transaction) : undefined;
      if (statSync(upFile).size === 0 || !hasStatement(up.sql)) {
        problems.push({
          check: 'migrations',
          code: 'APPLY_FAILED',
          severity: 'error',
          message: `${up.file} holds no SQL statement; diesel fails on it ("Received an empty query" or EmptyMigration)`,
          file: up.file,
        });
      }
      const version = name.split('_')[0]!.replace(/-/g, '');
      const migration: Migration = { version, description: name.slice(name.indexOf('_') + 1), kind: 'versioned', up, down, label: name };
      const clash = byVersion.get(version);
      if (clash !== undefined) {
        problems.push({
          check: 'migrations',
          code: 'MIGRATION_DUPLICATE_VERSION',
          severity: 'error',
          message: `${clash.label} and ${name} both have version ${version}; diesel would run only one of them`,
          file: relative,
        });
        continue;
      }
      byVersion.set(version, migration);
      migrations.push(migration);
    }
    migrations.sort((a, b) => compareStrings(a.version, b.version));
    return { migrations, problems };
  },

  compareVersions: compareStrings,

  async ensureHistory(client) {
    await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)`);
  },

  async readHistory(client) {
    if (!(await tableExists(client, TABLE))) return { applied: [] };
    const result = await client.query<{ version: string; run_on: Date }>(`SELECT version, run_on FROM ${TABLE} ORDER BY version DESC`);
    const applied: AppliedMigration[] = result.rows.map((row) => ({ version: row.version, kind: 'versioned', success: true, appliedAt: row.run_on }));
    return { applied: applied.reverse() };
  },

  recordUp(migration) {
    return [{ text: `INSERT INTO "${TABLE}" ("version") VALUES ($1)`, values: [migration.version] }];
  },

  recordDown(migration) {
    return [{ text: `DELETE FROM "${TABLE}" WHERE "${TABLE}"."version" = $1`, values: [migration.version] }];
  },

  newMigration(dir, name, existing, now, body) {
    const base = path.join(dir, `${nextVersion(existing, now, dieselTimestamp)}_${slug(name)}`);
    return [
      { path: path.join(base, 'up.sql'), content: `-- ${name}\n${scriptOf(body?.up ?? [])}` },
      { path: path.join(base, 'down.sql'), content: `-- Reverts ${name}\n${scriptOf(body?.down ?? [])}` },
    ];
  },
};

/** diesel_cli's TIMESTAMP_FORMAT "%Y-%m-%d-%H%M%S", in UTC. */
function dieselTimestamp(now: Date): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/**
 * metadata.toml: no file (or an unreadable one) means a transaction; a file that sets
 * run_in_transaction uses its value; a readable file without the key means none, because diesel's
 * field-level serde default is bool's false.
 */
function runInTransaction(file: string): boolean {
  if (!existsSync(file)) return true;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return true;
  }
  const match = /^\s*run_in_transaction\s*=\s*(true|false)\s*(?:#.*)?$/m.exec(text);
  return match === null ? false : match[1] === 'true';
}

/**
 * Whether anything but comments, whitespace and semicolons is left: what diesel sends to the server
 * then is not an empty query. No parser needed, so discovery stays synchronous and cheap.
 */
export function hasStatement(sql: string): boolean {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s|;/.test(c)) i += 1;
    else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', i)) {
      // PostgreSQL's block comments nest.
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql.startsWith('/*', i)) (depth += 1), (i += 2);
        else if (sql.startsWith('*/', i)) (depth -= 1), (i += 2);
        else i += 1;
      }
    } else return true;
  }
  return false;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
