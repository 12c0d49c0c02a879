// drift-guard's own layout: <yyyymmddHHMMSS>_<name>.sql with an optional <same>.down.sql, and a
// history table that records what reviewers and auditors ask about: checksum, when, how long, who.

import path from 'node:path';
import type { Finding } from '../../../report/finding.js';
import { type AppliedMigration, type Discovered, type HistoryState, type Layout, type Migration, scriptOf, TRANSACTION_MS_SQL } from '../layout.js';
import { compareNumeric, contentChecksum, duplicateVersions, listFiles, lockKeyFromName, nextVersion, slug, tableExists, utcTimestamp, wholeFileScript } from './common.js';

const UP = /^(\d{14})_(.+?)(?<!\.down)\.sql$/;
const DOWN = /^(\d{14})_(.+)\.down\.sql$/;
/** A first-line marker that runs the file outside a transaction. */
export const PLAIN_NO_TRANSACTION = /^\s*--\s*drift-guard:\s*no-transaction\b/im;
const TABLE = 'drift_guard_migrations';

export const plainLayout: Layout = {
  name: 'plain',
  historyTable: TABLE,
  recordsChecksums: true,

  async lockKey() {
    return lockKeyFromName(`drift-guard:${TABLE}`);
  },

  discover(dir, root): Discovered {
    const files = listFiles(dir);
    const migrations: Migration[] = [];
    const problems: Finding[] = [];
    const downs = new Set(files.filter((file) => DOWN.test(file)));
    // The folder's files as listed (links followed): no existence check per migration.
    const present = new Set(downs);
    for (const file of files) {
      const match = UP.exec(file);
      if (match === null) continue;
      const [, version, name] = match as unknown as [string, string, string];
      const up = wholeFileScript(path.join(dir, file), root);
      const downFile = `${version}_${name}.down.sql`;
      downs.delete(downFile);
      const down = present.has(downFile) ? wholeFileScript(path.join(dir, downFile), root) : undefined;
      migrations.push({
        version,
        description: name,
        kind: 'versioned',
        up: { ...up, transaction: !PLAIN_NO_TRANSACTION.test(firstLines(up.fileText)) },
        down: down === undefined ? undefined : { ...down, transaction: !PLAIN_NO_TRANSACTION.test(firstLines(down.fileText)) },
        checksum: contentChecksum(up.fileText),
        label: file,
      });
    }
    for (const orphan of downs) {
      problems.push({
        check: 'migrations',
        code: 'MIGRATION_DOWN_MISSING',
        severity: 'warning',
        message: `${orphan} has no matching up migration (${orphan.replace(/\.down\.sql$/, '.sql')}); rename or remove it`,
        file: path.relative(root, path.join(dir, orphan)),
      });
    }
    migrations.sort((a, b) => compareNumeric(a.version, b.version));
    return { migrations, problems: [...problems, ...duplicateVersions(migrations, 'migrations')] };
  },

  compareVersions: compareNumeric,

  async ensureHistory(client) {
    await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (
  version text PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  execution_ms integer NOT NULL,
  applied_by text NOT NULL DEFAULT current_user
)`);
  },

  async readHistory(client): Promise<HistoryState> {
    if (!(await tableExists(client, TABLE))) return { applied: [] };
    const result = await client.query<{ version: string; name: string; checksum: string; applied_at: Date; execution_ms: number; applied_by: string }>(
      `SELECT version, name, checksum, applied_at, execution_ms, applied_by FROM ${TABLE}`,
    );
    const applied: AppliedMigration[] = result.rows.map((row) => ({
      version: row.version,
      description: row.name,
      kind: 'versioned',
      checksum: row.checksum,
      appliedAt: row.applied_at,
      executionMs: row.execution_ms,
      appliedBy: row.applied_by,
      success: true,
    }));
    return { applied: applied.sort((a, b) => compareNumeric(a.version, b.version)) };
  },

  recordUp(migration, _session, executionMs) {
    return [
      {
        text: `INSERT INTO ${TABLE} (version, name, checksum, execution_ms) VALUES ($1, $2, $3, coalesce($4::integer, ${TRANSACTION_MS_SQL}))`,
        values: [migration.version, migration.description, migration.checksum, executionMs === undefined ? null : Math.round(executionMs)],
      },
    ];
  },

  recordDown(migration) {
    return [{ text: `DELETE FROM ${TABLE} WHERE version = $1`, values: [migration.version] }];
  },

  newMigration(dir, name, existing, now, body) {
    // The layout reads 14-digit versions only, so this is always the clock.
    const base = `${nextVersion(existing, now, utcTimestamp)}_${slug(name)}`;
    return [
      { path: path.join(dir, `${base}.sql`), content: `-- ${name}\n\n${scriptOf(body?.up ?? [])}` },
      { path: path.join(dir, `${base}.down.sql`), content: `-- Reverts ${base}.sql\n\n${scriptOf(body?.down ?? [])}` },
    ];
  },
};

function firstLines(text: string): string {
  // The first five lines, without splitting the whole file.
  let end = -1;
  for (let line = 0; line < 5; line++) {
    end = text.indexOf('\n', end + 1);
    if (end === -1) return text;
  }
  return text.slice(0, end);
}
