// Flyway (community, PostgreSQL): V<version>__<desc>.sql, U<version>__<desc>.sql (undo),
// R__<desc>.sql (repeatable), per-script <file>.conf; flyway_schema_history with Flyway's DDL,
// columns, CRC32 checksums and installed_rank. Rules from ResourceNameParser, MigrationVersion,
// ChecksumCalculator, PostgreSQLDatabase, JdbcTableSchemaHistory, DbMigrate and
// PostgreSQLAdvisoryLockTemplate.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Finding } from '../../../report/finding.js';
import { crc32 } from '../../../util/crc32.js';
import { quoteIdent } from '../../../postgres/sql.js';
import { type AppliedMigration, type Discovered, type HistorySession, type HistoryWrite, type Layout, type Migration, type MigrationScript, scriptOf, TRANSACTION_MS_SQL } from '../layout.js';
import { directoryEntries, currentSchema, readMigrationFile, nextVersion, slug, utcTimestamp } from './common.js';

const TABLE = 'flyway_schema_history';
/** "Flyway" in ASCII: PostgreSQLAdvisoryLockTemplate.LOCK_MAGIC_NUM. */
const LOCK_MAGIC = 77431708279161n;
const UNDO_TYPES = new Set(['UNDO_SQL', 'UNDO_SCRIPT']);

