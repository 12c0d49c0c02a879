import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { baseCacheDir } from '../../src/postgres/base-cache.js';
import { withClient } from '../../src/postgres/client.js';
import { databaseUrl, withPostgresServer } from '../../src/postgres/scratch.js';
import { cleanEnv, makeTempDir, pgOptions, removeDir } from '../helpers.js';

// A cached cluster is unpacked as three archives at once, and the server starts on the first
// (cluster.tar) while the databases' halves are still coming; storing one restarts the server while
// the halves are still being archived. Both must give back exactly the cluster that was stopped:
// a 300-table base with rows, read table by table and catalog by catalog from a cold build (after
// the store, on the restarted server) and from the cache, then the same DDL on both.

const tmp = makeTempDir('dg-base-cache-restore-');
afterAll(() => removeDir(tmp));
const env = cleanEnv({ DRIFT_GUARD_CACHE_DIR: path.join(tmp, 'cache') });
const TABLES = 300;
const DATABASE = 'restored_base';

const schema = Array.from({ length: TABLES }, (_, i) =>
  [
    `CREATE TABLE t${i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text NOT NULL, amount numeric(10, 2)${i > 0 ? `, prev_id bigint REFERENCES t${i - 1} (id)` : ''});`,
    `CREATE INDEX t${i}_label ON t${i} (label);`,
    `INSERT INTO t${i} (label, amount) SELECT 'row ' || g || ' of t${i}', g * ${i + 1} / 7.0 FROM generate_series(1, ${5 + (i % 20)}) g;`,
  ].join('\n'),
).join('\n');
const DDL = "ALTER TABLE t0 ADD COLUMN note text DEFAULT 'n'; CREATE INDEX t150_amount ON t150 (amount); INSERT INTO t299 (label) VALUES ('after'); DROP TABLE t42 CASCADE;";

/** Every table's rows (as one hash each) and what the catalogs say of every relation, column and constraint. */
async function snapshot(url: string): Promise<unknown> {
  return withClient(url, async (client) => {
    const tables = (await client.query<{ name: string }>("SELECT relname AS name FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1")).rows.map((r) => r.name);
    const rows: Record<string, string> = {};
    for (const table of tables) {
      rows[table] = (await client.query<{ h: string }>(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) AS h FROM public."${table}" t`)).rows[0]!.h;
    }
    const catalog = await client.query(
      `SELECT c.relname, c.relkind, c.relfilenode, c.reltuples, a.attname, a.atttypid::regtype::text AS type, a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS def
         FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace ORDER BY c.relname, a.attnum`,
    );
    const constraints = await client.query("SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1");
    return { tables: tables.length, rows, catalog: catalog.rows, constraints: constraints.rows };
  });
}

const options = () => pgOptions({ env, baseCache: { parts: Promise.resolve(['restore test', String(TABLES)]) } });

describe('a cached cluster unpacked in parts', () => {
  it('gives back every table, row and catalog entry of a 300-table base, and takes DDL as a cold build does', async () => {
    const cold = await withPostgresServer(options(), async (server) => {
      const cache = server.baseCache;
      expect(cache?.hit).toBe(false);
      await withClient(server.adminUrl, (client) => client.query(`CREATE DATABASE ${DATABASE}`));
      const url = databaseUrl(server.adminUrl, DATABASE);
      await withClient(url, (client) => client.query(schema));
      const built = await snapshot(url);
      if (cache?.hit !== false) throw new Error('expected a miss');
      expect(await cache.store({ database: DATABASE, role: undefined })).toBe(true);
      // The server started again while the databases' files were archived: the same base.
      const restarted = await snapshot(url);
      expect(restarted).toEqual(built);
      await withClient(url, (client) => client.query(DDL));
      return { before: built, after: await snapshot(url) };
    });
    expect((cold.before as { tables: number }).tables).toBe(TABLES);
    const [key] = readdirSync(baseCacheDir(env)).filter((name) => /^[0-9a-f]{64}$/.test(name));
    expect(readdirSync(path.join(baseCacheDir(env), key!)).sort()).toEqual(['base-1.tar', 'base-2.tar', 'cluster.tar', 'entry.json', 'password']);

    for (let run = 0; run < 2; run++) {
      const warm = await withPostgresServer(options(), async (server) => {
        expect(server.baseCache).toMatchObject({ hit: true, database: DATABASE });
        const url = databaseUrl(server.adminUrl, DATABASE);
        const before = await snapshot(url);
        await withClient(url, (client) => client.query(DDL));
        return { before, after: await snapshot(url) };
      });
      expect(warm.before).toEqual(cold.before);
      expect(warm.after).toEqual(cold.after);
    }
  }, 240_000);
});
