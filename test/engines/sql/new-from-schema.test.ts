import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeDir, runCli, writeTree } from '../../helpers.js';

// `new NAME` with sql.schema-file: the developer edits the declarative schema, and the new
// migration is generated from the difference, then must bring the migrations to exactly that
// schema (and its down back), in every layout that has down scripts.

const tmp = makeTempDir('dg-new-schema-');
afterAll(() => removeDir(tmp));

const FIRST = 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n';

const LAYOUTS: Record<string, Record<string, string>> = {
  plain: { 'db/migrations/20240101000000_users.sql': FIRST },
  goose: { 'db/migrations/20240101000000_users.sql': `-- +goose Up\n${FIRST}\n-- +goose Down\nDROP TABLE users;\n` },
  'golang-migrate': { 'db/migrations/20240101000000_users.up.sql': FIRST, 'db/migrations/20240101000000_users.down.sql': 'DROP TABLE users;\n' },
  dbmate: { 'db/migrations/20240101000000_users.sql': `-- migrate:up\n${FIRST}\n-- migrate:down\nDROP TABLE users;\n` },
};

describe('drift-guard new with a declarative schema file', () => {
  it.each(Object.keys(LAYOUTS))('%s: generates the migration from the schema file; applied, the migrations equal the file; down undoes it', async (layout) => {
    const dir = path.join(tmp, layout);
    writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: ${layout}\n  schema-file: db/schema.sql\n`, ...LAYOUTS[layout]! });
    const env = cleanEnv();
    const inspected = await runCli(['inspect', 'db/migrations', '-o', 'db/schema.sql'], { cwd: dir, env });
    expect(inspected.code, inspected.stderr).toBe(0);
    // The developer's edit: a column, an index, a table with a function-backed check.
    const schema = readFileSync(path.join(dir, 'db/schema.sql'), 'utf8');
    writeTree(dir, {
      'db/schema.sql': `${schema.replace('email text NOT NULL', 'email text NOT NULL,\n    nickname text')}
CREATE FUNCTION public.positive(n integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT n > 0; $$;
CREATE TABLE public.orders (id bigint PRIMARY KEY, user_id bigint REFERENCES public.users (id), qty integer CHECK (public.positive(qty)));
CREATE INDEX users_nickname ON public.users (nickname);
`,
    });
    const created = await runCli(['new', 'add orders'], { cwd: dir, env });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/created db\/migrations\/\d{14}_add_orders/);
    expect(created.stdout).toContain('generated from db/schema.sql; review it before applying:');
    expect(created.stdout).toMatch(/CREATE TABLE public\.orders/);
    expect(readdirSync(path.join(dir, 'db/migrations')).length).toBeGreaterThan(Object.keys(LAYOUTS[layout]!).length);

    // Applied from scratch, the migrations now produce exactly the schema file.
    const same = await runCli(['diff', 'db/migrations', 'db/schema.sql'], { cwd: dir, env });
    expect(same.code, same.stdout + same.stderr).toBe(0);
    // And the generated down script takes the schema back to the first migration.
    const roundTrip = await runCli(['scratch', '--', 'sh', '-c', `"$DG" migrate && "$DG" rollback --steps 1 && echo ===== && "$DG" inspect "$DATABASE_URL"`], { cwd: dir, env: cleanEnv({ DG: path.resolve('dist/cli.js') }) });
    expect(roundTrip.code, roundTrip.stderr).toBe(0);
    const after = roundTrip.stdout.split('=====\n')[1] ?? '';
    expect(after).toMatch(/CREATE TABLE public\.users/);
    expect(after).not.toMatch(/orders|nickname|positive/);
  });

  it('an unchanged schema file gives an empty migration and says so', async () => {
    const dir = path.join(tmp, 'unchanged');
    writeTree(dir, { '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\n  schema-file: db/schema.sql\n', ...LAYOUTS.plain! });
    expect((await runCli(['inspect', 'db/migrations', '-o', 'db/schema.sql'], { cwd: dir, env: cleanEnv() })).code).toBe(0);
    const created = await runCli(['new', 'nothing'], { cwd: dir, env: cleanEnv() });
    expect(created.code).toBe(0);
    expect(created.stderr).toContain('db/schema.sql matches the migrations: the new migration is empty');
  });
});
