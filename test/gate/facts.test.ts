import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck, type CheckResult } from '../../src/gate/check.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, pgOptions, prRepository, runCli, sharedServerSuite, writeTree, type PrRepository } from '../helpers.js';

// What the gate says about each migration of a PR, and where: facts measured on a real server (the
// runner's own locks and the tables' storage), attributed to the migration, file and line that
// caused them. One server for the file; each check takes scratch databases from it.

const { tmp, server } = sharedServerSuite('dg-facts-');
let n = 0;

const BASE = {
  'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text);\nCREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, amount integer);\n',
  'db/migrations/20240101000001_users.down.sql': 'DROP TABLE orders;\nDROP TABLE users;\n',
};

function repo(base: Record<string, string>, config = 'sql:\n  dir: db/migrations\n  layout: plain\n'): PrRepository {
  const dir = path.join(tmp, `r${n++}`);
  writeTree(dir, { '.drift-guard.yml': config, ...base });
  return prRepository(dir);
}

async function check(r: PrRepository): Promise<CheckResult> {
  return runCheck({ loaded: loadConfig({ cwd: r.dir }), cwd: r.dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ provider: 'url', url: server().adminUrl }), base: 'main' });
}

const where = (result: CheckResult, code: string): string[] => result.findings.filter((f) => f.code === code).map((f) => `${f.file}:${f.line ?? '-'} ${f.evidence ?? ''}`);

