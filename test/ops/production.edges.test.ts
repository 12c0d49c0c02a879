// Adversarial cases for the commands that touch production (issue 13). Each test would fail on
// the code before the fix: real PostgreSQL servers, the real CLI process, real signals, `ps` read
// while children run. test/ops/README.md lists every case in one line.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase, DEPLOY_LOCK_KEY } from '../../src/ops/backup.js';
import { findInstallations } from '../../src/postgres/binaries.js';
import { databaseUrl } from '../../src/postgres/scratch.js';
import { findClientTools } from '../../src/postgres/client-tools.js';
import { withClient } from '../../src/postgres/client.js';
import { cleanEnv, collect, repoRoot, makeTempDir, processesMentioning, removeDir, runCli, startCli, startSharedServer, waitForStderr, waitUntil, writeTree, type PostgresServerHandle } from '../helpers.js';

const env = cleanEnv();
const newest = (await findClientTools(env))[0];
const installations = await findInstallations(env);
const matching = newest === undefined ? undefined : installations.find((i) => i.major === newest.major);
if (matching === undefined) console.log('production edge tests skipped: they need pg_dump and a PostgreSQL server of the same major');

const tmp = makeTempDir('dg-edges-');
let server: PostgresServerHandle;
let stop: () => Promise<void>;
/** A database on the shared server that plays production where a test only reads it. */
let productionUrl = '';
beforeAll(async () => {
  if (matching !== undefined) {
    ({ server, stop } = await startSharedServer({ version: matching.major }));
    productionUrl = await new Promise<string>((resolve) => void server.withDatabase(async (db) => {
      resolve(db.url);
      await new Promise<void>((done) => (releaseProduction = done));
    }));
  }
}, 180_000);
let releaseProduction: () => void = () => undefined;
afterAll(async () => {
  releaseProduction();
  await stop?.();
  removeDir(tmp);
});