export const flywayLayout: Layout = {
  name: 'flyway',
  historyTable: TABLE,
  recordsChecksums: true,

  // Same key as Flyway's (LOCK_MAGIC_NUM + "schema"."table".hashCode()), so the two exclude each other.
  async lockKey(client) {
    return LOCK_MAGIC + BigInt(javaStringHashCode(`"${await currentSchema(client)}"."${TABLE}"`));
  },

  discover(dir, root): Discovered {
    const problems: Finding[] = [];
    const versioned = new Map<string, Migration>();
    const undo = new Map<string, MigrationScript>();
    const repeatables: Migration[] = [];
    const files = walk(dir);
    // Per-script .conf files, from the listing: no stat per migration.
    const listed = new Set(files);
    // walk() gives normalized relative paths, so joining by hand gives what path.join and
    // path.relative would (a normalization per file is measurable on a long history).
    const folder = dir.endsWith(path.sep) ? dir : `${dir}${path.sep}`;
    const displayFolder = path.relative(root, dir) === '' ? '' : `${path.relative(root, dir)}${path.sep}`;
    for (const relativePath of files) {
      const file = path.basename(relativePath);
      const name = parseResourceName(file);
      if (name === undefined) continue;
      const full = `${folder}${relativePath}`;
      const text = readMigrationFile(full);
      const display = `${displayFolder}${relativePath}`;
      const placeholder = /\$\{([^}]*)\}/.exec(text);
      if (placeholder !== null) {
        problems.push({
          check: 'migrations',
          code: 'APPLY_FAILED',
          severity: 'error',
          message: `${file} uses the Flyway placeholder \${${placeholder[1]}}, which drift-guard does not replace; write the value, or escape it`,
          file: display,
          line: text.slice(0, placeholder.index).split('\n').length,
        });
        continue;
      }
      const script: MigrationScript = { file: display, fileText: text, sql: text, sqlOffset: 0, transaction: !listed.has(`${relativePath}.conf`) || executeInTransaction(`${full}.conf`) };
      const checksum = String(flywayChecksum(text));
      // The history's "script" column holds the path relative to the location, with "/".
      const scriptPath = relativePath.split(path.sep).join('/');
      if (name.prefix === 'R') {
        repeatables.push({ version: '', description: name.description, kind: 'repeatable', up: script, checksum, label: scriptPath });
        continue;
      }
      if (name.prefix === 'U') {
        undo.set(versionKey(name.version), script);
        continue;
      }
      const key = versionKey(name.version);
      const clash = versioned.get(key);
      if (clash !== undefined) {
        problems.push({
          check: 'migrations',
          code: 'MIGRATION_DUPLICATE_VERSION',
          severity: 'error',
          message: `Found more than one migration with version ${name.version} (${clash.label}, ${scriptPath}); give each a unique version`,
          file: display,
        });
        continue;
      }
      versioned.set(key, { version: name.version, description: name.description, kind: 'versioned', up: script, checksum, label: scriptPath });
    }
    for (const [key, script] of undo) {
      const target = versioned.get(key);
      if (target === undefined) {
        problems.push({ check: 'migrations', code: 'MIGRATION_DOWN_MISSING', severity: 'warning', message: `${script.file} undoes a version that has no V migration`, file: script.file });
        continue;
      }
      versioned.set(key, { ...target, down: script });
    }
    const byDescription = new Map<string, Migration>();
    for (const repeatable of repeatables) {
      const clash = byDescription.get(repeatable.description);
      if (clash !== undefined) {
        problems.push({
          check: 'migrations',
          code: 'MIGRATION_DUPLICATE_VERSION',
          severity: 'error',
          message: `Found more than one repeatable migration with description ${repeatable.description} (${clash.label}, ${repeatable.label})`,
          file: repeatable.up.file,
        });
      }
      byDescription.set(repeatable.description, repeatable);
    }
    const migrations = [
      ...[...versioned.values()].sort((a, b) => compareFlywayVersions(a.version, b.version)),
      ...repeatables.sort((a, b) => (a.description < b.description ? -1 : a.description > b.description ? 1 : 0)),
    ];
    return { migrations, problems };
  },

  compareVersions: compareFlywayVersions,

  async ensureHistory(client) {
    const schema = await currentSchema(client);
    if (await historyExists(client, schema)) return;
    const table = `"${schema}"."${TABLE}"`;
    // PostgreSQLDatabase.getRawCreateScript, run in one transaction as Flyway does.
    await client.query('BEGIN');
    try {
      await client.query(`CREATE TABLE ${table} (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
)`);
      await client.query(`ALTER TABLE ${table} ADD CONSTRAINT "${TABLE}_pk" PRIMARY KEY ("installed_rank")`);
      await client.query(`CREATE INDEX "${TABLE}_s_idx" ON ${table} ("success")`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  },

  async readHistory(client) {
    const schema = await currentSchema(client);
    if (!(await historyExists(client, schema))) return { applied: [] };
    const result = await client.query<{
      installed_rank: number;
      version: string | null;
      description: string;
      type: string;
      checksum: number | null;
      installed_on: Date;
      installed_by: string;
      execution_time: number;
      success: boolean;
    }>(
      `SELECT "installed_rank","version","description","type","script","checksum","installed_on","installed_by","execution_time","success" FROM "${schema}"."${TABLE}" ORDER BY "installed_rank"`,
    );
    // The newest row of a version decides: an undo row after it means "not applied" (UNDONE).
    const versions = new Map<string, AppliedMigration>();
    const repeatables: AppliedMigration[] = [];
    for (const row of result.rows) {
      if (row.type === 'SCHEMA' || row.type === 'BASELINE' || row.type === 'DELETE') {
        if (row.type === 'BASELINE' && row.version !== null) versions.set(versionKey(row.version), applied(row, 'versioned'));
        continue;
      }
      if (row.version === null) {
        repeatables.push(applied(row, 'repeatable'));
        continue;
      }
      if (UNDO_TYPES.has(row.type)) {
        if (row.success) versions.delete(versionKey(row.version));
        continue;
      }
      versions.set(versionKey(row.version), applied(row, 'versioned'));
    }
    return { applied: [...versions.values(), ...repeatables] };
  },

  recordUp(migration, session, executionMs) {
    return insertRow(session, {
      version: migration.kind === 'versioned' ? migration.version : null,
      description: migration.description,
      type: 'SQL',
      script: migration.label,
      checksum: Number(migration.checksum),
      executionMs,
    });
  },

  recordDown(migration, session) {
    // Flyway Teams' undo appends a row (the V row stays); the version then reports as UNDONE.
    const down = migration.down!;
    return insertRow(session, {
      version: migration.version,
      description: migration.description,
      type: 'UNDO_SQL',
      script: migration.label.replace(/(^|\/)V([^/]*)$/, '$1U$2'),
      checksum: flywayChecksum(down.fileText),
      executionMs: 0,
    });
  },

  newMigration(dir, name, existing, now, body) {
    // Follow the project's scheme: timestamps stay timestamps, V1.2 and V007 count up their first part.
    const next = nextVersion(existing, now, utcTimestamp);
    const description = slug(name);
    return [
      { path: path.join(dir, `V${next}__${description}.sql`), content: `-- ${name}\n\n${scriptOf(body?.up ?? [])}` },
      { path: path.join(dir, `U${next}__${description}.sql`), content: `-- Undoes V${next}__${description}.sql\n\n${scriptOf(body?.down ?? [])}` },
    ];
  },
};

interface ResourceName {
  readonly prefix: 'V' | 'U' | 'R';
  readonly version: string;
  readonly description: string;
}

/** ResourceNameParser: case-sensitive prefix, "__" separator, "_" to "." in versions, "_" to " " in descriptions. */
export function parseResourceName(file: string): ResourceName | undefined {
  if (!file.endsWith('.sql')) return undefined;
  const prefix = file[0];
  if (prefix !== 'V' && prefix !== 'U' && prefix !== 'R') return undefined;
  const rest = file.slice(1, -'.sql'.length);
  if (rest.length === 0) return undefined;
  const separator = rest.indexOf('__');
  const left = separator < 0 ? rest : rest.slice(0, separator);
  const description = separator < 0 ? '' : rest.slice(separator + 2).replace(/_/g, ' ');
  if (prefix === 'R') return left === '' ? { prefix, version: '', description } : undefined;
  const version = left.replace(/_/g, '.');
  if (!/^\d+(\.\d+)*$/.test(version)) return undefined;
  return { prefix, version, description: abbreviate(description) };
}

/** MigrationVersion.compareTo: numeric parts, trailing zero parts ignored (1 == 1.0 == 1.0.0). */
export function compareFlywayVersions(a: string, b: string): number {
  const x = versionParts(a);
  const y = versionParts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const left = x[i] ?? 0n;
    const right = y[i] ?? 0n;
    if (left !== right) return left < right ? -1 : 1;
  }
  return 0;
}

