import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../src/postgres/client.js';
import { databaseUrl, withPostgresServer, withScratchDatabase, type PostgresServer } from '../../src/postgres/scratch.js';
import { DriftGuardError } from '../../src/errors.js';
import { maskSecrets } from '../../src/util/secrets.js';
import { makeTempDir, pgOptions, removeDir } from '../helpers.js';

// The "existing server" is a real embedded PostgreSQL started for this file; the url provider must
// treat it as someone else's server: create and drop only its own scratch databases.
const tmp = makeTempDir();
const previousTmp = process.env.TMPDIR;
let server: PostgresServer;
let release: () => void;
const stopped = new Promise<void>((resolve) => (release = resolve));
let serverReady: Promise<void>;

beforeAll(async () => {
  process.env.TMPDIR = tmp;
  serverReady = new Promise<void>((ready, fail) => {
    withPostgresServer(pgOptions(), async (s) => {
      server = s;
      ready();
      await stopped;
    }).catch(fail);
  });
  await serverReady;
});
afterAll(async () => {
  release();
  await new Promise((resolve) => setTimeout(resolve, 200));
  process.env.TMPDIR = previousTmp;
  removeDir(tmp);
});

async function scratchNames(): Promise<string[]> {
  return withClient(server.adminUrl, async (client) => {
    const rows = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'drift\\_guard\\_%' ORDER BY 1");
    return rows.rows.map((row) => row.datname);
  });
}

describe('url provider', () => {
  it('creates a scratch database on the existing server and drops it afterwards', async () => {
    const before = await scratchNames();
    const options = pgOptions({ provider: 'url', url: server.adminUrl });
    const name = await withScratchDatabase(options, async (db) => {
      expect(db.server.provider).toBe('url');
      expect(await scratchNames()).toContain(db.name);
      await withClient(db.url, (client) => client.query('CREATE TABLE x (id int)'));
      return db.name;
    });
    expect(await scratchNames()).toEqual(before);
    expect(before).not.toContain(name);
    expect(options.reporter.lines.join('\n')).toContain('using PostgreSQL 16.');
  });

  it('is what auto picks when the URL variable is set', async () => {
    const options = pgOptions({ provider: 'auto', url: server.adminUrl });
    const provider = await withScratchDatabase(options, async (db) => db.server.provider);
    expect(provider).toBe('url');
  });

  it('warns when the server is not the configured major version', async () => {
    const options = pgOptions({ provider: 'url', url: server.adminUrl, version: 17 });
    await withScratchDatabase(options, async () => undefined);
    expect(options.reporter.lines).toContainEqual(expect.stringMatching(/^warn: postgres: postgres\.version is 17 but the url server runs PostgreSQL 16\./));
  });

  it('fails with exit code 3 and a masked URL when the server is unreachable', async () => {
    const url = 'postgresql://app:topsecret@127.0.0.1:1/postgres';
    const error = await withScratchDatabase(pgOptions({ provider: 'url', url }), async () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DriftGuardError);
    expect((error as DriftGuardError).exitCode).toBe(3);
    expect((error as DriftGuardError).message).toMatch(/^cannot connect to postgresql:\/\/app:\*\*\*@127\.0\.0\.1:1\/postgres: connection refused/);
    expect(maskSecrets((error as Error).message)).not.toContain('topsecret');
  });

  it('explains a role without CREATEDB', async () => {
    await withClient(server.adminUrl, async (client) => {
      await client.query('DROP ROLE IF EXISTS limited');
      await client.query("CREATE ROLE limited LOGIN PASSWORD 'limited-pw' NOCREATEDB");
    });
    const url = databaseUrl(server.adminUrl, 'postgres').replace(/\/\/[^@]*@/, '//limited:limited-pw@');
    const error = await withScratchDatabase(pgOptions({ provider: 'url', url }), async () => undefined).catch((e: unknown) => e);
    expect((error as DriftGuardError).code).toBe('DATABASE_PERMISSION');
    expect((error as DriftGuardError).message).toMatch(/may not create databases; grant it CREATEDB/);
    expect((error as DriftGuardError).message).not.toContain('limited-pw');
  });
});
