// A separate migrations assembly, as EF Core's docs describe it: the DbContext and entities in
// Shop.Data, the migrations in Shop.Migrations (MigrationsAssembly("Shop.Migrations")), the app
// Shop.App as the startup project. `efcore.project` names the migrations, `efcore.startup-project`
// the app. migrate (the CLI, on a real server) and the gate on a PR with a migration and on a PR
// that changes an entity in Shop.Data without one.

import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck, type CheckResult } from '../../src/gate/check.js';
import { withClient } from '../../src/postgres/client.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, dotnetVersion, makeTempDir, pgOptions, prRepository, removeDir, repoRoot, runCli, startSharedServer, type PostgresServerHandle, type PrRepository } from '../helpers.js';

const dotnet = dotnetVersion();
const DOTNET_TIMEOUT = 600_000;
if (dotnet === undefined) console.log('EF Core migrations-assembly tests skipped: the dotnet CLI is not installed here');

const example = path.join(repoRoot, 'examples', 'efcore');
const fixture = path.join(repoRoot, 'test', 'fixtures', 'efcore-migrations-assembly');
const tmp = makeTempDir('dg-efasm-');
const EMAIL = 'public required string Email { get; set; }';

/** The three projects assembled from the example and the fixture, committed on main; branch "pr". */
function assemble(): PrRepository {
  const dir = path.join(tmp, 'shop');
  cpSync(fixture, dir, { recursive: true, filter: (src) => !/^(README\.md|pr)([/\\]|$)/.test(path.relative(fixture, src)) });
  cpSync(path.join(example, '.config'), path.join(dir, '.config'), { recursive: true });
  cpSync(path.join(example, 'Models.cs'), path.join(dir, 'Shop.Data', 'Models.cs'));
  cpSync(path.join(example, 'Migrations'), path.join(dir, 'Shop.Migrations', 'Migrations'), { recursive: true });
  const context = readFileSync(path.join(example, 'ShopContext.cs'), 'utf8');
  writeFileSync(path.join(dir, 'Shop.Data', 'ShopContext.cs'), context.slice(0, context.indexOf('public class ShopContextFactory')));
  writeFileSync(path.join(dir, '.gitignore'), 'bin/\nobj/\n');
  return prRepository(dir);
}

function addPhone(dir: string): void {
  const models = path.join(dir, 'Shop.Data', 'Models.cs');
  const text = readFileSync(models, 'utf8');
  if (!text.includes(EMAIL)) throw new Error('Models.cs changed shape');
  writeFileSync(models, text.replace(EMAIL, `${EMAIL}\n\n    public string? Phone { get; set; }`));
}

describe.skipIf(dotnet === undefined)('EF Core with a separate migrations assembly', () => {
  let server: PostgresServerHandle;
  let stop: () => Promise<void>;
  let repo: PrRepository;
  beforeAll(async () => {
    ({ server, stop } = await startSharedServer());
    repo = assemble();
  }, DOTNET_TIMEOUT);
  afterAll(async () => {
    await stop();
    removeDir(tmp);
  }, DOTNET_TIMEOUT);

  const check = (): Promise<CheckResult> => runCheck({ loaded: loadConfig({ cwd: repo.dir }), cwd: repo.dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ storage: 'memory' }), base: 'main' });

  it(
    'migrate applies the migrations of Shop.Migrations to a real server, history rows and all',
    async () => {
      await server.withDatabase(async (db) => {
        const cli = await runCli(['migrate', '--json'], { cwd: repo.dir, env: cleanEnv({ DATABASE_URL: db.url }) });
        expect(cli.stderr).not.toContain(new URL(db.url).password);
        expect(cli.code).toBe(0);
        const history = await withClient(db.url, async (c) => (await c.query<{ id: string }>('SELECT "MigrationId" AS id FROM "__EFMigrationsHistory" ORDER BY 1')).rows.map((r) => r.id.replace(/^\d+_/, '')));
        expect(history).toEqual(['InitialCreate', 'AddOrders', 'AddIndexes']);
        const tables = await withClient(db.url, async (c) => (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.t));
        expect(tables).toEqual(['Customers', 'Orders', 'Products', '__EFMigrationsHistory']);
      });
    },
    DOTNET_TIMEOUT,
  );

  it(
    'gates a PR whose entity change in Shop.Data comes with its migration in Shop.Migrations',
    async () => {
      addPhone(repo.dir);
      cpSync(path.join(fixture, 'pr'), repo.dir, { recursive: true });
      repo.git('add', '-A');
      repo.git('commit', '-qm', 'phone');
      const result = await check();
      // Only the lock its ALTER TABLE takes, measured and put on the migration's C# in Shop.Migrations.
      expect(result.findings).toEqual([expect.objectContaining({ code: 'LOCKING_CHANGE', severity: 'notice', evidence: 'measured', file: 'Shop.Migrations/Migrations/20261204020016_AddPhone.cs', line: 13 })]);
      expect(result.verdict).toBe('pass');
      expect(result.migrations.added).toEqual(['Shop.Migrations/Migrations/20261204020016_AddPhone.cs']);
      expect(result.schemaChanges.map((c) => c.description)).toEqual(['add column public."Customers"."Phone" text']);
      expect(result.facts.map((f) => [f.migration, f.changes])).toEqual([['20261204020016_AddPhone', 1]]);
    },
    DOTNET_TIMEOUT,
  );

  it(
    'an entity in Shop.Data changed without a migration: ENTITY_WITHOUT_MIGRATION at its file and MODEL_PENDING_CHANGES',
    async () => {
      const models = path.join(repo.dir, 'Shop.Data', 'Models.cs');
      writeFileSync(models, readFileSync(models, 'utf8').replace('public string? Phone { get; set; }', 'public string? Phone { get; set; }\n\n    public string? Fax { get; set; }'));
      repo.git('commit', '-qam', 'fax, no migration');
      const result = await runCheck({ loaded: loadConfig({ cwd: repo.dir }), cwd: repo.dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ storage: 'memory' }), base: 'HEAD~1' });
      expect(result.findings.map((f) => `${f.severity} ${f.code} ${f.file ?? ''}`).sort()).toEqual(['error MODEL_PENDING_CHANGES Shop.Migrations/Shop.Migrations.csproj', 'warning ENTITY_WITHOUT_MIGRATION Shop.Data/Models.cs']);
      expect(result.verdict).toBe('fail');
    },
    DOTNET_TIMEOUT,
  );
});
