// dbmate (v2): <digits>*.sql files holding "-- migrate:up" and "-- migrate:down" blocks, options on
// the directive line (transaction:false); schema_migrations(version varchar primary key), one row
// per applied migration. Rules from pkg/dbmate/db.go, pkg/dbmate/migration.go and
// pkg/driver/postgres/postgres.go.

import path from 'node:path';
import type { Finding } from '../../../report/finding.js';
import { type AppliedMigration, type Discovered, type Layout, type Migration, type MigrationScript, scriptOf } from '../layout.js';
import { compareNumeric, listFiles, lockKeyFromName, readMigrationFile, nextVersion, slug, tableExists, utcTimestamp } from './common.js';

/** db.go: ^(\d+).*\.sql$ — the version is the leading digits, leading zeros kept. */
const FILE = /^(\d+).*\.sql$/;
const UP = /^--\s*migrate:up(\s*$|\s+\S+)/m;
const DOWN = /^--\s*migrate:down(\s*$|\s+\S+)/m;
const TABLE = 'schema_migrations';

export const dbmateLayout: Layout = {
  name: 'dbmate',
  historyTable: TABLE,
  recordsChecksums: false,

  // dbmate takes no lock; drift-guard runners still exclude each other.
  async lockKey() {
    return lockKeyFromName(`drift-guard:dbmate:${TABLE}`);
  },

  discover(dir, root): Discovered {
    const migrations: Migration[] = [];
    const problems: Finding[] = [];
    // db.go sorts by file name, as strings.
    for (const file of listFiles(dir).sort()) {
      const match = FILE.exec(file);
      if (match === null) continue;
      const relative = path.relative(root, path.join(dir, file));
      const text = readMigrationFile(path.join(dir, file));
      const parsed = parseSections(text, relative);
      if ('problem' in parsed) {
        problems.push({ check: 'migrations', code: 'APPLY_FAILED', severity: 'error', message: parsed.problem, file: relative, line: parsed.line });
        continue;
      }
      migrations.push({
        version: match[1]!,
        description: file.slice(match[1]!.length).replace(/^_/, '').replace(/\.sql$/, ''),
        kind: 'versioned',
        up: parsed.up,
        down: parsed.down,
        label: file,
      });
    }
    return { migrations, problems: [...problems, ...duplicates(migrations)] };
  },

  compareVersions: compareNumeric,

  async ensureHistory(client) {
    await client.query(`create table if not exists ${TABLE} (version varchar primary key)`);
  },

  async readHistory(client) {
    if (!(await tableExists(client, TABLE))) return { applied: [] };
    const result = await client.query<{ version: string }>(`select version from ${TABLE} order by version desc`);
    const applied: AppliedMigration[] = result.rows.map((row) => ({ version: row.version, kind: 'versioned', success: true }));
    return { applied };
  },

  recordUp(migration) {
    return [{ text: `insert into ${TABLE} (version) values ($1)`, values: [migration.version] }];
  },

  recordDown(migration) {
    return [{ text: `delete from ${TABLE} where version = $1`, values: [migration.version] }];
  },

  newMigration(dir, name, existing, now, body) {
    const up = scriptOf(body?.up ?? []);
    const down = scriptOf(body?.down ?? []);
    return [{ path: path.join(dir, `${nextVersion(existing, now, utcTimestamp)}_${slug(name)}.sql`), content: `-- migrate:up\n${up}\n\n-- migrate:down\n${down}\n` }];
  },
};

/**
 * migration.go: the up block runs from its directive line to the down directive, the down block
 * from there to the end; the directive lines are part of the SQL sent. Only blank and comment
 * lines may precede the up directive, and both directives are required.
 */
function parseSections(text: string, file: string): { up: MigrationScript; down: MigrationScript } | { problem: string; line?: number } {
  const up = UP.exec(text);
  if (up === null) return { problem: `${file}: dbmate requires each migration to define an up block with '-- migrate:up'` };
  const down = DOWN.exec(text);
  if (down === null) return { problem: `${file}: dbmate requires each migration to define a down block with '-- migrate:down'` };
  if (down.index < up.index) return { problem: `${file}: dbmate requires '-- migrate:up' to appear before '-- migrate:down'`, line: lineOf(text, down.index) };
  const preamble = text.slice(0, up.index).split('\n').find((line) => line.trim() !== '' && !/^\s*--/.test(line));
  if (preamble !== undefined) return { problem: `${file}: dbmate does not support statements preceding the '-- migrate:up' block`, line: lineOf(text, text.indexOf(preamble)) };
  const upSql = text.slice(up.index, down.index);
  const downSql = text.slice(down.index);
  return {
    up: { file, fileText: text, sql: upSql, sqlOffset: up.index, transaction: transactionOption(upSql) },
    down: { file, fileText: text, sql: downSql, sqlOffset: down.index, transaction: transactionOption(downSql) },
  };
}

/** Options are key:value pairs on the directive line; only transaction:false changes anything. */
function transactionOption(section: string): boolean {
  const directive = (section.split('\n', 1)[0] ?? '').replace(/^--\s*migrate:(up|down)/, '').trim();
  const options = new Map(
    directive
      .split(/\s+/)
      .map((pair) => pair.split(':'))
      .filter((pair) => pair.length === 2) as [string, string][],
  );
  return options.get('transaction') !== 'false';
}

function duplicates(migrations: readonly Migration[]): Finding[] {
  const seen = new Map<string, Migration>();
  const found: Finding[] = [];
  for (const migration of migrations) {
    const first = seen.get(migration.version);
    if (first === undefined) seen.set(migration.version, migration);
    else
      found.push({
        check: 'migrations',
        code: 'MIGRATION_DUPLICATE_VERSION',
        severity: 'error',
        message: `version ${migration.version} is used by ${first.label} and ${migration.label}; dbmate would record them as one migration`,
        file: migration.up.file,
      });
  }
  return found;
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}
