import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck, type CheckResult } from '../../src/gate/check.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, pgOptions, prRepository, sharedServerSuite, writeTree, type PrRepository } from '../helpers.js';

// The data-aware gate: the PR's migrations run a second time on a copy of the base filled with
// generated rows. What only fails on rows fails the gate at its statement and line; the safe form
// of the same change passes.

const { tmp, server } = sharedServerSuite('dg-data-');
let n = 0;

const BASE = {
  'db/migrations/20240101000001_base.sql':
    "CREATE TABLE users (id bigint PRIMARY KEY, email text, code text, score integer, name varchar(50));\nCREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id), note text);\n",
};

function repo(pr: Record<string, string>, config = '', base: Record<string, string> = BASE): PrRepository {
  const dir = path.join(tmp, `r${n++}`);
  writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\ncheck:\n  rollback: never\n${config}`, ...base });
  const r = prRepository(dir);
  r.commit(pr, 'pr');
  return r;
}

async function check(r: PrRepository): Promise<CheckResult> {
  return runCheck({ loaded: loadConfig({ cwd: r.dir }), cwd: r.dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ provider: 'url', url: server().adminUrl }), base: 'main' });
}

const failing = (result: CheckResult) => result.findings.filter((f) => f.code === 'FAILS_ON_DATA' || f.code === 'APPLY_FAILED');

describe('the data-aware gate', () => {
  it.each([
    ['ADD COLUMN ... NOT NULL without a default', 'ALTER TABLE users ADD COLUMN tier integer NOT NULL;', /column "tier" of relation "users" contains null values/],
    ['SET NOT NULL over NULLs', 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;', /contains null values/],
    ['a unique index over duplicates', 'CREATE UNIQUE INDEX orders_user ON orders (user_id);', /could not create unique index/],
    ['a USING cast over text that is not a number', 'ALTER TABLE users ALTER COLUMN code TYPE integer USING code::integer;', /invalid input syntax for type integer/],
    ['a CHECK that rows violate', 'ALTER TABLE users ADD CONSTRAINT score_positive CHECK (score > 0);', /violated by some row/],
    ['a narrowing type change', 'ALTER TABLE users ALTER COLUMN name TYPE varchar(5);', /value too long/],
    ['a foreign key that rows violate', 'ALTER TABLE users ADD CONSTRAINT users_score_order FOREIGN KEY (score) REFERENCES orders (id);', /violates foreign key constraint "users_score_order"/],
    ['a data UPDATE that breaks a constraint', 'UPDATE orders SET user_id = user_id + 1000000;', /violates foreign key constraint "orders_user_id_fkey"/],
  ])('%s fails the gate at its line', async (_name, statement, error) => {
    const r = repo({ 'db/migrations/20240102000001_change.sql': `-- the change\n${statement}\n` });
    const result = await check(r);
    expect(result.verdict).toBe('fail');
    expect(failing(result)).toEqual([
      expect.objectContaining({ code: 'FAILS_ON_DATA', severity: 'error', evidence: 'measured', file: 'db/migrations/20240102000001_change.sql', line: 2, migration: '20240102000001', message: expect.stringMatching(error) }),
    ]);
    expect(failing(result)[0]!.message).toContain('applies to empty tables but fails once they hold rows');
    // It failed with only the tables it touched filled, so it ran again with every table filled:
    // the failure reported is the one a fill of every table gives.
    expect(result.timings.map((t) => t.phase)).toContain('generated rows: the run failed with only the tables it touched filled; again with every table filled');
    expect(result.data).toEqual(expect.objectContaining({ tables: 2, rows: 400, perTable: 200, seed: 1, scope: 'all' }));
  });

  it.each([
    ['a default given', 'ALTER TABLE users ADD COLUMN tier integer NOT NULL DEFAULT 0;'],
    ['a CHECK added NOT VALID, validated later', 'ALTER TABLE users ADD CONSTRAINT score_positive CHECK (score > 0) NOT VALID;'],
    ['a cast that fits every value', 'ALTER TABLE users ALTER COLUMN score TYPE bigint;'],
    ['a plain index', 'CREATE INDEX orders_user ON orders (user_id);'],
    ['NULLs backfilled before SET NOT NULL', "UPDATE users SET email = '' WHERE email IS NULL;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;"],
    ['a USING cast that keeps only numbers', "ALTER TABLE users ALTER COLUMN code TYPE integer USING CASE WHEN code ~ '^-?[0-9]{1,9}$' THEN code::integer END;"],
    ['a foreign key added NOT VALID', 'ALTER TABLE users ADD CONSTRAINT users_score_order FOREIGN KEY (score) REFERENCES orders (id) NOT VALID;'],
    ['a widening type change', 'ALTER TABLE users ALTER COLUMN name TYPE varchar(80);'],
    ['a data UPDATE that keeps the constraint', 'UPDATE orders SET user_id = NULL WHERE user_id < 0;'],
  ])('the safe form passes: %s', async (_name, statement) => {
    const r = repo({ 'db/migrations/20240102000001_change.sql': `${statement}\n` });
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    expect(result.verdict).not.toBe('fail');
    expect(result.facts[0]!.onData).toBeDefined();
  });

  it('a backfill says how long it took on the generated rows', async () => {
    const r = repo({ 'db/migrations/20240102000001_backfill.sql': "ALTER TABLE orders ADD COLUMN status text;\nUPDATE orders SET status = 'open';\n" });
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    const backfill = result.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.line === 2);
    expect(backfill?.message).toMatch(/updates every row of public\.orders .* On the generated rows \(200 per table\) it took \d+ ms for 200 row\(s\)\.$/);
    expect(result.facts[0]!.onData!.statements!.find((s) => s.line === 2)).toEqual(expect.objectContaining({ rows: 200 }));
  });

  it('a lock over a validating scan or an index build says the rows it read and how long it was held on them', async () => {
    const r = repo({ 'db/migrations/20240102000001_scan.sql': "UPDATE users SET email = '' WHERE email IS NULL;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\nCREATE INDEX orders_note ON orders (note);\n" });
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    const statements = result.facts[0]!.onData!.statements!;
    // Measured by PostgreSQL (pg_stat_xact_user_tables): the scans read every generated row.
    expect(statements.find((s) => s.line === 2)!.read).toEqual([{ table: 'public.users', rows: 200 }]);
    expect(statements.find((s) => s.line === 3)!.read).toEqual([{ table: 'public.orders', rows: 200 }]);
    // On empty tables nothing was read.
    expect(result.facts[0]!.statements!.every((s) => s.read === undefined)).toBe(true);
    const notNull = result.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.line === 2);
    expect(notNull?.message).toMatch(/takes ACCESS EXCLUSIVE .* on public\.users, held until the migration commits \(\d+ ms on the generated rows, 200 per table\)\..* it read 200 row\(s\) of public\.users under that lock in \d+ ms; the time grows with the table\.$/);
    const index = result.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.line === 3);
    expect(index?.message).toMatch(/takes SHARE \(writes wait\) on public\.orders, held until the migration commits \(\d+ ms on the generated rows, 200 per table\)\..* it read 200 row\(s\) of public\.orders under that lock/);
    expect(result.findings.map((f) => f.message).join('\n')).not.toContain('on empty tables');
  });

  it('a table a statement only reads is counted at that statement, not at the ones after it', async () => {
    // The join reads users under ACCESS SHARE; the statements after it lock users too (the first
    // one more strongly) but read nothing of it themselves.
    const r = repo({
      'db/migrations/20240102000001_join.sql': "UPDATE orders SET note = u.email FROM users u WHERE u.id = orders.user_id;\nALTER TABLE users ADD COLUMN c int;\nALTER TABLE orders ADD COLUMN d int;\n",
    });
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    const read = (line: number) => result.facts[0]!.onData!.statements!.find((s) => s.line === line)!.read;
    expect(read(1)).toEqual([
      { table: 'public.orders', rows: 200 },
      { table: 'public.users', rows: 200 },
    ]);
    expect(read(2)).toBeUndefined();
    expect(read(3)).toBeUndefined();
  });

  it('rows read are counted per statement also where each statement is its own transaction', async () => {
    // CREATE INDEX CONCURRENTLY makes the file run outside a transaction: each statement commits on
    // its own, and PostgreSQL's per-transaction counters still hold the earlier ones' until flushed.
    const r = repo({ 'db/migrations/20240102000001_scan.sql': "UPDATE users SET email = '' WHERE email IS NULL;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n" });
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    const statements = result.facts[0]!.onData!.statements!;
    expect(statements.find((s) => s.line === 1)!.read).toEqual([{ table: 'public.users', rows: 200 }]);
    expect(statements.find((s) => s.line === 2)!.read).toEqual([{ table: 'public.users', rows: 200 }]);
  });

  it("a file's own transactions: each one's locks and rows read are its statements' own", async () => {
    const r = repo({ 'db/migrations/20240102000001_txns.sql': "BEGIN;\nALTER TABLE users ADD COLUMN a int;\nUPDATE users SET a = 1;\nCOMMIT;\nBEGIN;\nALTER TABLE users ADD COLUMN b int;\nUPDATE users SET b = 2;\nCOMMIT;\n" });
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    const locks = (line: number) => result.facts[0]!.statements!.find((s) => s.line === line)!.locks;
    expect(locks(2)).toContain('public.users AccessExclusiveLock');
    expect(locks(6)).toContain('public.users AccessExclusiveLock');
    const read = (line: number) => result.facts[0]!.onData!.statements!.find((s) => s.line === line)!.read;
    expect(read(3)).toEqual([{ table: 'public.users', rows: 200 }]);
    expect(read(7)).toEqual([{ table: 'public.users', rows: 200 }]);
  });

  it("a failure that needs a value at its type's limit is a warning that says so; one that ordinary values give stays an error", async () => {
    // CURRENT_DATE - retention is out of range only for a retention near -2147483648.
    const base = { ...BASE, 'db/migrations/20240101000002_retention.sql': 'ALTER TABLE users ADD COLUMN retention integer NOT NULL DEFAULT 30 CHECK (retention <= 365);\n' };
    const extreme = repo({ 'db/migrations/20240102000001_cutoff.sql': 'ALTER TABLE users ADD COLUMN cutoff date;\nUPDATE users SET cutoff = CURRENT_DATE - retention;\n' }, '', base);
    const first = await check(extreme);
    expect(first.verdict).not.toBe('fail');
    expect(failing(first)).toEqual([expect.objectContaining({ code: 'FAILS_ON_DATA', severity: 'warning', evidence: 'measured', line: 2, message: expect.stringMatching(/date out of range.* It needs a value at its type's limit: on the same rows without such values .* it applies\./) })]);
    expect(first.timings.map((t) => t.phase)).toContain("generated rows: the run failed; again without values at their types' limits");
    // Multiplied, ordinary values overflow too: an error, from the run without extremes.
    const ordinary = repo({ 'db/migrations/20240102000001_cutoff.sql': 'ALTER TABLE users ADD COLUMN cutoff date;\nUPDATE users SET cutoff = CURRENT_DATE - retention * 10000000;\n' }, '', base);
    const second = await check(ordinary);
    expect(second.verdict).toBe('fail');
    expect(failing(second)).toEqual([expect.objectContaining({ code: 'FAILS_ON_DATA', severity: 'error', line: 2, message: expect.stringContaining('out of range') })]);
    expect(failing(second)[0]!.message).not.toContain("type's limit");
  });

  it("some generated rows hold a column's constant default: a backfill of the rows still at it updates them", async () => {
    const base = { 'db/migrations/20240101000001_jobs.sql': "CREATE TABLE jobs (id bigint PRIMARY KEY, state text NOT NULL DEFAULT 'pending', tx xid8 DEFAULT '0', started timestamptz DEFAULT now());\n" };
    const r = repo({ 'db/migrations/20240102000001_queue.sql': "UPDATE jobs SET state = 'queued' WHERE state = 'pending' AND tx = '0';\n" }, '', base);
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    // About a tenth of the 200 rows hold each default (hashed per column, so the two combine).
    const updated = result.facts[0]!.onData!.statements!.find((s) => s.line === 1)!.rows!;
    expect(updated).toBeGreaterThan(0);
    expect(updated).toBeLessThan(40);
  });

  it("a base whose migrations do not apply has no rows to run on: the report says the data check did not run", async () => {
    const broken = { 'db/migrations/20240101000001_base.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, team_id bigint REFERENCES teams (id));\n' };
    const r = repo({ 'db/migrations/20240102000001_more.sql': 'CREATE TABLE teams (id bigint PRIMARY KEY);\n' }, '', broken);
    const result = await check(r);
    expect(result.findings.map((f) => f.code)).toContain('BASE_APPLY_FAILED');
    expect(result.findings).toContainEqual(expect.objectContaining({ check: 'data', code: 'NOT_CHECKED', message: "data not checked: the base's migrations do not apply to an empty database, so there is no base to fill with rows" }));
  });

  it('without the data gate, NOT NULL without a default is still a warning (inferred)', async () => {
    const r = repo({ 'db/migrations/20240102000001_change.sql': 'ALTER TABLE users ADD COLUMN tier integer NOT NULL;\n' }, '  data:\n    enabled: false\n');
    const result = await check(r);
    expect(result.data).toBeUndefined();
    expect(result.findings.filter((f) => f.code === 'FAILS_ON_DATA')).toEqual([expect.objectContaining({ severity: 'warning', evidence: 'inferred', line: 1 })]);
  });
});

// Only the tables the PR's migrations touch get rows (with the tables they reference); what the run
// on the rows touches besides (a cascade, a trigger) is filled in a second run, and a failure is
// confirmed with every table filled.
describe('the data-aware gate fills what the PR touches', () => {
  const TOUCHED_BASE = {
    'db/migrations/20240101000001_base.sql': [
      'CREATE TABLE accounts (id bigint PRIMARY KEY);',
      'CREATE TABLE users (id bigint PRIMARY KEY, email text);',
      'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id) ON DELETE RESTRICT, note text);',
      'CREATE TABLE docs (id bigint PRIMARY KEY, title text);',
      'CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint REFERENCES accounts (id), doc_id bigint);',
      'CREATE TABLE strict_audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id));',
      'CREATE TABLE unrelated (id bigint PRIMARY KEY, body text);',
      // Rows written elsewhere only when rows change: invisible on empty tables.
      'CREATE FUNCTION docs_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (account_id, doc_id) VALUES ((SELECT min(id) FROM accounts), NEW.id); RETURN NEW; END $$;',
      'CREATE TRIGGER docs_audit AFTER UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION docs_audit();',
      'CREATE FUNCTION users_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO strict_audit (account_id) VALUES ((SELECT min(id) FROM accounts)); RETURN NEW; END $$;',
      'CREATE TRIGGER users_audit AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_audit();',
      '',
    ].join('\n'),
  };
  const touchedRepo = (statement: string, config = ''): PrRepository => {
    const dir = path.join(tmp, `t${n++}`);
    writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\ncheck:\n  rollback: never\n${config}`, ...TOUCHED_BASE });
    const r = prRepository(dir);
    r.commit({ 'db/migrations/20240102000001_change.sql': `${statement}\n` }, 'pr');
    return r;
  };
  const phases = (result: CheckResult): string[] => result.timings.map((t) => t.phase);

  it('a PR that touches no table of the base generates no rows and does not run again', async () => {
    const result = await check(touchedRepo('CREATE TABLE tags (id bigint PRIMARY KEY, name text NOT NULL);\nCREATE INDEX tags_name ON tags (name);'));
    expect(result.verdict).toBe('pass');
    expect(result.data).toEqual(expect.objectContaining({ scope: 'touched', tables: 0, rows: 0 }));
    expect(phases(result)).toContain("generate rows: none (the PR's migrations touch no table of the base)");
    expect(phases(result).some((p) => p.startsWith("apply the PR's migrations again"))).toBe(false);
    // One that reads a base table (a backfill from it) does get rows there.
    const reading = await check(touchedRepo('CREATE TABLE doc_titles AS SELECT id, title FROM docs;'));
    expect(reading.data).toEqual(expect.objectContaining({ scope: 'touched', tables: 1 }));
  });

  it('fills only the touched table and the tables it references, with the rows a full fill gives them', async () => {
    const result = await check(touchedRepo("ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';"));
    expect(result.verdict).not.toBe('fail');
    // orders and its parent users: 2 of the 7 tables.
    expect(result.data).toEqual(expect.objectContaining({ scope: 'touched', tables: 2, rows: 400 }));
    expect(phases(result)).toContain("generate rows (200 per table) in the 1 table(s) the PR's migrations touch and their foreign-key parents");
    expect(phases(result).filter((p) => p.startsWith('generated rows:'))).toEqual([]);
  });

  it('a cascade the rows set off reaches a table the empty run never touched: filled and run again, the failure found', async () => {
    // On empty tables the DELETE deletes nothing; on users' rows alone it succeeds (orders is
    // empty), but its foreign-key check read orders: with orders' rows too, it fails.
    const result = await check(touchedRepo('DELETE FROM users;'));
    expect(phases(result)).toContain('generated rows: the run touched public.orders, which had none; again with those filled too');
    expect(result.verdict).toBe('fail');
    expect(failing(result)).toEqual([expect.objectContaining({ code: 'FAILS_ON_DATA', line: 1, message: expect.stringMatching(/violates foreign key constraint "orders_user_id_fkey"/) })]);
  });

  it('a trigger that writes another table: filled and run again, no failure from the first run', async () => {
    const result = await check(touchedRepo('UPDATE docs SET title = upper(title);'));
    expect(phases(result)).toContain('generated rows: the run touched public.accounts, public.audit, which had none; again with those filled too');
    expect(failing(result)).toEqual([]);
    expect(result.data).toEqual(expect.objectContaining({ scope: 'touched', tables: 3, rows: 600 }));
  });

  it('a table check.data.skip names stays empty and asks for no second run', async () => {
    const result = await check(touchedRepo('UPDATE docs SET title = upper(title);', '  data:\n    skip: [audit, accounts]\n'));
    expect(phases(result).filter((p) => p.startsWith('generated rows:'))).toEqual([]);
    expect(failing(result)).toEqual([]);
    expect(result.data).toEqual(expect.objectContaining({ scope: 'touched', tables: 1, rows: 200 }));
  });

  it('a failure met with only the touched tables filled is checked with every table filled: none when their rows make it pass', async () => {
    // The trigger's NOT NULL account comes from accounts, empty in the first run: a failure that
    // production's rows would not cause.
    const result = await check(touchedRepo("UPDATE users SET email = 'x';"));
    expect(phases(result)).toContain('generated rows: the run failed with only the tables it touched filled; again with every table filled');
    expect(failing(result)).toEqual([]);
    expect(result.data).toEqual(expect.objectContaining({ scope: 'all', tables: 7 }));
  });
  it("the copies keep the base database's own settings: a migration relying on ALTER DATABASE ... SET search_path passes", async () => {
    const dir = path.join(tmp, `r${n++}`);
    writeTree(dir, {
      '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\ncheck:\n  rollback: never\n',
      'db/migrations/20240101000001_base.sql': "CREATE SCHEMA app;\nCREATE TABLE app.accounts (id bigint PRIMARY KEY, note text);\nDO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path TO app, public', current_database()); END $$;\n",
    });
    const r = prRepository(dir);
    // Unqualified: found through the database's search_path.
    r.commit({ 'db/migrations/20240102000001_change.sql': 'ALTER TABLE accounts ADD COLUMN tier integer;\n' }, 'pr');
    const result = await check(r);
    expect(failing(result)).toEqual([]);
    expect(result.verdict).toBe('pass');
    expect(result.facts.map((f) => f.onData !== undefined)).toEqual([true]);
  });
});
