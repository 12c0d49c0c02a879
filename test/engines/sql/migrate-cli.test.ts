import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainLayout } from '../../../src/engines/sql/layouts/plain.js';
import { connect, withClient } from '../../../src/postgres/client.js';
import { cleanEnv, collect, makeTempDir, removeDir, runCli, startCli, startSharedServer, writeTree, type PostgresServerHandle } from '../../helpers.js';

let server: PostgresServerHandle;
let stopServer: () => Promise<void>;
const tmp = makeTempDir('dg-migrate-cli-');
beforeAll(async () => {
  ({ server, stop: stopServer } = await startSharedServer());
});
afterAll(async () => {
  await stopServer();
  removeDir(tmp);
});

let n = 0;
/** A project directory with a config pointing at its plain-layout migrations. */
function project(migrations: Record<string, string>, config = ''): string {
  const dir = path.join(tmp, `p${n++}`);
  writeTree(dir, {
    '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\n${config}`,
    ...Object.fromEntries(Object.entries(migrations).map(([name, sql]) => [`db/migrations/${name}`, sql])),
  });
  return dir;
}

function numbered(count: number, body: (i: number) => string): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`2024010100${String(i + 1).padStart(4, '0')}_m${i + 1}.sql`, body(i + 1)]));
}

async function rows(url: string, sql: string): Promise<Record<string, unknown>[]> {
  return withClient(url, async (client) => (await client.query(sql)).rows);
}

