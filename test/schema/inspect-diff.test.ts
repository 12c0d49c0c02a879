import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspectUrl } from '../../src/introspect/introspect.js';
import { findInstallations } from '../../src/postgres/binaries.js';
import { withClient } from '../../src/postgres/client.js';
import { withPostgresServer } from '../../src/postgres/scratch.js';
import { diffSchemas } from '../../src/schema/diff.js';
import { renderSnapshot } from '../../src/schema/snapshot.js';
import { loadSqlFile } from '../../src/schema/sources.js';
import { cleanEnv, makeTempDir, pgOptions, removeDir, repoRoot, runCli, startSharedServer, writeTree, type PostgresServerHandle, gitIn } from '../helpers.js';

const rich = path.join(repoRoot, 'test', 'fixtures', 'schemas', 'rich.sql');
const tmp = makeTempDir('dg-inspect-');
let server: PostgresServerHandle;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ server, stop } = await startSharedServer());
});
afterAll(async () => {
  await stop();
  removeDir(tmp);
});

describe('inspect', () => {
  it('round-trips: the snapshot applied to an empty database gives the same snapshot', async () => {
    await server.withDatabase((first) =>
      server.withDatabase(async (second) => {
        await loadSqlFile(rich, first.url, repoRoot);
        const snapshot = renderSnapshot(await introspectUrl(first.url));
        expect(snapshot).toContain('CREATE TABLE app.users (');
        expect(snapshot).not.toContain('flyway_schema_history');
        const file = path.join(tmp, 'snapshot.sql');
        writeFileSync(file, snapshot);
        await loadSqlFile(file, second.url, tmp);
        expect(renderSnapshot(await introspectUrl(second.url))).toBe(snapshot);
      }),
    );
  });

  it('prints the same text on every supported PostgreSQL version here', async (context) => {
    const installations = await findInstallations();
    const majors = [...new Set(installations.map((i) => i.major))];
    if (majors.length < 2) {
      console.log(`skipped: only PostgreSQL ${majors.join(', ')} is installed here`);
      context.skip();
      return;
    }
    const snapshots: string[] = [];
    for (const major of majors) {
      snapshots.push(
        await withPostgresServer(pgOptions({ version: major }), (s) =>
          s.withDatabase(async (db) => {
            await loadSqlFile(rich, db.url, repoRoot);
            return renderSnapshot(await introspectUrl(db.url));
          }),
        ),
      );
    }
    // PostgreSQL 16 stopped qualifying columns in single-table view definitions; everything else
    // must print the same on every version.
    const withoutViews = snapshots.map((text) => text.replace(/^CREATE (MATERIALIZED )?VIEW[\s\S]*?;$/gm, '<view>'));
    expect(new Set(withoutViews).size).toBe(1);
  });

  it('reports objects it does not model instead of leaving them out silently', async () => {
    await server.withDatabase((a) =>
      server.withDatabase(async (b) => {
        const sql = "CREATE TYPE floatrange AS RANGE (subtype = float8); CREATE TABLE t (id int); CREATE RULE t_no_delete AS ON DELETE TO t DO INSTEAD NOTHING; CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);";
        await withClient(a.url, (c) => c.query(sql));
        const model = await introspectUrl(a.url);
        expect(model.unsupported.map((u) => u.reason).sort()).toEqual([
          'collation public.ci is not modelled',
          'range type public.floatrange is not modelled',
          'rule public.t rule t_no_delete is not modelled',
        ]);
        expect(renderSnapshot(model)).toContain('-- UNSUPPORTED: range type public.floatrange is not modelled');
        const diff = diffSchemas(model, await introspectUrl(b.url));
        expect(diff.unsupported).toContain('rule public.t rule t_no_delete is not modelled');
      }),
    );
  });
});

