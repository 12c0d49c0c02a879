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

function repo(pr: Record<string, string>, config = ''): PrRepository {
  const dir = path.join(tmp, `r${n++}`);
  writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\ncheck:\n  rollback: never\n${config}`, ...BASE });
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
    expect(result.data).toEqual(expect.objectContaining({ tables: 2, perTable: 200, seed: 1 }));
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

  it('without the data gate, NOT NULL without a default is still a warning (inferred)', async () => {
    const r = repo({ 'db/migrations/20240102000001_change.sql': 'ALTER TABLE users ADD COLUMN tier integer NOT NULL;\n' }, '  data:\n    enabled: false\n');
    const result = await check(r);
    expect(result.data).toBeUndefined();
    expect(result.findings.filter((f) => f.code === 'FAILS_ON_DATA')).toEqual([expect.objectContaining({ severity: 'warning', evidence: 'inferred', line: 1 })]);
  });
});