let n = 0;
function project(config = ''): { dir: string; tmpdir: string } {
  const dir = path.join(tmp, `p${n++}`);
  const tmpdir = path.join(dir, 'tmp');
  writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\npostgres:\n  storage: disk\n${config}`, 'db/migrations/20240101000001_t.sql': 'CREATE TABLE t (id int PRIMARY KEY);\n' });
  mkdirSync(tmpdir);
  return { dir, tmpdir };
}

/** A session that holds `lock` until release() (COMMIT). */
async function holdLock(url: string, sql: string): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(sql);
  return {
    release: async () => {
      await client.query('COMMIT').catch(() => undefined);
      await client.end();
    },
  };
}

/** Sessions of `application` waiting for a lock. */
const waitingSessions = (url: string, application: string): Promise<number> =>
  withClient(url, async (client) => Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [application])).rows[0]!.n));
const sessions = (url: string, application: string): Promise<number> =>
  withClient(url, async (client) => Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [application])).rows[0]!.n));
async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** PIDs whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return Number(readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}
const tableExists = (url: string, table: string): Promise<boolean> =>
  withClient(url, async (client) => (await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [table])).rows[0]!.r !== null);

describe.skipIf(matching === undefined)('item 2: cancelled restore, backup and commands', () => {
  it('SIGTERM to restore: psql is stopped before COMMIT, the database is unchanged, no plain-SQL copy on disk', async () => {
    await server.withDatabase(async (db) => {
      await withClient(db.url, (client) => client.query('CREATE TABLE kept (id int); INSERT INTO kept SELECT generate_series(1, 1000)'));
      const backups = path.join(tmp, `restore-backups-${n}`);
      const { path: file } = await backupDatabase({ url: db.url, dir: backups, keep: 5, env, reason: 'backup' });
      // After the backup: a table the restore must drop. A session holding it makes the restore wait, mid-transaction.
      await withClient(db.url, (client) => client.query('CREATE TABLE after_backup (id int); INSERT INTO after_backup VALUES (1)'));
      const holder = await holdLock(db.url, 'LOCK TABLE after_backup IN ACCESS SHARE MODE');
      const { dir, tmpdir } = project();
      try {
        const child = startCli(['restore', file, '--database-url', db.url, '--yes'], { cwd: dir, env: cleanEnv({ TMPDIR: tmpdir }) });
        const result = collect(child);
        expect(await eventually(async () => (await waitingSessions(db.url, 'drift-guard restore')) > 0)).toBe(true);
        const children = childrenOf(child.pid!);
        expect(children.length).toBeGreaterThan(0);
        // No plain-SQL copy of the data anywhere under TMPDIR while it runs.
        expect(readdirSync(tmpdir)).toEqual([]);
        child.kill('SIGTERM');
        const { code, stderr } = await result;
        expect(code).toBe(143);
        expect(stderr).toContain('SIGTERM received, cleaning up');
        // psql (and pg_restore) ended with drift-guard: nothing is left to send COMMIT.
        expect(await waitUntil(() => children.every((pid) => !isAlive(pid)), 30_000)).toBe(true);
      } finally {
        await holder.release();
      }
      expect(await eventually(async () => (await sessions(db.url, 'drift-guard restore')) === 0, 30_000)).toBe(true);
      expect(await tableExists(db.url, 'after_backup')).toBe(true);
      expect(readdirSync(tmpdir)).toEqual([]);
    });
  });

  it('SIGTERM to backup: pg_dump ends with it (its argv never held the password), no .partial file is left', async () => {
    await server.withDatabase(async (db) => {
      await withClient(db.url, (client) => client.query('CREATE TABLE busy (id int)'));
      const holder = await holdLock(db.url, 'LOCK TABLE busy IN ACCESS EXCLUSIVE MODE');
      const { dir } = project();
      const backups = path.join(dir, 'backups');
      try {
        const child = startCli(['backup'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
        const result = collect(child);
        expect(await eventually(async () => (await waitingSessions(db.url, 'drift-guard')) > 0)).toBe(true);
        const dumps = processesMentioning(backups);
        expect(dumps.length).toBeGreaterThan(0);
        const password = decodeURIComponent(new URL(db.url).password);
        for (const pid of dumps) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(password);
        // item 9: the folder drift-guard created is 0700, the file being written 0600.
        expect(statSync(backups).mode & 0o777).toBe(0o700);
        const partial = readdirSync(backups).filter((f) => f.endsWith('.partial'));
        expect(partial).toHaveLength(1);
        expect(statSync(path.join(backups, partial[0]!)).mode & 0o777).toBe(0o600);
        child.kill('SIGTERM');
        const { code } = await result;
        expect(code).toBe(143);
        expect(await waitUntil(() => dumps.every((pid) => !isAlive(pid)), 30_000)).toBe(true);
        expect(readdirSync(backups).filter((f) => f.includes('partial'))).toEqual([]);
      } finally {
        await holder.release();
      }
    });
  });

  it('SIGTERM while a long user command runs against a scratch server: the command, its children and the server end', async () => {
    const { dir, tmpdir } = project("engine: command\ncommand:\n  apply: \"node -e \\\"console.error('apply-ready ' + process.pid); setInterval(() => {}, 1000)\\\"\"\n");
    const child = startCli(['drift', '--no-model-check'], { cwd: dir, env: cleanEnv({ TMPDIR: tmpdir, PROD_DATABASE_URL: productionUrl }) });
    const result = collect(child);
    const seen = await waitForStderr(child, /apply-ready (\d+)/, 90_000);
    const grandchild = Number(/apply-ready (\d+)/.exec(seen)![1]);
    expect(processesMentioning(tmpdir).length).toBeGreaterThan(0);
    child.kill('SIGTERM');
    expect((await result).code).toBe(143);
    expect(await waitUntil(() => !isAlive(grandchild), 30_000)).toBe(true);
    expect(await waitUntil(() => processesMentioning(tmpdir).length === 0, 30_000)).toBe(true);
  });
});

describe.skipIf(matching === undefined)('item 3: is this production? asked of the server, not of the URL', () => {
  it('reset refuses DATABASE_URL=localhost when production is the same database written 127.0.0.1', async () => {
    await server.withDatabase(async (db) => {
      await withClient(db.url, (client) => client.query('CREATE TABLE precious (id int)'));
      const { dir } = project();
      const asLocalhost = db.url.replace('127.0.0.1', 'localhost');
      const result = await runCli(['reset'], { cwd: dir, env: cleanEnv({ DATABASE_URL: asLocalhost, PROD_DATABASE_URL: db.url }) });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/refusing to reset .*: it is the production database \(PROD_DATABASE_URL\): the same server \(system identifier \d+\)/);
      expect(await tableExists(db.url, 'precious')).toBe(true);
    });
  });

  it('reset refuses when production cannot be asked, and resets another database on the same server', async () => {
    await server.withDatabase(async (production) => {
      await server.withDatabase(async (dev) => {
        await withClient(dev.url, (client) => client.query('CREATE TABLE scratch_me (id int)'));
        const { dir } = project();
        const unreachable = await runCli(['reset'], { cwd: dir, env: cleanEnv({ DATABASE_URL: dev.url, PROD_DATABASE_URL: 'postgresql://app:pw@127.0.0.1:1/app' }) });
        expect(unreachable.code).toBe(2);
        expect(unreachable.stderr).toMatch(/cannot make sure it is not production: PROD_DATABASE_URL .* does not answer/);
        expect(await tableExists(dev.url, 'scratch_me')).toBe(true);
        const other = await runCli(['reset'], { cwd: dir, env: cleanEnv({ DATABASE_URL: dev.url, PROD_DATABASE_URL: production.url }) });
        expect(other.code, other.stderr).toBe(0);
        expect(await tableExists(dev.url, 'scratch_me')).toBe(false);
      });
    });
  });
});

describe.skipIf(matching === undefined)('item 6: connection URLs', () => {
  const secret = 'p@ss:/w0rd';
  it.each([['backup'], ['drift'], ['deploy', '--yes']])('an un-encoded password is a usage error that prints none of it (%s)', async (...args) => {
    const { dir } = project();
    const result = await runCli(args, { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: `postgres://u:${secret}@db.example.com/app` }) });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PROD_DATABASE_URL: the password in the URL contains characters that must be percent-encoded .*encodeURIComponent/);
    for (const fragment of ['p@ss', 'w0rd', 'ss:', '@ss']) expect(result.stderr + result.stdout).not.toContain(fragment);
    expect(result.stderr).not.toContain('internal error');
  });

  it('the same for DATABASE_URL, --database-url and the scratch server variable', async () => {
    const { dir } = project();
    const bad = `postgresql://u:${secret}@127.0.0.1:5432/app`;
    for (const [args, extra] of [
      [['status'], { DATABASE_URL: bad }],
      [['status', '--database-url', bad], {}],
      [['scratch', '--', 'true'], { DRIFT_GUARD_DATABASE_URL: bad }],
    ] as const) {
      const result = await runCli(args, { cwd: dir, env: cleanEnv(extra) });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain('must be percent-encoded');
      for (const fragment of ['p@ss', 'w0rd']) expect(result.stderr).not.toContain(fragment);
    }
  });

  it('?password= works for backup (pg_dump) as it does for drift', async () => {
    await server.withDatabase(async (db) => {
      const url = new URL(db.url);
      const password = decodeURIComponent(url.password);
      url.password = '';
      url.searchParams.set('password', password);
      const { dir } = project();
      const result = await runCli(['backup', '--json'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: url.toString() }) });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr + result.stdout).not.toContain(password);
    });
  });
});

