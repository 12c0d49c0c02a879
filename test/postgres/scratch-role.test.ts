import { chmodSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../src/postgres/client.js';
import { SERVER_ACCESS_ROLES, withPostgresServer, withScratchDatabase, type PostgresServer } from '../../src/postgres/scratch.js';
import { makeTempDir, pgOptions, removeDir } from '../helpers.js';

// Item 14 of issue 13: a pull request's SQL runs as a role that owns its scratch database and is
// no superuser, so it cannot run programs on the machine that runs the gate.

const tmp = makeTempDir('dg-role-');
// Writable by the account the server runs as: a refused COPY TO PROGRAM must be the role's doing, not the folder's.
chmodSync(tmp, 0o777);
let server: PostgresServer;
let release: () => void;
const stopped = new Promise<void>((resolve) => (release = resolve));
beforeAll(async () => {
  await new Promise<void>((ready, fail) => {
    withPostgresServer(pgOptions(), async (s) => {
      server = s;
      ready();
      await stopped;
    }).catch(fail);
  });
}, 180_000);
afterAll(async () => {
  release();
  await new Promise((resolve) => setTimeout(resolve, 300));
  removeDir(tmp);
});

const marker = (): string => path.join(tmp, `touched-${Math.random().toString(36).slice(2)}`);
const roleFacts = (url: string) =>
  withClient(url, async (client) => {
    const row = await client.query<{ name: string; superuser: boolean; owner: boolean; outside: boolean }>(
      `SELECT current_user AS name, r.rolsuper AS superuser,
              (SELECT datdba FROM pg_database WHERE datname = current_database()) = r.oid AS owner,
              EXISTS (SELECT 1 FROM unnest($1::text[]) g WHERE pg_has_role(r.oid, g, 'USAGE')) AS outside
         FROM pg_roles r WHERE r.rolname = current_user`,
      [[...SERVER_ACCESS_ROLES]],
    );
    return row.rows[0]!;
  });

describe('scratch databases: the role migrations run as', () => {
  it('owns the database, is not a superuser and cannot COPY TO PROGRAM (the file is not created)', async () => {
    await server.withDatabase(async (db) => {
      expect(db.role).toEqual({ name: expect.stringMatching(/^drift_guard_\w+_owner$/), superuser: false });
      expect(await roleFacts(db.url)).toEqual({ name: db.role.name, superuser: false, owner: true, outside: false });
      const file = marker();
      const error = await withClient(db.url, (client) => client.query(`COPY (SELECT 1) TO PROGRAM 'touch ${file}'`)).catch((e: unknown) => e);
      expect(String((error as Error).message)).toMatch(/permission denied|must be superuser|pg_execute_server_program/);
      expect(existsSync(file)).toBe(false);
      // What ordinary migrations do still works: tables, a trusted extension, functions, the public schema.
      await withClient(db.url, (client) => client.query("CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE t (id uuid DEFAULT gen_random_uuid() PRIMARY KEY); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; CREATE SCHEMA app"));
      // drift-guard's own connection is the superuser, to the same database.
      expect((await roleFacts(db.adminUrl)).superuser).toBe(true);
      expect(await withClient(db.adminUrl, async (client) => (await client.query('SELECT current_database() AS d')).rows[0].d)).toBe(db.name);
    });
  });

  it('base and head databases of one server share the role; on an existing server it is dropped afterwards', async () => {
    const owners = (): Promise<number> => withClient(server.adminUrl, async (client) => (await client.query("SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'drift\\_guard\\_%\\_owner'")).rows[0].n as number);
    const before = await owners();
    await withPostgresServer(pgOptions({ provider: 'url', url: server.adminUrl }), (s) =>
      s.withDatabase((a) => s.withDatabase(async (b) => expect(b.role.name).toBe(a.role.name))),
    );
    expect(await owners()).toBe(before);
  });

  it('postgres.superuser.reason opts in: migrations run as the superuser and the reason is on the record', async () => {
    const reason = 'CREATE EXTENSION postgis is not a trusted extension';
    await withScratchDatabase(pgOptions({ provider: 'url', url: server.adminUrl, superuserReason: reason }), async (db) => {
      expect(db.role).toEqual({ name: 'postgres', superuser: true, reason });
      expect((await roleFacts(db.url)).superuser).toBe(true);
      const file = marker();
      await withClient(db.url, (client) => client.query(`COPY (SELECT 1) TO PROGRAM 'touch ${file}'`));
      expect(existsSync(file)).toBe(true);
    });
  });

  it('url provider, a role without CREATEROLE and without server access: migrations run as that role', async () => {
    await withClient(server.adminUrl, async (client) => {
      await client.query('DROP ROLE IF EXISTS dg_plain');
      await client.query("CREATE ROLE dg_plain LOGIN CREATEDB PASSWORD 'plain-pw'");
    });
    const url = server.adminUrl.replace(/\/\/[^@]*@/, '//dg_plain:plain-pw@');
    await withScratchDatabase(pgOptions({ provider: 'url', url }), async (db) => {
      expect(db.role).toEqual({ name: 'dg_plain', superuser: false });
      const file = marker();
      await expect(withClient(db.url, (client) => client.query(`COPY (SELECT 1) TO PROGRAM 'touch ${file}'`))).rejects.toThrow();
      expect(existsSync(file)).toBe(false);
    });
    // ... but one that may run programs and cannot make a role for the PR is refused, with the fix.
    await withClient(server.adminUrl, (client) => client.query('GRANT pg_execute_server_program TO dg_plain'));
    const error = await withScratchDatabase(pgOptions({ provider: 'url', url }), async () => undefined).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/grant it CREATEROLE.*postgres\.superuser\.reason/);
    await withClient(server.adminUrl, (client) => client.query('REVOKE pg_execute_server_program FROM dg_plain'));
  });

  it('a non-superuser role sees the cluster identity (pg_control_system) that production checks rely on', async () => {
    await server.withDatabase(async (db) => {
      const id = await withClient(db.url, async (client) => (await client.query('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0].id as string);
      expect(id).toMatch(/^\d+$/);
    });
  });
});