describe('facts per migration and per statement', () => {
  it('a PR adding four migrations gets each finding on the migration and line that caused it', async () => {
    const r = repo(BASE);
    r.commit(
      {
        // An index on a table this PR creates locks nobody out.
        'db/migrations/20240102000001_items.sql': 'CREATE TABLE items (id int);\nCREATE INDEX items_id ON items (id);\n',
        'db/migrations/20240102000002_fk.sql': '-- orders belong to users\nALTER TABLE orders\n  ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\n',
        'db/migrations/20240102000003_note.sql': 'ALTER TABLE users ADD COLUMN note text;\n\nALTER TABLE users DROP COLUMN legacy;\n',
        'db/migrations/20240102000004_amount.sql': 'SELECT 1;\nALTER TABLE orders ALTER COLUMN amount TYPE bigint;\n',
      },
      'pr',
    );
    const result = await check(r);
    // The DROP on line 3 needs no new lock: line 1 already holds ACCESS EXCLUSIVE on users until commit.
    expect(where(result, 'LOCKING_CHANGE')).toEqual(['db/migrations/20240102000002_fk.sql:2 measured', 'db/migrations/20240102000003_note.sql:1 measured']);
    const fk = result.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.file === 'db/migrations/20240102000002_fk.sql')!;
    // On generated rows orders.user_id holds values users does not: the foreign key fails there.
    expect(where(result, 'FAILS_ON_DATA')).toEqual(['db/migrations/20240102000002_fk.sql:2 measured']);
    expect(fk.message).toContain('SHARE ROW EXCLUSIVE (writes wait) on public.orders, public.users');
    expect(fk.message).toContain('NOT VALID, then VALIDATE CONSTRAINT');
    expect(fk.migration).toBe('20240102000002');
    expect(where(result, 'DESTRUCTIVE_CHANGE')).toEqual(['db/migrations/20240102000003_note.sql:3 measured']);
    // ALTER COLUMN ... TYPE integer -> bigint: PostgreSQL replaced the table's storage.
    expect(where(result, 'TABLE_REWRITE')).toEqual(['db/migrations/20240102000004_amount.sql:2 measured']);
    expect(result.findings.find((f) => f.code === 'TABLE_REWRITE')!.message).toContain('rewrote public.orders');
    expect(result.facts.map((f) => [f.migration, f.changes])).toEqual([
      ['20240102000001', 2],
      ['20240102000002', 1],
      ['20240102000003', 3], // add, drop, and the diff's "possible rename" hint
      ['20240102000004', 1],
    ]);
    expect(result.facts[3]!.statements!.map((s) => [s.line, s.kind, s.rewrites])).toEqual([
      [1, 'SelectStmt', []],
      [2, 'AlterTableStmt', ['public.orders']],
    ]);
    // No down files: the rollback check says it did not run, and why.
    expect(result.findings.find((f) => f.code === 'NOT_CHECKED' && f.check === 'rollback')!.message).toMatch(/rollback not checked: .*20240102000001_items\.sql \(add db\/migrations\/20240102000001_items\.down\.sql\)/);
  });

  it('CREATE INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY lock nobody out; a plain CREATE INDEX does', async () => {
    const r = repo({ ...BASE, 'db/migrations/20240101000002_idx.sql': 'CREATE INDEX orders_amount ON orders (amount);\n' });
    r.commit(
      {
        'db/migrations/20240102000001_email.sql': 'CREATE INDEX CONCURRENTLY users_email ON users (email);\n',
        'db/migrations/20240102000002_drop.sql': 'DROP INDEX CONCURRENTLY orders_amount;\n',
        'db/migrations/20240102000003_user.sql': 'CREATE INDEX orders_user ON orders (user_id);\n',
      },
      'pr',
    );
    const result = await check(r);
    expect(where(result, 'LOCKING_CHANGE')).toEqual(['db/migrations/20240102000003_user.sql:1 measured']);
    expect(result.facts.slice(0, 2).map((f) => f.transaction)).toEqual([false, false]);
    expect(result.findings.filter((f) => f.code === 'TABLE_REWRITE' || f.code === 'DESTRUCTIVE_CHANGE')).toEqual([]);
  });

  it('primary key and unique constraints are ACCESS EXCLUSIVE; only they get the USING INDEX way', async () => {
    const r = repo(BASE);
    r.commit(
      {
        'db/migrations/20240102000001_unique.sql': 'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);\n',
        'db/migrations/20240102000002_check.sql': 'ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT amount_positive;\n',
      },
      'pr',
    );
    const result = await check(r);
    const unique = result.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.file?.endsWith('_unique.sql'))!;
    expect(unique.message).toContain('takes ACCESS EXCLUSIVE (reads and writes wait) on public.users');
    expect(unique.message).toContain('CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX');
    // NOT VALID takes ACCESS EXCLUSIVE briefly (reported), VALIDATE only SHARE UPDATE EXCLUSIVE (not).
    expect(where(result, 'LOCKING_CHANGE')).toEqual(['db/migrations/20240102000001_unique.sql:1 measured', 'db/migrations/20240102000002_check.sql:1 measured']);
    expect(result.findings.find((f) => f.file?.endsWith('_check.sql'))!.message).not.toContain('Safer: ADD CONSTRAINT');
  });

  it('fails closed: a Flyway-named file in a golang-migrate directory is an error naming the file', async () => {
    const r = repo({ 'migrations/1_a.up.sql': 'CREATE TABLE a (id int);\n', 'migrations/1_a.down.sql': 'DROP TABLE a;\n' }, 'sql:\n  dir: migrations\n  layout: golang-migrate\n');
    r.commit({ 'migrations/V3__c.sql': 'DROP TABLE a;\n', 'migrations/README.md': 'not a migration\n' }, 'pr');
    const result = await check(r);
    expect(result.verdict).toBe('fail');
    expect(result.findings.filter((f) => f.code === 'UNRECOGNIZED_MIGRATION_FILE')).toEqual([
      expect.objectContaining({ severity: 'error', file: 'migrations/V3__c.sql', message: expect.stringContaining('golang-migrate layout does not read') }),
    ]);
    const cli = await runCli(['check', '--base', 'main'], { cwd: r.dir, env: cleanEnv({ DRIFT_GUARD_DATABASE_URL: server().adminUrl }) });
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('UNRECOGNIZED_MIGRATION_FILE migrations/V3__c.sql');
    const status = await runCli(['status', '--database-url', server().adminUrl], { cwd: r.dir, env: cleanEnv() });
    expect(status.code).toBe(1);
    expect(status.stdout + status.stderr).toContain('migrations/V3__c.sql');

    // Listed in sql.ignore, the same file is not a migration.
    const ignored = repo({ 'migrations/1_a.up.sql': 'CREATE TABLE a (id int);\n', 'migrations/seed.sql': 'SELECT 1;\n' }, 'sql:\n  dir: migrations\n  layout: golang-migrate\n  ignore: [seed.sql]\n');
    ignored.commit({ 'migrations/2_b.up.sql': 'CREATE TABLE b (id int);\n' }, 'pr');
    expect((await check(ignored)).findings.filter((f) => f.code === 'UNRECOGNIZED_MIGRATION_FILE')).toEqual([]);
  });

  it('a problem that already holds on the base is reported apart and does not fail the PR', async () => {
    const r = repo({ ...BASE, 'db/migrations/V1__stray.sql': 'SELECT 1;\n' });
    r.commit({ 'db/migrations/20240102000001_t.sql': 'CREATE TABLE t (id int);\n', 'db/migrations/20240102000001_t.down.sql': 'DROP TABLE t;\n' }, 'pr');
    const result = await check(r);
    expect(result.findings).toEqual([expect.objectContaining({ code: 'UNRECOGNIZED_MIGRATION_FILE', severity: 'warning', existing: true, file: 'db/migrations/V1__stray.sql' })]);
    expect(result.verdict).toBe('warn');
    // Introduced by the PR, the same problem fails it.
    const s = repo(BASE);
    s.commit({ 'db/migrations/V1__stray.sql': 'SELECT 1;\n' }, 'pr');
    expect((await check(s)).verdict).toBe('fail');
  });

  it('sql.entities: a schema-shaping file changed without a migration', async () => {
    const r = repo({ ...BASE, 'models/user.go': 'type User struct { ID int64 }\n' }, 'sql:\n  dir: db/migrations\n  layout: plain\n  entities: ["models/**/*.go"]\n');
    r.commit({ 'models/user.go': 'type User struct { ID int64; Nickname string }\n', 'README.md': 'docs\n' }, 'pr');
    const result = await check(r);
    expect(result.findings).toEqual([expect.objectContaining({ code: 'ENTITY_WITHOUT_MIGRATION', severity: 'warning', file: 'models/user.go' })]);
    // With a migration in the same PR it is the migration's job: nothing to say.
    const s = repo({ ...BASE, 'models/user.go': 'type User struct { ID int64 }\n' }, 'sql:\n  dir: db/migrations\n  layout: plain\n  entities: ["models/**/*.go"]\n');
    s.commit({ 'models/user.go': 'type User struct { ID int64; Nickname string }\n', 'db/migrations/20240102000001_nick.sql': 'ALTER TABLE users ADD COLUMN nickname text;\n', 'db/migrations/20240102000001_nick.down.sql': 'ALTER TABLE users DROP COLUMN nickname;\n' }, 'pr');
    expect((await check(s)).findings.filter((f) => f.code === 'ENTITY_WITHOUT_MIGRATION')).toEqual([]);
  });

  it('fidelity: golang-migrate sends a file as one query, so CONCURRENTLY must be alone in its file', async () => {
    const r = repo({ 'migrations/1_a.up.sql': 'CREATE TABLE a (x int, y int);\n' }, 'sql:\n  dir: migrations\n  layout: golang-migrate\n');
    r.commit({ 'migrations/2_idx.up.sql': 'CREATE INDEX CONCURRENTLY a_x ON a (x);\nCREATE INDEX CONCURRENTLY a_y ON a (y);\n', 'migrations/3_ok.up.sql': 'CREATE INDEX CONCURRENTLY a_xy ON a (x, y);\n' }, 'pr');
    const result = await check(r);
    expect(result.findings.filter((f) => f.code === 'APPLY_FAILED')).toEqual([
      expect.objectContaining({ file: 'migrations/2_idx.up.sql', line: 1, message: expect.stringContaining('golang-migrate sends the whole file as one query') }),
    ]);
  });

  it('goose or dbmate sections in a plain-layout directory are not read as one script', async () => {
    const r = repo(BASE);
    r.commit({ 'db/migrations/20240102000001_b.sql': '-- +goose Up\nALTER TABLE users ADD COLUMN x int;\n-- +goose Down\nALTER TABLE users DROP COLUMN x;\n' }, 'pr');
    const result = await check(r);
    expect(result.verdict).toBe('fail');
    expect(result.findings.filter((f) => f.code === 'UNRECOGNIZED_MIGRATION_FILE')).toEqual([expect.objectContaining({ file: 'db/migrations/20240102000001_b.sql', message: expect.stringContaining('set sql.layout: goose') })]);
  });

  it('a migration that reaches outside the database is an error at its line, and runs nothing on this machine', async () => {
    const marker = path.join(tmp, `pwned-${n}`);
    const r = repo(BASE);
    r.commit({ 'db/migrations/20240102000001_x.sql': `CREATE TABLE t (id int);\nCOPY (SELECT 1) TO PROGRAM 'touch ${marker}';\n` }, 'pr');
    const result = await check(r);
    expect(result.verdict).toBe('fail');
    expect(result.findings.filter((f) => f.code === 'OUTSIDE_DATABASE')).toEqual([expect.objectContaining({ severity: 'error', file: 'db/migrations/20240102000001_x.sql', line: 2 })]);
    // Applied as the scratch database's unprivileged owner, it cannot run the program either.
    expect(existsSync(marker)).toBe(false);
  });
  it('a rename keeps the rows: reported as a rename, and what the migration then does to the renamed table still counts as an existing table', async () => {
    const r = repo(BASE);
    r.commit(
      {
        'db/migrations/20240102000001_rename.sql': 'ALTER TABLE orders ADD COLUMN note text;\nALTER TABLE orders RENAME TO purchases;\nALTER TABLE users RENAME COLUMN email TO login;\nCREATE INDEX purchases_amount ON purchases (amount);\n',
        // After the rename: a plain index on the renamed (existing) table blocks its writes, and
        // SET NOT NULL fails on its rows.
        'db/migrations/20240102000002_index.sql': 'CREATE INDEX purchases_user ON purchases (user_id);\nALTER TABLE purchases ALTER COLUMN amount SET NOT NULL;\n',
      },
      'pr',
    );
    const result = await check(r);
    expect(result.findings.filter((f) => f.code === 'DESTRUCTIVE_CHANGE')).toEqual([]);
    // The data stays, but code using the old names breaks: said at the statements that renamed.
    expect(where(result, 'BREAKING_RENAME')).toEqual(['db/migrations/20240102000001_rename.sql:2 measured', 'db/migrations/20240102000001_rename.sql:3 measured']);
    expect(result.schemaChanges.filter((c) => c.description.startsWith('rename')).map((c) => [c.description, c.hazards.map((h) => h.code)])).toEqual([
      ['rename table public.orders to purchases', []],
      ['rename column public.users.email to login', ['ACCESS_EXCLUSIVE_LOCK']],
    ]);
    expect(result.schemaChanges.filter((c) => !c.description.startsWith('rename')).map((c) => c.description)).toEqual(['add column public.purchases.note text', 'make public.purchases.amount NOT NULL', 'create index public.purchases_amount', 'create index public.purchases_user']);
    // Measured on the renamed table, which the base had under its old name.
    // Line 2's rename needs no new lock: line 1 holds ACCESS EXCLUSIVE on the table already.
    expect(where(result, 'LOCKING_CHANGE')).toEqual(['db/migrations/20240102000001_rename.sql:1 measured', 'db/migrations/20240102000001_rename.sql:3 measured', 'db/migrations/20240102000001_rename.sql:4 measured', 'db/migrations/20240102000002_index.sql:1 measured', 'db/migrations/20240102000002_index.sql:2 measured']);
    // Line 4 runs under line 1's lock, taken on the table before its rename.
    expect(result.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.line === 4)!.message).toContain("it runs while line 1's ACCESS EXCLUSIVE (reads and writes wait) on public.orders (now public.purchases) is held");
    expect(result.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.file === 'db/migrations/20240102000002_index.sql')!.message).toContain('on public.purchases');
    // The generated rows were made in public.orders (the base's name), and the run on them found the NULLs.
    expect(where(result, 'FAILS_ON_DATA')).toEqual(['db/migrations/20240102000002_index.sql:2 measured']);
  });
  it('a column dropped and added again under its name loses its values: DESTRUCTIVE_CHANGE at the DROP, though the names match', async () => {
    const r = repo(BASE);
    r.commit({ 'db/migrations/20240102000001_reset.sql': '-- start legacy over\nALTER TABLE users DROP COLUMN legacy;\nALTER TABLE users ADD COLUMN legacy text;\n' }, 'pr');
    const result = await check(r);
    expect(where(result, 'DESTRUCTIVE_CHANGE')).toEqual(['db/migrations/20240102000001_reset.sql:2 measured']);
    expect(result.findings.find((f) => f.code === 'DESTRUCTIVE_CHANGE')!.message).toContain('drop and add column public.users.legacy again');
  });
  it("a serial column dropped is one DESTRUCTIVE_CHANGE: its sequence goes with it; a sequence dropped on its own is another", async () => {
    const r = repo({ 'db/migrations/20240101000001_t.sql': 'CREATE TABLE tickets (id serial PRIMARY KEY, code text, n serial);\nCREATE SEQUENCE invoice_numbers;\n' });
    r.commit({ 'db/migrations/20240102000001_drop.sql': 'ALTER TABLE tickets DROP COLUMN n;\nDROP SEQUENCE invoice_numbers;\n' }, 'pr');
    const result = await check(r);
    expect(result.findings.filter((f) => f.code === 'DESTRUCTIVE_CHANGE').map((f) => `${f.line ?? '-'} ${f.message.slice(0, f.message.indexOf(':'))}`).sort()).toEqual(['1 drop column public.tickets.n', '2 drop sequence public.invoice_numbers']);
  });
  it('a type change to text rewrites the table but loses nothing; one to a shorter varchar may', async () => {
    const r = repo({ 'db/migrations/20240101000001_t.sql': 'CREATE TABLE devices (id uuid PRIMARY KEY, serial character(36), model varchar(40));\n' });
    r.commit({ 'db/migrations/20240102000001_types.sql': 'ALTER TABLE devices ALTER COLUMN serial TYPE text;\nALTER TABLE devices ALTER COLUMN id TYPE text USING coalesce(id::text, \'\');\nALTER TABLE devices ALTER COLUMN model TYPE varchar(10);\n' }, 'pr');
    const result = await check(r);
    expect(where(result, 'DESTRUCTIVE_CHANGE')).toEqual(['db/migrations/20240102000001_types.sql:3 measured']);
    expect(where(result, 'TABLE_REWRITE').length).toBeGreaterThan(0);
  });
  it('copy, then drop: the drop is put on the DROP, not on the backfill that names the column first', async () => {
    const r = repo(BASE);
    r.commit({ 'db/migrations/20240102000001_move.sql': 'ALTER TABLE users ADD COLUMN contact text;\nUPDATE users SET contact = legacy;\n\nALTER TABLE users DROP COLUMN legacy;\n' }, 'pr');
    const result = await check(r);
    expect(where(result, 'DESTRUCTIVE_CHANGE')).toEqual(['db/migrations/20240102000001_move.sql:4 measured']);
  });
  it('timestamp to timestamptz deletes nothing, and rewrites the table wherever the TimeZone is not UTC (the gate runs with UTC); fewer fractional digits round values', async () => {
    const r = repo({ 'db/migrations/20240101000001_t.sql': 'CREATE TABLE events (id bigint PRIMARY KEY, at timestamp without time zone, at3 timestamp(3) without time zone);\n' });
    r.commit({ 'db/migrations/20240102000001_tz.sql': 'ALTER TABLE events ALTER COLUMN at TYPE timestamptz;\nALTER TABLE events ALTER COLUMN at3 TYPE timestamp(0) without time zone;\n' }, 'pr');
    const result = await check(r);
    expect(where(result, 'DESTRUCTIVE_CHANGE')).toEqual(['db/migrations/20240102000001_tz.sql:2 measured']);
    expect(where(result, 'TABLE_REWRITE').sort()).toEqual(['db/migrations/20240102000001_tz.sql:1 inferred', 'db/migrations/20240102000001_tz.sql:2 measured']);
    expect(result.findings.find((f) => f.code === 'TABLE_REWRITE' && f.line === 1)).toMatchObject({ severity: 'warning', message: expect.stringMatching(/only where the session's TimeZone is UTC .* rewrites public\.events .* Safer: SET LOCAL TimeZone = 'UTC'/) });
    expect(result.schemaChanges.find((c) => c.description.startsWith('change public.events.at '))!.hazards.map((h) => h.code)).toEqual(['TABLE_REWRITE', 'ACCESS_EXCLUSIVE_LOCK']);
  });
  it('a DELETE after an UPDATE of the same table takes no new lock and is still a DESTRUCTIVE_CHANGE at its line', async () => {
    const r = repo(BASE);
    r.commit({ 'db/migrations/20240102000001_clean.sql': 'UPDATE users SET email = lower(email);\nDELETE FROM users WHERE email IS NULL;\nDELETE FROM public.orders;\nUPDATE "public".orders SET amount = 0;\n' }, 'pr');
    const result = await check(r);
    expect(where(result, 'DESTRUCTIVE_CHANGE')).toEqual(['db/migrations/20240102000001_clean.sql:2 measured', 'db/migrations/20240102000001_clean.sql:3 measured']);
    expect(result.findings.find((f) => f.code === 'DESTRUCTIVE_CHANGE' && f.line === 2)!.message).toContain('deletes rows of public.users');
    // The UPDATE without WHERE on line 4 writes orders, which line 3 already holds ROW EXCLUSIVE on.
    expect(where(result, 'LOCKING_CHANGE')).toEqual(expect.arrayContaining(['db/migrations/20240102000001_clean.sql:1 measured', 'db/migrations/20240102000001_clean.sql:4 measured']));
  });
});