describe.skipIf(matching === undefined)('items 5 and 9: backups of two servers in one folder', () => {
  it('pruning keeps each server\'s own backups of a database both call `app`; files 0600, folder 0700', async () => {
    const { server: other, stop: stopOther } = await startSharedServer({ version: matching!.major });
    try {
      const apps: string[] = [];
      for (const s of [server, other]) {
        await withClient(s.adminUrl, (client) => client.query('DROP DATABASE IF EXISTS app').then(() => client.query('CREATE DATABASE app')));
        apps.push(databaseUrl(s.adminUrl, 'app'));
      }
      const dir = path.join(tmp, 'two-servers', 'backups');
      const first = await backupDatabase({ url: apps[0]!, dir, keep: 1, env, reason: 'backup' });
      const second = await backupDatabase({ url: apps[1]!, dir, keep: 1, env, reason: 'backup' });
      expect(second.pruned).toEqual([]);
      expect(existsSync(first.path)).toBe(true);
      const third = await backupDatabase({ url: apps[0]!, dir, keep: 1, env, reason: 'backup' });
      expect(third.pruned).toEqual([first.path]);
      expect(existsSync(second.path)).toBe(true);
      expect(first.record.serverPort).not.toBe(second.record.serverPort);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const file of readdirSync(dir)) expect(statSync(path.join(dir, file)).mode & 0o777, file).toBe(0o600);
    } finally {
      await stopOther();
    }
  }, 180_000);
});

