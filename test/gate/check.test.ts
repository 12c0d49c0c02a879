import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck, type CheckResult } from '../../src/gate/check.js';
import { COMMENT_LIMIT, COMMENT_MARKER, renderCheckMarkdown } from '../../src/report/render-check.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, pgOptions, prRepository, runCli, sharedServerSuite, writeTree, type PrRepository } from '../helpers.js';

// End to end, one scratch git repository per case: a base commit on main, then a PR branch.

// One embedded server for the file; each check takes scratch databases on it (the url provider).
// The CLI case below still starts a server of its own, the default path.
const { tmp, server } = sharedServerSuite('dg-gate-');
let n = 0;

const USERS = { 'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text);\n', 'db/migrations/20240101000001_users.down.sql': 'DROP TABLE users;\n' };

function repo(base: Record<string, string>, config = ''): PrRepository {
  const dir = path.join(tmp, `r${n++}`);
  writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\n${config}`, ...base });
  return prRepository(dir);
}

async function check(r: PrRepository, labels: string[] = []): Promise<CheckResult> {
  return runCheck({ loaded: loadConfig({ cwd: r.dir }), cwd: r.dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ provider: 'url', url: server().adminUrl }), base: 'main', labels });
}

const codes = (result: CheckResult): string[] => result.findings.map((f) => `${f.severity} ${f.code}`).sort();

describe('drift-guard check (SQL engine)', () => {
  it('passes a clean PR and says what it does to the schema', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240102000001_orders.sql': 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n', 'db/migrations/20240102000001_orders.down.sql': 'DROP TABLE orders;\n' }, 'pr');
    const result = await check(r);
    expect(result.findings).toEqual([]);
    expect(result.verdict).toBe('pass');
    expect(result.version).toBe(1);
    expect(result.migrations.added).toEqual(['db/migrations/20240102000001_orders.sql']);
    expect(result.schemaChanges.map((c) => c.description)).toEqual(['create table public.orders', 'create primary key orders_pkey on public.orders', 'create foreign key orders_user_id_fkey on public.orders']);
    expect(result.diagram).toBe(
      [
        'erDiagram',
        '    public_orders {',
        '        bigint id PK',
        '        bigint user_id FK',
        '    }',
        '    public_users {',
        '        bigint id PK',
        '        text email',
        '        text legacy',
        '    }',
        '    public_users ||--o{ public_orders : "orders_user_id_fkey"',
      ].join('\n'),
    );
    expect(renderCheckMarkdown(result)).toContain('```mermaid\nerDiagram');
    expect(result.timings.map((t) => t.phase)).toEqual(
      expect.arrayContaining(['git analysis', 'start PostgreSQL', "base: applied 1 migration(s) (the base's migration files; not cached: the cache needs the embedded server (this one is url))", 'inspect the base schema', "apply the PR's 1 migration(s) one at a time", 'rollback check']),
    );
    expect(result.facts).toEqual([expect.objectContaining({ migration: '20240102000001', file: 'db/migrations/20240102000001_orders.sql', granularity: 'statement', transaction: true, changes: 3 })]);
  });

  it('MIGRATION_MODIFIED: an applied migration edited in the PR', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, legacy text);\n' }, 'edit');
    const result = await check(r);
    expect(codes(result)).toContain('error MIGRATION_MODIFIED');
    expect(result.findings.find((f) => f.code === 'MIGRATION_MODIFIED')).toMatchObject({ file: 'db/migrations/20240101000001_users.sql', line: 1 });
    expect(result.verdict).toBe('fail');
  });

  it('MIGRATION_DELETED: a base migration removed', async () => {
    const r = repo({ ...USERS, 'db/migrations/20240101000002_extra.sql': 'CREATE TABLE extra (id int);\n' });
    r.commit({ 'db/migrations/20240101000002_extra.sql': null }, 'delete');
    const result = await check(r);
    expect(result.findings.find((f) => f.code === 'MIGRATION_DELETED')).toMatchObject({ severity: 'error', file: 'db/migrations/20240101000002_extra.sql' });
  });

  it('MIGRATION_OUT_OF_ORDER: a new migration older than the base newest', async () => {
    const r = repo({ ...USERS, 'db/migrations/20240105000001_later.sql': 'CREATE TABLE later (id int);\n' });
    r.commit({ 'db/migrations/20240103000001_early.sql': 'CREATE TABLE early (id int);\n' }, 'old version');
    const result = await check(r);
    expect(result.findings.find((f) => f.code === 'MIGRATION_OUT_OF_ORDER')).toMatchObject({ severity: 'error', file: 'db/migrations/20240103000001_early.sql' });
  });

  it('BASE_ADVANCED: the base gained migrations since the branch forked', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240103000001_mine.sql': 'CREATE TABLE mine (id int);\n' }, 'pr');
    r.git('checkout', '-q', 'main');
    r.commit({ 'db/migrations/20240102000001_theirs.sql': 'CREATE TABLE theirs (id int);\n' }, 'main moves on');
    r.git('checkout', '-q', 'pr');
    const result = await check(r);
    expect(result.findings.find((f) => f.code === 'BASE_ADVANCED')).toMatchObject({ severity: 'warning' });
    expect(result.findings.find((f) => f.code === 'BASE_ADVANCED')!.message).toContain('20240102000001_theirs.sql');
  });

  it('APPLY_FAILED: the PR migration does not apply from scratch, reported at its line', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240102000001_bad.sql': 'CREATE TABLE ok (id int);\nALTER TABLE users ADD COLUMN age int REFERENCES nowhere (id);\n' }, 'bad');
    const result = await check(r);
    expect(result.findings).toEqual([
      expect.objectContaining({ code: 'APPLY_FAILED', severity: 'error', file: 'db/migrations/20240102000001_bad.sql', line: 2, message: 'relation "nowhere" does not exist', migration: '20240102000001' }),
      expect.objectContaining({ code: 'NOT_CHECKED', severity: 'notice', message: expect.stringContaining('the schema diff, its hazards and the rollback check did not run') }),
    ]);
    expect(result.schemaChanges).toEqual([]);
  });

  it('DESTRUCTIVE_CHANGE: a warning, acknowledged by a comment or a label, an error when configured', async () => {
    const drop = { 'db/migrations/20240102000001_drop.sql': 'ALTER TABLE users DROP COLUMN legacy;\n' };
    const plain = repo(USERS);
    plain.commit(drop, 'drop');
    const warned = await check(plain);
    expect(warned.findings.find((f) => f.code === 'DESTRUCTIVE_CHANGE')).toMatchObject({ severity: 'warning', file: 'db/migrations/20240102000001_drop.sql' });
    expect(warned.verdict).toBe('warn');
    const labelled = await check(plain, ['drift-guard:allow-destructive']);
    expect(labelled.findings.find((f) => f.code === 'DESTRUCTIVE_CHANGE')!.severity).toBe('notice');
    const commented = repo(USERS);
    commented.commit({ 'db/migrations/20240102000001_drop.sql': '-- drift-guard: allow DELETES_DATA legacy was never read\nALTER TABLE users DROP COLUMN legacy;\n' }, 'drop');
    const acknowledged = (await check(commented)).findings.find((f) => f.code === 'DESTRUCTIVE_CHANGE')!;
    expect(acknowledged.severity).toBe('notice');
    expect(acknowledged.message).toContain('legacy was never read');
    const strict = repo(USERS, 'check:\n  severity:\n    DESTRUCTIVE_CHANGE: error\n');
    strict.commit(drop, 'drop');
    expect((await check(strict)).verdict).toBe('fail');
  });

  it('LOCKING_CHANGE: a notice with the safer way', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240102000001_idx.sql': 'CREATE INDEX users_email ON users (email);\n', 'db/migrations/20240102000001_idx.down.sql': 'DROP INDEX users_email;\n' }, 'idx');
    const result = await check(r);
    // Measured: CREATE INDEX holds SHARE on users (writes wait), at the statement's line.
    expect(result.findings).toEqual([expect.objectContaining({ code: 'LOCKING_CHANGE', severity: 'notice', evidence: 'measured', file: 'db/migrations/20240102000001_idx.sql', line: 1, migration: '20240102000001' })]);
    expect(result.findings[0]!.message).toContain('takes SHARE (writes wait) on public.users');
    expect(result.findings[0]!.message).toContain('CREATE INDEX CONCURRENTLY');
    expect(result.verdict).toBe('pass');
  });

  it('ROLLBACK_INCOMPLETE and ROLLBACK_FAILED: down migrations that do not undo the PR', async () => {
    const incomplete = repo(USERS);
    incomplete.commit({ 'db/migrations/20240102000001_two.sql': 'CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n', 'db/migrations/20240102000001_two.down.sql': 'DROP TABLE a;\n' }, 'pr');
    const first = await check(incomplete);
    expect(first.findings.find((f) => f.code === 'ROLLBACK_INCOMPLETE')).toMatchObject({ severity: 'error', file: 'db/migrations/20240102000001_two.down.sql' });
    expect(first.findings.find((f) => f.code === 'ROLLBACK_INCOMPLETE')!.message).toContain('create table public.b');
    const failing = repo(USERS);
    failing.commit({ 'db/migrations/20240102000001_c.sql': 'CREATE TABLE c (id int);\n', 'db/migrations/20240102000001_c.down.sql': 'DROP TABLE not_there;\n' }, 'pr');
    const second = await check(failing);
    expect(second.findings.find((f) => f.code === 'ROLLBACK_FAILED')).toMatchObject({ severity: 'error', file: 'db/migrations/20240102000001_c.down.sql', line: 1 });
  });

  it('a rename the down migration does not undo is named as one; one it undoes passes the rollback check', async () => {
    const kept = repo(USERS);
    kept.commit({ 'db/migrations/20240102000001_rename.sql': 'ALTER TABLE users RENAME TO members;\nALTER TABLE members RENAME COLUMN email TO login;\n', 'db/migrations/20240102000001_rename.down.sql': 'ALTER TABLE members RENAME TO users;\n' }, 'pr');
    const first = await check(kept);
    expect(first.findings.find((f) => f.code === 'ROLLBACK_INCOMPLETE')).toMatchObject({ severity: 'error', file: 'db/migrations/20240102000001_rename.down.sql', details: { changes: ['rename column public.users.email to login'] } });
    expect(first.findings.filter((f) => f.code === 'DESTRUCTIVE_CHANGE')).toEqual([]);
    const undone = repo(USERS);
    undone.commit({ 'db/migrations/20240102000001_rename.sql': 'ALTER TABLE users RENAME TO members;\n', 'db/migrations/20240102000001_rename.down.sql': 'ALTER TABLE members RENAME TO users;\n' }, 'pr');
    const second = await check(undone);
    expect(codes(second)).toEqual(['notice BREAKING_RENAME', 'notice LOCKING_CHANGE']);
    expect(second.schemaChanges.map((c) => c.description)).toEqual(['rename table public.users to members']);
    expect(second.findings.find((f) => f.code === 'BREAKING_RENAME')).toMatchObject({ file: 'db/migrations/20240102000001_rename.sql', line: 1, details: { from: 'public.users' } });
  });

  it('a CHECK the down migration restores in another spelling of the same values is restored; with other values it is not', async () => {
    // PostgreSQL stores `IN (...)` on a varchar column as (ARRAY['a'::character varying, ...])::text[],
    // and the same check written as text (what down migrations often write) as ARRAY['a'::text, ...].
    const apps = { 'db/migrations/20240101000001_apps.sql': "CREATE TABLE apps (id int PRIMARY KEY, platform varchar(256) CHECK (platform IN ('ios', 'android')));\n" };
    const up = "ALTER TABLE apps DROP CONSTRAINT apps_platform_check;\nALTER TABLE apps ADD CONSTRAINT apps_platform_check CHECK (platform::text = ANY (ARRAY['ios', 'android', 'unity']::text[]));\n";
    const down = (values: string) => `ALTER TABLE apps DROP CONSTRAINT apps_platform_check;\nALTER TABLE apps ADD CONSTRAINT apps_platform_check CHECK (platform::text = ANY (ARRAY[${values}]::text[]));\n`;
    const same = repo(apps);
    same.commit({ 'db/migrations/20240102000001_unity.sql': up, 'db/migrations/20240102000001_unity.down.sql': down("'ios', 'android'") }, 'pr');
    const restored = await check(same);
    expect(restored.findings.filter((f) => f.code.startsWith('ROLLBACK'))).toEqual([]);
    expect(restored.schemaChanges.map((c) => c.description)).toEqual(['replace check apps_platform_check on public.apps']);
    // A length on the cast truncates ('ios'::varchar(2) is 'io'): not the same check.
    const other = repo(apps);
    other.commit({ 'db/migrations/20240102000001_unity.sql': up, 'db/migrations/20240102000001_unity.down.sql': down("'ios'::varchar(2), 'android'") }, 'pr');
    const notRestored = await check(other);
    expect(notRestored.findings.find((f) => f.code === 'ROLLBACK_INCOMPLETE')).toMatchObject({ severity: 'error', file: 'db/migrations/20240102000001_unity.down.sql' });
  });

  it('a down migration that creates again the table its up migration drops restores the schema (a new oid is no difference there)', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240102000001_drop.sql': 'DROP TABLE users;\n', 'db/migrations/20240102000001_drop.down.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text);\n' }, 'pr');
    const result = await check(r);
    expect(codes(result)).toEqual(['warning DESTRUCTIVE_CHANGE']);
    // The dropped table's lock counts as a base table's whichever of its locks (the table's, its
    // primary key index's) pg_locks lists first.
    expect(result.schemaChanges.find((c) => c.description === 'drop table public.users')!.hazards.map((h) => h.code)).toEqual(['DELETES_DATA', 'ACCESS_EXCLUSIVE_LOCK']);
  });

  it('the PR that adds the first migrations, and their folder, is checked (the base has no folder yet)', async () => {
    for (const layout of ['plain', 'flyway']) {
      const dir = path.join(tmp, `r${n++}`);
      writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: ${layout}\n`, 'README.md': 'an app\n' });
      const r = prRepository(dir);
      r.commit({ [layout === 'plain' ? 'db/migrations/20240102000001_users.sql' : 'db/migrations/V1__users.sql']: 'CREATE TABLE users (id bigint PRIMARY KEY);\n' }, 'pr');
      const result = await check(r);
      expect(result.verdict).not.toBe('fail');
      expect(result.schemaChanges.map((c) => c.description)).toContain('create table public.users');
    }
  });

  it('an empty down script (irreversible on purpose) is a rollback not checked, not a rollback that fails', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240102000001_col.sql': 'ALTER TABLE users ADD COLUMN tier integer;\n', 'db/migrations/20240102000001_col.down.sql': '-- This migration cannot be undone.\n' }, 'pr');
    const result = await check(r);
    expect(codes(result)).toEqual(['notice LOCKING_CHANGE', 'notice NOT_CHECKED']);
    expect(result.findings.find((f) => f.code === 'NOT_CHECKED')!.message).toContain('20240102000001_col.sql (its down script db/migrations/20240102000001_col.down.sql is empty: irreversible)');
  });

  it('LINT: squawk on the new migrations, at their lines', async () => {
    const r = repo(USERS, 'check:\n  lint: true\n');
    r.commit({ 'db/migrations/20240102000001_idx.sql': '-- find users by email\nCREATE INDEX users_email ON users (email);\n', 'db/migrations/20240102000001_idx.down.sql': 'DROP INDEX users_email;\n' }, 'idx');
    const result = await check(r);
    const lint = result.findings.filter((f) => f.code === 'LINT');
    expect(lint).toContainEqual(expect.objectContaining({ severity: 'warning', file: 'db/migrations/20240102000001_idx.sql', line: 2, details: { rule: 'require-concurrent-index-creation' } }));
  });

  it('SCHEMA_FILE_STALE: the committed snapshot no longer matches the migrations', async () => {
    const r = repo(USERS, '  schema-file: db/schema.sql\n');
    const fresh = await runCli(['inspect', 'db/migrations', '-o', 'db/schema.sql'], { cwd: r.dir });
    expect(fresh.code).toBe(0);
    r.commit({}, 'noop');
    r.commit({ 'db/migrations/20240102000001_t.sql': 'CREATE TABLE t (id int);\n' }, 'pr without snapshot update');
    const stale = await check(r);
    expect(stale.findings.find((f) => f.code === 'SCHEMA_FILE_STALE')).toMatchObject({ severity: 'error', file: 'db/schema.sql' });
    expect((await runCli(['inspect', 'db/migrations', '-o', 'db/schema.sql'], { cwd: r.dir })).code).toBe(0);
    expect((await check(r)).findings.filter((f) => f.code === 'SCHEMA_FILE_STALE')).toEqual([]);
  });

  it('runs from the CLI: exit 1 on errors, JSON report, a clear error without a base', async () => {
    const r = repo(USERS);
    r.commit({ 'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id int);\n' }, 'edit');
    const json = await runCli(['check', '--base', 'main', '--json'], { cwd: r.dir });
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as CheckResult;
    expect(parsed.version).toBe(1);
    expect(parsed.findings.map((f) => f.code)).toContain('MIGRATION_MODIFIED');
    const noBase = await runCli(['check', '--base', 'nope'], { cwd: r.dir });
    expect(noBase.code).toBe(2);
    expect(noBase.stderr).toMatch(/cannot find the base branch \(tried nope\); pass --base REF, or fetch it \(actions\/checkout with fetch-depth: 0\)/);
    writeFileSync(path.join(r.dir, 'untracked.txt'), 'x');
  });

  it('postgres.setup: what the databases get outside the migrations is run on each new scratch database first; a failing file is exit 2 at its line', async () => {
    // Migrations that rely on a schema and a search_path made by the deployment's own init script.
    const config = (setup: string) => `postgres:\n  provider: url\n  setup:\n    - ${setup}\nsql:\n  dir: db/migrations\n  layout: plain\ncheck:\n  data:\n    enabled: false\n`;
    const setUp = "CREATE SCHEMA app;\nDO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = app, public', current_database()); END $$;\n";
    const dir = path.join(tmp, `r${n++}`);
    writeTree(dir, { '.drift-guard.yml': config('db/setup.sql'), 'db/setup.sql': setUp, 'db/broken.sql': 'CREATE SCHEMA ok;\nCREATE TABLE nope (id intt);\n', 'db/role.sql': 'CREATE ROLE reader NOLOGIN;\n', 'db/migrations/20240101000001_orders.sql': 'CREATE TABLE app.orders (id bigint PRIMARY KEY);\n', 'db/migrations/20240101000001_orders.down.sql': 'DROP TABLE app.orders;\n' });
    const r = prRepository(dir);
    r.commit({ 'db/migrations/20240102000001_note.sql': 'ALTER TABLE orders ADD COLUMN note text;\n', 'db/migrations/20240102000001_note.down.sql': 'ALTER TABLE orders DROP COLUMN note;\n' }, 'pr');
    const env = { ...cleanEnv(), DRIFT_GUARD_DATABASE_URL: server().adminUrl };
    const run = await runCli(['check', '--base', 'main', '--json'], { cwd: dir, env });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CheckResult;
    expect(report.findings.filter((f) => f.severity !== 'notice')).toEqual([]);
    expect(report.schemaChanges.map((c) => c.description)).toEqual(['add column app.orders.note text']);
    // Without it the base's migrations do not apply: the gate cannot tell what the PR does.
    writeFileSync(path.join(dir, '.drift-guard.yml'), config('db/setup.sql').replace(/  setup:\n.*\n/, ''));
    const without = JSON.parse((await runCli(['check', '--base', 'main', '--json'], { cwd: dir, env })).stdout) as CheckResult;
    expect(without.findings.map((f) => f.code)).toContain('BASE_APPLY_FAILED');
    // A file that fails, one that needs a superuser, and one that is not there: exit 2, no stack trace.
    for (const [file, error] of [
      ['db/broken.sql', /^drift-guard: db\/broken\.sql:2: type "intt" does not exist; postgres\.setup runs this file on every new scratch database, before any migration, as the scratch database's owner drift_guard_\w+, not a superuser \(postgres\.superuser opts in\): fix it$/m],
      ['db/role.sql', /^drift-guard: db\/role\.sql:1: permission denied to create role;/m],
      ['db/missing.sql', /\.drift-guard\.yml:4:\d+: postgres\.setup names db\/missing\.sql, which cannot be read \(ENOENT\); give the path of a SQL file relative to the config file/],
    ] as const) {
      writeFileSync(path.join(dir, '.drift-guard.yml'), config(file));
      const failed = await runCli(['check', '--base', 'main'], { cwd: dir, env });
      expect(failed.code).toBe(2);
      expect(failed.stderr, failed.stderr).toMatch(error);
      expect(failed.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('check markdown', () => {
  it('carries the marker and stays under the comment limit by cutting whole lines', () => {
    const change = { id: 'x', action: 'create' as const, kind: 'table' as const, table: 'public.t', description: `create ${'x'.repeat(200)}`, hazards: [], hints: [] };
    const result: CheckResult = {
      version: 1,
      verdict: 'warn',
      base: { ref: 'main', commit: 'a'.repeat(40), mergeBase: 'b'.repeat(40) },
      migrations: { added: [], modified: [], deleted: [] },
      facts: [],
      findings: Array.from({ length: 300 }, (_, i) => ({ check: 'schema', code: 'LOCKING_CHANGE' as const, severity: 'notice' as const, message: `finding ${i} ${'<b>'.repeat(50)}` })),
      schemaChanges: Array.from({ length: 300 }, () => change),
      timings: [{ phase: 'git analysis', ms: 10 }],
    };
    const markdown = renderCheckMarkdown(result);
    expect(markdown.startsWith(COMMENT_MARKER)).toBe(true);
    expect(markdown.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(markdown).toMatch(/more line\(s\) left out to stay within GitHub's comment size/);
    expect(markdown).not.toContain('<b>');
    expect(markdown.split('\n').every((line) => !line.startsWith('| ℹ️') || line.endsWith('|'))).toBe(true);
  });
});
