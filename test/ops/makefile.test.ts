import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withClient } from '../../src/postgres/client.js';
import { cleanEnv, repoRoot, runCli, writeTree, sharedServerSuite } from '../helpers.js';

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
  it('make help lists every target and variable', async () => {
    const result = await make(project(), ['help']);
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

describe('drift-guard.mk in a project with its own targets', () => {
  const fragment = path.join(repoRoot, 'drift-guard.mk');
  const own = (makefile: string): string => {
    const dir = path.join(tmp, `own${n++}`);
    writeTree(dir, { Makefile: makefile });
    return dir;
  };

  it('a plain make still runs the project\'s first target when the include comes first', async () => {
    const result = await make(own(`include ${fragment}\n\nbuild:\n\t@echo building the app\n\ntest:\n\t@echo testing\n`), []);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('building the app\n');
  });

  it('a plain make still runs the project\'s first target when the include comes last', async () => {
    const result = await make(own(`all:\n\t@echo all of it\n\ninclude ${fragment}\n`), []);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('all of it\n');
  });

  it('keeps a .DEFAULT_GOAL the project set before the include', async () => {
    const result = await make(own(`.DEFAULT_GOAL := second\nfirst:\n\t@echo first\nsecond:\n\t@echo second\ninclude ${fragment}\n`), []);
    expect(result.stdout).toBe('second\n');
  });

  it('the Makefile init writes (only the include) lists the targets on a plain make', async () => {
    const dir = path.join(tmp, `own${n++}`);
    writeTree(dir, { 'README.md': 'a project without a Makefile\n' });
    const init = await runCli(['init', '--json'], { cwd: dir, env: cleanEnv() });
    expect(init.code, init.stderr).toBe(0);
    const written = readFileSync(path.join(dir, 'Makefile'), 'utf8');
    expect(written).toContain('include node_modules/drift-guard/drift-guard.mk');
    writeTree(dir, { Makefile: written.replace('node_modules/drift-guard/drift-guard.mk', fragment) });
    const result = await make(dir, []);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {2}make migrate /m);
  });

  it('defines no variable but the documented ones (##@ lines), its own _dg_ helpers and the _DG_ values it hands the recipes', async () => {
    const result = await make(own(`include ${fragment}\nall:\n\t@true\n`), ['-pq']);
    const lines = result.stdout.split('\n');
    const defined = new Set<string>();
    lines.forEach((line, i) => {
      if (!line.startsWith(`# makefile (from '${fragment}'`)) return;
      const name = /^([A-Za-z_][\w-]*) (?:\?|:)?= /.exec(lines[i + 1] ?? '')?.[1];
      if (name !== undefined && name !== 'MAKEFILE_LIST') defined.add(name);
    });
    const documented = new Set([...readFileSync(fragment, 'utf8').matchAll(/^##@ (\S+)/gm)].map((m) => m[1]!));
    expect(defined.size).toBeGreaterThan(10);
    expect([...defined].filter((name) => !name.startsWith('_dg_') && !name.startsWith('_DG_') && !documented.has(name))).toEqual([]);
  });

  it('a value the project sets before the include wins over the fragment\'s default', async () => {
    const result = await make(own(`DRIFT_GUARD := echo would run\ninclude ${fragment}\n`), ['migrate-status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('would run status');
  });
});