describe('drift-guard migrate (CLI)', () => {
  it('eight runners started at once apply every migration exactly once, and all exit 0', async () => {
    await server.withDatabase(async (db) => {
      // Slow enough (12 x 0.1 s) that runners still starting on a busy machine find the lock taken.
      const cwd = project(numbered(12, (i) => `CREATE TABLE t${i} (id int);\nSELECT pg_sleep(0.1);\n`));
      const env = cleanEnv({ DATABASE_URL: db.url });
      const runs = await Promise.all(Array.from({ length: 8 }, () => collect(startCli(['migrate', '--format', 'json'], { cwd, env }))));
      expect(runs.map((r) => r.code)).toEqual(Array(8).fill(0));
      const events = runs.flatMap((r) => r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; version?: string }));
      const applied = events.filter((e) => e.event === 'done').map((e) => e.version!).sort();
      expect(applied).toHaveLength(12);
      expect(new Set(applied).size).toBe(12);
      expect(await rows(db.url, 'SELECT count(*)::int AS n FROM drift_guard_migrations')).toEqual([{ n: 12 }]);
      // The runners that had to wait said who held the lock.
      expect(runs.some((r) => /waiting up to 60s for the lock on drift_guard_migrations, held by drift-guard migrate \(pid \d+/.test(r.stderr))).toBe(true);
    });
  });

  it('leaves the database at the last committed migration when killed mid-migration; the next run completes', async () => {
    await server.withDatabase(async (db) => {
      const cwd = project({
        '20240101000001_one.sql': 'CREATE TABLE one (id int);\n',
        '20240101000002_slow.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(2);\n',
        '20240101000003_three.sql': 'CREATE TABLE three (id int);\n',
      });
      const env = cleanEnv({ DATABASE_URL: db.url });
      const child = startCli(['migrate', '--format', 'json'], { cwd, env });
      await new Promise<void>((resolve) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const started = out
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as { event: string; migration?: string })
            .some((e) => e.event === 'start' && e.migration === '20240101000002_slow.sql');
          if (started) resolve();
        });
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('exit', resolve));
      // The killed run committed "one" and nothing of "slow".
      expect(await rows(db.url, 'SELECT version FROM drift_guard_migrations ORDER BY 1')).toEqual([{ version: '20240101000001' }]);
      const next = await runCli(['migrate'], { cwd, env });
      expect(next.code).toBe(0);
      expect(next.stdout).toMatch(/applied 20240101000002_slow\.sql[\s\S]*applied 20240101000003_three\.sql/);
      expect(await rows(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('one','slow','three')")).toEqual([{ n: 3 }]);
    });
  });

  it('on SIGINT drops the session at once, rolling back the running migration although its COMMIT is already on the wire', async () => {
    await server.withDatabase(async (db) => {
      // "slow" is sent together with its history row and COMMIT, behind "one". Ending the client
      // politely would wait for that COMMIT (30 s); the interrupt must drop the connection.
      const cwd = project({
        '20240101000001_one.sql': 'CREATE TABLE one (id int);\n',
        '20240101000002_slow.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(30);\n',
      });
      const child = startCli(['migrate', '--format', 'json'], { cwd, env: cleanEnv({ DATABASE_URL: db.url }) });
      await new Promise<void>((resolve) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const events = out
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as { event: string; migration?: string });
          if (events.some((e) => e.event === 'start' && e.migration === '20240101000002_slow.sql')) resolve();
        });
      });
      const started = Date.now();
      child.kill('SIGINT');
      const code = await new Promise((resolve) => child.on('exit', resolve));
      expect(code).toBe(130);
      // Well under the 8 s a cleanup task may take before the process gives up on it.
      expect(Date.now() - started).toBeLessThan(5_000);
      // The server notices the dropped session within client_connection_check_interval (1 s).
      let left: Record<string, unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        left = await rows(db.url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'drift-guard migrate'");
        if (left[0]!.n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(left).toEqual([{ n: 0 }]);
      expect(await rows(db.url, 'SELECT version FROM drift_guard_migrations ORDER BY 1')).toEqual([{ version: '20240101000001' }]);
      expect(await rows(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'slow'")).toEqual([{ n: 0 }]);
    });
  });

  it('gives up after sql.lock-timeout with exit 3, naming who holds the lock', async () => {
    await server.withDatabase(async (db) => {
      const cwd = project({ '20240101000001_one.sql': 'CREATE TABLE one (id int);\n' }, '  lock-timeout: 1\n');
      const holder = await connect(db.url, { applicationName: 'the-other-deploy' });
      try {
        await holder.query('SELECT pg_advisory_lock($1::bigint)', [(await plainLayout.lockKey(holder)).toString()]);
        const result = await runCli(['migrate'], { cwd, env: cleanEnv({ DATABASE_URL: db.url }) });
        expect(result.code).toBe(3);
        expect(result.stderr).toMatch(/drift-guard: gave up after 1s waiting for the lock on drift_guard_migrations, held by the-other-deploy \(pid \d+, user \w+/);
      } finally {
        await holder.end();
      }
      expect(await rows(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'one'")).toEqual([{ n: 0 }]);
    });
  });

  it('exits 1 with the failing line, and the status shows what stayed pending', async () => {
    await server.withDatabase(async (db) => {
      const cwd = project({
        '20240101000001_one.sql': 'CREATE TABLE one (id int);\n',
        '20240101000002_bad.sql': '-- a comment\nINSERT INTO one (id, name)\n  VALUES (1, 2);\n',
      });
      const env = cleanEnv({ DATABASE_URL: db.url });
      const result = await runCli(['migrate'], { cwd, env });
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('error APPLY_FAILED db/migrations/20240101000002_bad.sql:2:22: column "name" of relation "one" does not exist');
      expect(result.stdout).toContain('  2 | INSERT INTO one (id, name)');
      expect(result.stdout).toContain('20240101000002_bad.sql failed and was rolled back: nothing of it stayed applied; 1 applied before it, 0 not run');
      const status = await runCli(['status', '--json'], { cwd, env });
      expect(status.code).toBe(0);
      const parsed = JSON.parse(status.stdout) as { layout: string; migrations: { version: string; state: string }[] };
      expect(parsed.layout).toBe('plain');
      expect(parsed.migrations.map((m) => [m.version, m.state])).toEqual([
        ['20240101000001', 'applied'],
        ['20240101000002', 'pending'],
      ]);
    });
  });

  it('--dry-run lists what would be applied and changes nothing; --to stops at a version', async () => {
    await server.withDatabase(async (db) => {
      const cwd = project(numbered(3, (i) => `CREATE TABLE d${i} (id int);\n`));
      const env = cleanEnv({ DATABASE_URL: db.url });
      const dry = await runCli(['migrate', '--dry-run'], { cwd, env });
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('would apply 3: 20240101000001_m1.sql, 20240101000002_m2.sql, 20240101000003_m3.sql');
      expect(await rows(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'd_' OR tablename = 'drift_guard_migrations'")).toEqual([{ n: 0 }]);
      const partial = await runCli(['migrate', '--to', '20240101000002'], { cwd, env });
      expect(partial.code).toBe(0);
      expect(await rows(db.url, 'SELECT version FROM drift_guard_migrations ORDER BY 1')).toEqual([{ version: '20240101000001' }, { version: '20240101000002' }]);
      const unknown = await runCli(['migrate', '--to', '999'], { cwd, env });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^drift-guard: no migration has version 999/);
    });
  });

  it('rollback without a down file says which file to add, and exits 1', async () => {
    await server.withDatabase(async (db) => {
      const cwd = project({ '20240101000001_one.sql': 'CREATE TABLE one (id int);\n' });
      const env = cleanEnv({ DATABASE_URL: db.url });
      expect((await runCli(['migrate'], { cwd, env })).code).toBe(0);
      const result = await runCli(['rollback'], { cwd, env });
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('error MIGRATION_DOWN_MISSING db/migrations/20240101000001_one.sql: 20240101000001_one.sql has no down migration, so it cannot be rolled back; add db/migrations/20240101000001_one.down.sql');
    });
  });

  it('exits 2 naming the variable when there is no database', async () => {
    const cwd = project({ '20240101000001_one.sql': 'SELECT 1;\n' });
    const result = await runCli(['migrate'], { cwd, env: cleanEnv() });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('drift-guard: no database to work on: pass --database-url or set DATABASE_URL (database.url-env)');
  });

  it('never prints the password of --database-url', async () => {
    await server.withDatabase(async (db) => {
      const cwd = project({ '20240101000001_one.sql': 'SELECT 1;\n' });
      const password = decodeURIComponent(new URL(db.url).password);
      const result = await runCli(['migrate', '--database-url', db.url.replace(/\/[^/]*$/, '/no_such_db')], { cwd });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/cannot connect to postgresql:\/\/\w+:\*\*\*@127\.0\.0\.1:\d+\/no_such_db: the database does not exist/);
      expect(result.stdout + result.stderr).not.toContain(password);
    });
  });
});

describe('drift-guard new and script', () => {
  it('creates the next files in each layout and refuses to guess the layout of an empty directory', async () => {
    const cwd = path.join(tmp, 'new');
    writeTree(cwd, { '.drift-guard.yml': 'sql:\n  dir: migrations\n' });
    const guess = await runCli(['new', 'add orders'], { cwd });
    expect(guess.code).toBe(2);
    expect(guess.stderr).toMatch(/cannot tell which tool this directory is for; pass --layout/);
    const created = await runCli(['new', 'AddOrders', '--layout', 'dbmate'], { cwd });
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created migrations\/\d{14}_add_orders\.sql$/m);
    const files = readdirSync(path.join(cwd, 'migrations'));
    expect(readFileSync(path.join(cwd, 'migrations', files[0]!), 'utf8')).toBe('-- migrate:up\n\n\n-- migrate:down\n\n');
    // Now the directory says what it is.
    const second = await runCli(['new', 'add_items'], { cwd });
    expect(second.code).toBe(0);
  });

  it('prints the SQL as it would run, with transaction boundaries', async () => {
    const cwd = project({
      '20240101000001_one.sql': 'CREATE TABLE one (id int);\n',
      '20240101000002_idx.sql': 'CREATE INDEX CONCURRENTLY one_id ON one (id);\n',
    });
    const result = await runCli(['script', '--from', '20240101000001'], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('-- drift-guard script: 1 migration(s) from db/migrations (plain)');
    expect(result.stdout).toContain('-- runs outside a transaction: CREATE INDEX CONCURRENTLY cannot run in a transaction (line 1)\nCREATE INDEX CONCURRENTLY one_id ON one (id);');
    expect(result.stdout).not.toContain('CREATE TABLE one');
  });
});
