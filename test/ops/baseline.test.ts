import { cpSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withClient } from '../../src/postgres/client.js';
import type { ScratchDatabase } from '../../src/postgres/scratch.js';
import { dotnetVersion, cleanEnv, repoRoot, runCli, writeTree, sharedServerSuite } from '../helpers.js';

// baseline adopts a database that has the schema but no history: made here with plain SQL (as
// EnsureCreated or a DBA would), then checked and recorded through the CLI.

const { tmp, server } = sharedServerSuite('dg-baseline-');

const USERS = 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n';
const ORDERS = 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n';
let n = 0;

function golangMigrate(): string {
  const dir = path.join(tmp, `p${n++}`);
  writeTree(dir, {
    '.drift-guard.yml': 'sql:\n  dir: migrations\n  layout: golang-migrate\n',
    'migrations/1_users.up.sql': USERS,
    'migrations/1_users.down.sql': 'DROP TABLE users;\n',
    'migrations/2_orders.up.sql': ORDERS,
    'migrations/2_orders.down.sql': 'DROP TABLE orders;\n',
  });
  return dir;
}

const cli = (dir: string, db: ScratchDatabase, args: string[]) => runCli(args, { cwd: dir, env: cleanEnv({ DATABASE_URL: db.url }) });
const sql = (db: ScratchDatabase, text: string): Promise<unknown> => withClient(db.url, (client) => client.query(text));

describe('drift-guard baseline', () => {
  it('records every migration when the schema matches, as the tool would (golang-migrate: one row), and drift is then clean', async () => {
    const dir = golangMigrate();
    await server().withDatabase(async (db) => {
      await sql(db, USERS + ORDERS);
      const result = await cli(dir, db, ['baseline', '--yes']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim()).toMatch(/^recorded 2 migration\(s\) as applied in postgresql:\/\/\w+:\*\*\*@.*: 1, 2$/);
      expect(await withClient(db.url, async (client) => (await client.query('SELECT version, dirty FROM schema_migrations')).rows)).toEqual([{ version: '2', dirty: false }]);
      const status = await cli(dir, db, ['status', '--json']);
      expect((JSON.parse(status.stdout) as { migrations: { state: string }[] }).migrations.map((m) => m.state)).toEqual(['applied', 'applied']);
      const drift = await runCli(['drift'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
      expect(drift.code, drift.stdout).toBe(0);
    });
  });

  it('--to records the older migrations only; migrate then applies the rest', async () => {
    const dir = golangMigrate();
    await server().withDatabase(async (db) => {
      await sql(db, USERS);
      expect((await cli(dir, db, ['baseline', '--to', '1', '--yes'])).stdout).toContain('recorded 1 migration(s)');
      const migrate = await cli(dir, db, ['migrate']);
      expect(migrate.code, migrate.stderr).toBe(0);
      expect(await withClient(db.url, async (client) => (await client.query("SELECT to_regclass('public.orders') IS NOT NULL AS there")).rows[0])).toEqual({ there: true });
    });
  });

  it('refuses, showing the differences, when the schema does not match; nothing is written', async () => {
    const dir = golangMigrate();
    await server().withDatabase(async (db) => {
      await sql(db, USERS.replace('email text NOT NULL', 'email text') + ORDERS);
      const result = await cli(dir, db, ['baseline', '--yes']);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/refused: .* differs from the schema of the migrations up to 2 in 1 place\(s\); nothing was recorded\n  .*email.*\n/);
      expect(await withClient(db.url, async (client) => (await client.query("SELECT to_regclass('public.schema_migrations') IS NULL AS absent")).rows[0])).toEqual({ absent: true });
    });
  });

  it('refuses a database that already has a history (exit 2), and asks for YES', async () => {
    const dir = golangMigrate();
    await server().withDatabase(async (db) => {
      await sql(db, USERS + ORDERS);
      const unconfirmed = await cli(dir, db, ['baseline']);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toContain('baseline needs a confirmation');
      expect((await cli(dir, db, ['baseline', '--yes'])).code).toBe(0);
      const again = await cli(dir, db, ['baseline', '--yes']);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/already has a migration history \(2 recorded, newest 2\); baseline is for a database without one/);
    });
  });
});

const dotnet = dotnetVersion();
if (dotnet === undefined) console.log('EF Core baseline test skipped: the dotnet CLI is not installed here');

describe.skipIf(dotnet === undefined)('drift-guard baseline (EF Core)', () => {
  it('adopts an EnsureCreated-style database: drift says NO_MIGRATION_HISTORY, baseline writes __EFMigrationsHistory, drift is clean', async () => {
    const dir = path.join(tmp, 'shop');
    cpSync(path.join(repoRoot, 'examples', 'efcore'), dir, { recursive: true, filter: (src) => !/[/\\](bin|obj)$/.test(src) });
    await server().withDatabase(async (db) => {
      // The schema without its history, as EnsureCreated leaves it.
      expect((await cli(dir, db, ['migrate'])).code).toBe(0);
      await sql(db, 'DROP TABLE "__EFMigrationsHistory"');
      const before = await runCli(['drift', '--json', '--no-model-check'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
      expect(before.code).toBe(1);
      expect((JSON.parse(before.stdout) as { findings: { code: string; message: string }[] }).findings.find((f) => f.code === 'NO_MIGRATION_HISTORY')?.message).toMatch(/record them with drift-guard baseline --to \d{14}_\w+/);

      const result = await cli(dir, db, ['baseline', '--yes']);
      expect(result.code, result.stderr).toBe(0);
      const rows = await withClient(db.url, async (client) => (await client.query<{ MigrationId: string; ProductVersion: string }>('SELECT * FROM "__EFMigrationsHistory" ORDER BY 1')).rows);
      expect(rows.length).toBe(3);
      expect(rows.every((r) => /^10\.0\.\d+$/.test(r.ProductVersion))).toBe(true);
      const after = await runCli(['drift', '--no-model-check'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
      expect(after.code, after.stdout).toBe(0);
    });
    // dotnet builds and runs EF several times: minutes on two cores shared with other work.
  }, 600_000);
});
