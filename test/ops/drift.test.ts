import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createEngine } from '../../src/engines/create-engine.js';
import { runDrift, type DriftResult } from '../../src/ops/drift.js';
import { productionTarget } from '../../src/ops/production.js';
import { withClient } from '../../src/postgres/client.js';
import type { ScratchDatabase } from '../../src/postgres/scratch.js';
import { renderDriftMarkdown, DRIFT_MARKER } from '../../src/report/render-drift.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, pgOptions, runCli, writeTree, sharedServerSuite } from '../helpers.js';

// "Production" is a database on a shared embedded server, migrated by the SQL engine and then
// tampered with; drift runs against it like it would against the real thing.

const { tmp, server } = sharedServerSuite('dg-drift-');

const MIGRATIONS = {
  'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\nCREATE INDEX users_email ON users (email);\n',
  'db/migrations/20240101000002_orders.sql': 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));\n',
};
let n = 0;

function project(extraConfig = ''): string {
  const dir = path.join(tmp, `p${n++}`);
  writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: plain\n${extraConfig}`, ...MIGRATIONS });
  return dir;
}

async function migrate(dir: string, url: string, target?: string): Promise<void> {
  const reporter = new RecordingReporter();
  const outcome = await createEngine({ loaded: loadConfig({ cwd: dir }), cwd: dir, env: cleanEnv(), reporter }).migrate({ databaseUrl: url, reporter }, { target });
  expect(outcome.ok).toBe(true);
}

const sql = (db: ScratchDatabase, text: string): Promise<unknown> => withClient(db.url, (client) => client.query(text));

function drift(dir: string, db: ScratchDatabase): Promise<DriftResult> {
  const loaded = loadConfig({ cwd: dir });
  const env = cleanEnv({ PROD_DATABASE_URL: db.url });
  return runDrift({ loaded, cwd: dir, env, reporter: new RecordingReporter(), postgres: pgOptions({ storage: 'memory' }), production: productionTarget(loaded, env) });
}

const codes = (result: DriftResult): string[] => result.findings.map((f) => `${f.severity} ${f.code}`).sort();

describe('drift-guard drift', () => {
  it('is clean when production is exactly its migrations', async () => {
    const dir = project();
    await server().withDatabase(async (db) => {
      await migrate(dir, db.url);
      const result = await drift(dir, db);
      expect(result.findings).toEqual([]);
      expect(result.verdict).toBe('clean');
      expect(result.production).toMatchObject({ applied: 2, lastApplied: '20240101000002' });
      expect(result.production.url).not.toContain(new URL(db.url).password);
    });
  });

  it('reports pending migrations without calling them drift (production is compared with what it has applied)', async () => {
    const dir = project();
    await server().withDatabase(async (db) => {
      await migrate(dir, db.url, '20240101000001');
      const result = await drift(dir, db);
      expect(codes(result)).toEqual(['warning MIGRATION_PENDING']);
      expect(result.verdict).toBe('pending');
      expect(result.migrations.pending).toEqual(['20240101000002']);
    });
  });

  it('an extra column and a missing index are PRODUCTION_DRIFT, with the SQL that would repair them', async () => {
    const dir = project();
    await server().withDatabase(async (db) => {
      await migrate(dir, db.url);
      await sql(db, 'ALTER TABLE users ADD COLUMN nickname text; DROP INDEX users_email;');
      const result = await drift(dir, db);
      expect(result.verdict).toBe('drift');
      expect(result.findings.map((f) => f.message).sort()).toEqual([
        'production has column public.users.nickname text, which its migrations do not create',
        'production lacks index public.users_email, which its migrations create',
      ]);
      expect(result.repairSql.join('\n')).toMatch(/ALTER TABLE public\.users DROP COLUMN nickname/);
      expect(result.repairSql.join('\n')).toMatch(/CREATE INDEX users_email ON public\.users/);
      const markdown = renderDriftMarkdown(result);
      expect(markdown.startsWith(DRIFT_MARKER)).toBe(true);
      expect(markdown).toContain('has drifted (2 errors, 2 schema differences)');
    });
  });

  it('a history row the repo does not know is MIGRATION_MISSING_ON_DISK', async () => {
    const dir = project();
    await server().withDatabase(async (db) => {
      await migrate(dir, db.url);
      rmSync(path.join(dir, 'db/migrations/20240101000002_orders.sql'));
      const result = await drift(dir, db);
      expect(codes(result)).toContain('error MIGRATION_MISSING_ON_DISK');
      expect(result.migrations.unknown).toEqual(['20240101000002']);
      // Compared with what the migrations it knows produce, the orders table is extra.
      expect(result.findings.filter((f) => f.code === 'PRODUCTION_DRIFT').map((f) => f.message)).toContain('production has table public.orders, which its migrations do not create');
    });
  });

  it('a database made without migrations (EnsureCreated, by hand) is NO_MIGRATION_HISTORY, with the baseline to record', async () => {
    const dir = project();
    await server().withDatabase(async (db) => {
      await sql(db, Object.values(MIGRATIONS).join('\n'));
      const result = await drift(dir, db);
      expect(codes(result)).toEqual(['error NO_MIGRATION_HISTORY', 'warning MIGRATION_PENDING']);
      expect(result.findings.find((f) => f.code === 'NO_MIGRATION_HISTORY')?.message).toMatch(/no migration history .* equals what every migration produces: record them with drift-guard baseline --to 20240101000002/);
    });
  });

  it('honours schema.ignore', async () => {
    const dir = project('schema:\n  ignore: [public.tmp_*]\n');
    await server().withDatabase(async (db) => {
      await migrate(dir, db.url);
      await sql(db, 'CREATE TABLE tmp_import (line text)');
      expect((await drift(dir, db)).findings).toEqual([]);
    });
  });

  it('runs from the CLI: exit 1 on drift, JSON, and the production password in no output', async () => {
    const dir = project();
    await server().withDatabase(async (db) => {
      await migrate(dir, db.url);
      await sql(db, 'ALTER TABLE orders ADD COLUMN note text');
      const password = decodeURIComponent(new URL(db.url).password);
      expect(password.length).toBeGreaterThan(5);
      const result = await runCli(['drift', '--json'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
      expect(result.code).toBe(1);
      const report = JSON.parse(result.stdout) as DriftResult;
      expect(report.version).toBe(1);
      expect(report.findings.map((f) => f.code)).toEqual(['PRODUCTION_DRIFT']);
      expect(result.stdout + result.stderr).not.toContain(password);
      const text = await runCli(['drift'], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
      expect(text.stdout + text.stderr).not.toContain(password);
      expect(text.stdout).toMatch(/production has column public\.orders\.note/);
    });
  });

  it('says which variable to set when the production URL is missing (exit 2)', async () => {
    const result = await runCli(['drift'], { cwd: project(), env: cleanEnv() });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('drift-guard: no production database: set PROD_DATABASE_URL (the variable production.url-env names) to its postgres:// URL');
  });
});
