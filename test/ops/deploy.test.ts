import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findInstallations } from '../../src/postgres/binaries.js';
import { findClientTools } from '../../src/postgres/client-tools.js';
import { withClient } from '../../src/postgres/client.js';
import type { ScratchDatabase } from '../../src/postgres/scratch.js';
import { cleanEnv, collect, makeTempDir, removeDir, runCli, startCli, startSharedServer, writeTree, type PostgresServerHandle } from '../helpers.js';

// `drift-guard deploy` as make migrate-prod runs it: the CLI against a "production" database on a
// real server (the major of the newest pg_dump here), with real backups and a local HTTP server
// for health checks.

const env = cleanEnv();
const newest = (await findClientTools(env))[0];
const installations = await findInstallations(env);
const matching = newest === undefined ? undefined : installations.find((i) => i.major === newest.major);
const newerServer = newest === undefined ? undefined : installations.find((i) => i.major > newest.major);
if (matching === undefined) console.log('deploy tests skipped: they need pg_dump and a PostgreSQL server of the same major (CI installs Debian\'s postgresql)');

const tmp = makeTempDir('dg-deploy-');
let server: PostgresServerHandle;
let stop: () => Promise<void>;
let health: http.Server;
let healthPort = 0;
let healthStatus = 200;
beforeAll(async () => {
  if (matching !== undefined) ({ server, stop } = await startSharedServer({ version: matching.major }));
  health = http.createServer((_req, res) => {
    res.writeHead(healthStatus);
    res.end('ok');
  });
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  healthPort = (health.address() as { port: number }).port;
}, 180_000);
afterAll(async () => {
  await new Promise((resolve) => health.close(resolve));
  await stop?.();
  removeDir(tmp);
});

