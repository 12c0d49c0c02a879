// golang-migrate (v4, postgres driver): <version>_<name>.up.<ext> / .down.<ext>; one row
// (version bigint, dirty boolean) in schema_migrations holding the current version. Rules from
// source/parse.go, source/migration.go, database/postgres/postgres.go and database/util.go.

import { crc32 } from '../../../util/crc32.js';
import path from 'node:path';
import { quoteIdent as quote } from '../../../postgres/sql.js';
import type { Finding } from '../../../report/finding.js';
import { type AppliedMigration, type Discovered, type HistorySession, type HistoryWrite, type Layout, type Migration, type MigrationScript, scriptOf } from '../layout.js';
import { compareNumeric, currentSchema, listFiles, nextVersion, slug, utcTimestamp, wholeFileScript } from './common.js';

/** source/parse.go: ^([0-9]+)_(.*)\.(down|up)\.(.*)$ */
const FILE = /^([0-9]+)_(.*)\.(down|up)\.(.*)$/;
const TABLE = 'schema_migrations';
const LOCK_SALT = 1486364155;

export const golangMigrateLayout: Layout = {
  name: 'golang-migrate',
  historyTable: TABLE,
  recordsChecksums: false,
  // database/postgres/postgres.go Run(): one ExecContext of the whole file.
  sendsWholeFile: true,

  // database/util.go GenerateAdvisoryLockId(databaseName, schema, table): crc32 of
  // "schema\0table\0databaseName" times the salt, in uint32 arithmetic. The CLI passes the URL path
  // ("/mydb") as the database name; using the same key makes drift-guard and migrate exclude each other.
  async lockKey(client) {
    return BigInt(generateAdvisoryLockId(`/${client.database ?? ''}`, await currentSchema(client), TABLE));
  },

  discover(dir, root): Discovered {
    const byVersion = new Map<string, { up?: string; down?: string; name: string }>();
    const problems: Finding[] = [];
    for (const file of listFiles(dir)) {
      const match = FILE.exec(file);
      if (match === null) continue;
      const [, digits, name, direction] = match as unknown as [string, string, string, 'up' | 'down'];
      if (BigInt(digits) > 18446744073709551615n) continue; // ParseUint overflow: skipped, as migrate does
      const version = BigInt(digits).toString();
      const entry = byVersion.get(version) ?? { name };
      if (entry[direction] !== undefined) {
        problems.push({
          check: 'migrations',
          code: 'MIGRATION_DUPLICATE_VERSION',
          severity: 'error',
          message: `duplicate migration file: ${file} (version ${version} already has ${entry[direction]}); give each migration a unique version`,
          file: path.relative(root, path.join(dir, file)),
        });
        continue;
      }
      entry[direction] = file;
      byVersion.set(version, entry);
    }
    const migrations: Migration[] = [];
    for (const [version, entry] of byVersion) {
      // A version with only a down file still exists for migrate (its up is empty).
      const up: MigrationScript = entry.up === undefined ? emptyScript(dir, root, `${version}_${entry.name}.up.sql`) : wholeFileScript(path.join(dir, entry.up), root);
      migrations.push({
        version,
        description: entry.name,
        kind: 'versioned',
        up,
        down: entry.down === undefined ? undefined : wholeFileScript(path.join(dir, entry.down), root),
        label: entry.up ?? entry.down!,
      });
    }
    migrations.sort((a, b) => compareNumeric(a.version, b.version));
    return { migrations, problems };
  },

  compareVersions: compareNumeric,

  async ensureHistory(client) {
    const schema = await currentSchema(client);
    await client.query(`CREATE TABLE IF NOT EXISTS ${quote(schema)}.${quote(TABLE)} (version bigint not null primary key, dirty boolean not null)`);
  },

  async readHistory(client, known) {
    const schema = await currentSchema(client);
    const table = await client.query<{ exists: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2) AS exists',
      [schema, TABLE],
    );
    if (table.rows[0]?.exists !== true) return { applied: [] };
    const result = await client.query<{ version: string; dirty: boolean }>(`SELECT version::text AS version, dirty FROM ${quote(schema)}.${quote(TABLE)} LIMIT 1`);
    const row = result.rows[0];
    if (row === undefined || Number(row.version) < 0) return { applied: [], ...(row?.dirty === true ? { dirtyVersion: row.version } : {}) };
    // golang-migrate stores only the current version: everything up to it counts as applied.
    const applied: AppliedMigration[] = known
      .filter((m) => compareNumeric(m.version, row.version) <= 0)
      .map((m) => ({ version: m.version, description: m.description, kind: 'versioned', success: true }));
    if (!known.some((m) => m.version === row.version)) applied.push({ version: row.version, kind: 'versioned', success: true });
    return { applied, ...(row.dirty ? { dirtyVersion: row.version } : {}) };
  },

  markDirty(migration, session) {
    return setVersion(session, migration.version, true);
  },

  recordUp(migration, session) {
    return setVersion(session, migration.version, false);
  },

  recordDown(_migration, session, next) {
    // migrate's down step targets the previous version; below the first one, the table is emptied.
    return setVersion(session, next?.version ?? '-1', false);
  },

  newMigration(dir, name, existing, now, body) {
    const base = `${nextVersion(existing, now, utcTimestamp)}_${slug(name)}`;
    return [
      { path: path.join(dir, `${base}.up.sql`), content: scriptOf(body?.up ?? []) },
      { path: path.join(dir, `${base}.down.sql`), content: scriptOf(body?.down ?? []) },
    ];
  },
};

/** database/util.go GenerateAdvisoryLockId, line for line. */
export function generateAdvisoryLockId(databaseName: string, ...additionalNames: string[]): number {
  const input = additionalNames.length > 0 ? [...additionalNames, databaseName].join('\u0000') : databaseName;
  return Math.imul(crc32(Buffer.from(input)), LOCK_SALT) >>> 0;
}

/**
 * database/postgres SetVersion: empty the table, then insert the row unless the version is nil and
 * clean. migrate does it with TRUNCATE + INSERT in a transaction of its own; the rows anyone can
 * see are the same with one statement that deletes and inserts, which is atomic wherever it runs
 * (in the migration's own transaction, or alone when it marks a migration dirty) and costs a
 * fraction of a TRUNCATE, which creates a new relation file every time (per migration, on a
 * 1,000-migration history, most of migrate's own time).
 */
function setVersion(session: HistorySession, version: string, dirty: boolean): HistoryWrite[] {
  const table = `${quote(session.schema)}.${quote(TABLE)}`;
  if (Number(version) < 0 && !dirty) return [{ text: `DELETE FROM ${table}` }];
  // The statement's DELETE and INSERT see the same snapshot: a row of the same version is updated
  // in place (deleting and inserting one key in one statement would clash on the primary key).
  return [
    {
      text: `WITH emptied AS (DELETE FROM ${table} WHERE version <> $1) INSERT INTO ${table} (version, dirty) VALUES ($1, $2) ON CONFLICT (version) DO UPDATE SET dirty = excluded.dirty`,
      values: [version, dirty],
    },
  ];
}



function emptyScript(dir: string, root: string, file: string): MigrationScript {
  return { file: path.relative(root, path.join(dir, file)), fileText: '', sql: '', sqlOffset: 0, transaction: true };
}
