import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withClient } from '../../src/postgres/client.js';
import { cleanEnv, repoRoot, writeTree, sharedServerSuite } from '../helpers.js';

// drift-guard.mk as a project uses it: a Makefile that includes it, real make, real PostgreSQL.

const { tmp, server } = sharedServerSuite('dg-make-');

function make(dir: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('make', ['--no-print-directory', ...args], { cwd: dir, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let n = 0;
function project(): string {
  const dir = path.join(tmp, `p${n++}`);
  writeTree(dir, {
    Makefile: `DRIFT_GUARD := node ${path.join(repoRoot, 'dist', 'cli.js')}\ninclude ${path.join(repoRoot, 'drift-guard.mk')}\n`,
    '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\n  schema-file: db/schema.sql\n',
    'db/schema.sql': 'CREATE TABLE public.users (\n    id bigint NOT NULL,\n    email text NOT NULL,\n    CONSTRAINT users_pkey PRIMARY KEY (id)\n);\n',
  });
  return dir;
}

const TARGETS = ['help', 'migrate', 'migrate-apply', 'migrate-status', 'migrate-script', 'migrate-rollback', 'db-reset', 'migrate-prod', 'migrate-prod-status', 'backup-prod-db', 'restore-db', 'drift-check', 'baseline'];

describe('drift-guard.mk', () => {
  it('lists every target and variable by default', async () => {
    const result = await make(project(), []);
    expect(result.code).toBe(0);
    expect([...result.stdout.matchAll(/^ {2}make (\S+)/gm)].map((m) => m[1])).toEqual(TARGETS);
    for (const variable of ['NAME', 'TO', 'STEPS', 'FILE', 'CONFIRM', 'BACKUP_DIR', 'KEEP', 'HEALTH_URL', 'FORCE', 'DATABASE_URL', 'PROD_DATABASE_URL']) expect(result.stdout).toMatch(new RegExp(`^ {2}${variable} `, 'm'));
  });

  it('runs the local workflow: migrate NAME=..., status, rollback, apply, reset, drift-check', async () => {
    const dir = project();
    await server().withDatabase(async (db) => {
      const env = { DATABASE_URL: db.url };
      const missing = await make(dir, ['migrate'], env);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('make migrate needs NAME, e.g. make migrate NAME=add_orders');

      const created = await make(dir, ['migrate', 'NAME=add_users'], env);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/created db\/migrations\/\d{14}_add_users\.sql/);
      expect(created.stdout).toMatch(/applied 1 migration/);
      expect(readdirSync(path.join(dir, 'db/migrations'))).toHaveLength(2);
      const tableExists = (): Promise<boolean> => withClient(db.url, async (client) => (await client.query<{ t: boolean }>("SELECT to_regclass('public.users') IS NOT NULL AS t")).rows[0]!.t);
      expect(await tableExists()).toBe(true);

      expect((await make(dir, ['migrate-status'], env)).stdout).toMatch(/applied/);
      expect((await make(dir, ['migrate-script'], env)).stdout).toMatch(/CREATE TABLE public\.users/);
      expect((await make(dir, ['migrate-rollback'], env)).code).toBe(0);
      expect(await tableExists()).toBe(false);
      expect((await make(dir, ['migrate-apply'], env)).code).toBe(0);
      expect(await tableExists()).toBe(true);

      await withClient(db.url, (client) => client.query('CREATE TABLE scratch_notes (x int)'));
      const reset = await make(dir, ['db-reset'], env);
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stdout).toMatch(/reset postgresql:\/\/\w+:\*\*\*@127\.0\.0\.1:\d+\/\S+: dropped \d+ object\(s\), applied 1 migration\(s\)/);
      expect(await withClient(db.url, async (client) => (await client.query<{ t: boolean }>("SELECT to_regclass('public.scratch_notes') IS NULL AS t")).rows[0]!.t)).toBe(true);

      const drift = await make(dir, ['drift-check'], { ...env, PROD_DATABASE_URL: db.url });
      expect(drift.code, drift.stdout + drift.stderr).toBe(0);
      expect(drift.stdout).toMatch(/matches its migrations/);
      for (const output of [created, reset, drift]) expect(output.stdout + output.stderr).not.toContain(decodeURIComponent(new URL(db.url).password));
    });
  });

  it('db-reset refuses a database that is not on this machine (and production always); migrate-prod refuses without CONFIRM', async () => {
    const dir = project();
    writeTree(dir, { 'db/migrations/20240101000000_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n' });
    const remote = await make(dir, ['db-reset'], { DATABASE_URL: 'postgresql://app:secret@db.example.invalid:5432/shop' });
    expect(remote.code).not.toBe(0);
    expect(remote.stderr).toContain('drift-guard: refusing to reset postgresql://app:***@db.example.invalid:5432/shop: it is not on this machine; reset is for development databases (FORCE=1 / --force if you mean it)');
    const production = await make(dir, ['db-reset', 'FORCE=1'], { DATABASE_URL: 'postgresql://app:secret@localhost:5432/shop', PROD_DATABASE_URL: 'postgresql://app:secret@localhost:5432/shop' });
    expect(production.stderr).toContain('it is the production database (PROD_DATABASE_URL)');
    const unconfirmed = await make(dir, ['migrate-prod'], { PROD_DATABASE_URL: 'postgresql://app:secret@localhost:1/shop' });
    expect(unconfirmed.code).not.toBe(0);
    expect(unconfirmed.stderr).toContain('deploy needs a confirmation: type YES on a terminal, or pass --yes (CONFIRM=YES) in automation');
    for (const output of [remote, production, unconfirmed]) expect(output.stdout + output.stderr).not.toContain('secret');
  });
});
