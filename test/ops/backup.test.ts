import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspectUrl } from '../../src/introspect/introspect.js';
import { backupDatabase, restoreBackup } from '../../src/ops/backup.js';
import { findInstallations } from '../../src/postgres/binaries.js';
import { findClientTools } from '../../src/postgres/client-tools.js';
import { withClient } from '../../src/postgres/client.js';
import { renderSnapshot } from '../../src/schema/snapshot.js';
import { cleanEnv, makeTempDir, removeDir, startSharedServer, type PostgresServerHandle } from '../helpers.js';

// Real pg_dump and pg_restore against real servers. The "production" server runs the major of the
// newest pg_dump installed here (pg_dump must be at least the server's major).

const env = cleanEnv();
const tools = await findClientTools(env);
const newest = tools[0];
const installations = await findInstallations(env);
const matching = newest === undefined ? undefined : installations.find((i) => i.major === newest.major);
const newerServer = newest === undefined ? undefined : installations.find((i) => i.major > newest.major);
if (newest === undefined) console.log('backup tests skipped: no pg_dump here (CI installs Debian\'s postgresql package)');
else if (matching === undefined) console.log(`backup tests skipped: no PostgreSQL ${newest.major} server to match pg_dump ${newest.version}`);

const tmp = makeTempDir('dg-backup-');
let server: PostgresServerHandle;
let stop: () => Promise<void>;
beforeAll(async () => {
  if (matching !== undefined) ({ server, stop } = await startSharedServer({ version: matching.major }));
}, 180_000);
afterAll(async () => {
  await stop?.();
  removeDir(tmp);
});

const SHOP = `
CREATE TYPE status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, note text);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id), status status NOT NULL DEFAULT 'new', total numeric(12,2), data jsonb);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid';
INSERT INTO customers (email, note) SELECT 'c' || g || '@example.com', repeat('x', g % 50) FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, status, total, data) SELECT 1 + g % 2000, (ARRAY['new','paid','shipped'])[1 + g % 3]::status, g * 1.5, jsonb_build_object('n', g) FROM generate_series(1, 20000) g;
`;

const counts = (url: string): Promise<Record<string, number>> =>
  withClient(url, async (client) => {
    const rows = await client.query<{ customers: string; orders: string; paid: string; seq: string }>(
      "SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM paid_orders) AS paid, (SELECT last_value FROM orders_id_seq) AS seq",
    );
    return Object.fromEntries(Object.entries(rows.rows[0]!).map(([k, v]) => [k, Number(v)]));
  });