const V1 = { 'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n', 'db/migrations/20240101000001_users.down.sql': 'DROP TABLE users;\n' };
const V2 = { 'db/migrations/20240102000001_orders.sql': 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n', 'db/migrations/20240102000001_orders.down.sql': 'DROP TABLE orders;\n' };
let n = 0;

/** A project whose production has V1 applied and whose repo has V1 and V2. */
async function projectAt(db: ScratchDatabase, config = ''): Promise<string> {
  const dir = path.join(tmp, `p${n++}`);
  writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\nproduction:\n  health-interval: 0.1\n  health-retries: 2\n  health-sql: SELECT count(*) FROM users\n${config}`, ...V1 });
  expect((await runCli(['migrate'], { cwd: dir, env: cleanEnv({ DATABASE_URL: db.url }) })).code).toBe(0);
  writeTree(dir, V2);
  await withClient(db.url, (client) => client.query("INSERT INTO users VALUES (1, 'a@example.com')"));
  return dir;
}

const deploy = (dir: string, db: ScratchDatabase, args: string[] = ['--yes']) => runCli(['deploy', ...args], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
const tables = (db: ScratchDatabase): Promise<string[]> =>
  withClient(db.url, async (client) => (await client.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.t));
const secretIn = (db: ScratchDatabase): string => decodeURIComponent(new URL(db.url).password);

describe.skipIf(matching === undefined)('drift-guard deploy', () => {
  it('confirms, locks, checks, backs up, applies, verifies and health-checks; writes a deploy record', async () => {
    await server.withDatabase(async (db) => {
      healthStatus = 200;
      const dir = await projectAt(db);
      const result = await deploy(dir, db, ['--yes', '--json', '--health-url', `http://127.0.0.1:${healthPort}/healthz`]);
      expect(result.code, result.stderr).toBe(0);
      const record = JSON.parse(result.stdout) as Record<string, unknown> & { timings: { phase: string }[]; backup: { file: string; sha256: string }; recordFile: string };
      expect(record).toMatchObject({ version: 1, outcome: 'deployed', pending: ['20240102000001'], applied: ['20240102000001'], previous: '20240101000001' });
      expect(record.timings.map((t) => t.phase)).toEqual([
        'pre-flight: history and schema drift',
        'backup (pg_dump -Fc, verified)',
        'apply 1 migration(s)',
        'verify (nothing pending, schema equals the migrations)',
        'health check',
      ]);
      expect(record.health).toEqual([
        { target: `http://127.0.0.1:${healthPort}/healthz`, ok: true, attempts: 1, detail: 'HTTP 200' },
        { target: 'SQL probe', ok: true, attempts: 1, detail: '1 row(s)' },
      ]);
      expect(existsSync(record.backup.file)).toBe(true);
      expect(JSON.parse(readFileSync(record.recordFile, 'utf8'))).toMatchObject({ outcome: 'deployed' });
      expect(await tables(db)).toEqual(['drift_guard_migrations', 'orders', 'users']);
      // The password is nowhere: output, deploy record, backup record.
      for (const text of [result.stdout, result.stderr, readFileSync(record.recordFile, 'utf8'), readFileSync(record.backup.file.replace(/\.dump$/, '.json'), 'utf8')]) expect(text).not.toContain(secretIn(db));

      const again = await deploy(dir, db);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/^nothing to deploy: postgresql:\/\/[^:]+:\*\*\*@/);
    });
  });

  it('refuses without a confirmation and applies nothing (exit 2); a wrong answer is not YES', async () => {
    await server.withDatabase(async (db) => {
      const dir = await projectAt(db);
      const result = await deploy(dir, db, []);
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toBe('drift-guard: deploy needs a confirmation: type YES on a terminal, or pass --yes (CONFIRM=YES) in automation');
      expect(await tables(db)).toEqual(['drift_guard_migrations', 'users']);
      const viaEnv = await runCli(['deploy'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url, CONFIRM: 'yes please' }) });
      expect(viaEnv.code).toBe(2);
    });
  });

  it('stops before applying anything when the backup location is unusable', async () => {
    await server.withDatabase(async (db) => {
      const dir = await projectAt(db);
      writeFileSync(path.join(dir, 'backups'), 'a file where the folder should be');
      const result = await deploy(dir, db);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^drift-guard: cannot write backups to .*backups: .*; fix its permissions or set production.backup-dir \(BACKUP_DIR\)/);
      expect(await tables(db)).toEqual(['drift_guard_migrations', 'users']);
    });
  });

  it('stops before applying anything when production has drifted, unless --allow-drift', async () => {
    await server.withDatabase(async (db) => {
      const dir = await projectAt(db);
      await withClient(db.url, (client) => client.query('ALTER TABLE users ADD COLUMN hotfix text'));
      const stopped = await deploy(dir, db);
      expect(stopped.code).toBe(1);
      expect(stopped.stdout).toMatch(/^deploy stopped, nothing was applied: pre-flight failed, nothing was applied: 1 problem\(s\), first: production has column public\.users\.hotfix text, which its migrations do not create \(--allow-drift deploys anyway\)/);
      expect(readdirSync(path.join(dir, 'backups')).filter((f) => f.endsWith('.dump'))).toEqual([]);
      expect(await tables(db)).toEqual(['drift_guard_migrations', 'users']);
      // With --allow-drift it deploys: verify checks the migrations' own changes, and says the hotfix column remains.
      const forced = await deploy(dir, db, ['--yes', '--allow-drift', '--rollback-on-failure']);
      expect(forced.code, forced.stdout + forced.stderr).toBe(0);
      expect(forced.stderr).toMatch(/difference\(s\) production had before \(--allow-drift\) remain: .*hotfix/);
      expect(await tables(db)).toEqual(['drift_guard_migrations', 'orders', 'users']);
    });
  });

  it('a failing health check exits 1 with the restore and rollback commands; --rollback-on-failure rolls back', async () => {
    await server.withDatabase(async (db) => {
      healthStatus = 503;
      try {
        const dir = await projectAt(db);
        const failed = await deploy(dir, db, ['--yes', '--health-url', `http://127.0.0.1:${healthPort}/healthz`]);
        expect(failed.code).toBe(1);
        expect(failed.stdout).toMatch(/DEPLOY FAILED after applying 1 migration\(s\) \(20240102000001\): health check failed: http:\/\/127\.0\.0\.1:\d+\/healthz: HTTP 503 after 3 attempt\(s\)/);
        const backup = /backup: (\S+\.dump) \(sha256/.exec(failed.stdout)?.[1];
        expect(backup).toBeDefined();
        expect(failed.stdout).toContain(`to restore the backup taken before this deploy:\n  drift-guard restore ${backup} --production --yes`);
        expect(failed.stdout).toContain('or to roll back the migrations:\n  DATABASE_URL="$PROD_DATABASE_URL" drift-guard rollback --to 20240101000001');
        expect(await tables(db)).toEqual(['drift_guard_migrations', 'orders', 'users']);

        // The printed restore command works: production is back to what it was before the deploy.
        const restored = await runCli(['restore', backup!, '--production', '--yes'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
        expect(restored.code, restored.stderr).toBe(0);
        expect(await tables(db)).toEqual(['drift_guard_migrations', 'users']);

        const rolled = await deploy(dir, db, ['--yes', '--rollback-on-failure', '--health-url', `http://127.0.0.1:${healthPort}/healthz`]);
        expect(rolled.code).toBe(1);
        expect(rolled.stdout).toMatch(/^DEPLOY FAILED and was rolled back to 20240101000001: health check failed: .*; rolled back 20240102000001/);
        expect(await tables(db)).toEqual(['drift_guard_migrations', 'users']);
        expect(await withClient(db.url, async (client) => (await client.query('SELECT * FROM users')).rowCount)).toBe(1);
      } finally {
        healthStatus = 200;
      }
    });
  });

  it('two deploys at once: one applies, the other waits for the lock and finds nothing left to do', async () => {
    await server.withDatabase(async (db) => {
      const dir = await projectAt(db);
      const childEnv = cleanEnv({ PROD_DATABASE_URL: db.url });
      const [a, b] = await Promise.all([collect(startCli(['deploy', '--yes', '--json'], { cwd: dir, env: childEnv })), collect(startCli(['deploy', '--yes', '--json'], { cwd: dir, env: childEnv }))]);
      expect([a.code, b.code]).toEqual([0, 0]);
      const outcomes = [a, b].map((r) => (JSON.parse(r.stdout) as { outcome: string }).outcome).sort();
      expect(outcomes).toEqual(['deployed', 'nothing-to-deploy']);
      expect(await withClient(db.url, async (client) => (await client.query('SELECT version FROM drift_guard_migrations')).rowCount)).toBe(2);
    });
  });
});

describe.skipIf(newest === undefined || newerServer === undefined)('deploy with a pg_dump older than production', () => {
  it('stops before applying anything and names both versions', async () => {
    const { server: newer, stop: stopNewer } = await startSharedServer({ version: newerServer!.major });
    try {
      await newer.withDatabase(async (db) => {
        const dir = await projectAt(db);
        const result = await deploy(dir, db);
        expect(result.code).toBe(1);
        expect(result.stdout).toMatch(new RegExp(`^deploy stopped, nothing was applied: backup failed, nothing was applied: pg_dump ${newest!.version.replace('.', '\\.')} .* is older than the server \\(PostgreSQL ${newerServer!.major}`));
        expect(await tables(db)).toEqual(['drift_guard_migrations', 'users']);
      });
    } finally {
      await stopNewer();
    }
  });
});