/** Parsed versions, kept: a sort of a 1,000-migration history compares each version about twenty times. */
const parsedVersions = new Map<string, readonly bigint[]>();

function versionParts(version: string): readonly bigint[] {
  let parts = parsedVersions.get(version);
  if (parts === undefined) {
    const parsed = version.replace(/_/g, '.').split(/\.(?=\d)/).map((part) => BigInt(part));
    while (parsed.length > 1 && parsed.at(-1) === 0n) parsed.pop();
    parts = parsed;
    if (parsedVersions.size < 100_000) parsedVersions.set(version, parts);
  }
  return parts;
}

function versionKey(version: string): string {
  return versionParts(version).join('.');
}

/**
 * ChecksumCalculator: CRC32 over the UTF-8 bytes of each line without its terminator (BOM removed
 * from the first line), as a signed 32-bit int. Line endings and a BOM therefore never count.
 */
export function flywayChecksum(text: string): number {
  // A CRC continued over consecutive pieces is the CRC of their concatenation: the lines joined
  // without their terminators, in one pass.
  return crc32(Buffer.from(text.replace(/^\ufeff/, '').replace(/\r\n|\r|\n/g, ''), 'utf8')) | 0;
}

/** java.lang.String.hashCode. */
export function javaStringHashCode(value: string): number {
  let hash = 0;
  for (let i = 0; i < value.length; i++) hash = (Math.imul(hash, 31) + value.charCodeAt(i)) | 0;
  return hash;
}

/** SqlScriptMetadata: executeInTransaction=false in <script>.conf runs the file outside a transaction. */
function executeInTransaction(confFile: string): boolean {
  const match = /^\s*executeInTransaction\s*=\s*(true|false)\s*$/im.exec(readFileSync(confFile, 'utf8'));
  return match === null || match[1]!.toLowerCase() === 'true';
}

/** AbbreviationUtils.abbreviateDescription: at most 200 characters. */
function abbreviate(description: string): string {
  return description.length <= 200 ? description : `${description.slice(0, 197)}...`;
}

function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of directoryEntries(prefix === '' ? dir : path.join(dir, prefix)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const relative = prefix === '' ? entry.name : `${prefix}${path.sep}${entry.name}`;
    if (entry.stats.isDirectory()) out.push(...walk(dir, relative));
    else out.push(relative);
  }
  return out;
}

function insertRow(
  session: HistorySession,
  row: { version: string | null; description: string; type: string; script: string; checksum: number; executionMs: number | undefined },
): HistoryWrite[] {
  const table = `${quoteIdent(session.schema)}.${quoteIdent(TABLE)}`;
  // installed_rank: the last row's rank + 1 (SchemaHistory.calculateInstalledRank); installed_by:
  // current_user; execution_time: measured by the transaction the row ends, unless given.
  return [
    {
      text: `INSERT INTO ${table} ("installed_rank", "version", "description", "type", "script", "checksum", "installed_by", "execution_time", "success")
     SELECT coalesce(max("installed_rank"), 0) + 1, $1, $2, $3, $4, $5, current_user, coalesce($6::integer, ${TRANSACTION_MS_SQL}), true FROM ${table}`,
      values: [
        row.version,
        row.description,
        row.type,
        row.script.length > 1000 ? `...${row.script.slice(3, 1000)}` : row.script,
        row.checksum,
        row.executionMs === undefined ? null : Math.round(row.executionMs),
      ],
    },
  ];
}

function applied(
  row: { version: string | null; description: string; checksum: number | null; installed_on: Date; installed_by: string; execution_time: number; success: boolean },
  kind: 'versioned' | 'repeatable',
): AppliedMigration {
  return {
    version: row.version ?? '',
    description: row.description,
    kind,
    checksum: row.checksum === null ? undefined : String(row.checksum),
    appliedAt: row.installed_on,
    appliedBy: row.installed_by,
    executionMs: row.execution_time,
    success: row.success,
  };
}

async function historyExists(client: pg.Client, schema: string): Promise<boolean> {
  const result = await client.query<{ exists: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r') AS exists`,
    [schema, TABLE],
  );
  return result.rows[0]?.exists === true;
}