describe.skipIf(matching === undefined)('verified backups (pg_dump -Fc)', () => {
  it('writes a backup that restores into an empty database with the same schema and rows', async () => {
    await server.withDatabase(async (production) => {
      await withClient(production.url, (client) => client.query(SHOP));
      const dir = path.join(tmp, 'b1');
      const outcome = await backupDatabase({ url: production.url, dir, keep: 5, env, reason: 'backup' });
      expect(path.basename(outcome.path)).toMatch(new RegExp(`^${production.name}-\\d{8}T\\d{6}\\.\\d{3}Z\\.dump$`));
      const record = JSON.parse(readFileSync(outcome.path.replace(/\.dump$/, '.json'), 'utf8')) as Record<string, unknown>;
      expect(record).toMatchObject({ version: 1, file: path.basename(outcome.path), database: production.name, reason: 'backup' });
      expect(record.sha256).toBe(createHash('sha256').update(readFileSync(outcome.path)).digest('hex'));
      expect(readFileSync(`${outcome.path}.sha256`, 'utf8')).toBe(`${record.sha256}  ${path.basename(outcome.path)}\n`);
      expect(record.entries as number).toBeGreaterThan(8);
      expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
      const password = decodeURIComponent(new URL(production.url).password);
      for (const file of readdirSync(dir)) expect(readFileSync(path.join(dir, file)).includes(password)).toBe(false);

      await server.withDatabase(async (restored) => {
        await restoreBackup({ file: outcome.path, url: restored.url, env });
        expect(renderSnapshot(await introspectUrl(restored.url))).toBe(renderSnapshot(await introspectUrl(production.url)));
        expect(await counts(restored.url)).toEqual(await counts(production.url));
        expect(await counts(restored.url)).toMatchObject({ customers: 2000, orders: 20000, seq: 20000 });
      });
    });
  });

  it('restores exactly: what came after the backup (schemas, tables, keys, types, functions) is gone, in one transaction', async () => {
    await server.withDatabase(async (production) => {
      await withClient(production.url, (client) => client.query(SHOP));
      const before = renderSnapshot(await introspectUrl(production.url));
      const rowsBefore = await counts(production.url);
      const { path: file } = await backupDatabase({ url: production.url, dir: path.join(tmp, 'exact'), keep: 5, env, reason: 'deploy' });
      // What a deploy that went wrong might have done since.
      await withClient(production.url, (client) =>
        client.query(`
          CREATE SCHEMA audit;
          CREATE TABLE audit.log (at timestamptz, customer_id bigint REFERENCES customers (id));
          CREATE TYPE priority AS ENUM ('low', 'high');
          ALTER TABLE customers ADD COLUMN referrer_id bigint REFERENCES customers (id), ADD COLUMN level priority;
          CREATE FUNCTION order_count(c bigint) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders WHERE customer_id = c';
          CREATE INDEX orders_total ON orders (total);
          DELETE FROM orders WHERE id % 2 = 0;
          UPDATE customers SET note = 'changed';`),
      );
      const result = await restoreBackup({ file, url: production.url, env });
      expect([...result.dropped].sort()).toEqual(['audit.log', 'audit.log.log_customer_id_fkey', 'public.customers.customers_referrer_id_fkey', 'public.order_count', 'public.priority', 'schema audit']);
      expect(renderSnapshot(await introspectUrl(production.url))).toBe(before);
      expect(await counts(production.url)).toEqual(rowsBefore);
      expect(await withClient(production.url, async (client) => (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM customers WHERE note = 'changed'")).rows[0]!.n)).toBe(0);
    });
  });

  it('leaves the database untouched when the restore fails part-way', async () => {
    await server.withDatabase(async (production) => {
      // A check that fails while a session has dg.fail_restore=on: the restore gets as far as
      // dropping what came later and re-creating tables, then fails loading the rows.
      await withClient(production.url, (client) =>
        client.query(`CREATE FUNCTION allowed(id int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(current_setting('dg.fail_restore', true), '') <> 'on' $$;
                      CREATE TABLE keep (id int CHECK (allowed(id))); INSERT INTO keep VALUES (1);`),
      );
      const { path: file } = await backupDatabase({ url: production.url, dir: path.join(tmp, 'atomic'), keep: 5, env, reason: 'backup' });
      await withClient(production.url, (client) => client.query('CREATE TABLE later (id int); INSERT INTO keep VALUES (2);'));
      await expect(restoreBackup({ file, url: production.url, env: { ...env, PGOPTIONS: '-c dg.fail_restore=on' } })).rejects.toThrow(/^restore failed \(exit 3\): .*violates check constraint "keep_id_check"/);
      expect(await withClient(production.url, async (client) => (await client.query<{ id: number }>('SELECT id FROM keep ORDER BY id')).rows.map((r) => r.id))).toEqual([1, 2]);
      expect(await withClient(production.url, async (client) => (await client.query<{ there: boolean }>("SELECT to_regclass('public.later') IS NOT NULL AS there")).rows[0]!.there)).toBe(true);
    });
  });

  it('keeps the newest KEEP backups of a database and never another database\'s', async () => {
    await server.withDatabase(async (production) => {
      const dir = path.join(tmp, 'b2');
      await withClient(production.url, (client) => client.query('CREATE TABLE t (id int)'));
      const other = `${production.name}-eu-20200101T000000.000Z`;
      const made: string[] = [];
      for (let i = 0; i < 3; i++) made.push((await backupDatabase({ url: production.url, dir, keep: 2, env, reason: 'backup' })).path);
      writeFileSync(path.join(dir, `${other}.dump`), 'not ours');
      writeFileSync(path.join(dir, `${other}.json`), '{}');
      const last = await backupDatabase({ url: production.url, dir, keep: 2, env, reason: 'backup' });
      expect(last.pruned.map((p) => path.basename(p))).toEqual([path.basename(made[1]!)]);
      const dumps = readdirSync(dir).filter((f) => f.endsWith('.dump')).sort();
      expect(dumps).toEqual([`${other}.dump`, path.basename(made[2]!), path.basename(last.path)].sort());
      expect(existsSync(made[0]!.replace(/\.dump$/, '.json'))).toBe(false);
    });
  });

  it('refuses a backup location it cannot write to, before dumping anything', async () => {
    await server.withDatabase(async (production) => {
      const blocker = path.join(tmp, 'not-a-dir');
      writeFileSync(blocker, 'a file');
      await expect(backupDatabase({ url: production.url, dir: path.join(blocker, 'backups'), keep: 2, env, reason: 'backup' })).rejects.toThrow(
        new RegExp(`^cannot write backups to ${blocker.replace(/[/.]/g, '\\$&')}/backups: .*; fix its permissions or set production.backup-dir \\(BACKUP_DIR\\)$`),
      );
    });
  });

  it('refuses to restore a backup whose bytes no longer match its record', async () => {
    await server.withDatabase(async (production) => {
      const dir = path.join(tmp, 'b3');
      const { path: file } = await backupDatabase({ url: production.url, dir, keep: 2, env, reason: 'backup' });
      const bytes = readFileSync(file);
      bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
      writeFileSync(file, bytes);
      await expect(restoreBackup({ file, url: production.url, env })).rejects.toThrow(/does not match its record: sha256 [0-9a-f]{64}, recorded [0-9a-f]{64}; the file is damaged or was replaced, so it is not restored/);
    });
  });
});

describe.skipIf(newest === undefined || newerServer === undefined)('a pg_dump older than the server', () => {
  it('is a clear error naming both versions, and nothing is written', async () => {
    const { server: newer, stop: stopNewer } = await startSharedServer({ version: newerServer!.major });
    try {
      await newer.withDatabase(async (production) => {
        const dir = path.join(tmp, 'b4');
        await expect(backupDatabase({ url: production.url, dir, keep: 2, env, reason: 'backup' })).rejects.toThrow(
          new RegExp(`^pg_dump ${newest!.version.replace('.', '\\.')} \\(.*\\) is older than the server \\(PostgreSQL ${newerServer!.major}\\.\\d+\\); pg_dump must be at least the server's major version`),
        );
        expect(readdirSync(dir)).toEqual([]);
      });
    } finally {
      await stopNewer();
    }
  });
});