describe.skipIf(matching === undefined)('item 8: restore and deploy exclude each other', () => {
  it('restore waits for the deploy lock, says who holds it, and gives up without touching the database', async () => {
    await server.withDatabase(async (db) => {
      await withClient(db.url, (client) => client.query('CREATE TABLE kept (id int)'));
      const { path: file } = await backupDatabase({ url: db.url, dir: path.join(tmp, `lock-${n}`), keep: 5, env, reason: 'backup' });
      await withClient(db.url, (client) => client.query('CREATE TABLE during_deploy (id int)'));
      const deploy = new pg.Client({ connectionString: db.url, application_name: 'drift-guard deploy' });
      await deploy.connect();
      try {
        await deploy.query('SELECT pg_advisory_lock($1::bigint)', [DEPLOY_LOCK_KEY.toString()]);
        const { dir } = project('production:\n  lock-timeout: 1\n');
        const result = await runCli(['restore', file, '--database-url', db.url, '--yes'], { cwd: dir, env: cleanEnv() });
        expect(result.code).toBe(3);
        expect(result.stderr).toMatch(/waiting up to 1s for the lock on deploys and restores of this database, held by drift-guard deploy \(pid \d+/);
        expect(result.stderr).toMatch(/gave up after 1s waiting for the lock/);
        expect(await tableExists(db.url, 'during_deploy')).toBe(true);
      } finally {
        await deploy.end();
      }
    });
  });
});

describe.skipIf(matching === undefined)('item 10: user errors, not internal errors', () => {
  it.each([
    ['invalid JSON', '{"version": 1, "sha256": '],
    ['null', 'null'],
    ['an array', '[]'],
  ])('a restore record that is %s: exit 2 naming the record and the fix', async (_what, content) => {
    const dir = path.join(tmp, `records-${n++}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'app-20240101T000000.000Z.dump'), 'PGDMP');
    writeFileSync(path.join(dir, 'app-20240101T000000.000Z.json'), content);
    const { dir: cwd } = project();
    const result = await runCli(['restore', path.join(dir, 'app-20240101T000000.000Z.dump'), '--database-url', 'postgresql://u:pw@127.0.0.1:1/x', '--yes'], { cwd, env: cleanEnv() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/app-20240101T000000\.000Z\.json is not a backup record .*move the record away/);
    expect(result.stderr).not.toContain('internal error');
  });

  it('a directory named x.dump: exit 2', async () => {
    const dir = path.join(tmp, `dir-dump-${n++}`, 'x.dump');
    mkdirSync(dir, { recursive: true });
    const { dir: cwd } = project();
    const result = await runCli(['restore', dir, '--database-url', 'postgresql://u:pw@127.0.0.1:1/x', '--yes'], { cwd, env: cleanEnv() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/x\.dump is not a file/);
  });
});

describe('item 10: migrations folders and config files no tool could read', () => {
  it.each([
    ['a dangling symlink', (dir: string) => symlinkSync('gone.sql', path.join(dir, '20240101000002_b.sql')), /20240101000002_b\.sql: a symbolic link to gone\.sql, which does not exist; remove the link/],
    ['a symlink loop', (dir: string) => symlinkSync('20240101000002_b.sql', path.join(dir, '20240101000002_b.sql')), /20240101000002_b\.sql: a loop of symbolic links; remove the link/],
    ['a file name that is not UTF-8', (dir: string) => writeFileSync(Buffer.concat([Buffer.from(`${dir}/20240101000002_`), Buffer.from([0xff, 0xfe]), Buffer.from('.sql')]), 'SELECT 1;'), /20240101000002_\\xff\\xfe\.sql: the file name is not UTF-8; rename it/],
  ])('%s in the migrations folder: exit 2 naming it', async (_what, make, expected) => {
    const { dir } = project();
    make(path.join(dir, 'db/migrations'));
    for (const args of [['status', '--database-url', 'postgresql://u:pw@127.0.0.1:1/x'], ['new', 'x', '--dir', 'db/migrations']]) {
      const result = await runCli(args, { cwd: dir, env: cleanEnv() });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(expected);
      expect(result.stderr).not.toContain('internal error');
    }
  });

  it('a directory named .drift-guard.yml is an error, not skipped in favour of a parent folder\'s config', async () => {
    const { dir } = project();
    const sub = path.join(dir, 'sub');
    mkdirSync(path.join(sub, '.drift-guard.yml'), { recursive: true });
    const result = await runCli(['config'], { cwd: sub, env: cleanEnv() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/sub\/\.drift-guard\.yml is a directory, not a config file/);
  });
});

describe.skipIf(matching === undefined)('item 11: control characters never reach the terminal raw', () => {
  it('a failing statement holding ESC[2J and an OSC title sequence is printed escaped', async () => {
    await server.withDatabase(async (db) => {
      const { dir } = project();
      writeFileSync(path.join(dir, 'db/migrations/20240101000002_evil.sql'), 'SELECT 1/0 AS "\u001b[2J\u001b]0;pwned\u0007";\n');
      const result = await runCli(['migrate'], { cwd: dir, env: cleanEnv({ DATABASE_URL: db.url }) });
      expect(result.code).toBe(1);
      const output = result.stdout + result.stderr;
      expect(output).toContain('division by zero');
      expect(output).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
      expect(output).toContain('\\u001b[2J');
      const json = await runCli(['status', '--json'], { cwd: dir, env: cleanEnv({ DATABASE_URL: db.url }) });
      expect(json.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    });
  });
});

describe.skipIf(matching === undefined)('item 12: the connection lost mid-apply with nothing applied', () => {
  it('says no migration completed and to look before restoring, not "failed after apply"', async () => {
    await server.withDatabase(async (db) => {
      const { dir } = project();
      expect((await runCli(['migrate'], { cwd: dir, env: cleanEnv({ DATABASE_URL: db.url }) })).code).toBe(0);
      writeFileSync(path.join(dir, 'db/migrations/20240101000002_slow.sql'), 'CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n');
      const child = startCli(['deploy', '--yes'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
      const result = collect(child);
      // The server ends the migration's session, as a restart would.
      const killed = await eventually(async () =>
        withClient(db.adminUrl, async (client) => (await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")).rowCount! > 0),
        120_000,
      );
      expect(killed).toBe(true);
      const { code, stdout } = await result;
      expect(code).toBe(1);
      expect(stdout).toMatch(/DEPLOY FAILED before any migration completed \(none is recorded as applied\)/);
      expect(stdout).toMatch(/if drift shows that production changed, restore the backup/);
      expect(stdout).not.toMatch(/after applying 0 migration/);
      expect(await tableExists(db.url, 'slow')).toBe(false);
    });
  }, 180_000);
});

describe('item 7: Makefile variables are data', () => {
  /** make with DRIFT_GUARD replaced by a program that prints its arguments as JSON. */
  function makeArgs(vars: Record<string, string>, target: string): Promise<{ calls: string[][]; stderr: string }> {
    const dir = path.join(tmp, `make-${n++}`);
    writeTree(dir, { 'argv.js': 'console.log(JSON.stringify(process.argv.slice(2)));\n', Makefile: `DRIFT_GUARD := node ${dir}/argv.js\ninclude ${path.join(repoRoot, 'drift-guard.mk')}\n` });
    return new Promise((resolve) => {
      execFile('make', ['-s', target, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)], { cwd: dir, env: cleanEnv() }, (_error, stdout, stderr) =>
        resolve({ calls: stdout.trim().split('\n').filter((l) => l.startsWith('[')).map((l) => JSON.parse(l) as string[]), stderr }),
      );
    });
  }
  const marker = (): string => path.join(tmp, `pwned-${n++}`);

  it.each([
    ['migrate', 'NAME', (m: string) => `x'; touch ${m}; echo '`, (v: string) => [['new', v], ['migrate']]],
    ['migrate', 'NAME', (m: string) => `$(shell touch ${m})`, (v: string) => [['new', v], ['migrate']]],
    ['migrate-rollback', 'STEPS', (m: string) => `1; touch ${m}`, (v: string) => [['rollback', '--steps', v]]],
    ['restore-db', 'FILE', (m: string) => `a b$(touch ${m}).dump`, (v: string) => [['restore', v]]],
    ['migrate-apply', 'TO', (m: string) => `\`touch ${m}\``, (v: string) => [['migrate', '--to', v]]],
  ])('make %s %s=<shell>: passed as one argument, nothing runs', async (target, variable, value, expected) => {
    const m = marker();
    const { calls } = await makeArgs({ [variable]: value(m) }, target);
    expect(calls).toEqual(expected(value(m)));
    expect(existsSync(m)).toBe(false);
  });

  it('a plain apostrophe in a name works', async () => {
    expect((await makeArgs({ NAME: "add customer's notes" }, 'migrate')).calls).toEqual([['new', "add customer's notes"], ['migrate']]);
  });

  it('HEALTH_URL splits on spaces only; BACKUP_DIR with a space is one argument', async () => {
    const { calls } = await makeArgs({ HEALTH_URL: "http://a/x http://b/'$(id)'", BACKUP_DIR: 'my backups', KEEP: '3', CONFIRM: 'YES' }, 'migrate-prod');
    expect(calls).toEqual([['deploy', '--yes', '--backup-dir', 'my backups', '--keep', '3', '--health-url', 'http://a/x', '--health-url', "http://b/'$(id)'"]]);
  });
});

describe.skipIf(matching === undefined)('production.lock-timeout-statement: a migration queued behind a long transaction', () => {
  it('gives up its lock wait after the timeout, retries with back-off, and says so, instead of stalling the table', async () => {
    await server.withDatabase(async (db) => {
      const { dir } = project('production:\n  lock-timeout-statement: 1\n  lock-retries: 1\n');
      expect((await runCli(['migrate'], { cwd: dir, env: cleanEnv({ DATABASE_URL: db.url }) })).code).toBe(0);
      writeFileSync(path.join(dir, 'db/migrations/20240101000002_add.sql'), 'ALTER TABLE t ADD COLUMN note text;\n');
      const holder = await holdLock(db.url, 'LOCK TABLE t IN ACCESS SHARE MODE');
      try {
        const result = await runCli(['deploy', '--yes'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/waited more than 1s for its lock \(production\.lock-timeout-statement\) and was rolled back; retry 1 of 1 in 1s/);
        expect(result.stdout).toMatch(/DEPLOY FAILED before any migration completed.*lock timeout/);
      } finally {
        await holder.release();
      }
      // Nothing half-done: the column is not there, and the next deploy (no long transaction now) applies it.
      expect((await runCli(['deploy', '--yes'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) })).code).toBe(0);
      expect(await withClient(db.url, async (client) => (await client.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'note'")).rows[0].n)).toBe(1);
    });
  }, 180_000);
});