describe('inspect and diff (CLI)', () => {
  const project = path.join(tmp, 'project');
  beforeAll(() => {
    writeTree(project, {
      '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\n',
      'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n',
      'old.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text);\nCREATE TABLE legacy (id int);\n',
    });
    const git = gitIn(project);
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-qm', 'first');
    writeTree(project, { 'db/migrations/20240101000002_orders.sql': 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n' });
  });

  it('inspects a migrations directory, a .sql file and git:REF', async () => {
    const dir = await runCli(['inspect', 'db/migrations'], { cwd: project });
    expect(dir.code).toBe(0);
    expect(dir.stdout).toContain('CREATE TABLE public.orders (');
    expect(dir.stdout).not.toContain('drift_guard_migrations');
    const atHead = await runCli(['inspect', 'git:HEAD'], { cwd: project });
    expect(atHead.code).toBe(0);
    expect(atHead.stdout).toContain('CREATE TABLE public.users (');
    expect(atHead.stdout).not.toContain('orders');
    const json = await runCli(['inspect', 'old.sql', '--format', 'json'], { cwd: project });
    const parsed = JSON.parse(json.stdout) as { objects: { id: string }[] };
    expect(parsed.objects.map((o) => o.id)).toEqual(expect.arrayContaining(['table:public.users', 'table:public.legacy']));
  });

  it('diffs git:REF against the working tree: exit 1 with the changes, exit 0 when identical', async () => {
    const text = await runCli(['diff', 'git:HEAD', 'db/migrations'], { cwd: project });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('table public.orders');
    expect(text.stdout).toContain('+ create foreign key orders_user_id_fkey on public.orders');
    const same = await runCli(['diff', 'db/migrations', 'db/migrations', '--format', 'sql'], { cwd: project });
    expect(same.code).toBe(0);
    expect(same.stdout.trim()).toBe('-- no differences');
  });

  it('prints SQL with hazards as comments, markdown and JSON', async () => {
    const sql = await runCli(['diff', 'old.sql', 'db/migrations', '--format', 'sql'], { cwd: project });
    expect(sql.code).toBe(1);
    expect(sql.stdout).toContain('-- hazard DELETES_DATA: dropping public.legacy deletes all of its rows.');
    expect(sql.stdout).toContain('ALTER TABLE public.users ALTER COLUMN email SET NOT NULL;');
    const markdown = await runCli(['diff', 'old.sql', 'db/migrations', '--format', 'markdown'], { cwd: project });
    expect(markdown.stdout).toContain('- ⚠️ **DELETES_DATA**: dropping public.legacy deletes all of its rows.');
    const json = await runCli(['diff', 'old.sql', 'db/migrations', '--json'], { cwd: project });
    const parsed = JSON.parse(json.stdout) as { identical: boolean; changes: { kind: string; action: string }[] };
    expect(parsed.identical).toBe(false);
    expect(parsed.changes).toContainEqual(expect.objectContaining({ kind: 'table', action: 'drop' }));
  });

  it('reads a database by URL and never prints its password', async () => {
    await server.withDatabase(async (db) => {
      await withClient(db.url, (c) => c.query('CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)'));
      const result = await runCli(['diff', db.url, 'git:HEAD'], { cwd: project, env: cleanEnv() });
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe('no differences');
      expect(result.stdout + result.stderr).not.toContain(decodeURIComponent(new URL(db.url).password));
    });
  });

  it('a query the server cancels is an environment error naming the database, not a crash', async () => {
    await server.withDatabase(async (db) => {
      // 400 tables: the catalog queries take well over the 1 ms statement_timeout below.
      await withClient(db.url, (c) => c.query(Array.from({ length: 400 }, (_, i) => `CREATE TABLE t${i} (id int PRIMARY KEY, a text, b text CHECK (b <> ''));`).join('\n')));
      const result = await runCli(['inspect', db.url], { cwd: project, env: cleanEnv({ PGOPTIONS: '-c statement_timeout=1' }) });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/^drift-guard: reading the schema of postgresql:\/\/[^:]+:\*\*\*@[^ ]+ failed: canceling statement due to statement timeout \(SQLSTATE 57014\)\n$/);
      expect(result.stderr).not.toContain(decodeURIComponent(new URL(db.url).password));
    });
  });

  it('explains a bad source, a missing ref and a .sql file that fails to load', async () => {
    const missing = await runCli(['inspect', 'nope'], { cwd: project });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/schema source nope is neither a postgres:\/\/ URL, git:REF, an existing \.sql file nor a migrations directory/);
    const ref = await runCli(['inspect', 'git:no-such-branch'], { cwd: project });
    expect(ref.code).toBe(2);
    expect(ref.stderr).toMatch(/git:no-such-branch: no such commit, branch or tag here/);
    writeFileSync(path.join(project, 'broken.sql'), 'CREATE TABLE a (id int);\nCREATE TABLE b (id int REFERENCES nowhere (id));\n');
    const broken = await runCli(['inspect', 'broken.sql'], { cwd: project });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.sql:2:\d+: relation "nowhere" does not exist \(while loading it into a scratch database\)/);
    void readFileSync;
  });
});
