import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { npgsqlConnectionString } from '../../../src/engines/efcore/dotnet-ef.js';
import { efcoreEngine, pascalCase } from '../../../src/engines/efcore/efcore-engine.js';
import type { Engine } from '../../../src/engines/engine.js';
import { introspectUrl } from '../../../src/introspect/introspect.js';
import { withClient } from '../../../src/postgres/client.js';
import { renderSnapshot } from '../../../src/schema/snapshot.js';
import { RecordingReporter } from '../../../src/util/reporter.js';
import { dotnetVersion, cleanEnv, makeTempDir, pgOptions, removeDir, repoRoot, runCli, startSharedServer, type PostgresServerHandle } from '../../helpers.js';

const dotnet = dotnetVersion();
// Each test builds and runs `dotnet ef` several times (about 2 s a call on an idle machine, many
// times that on two cores shared with other work): minutes, not the suite's default 60 s.
const DOTNET_TIMEOUT = 600_000;
if (dotnet === undefined) console.log('EF Core engine tests skipped: the dotnet CLI is not installed here');

const example = path.join(repoRoot, 'examples', 'efcore');
const tmp = makeTempDir('dg-efcore-');
let copies = 0;

/** A copy of the example (without bin/obj) that a test may change. */
function copyExample(): string {
  const dir = path.join(tmp, `shop${copies++}`);
  cpSync(example, dir, { recursive: true, filter: (src) => !/[/\\](bin|obj)$/.test(src) });
  return dir;
}

function engineFor(dir: string): { engine: Engine; reporter: RecordingReporter } {
  const reporter = new RecordingReporter();
  const loaded = loadConfig({ cwd: dir });
  return { engine: efcoreEngine(loaded, dir, cleanEnv(), reporter, pgOptions({ storage: 'memory' })), reporter };
}

describe.skipIf(dotnet === undefined)('EF Core engine (dotnet ef)', () => {
  let server: PostgresServerHandle;
  let stop: () => Promise<void>;
  let pristine: string;
  let shared: Engine;
  beforeAll(async () => {
    ({ server, stop } = await startSharedServer());
    pristine = copyExample();
    shared = engineFor(pristine).engine;
  }, DOTNET_TIMEOUT);
  afterAll(async () => {
    await stop();
    removeDir(tmp);
  }, DOTNET_TIMEOUT);

  const tables = (url: string): Promise<string[]> =>
    withClient(url, async (c) => (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.t));

  it('applies every migration from scratch, with progress per migration', async () => {
    await server.withDatabase(async (db) => {
      const events: string[] = [];
      const outcome = await shared.migrate({ databaseUrl: db.url, reporter: new RecordingReporter(), onEvent: (e) => events.push(`${e.event}${'migration' in e ? ` ${e.migration}` : ''}`) }, {});
      expect(outcome.findings).toEqual([]);
      expect(outcome.results.map((r) => [r.migration.replace(/^\d+_/, ''), r.status])).toEqual([
        ['InitialCreate', 'applied'],
        ['AddOrders', 'applied'],
        ['AddIndexes', 'applied'],
      ]);
      expect(events.filter((e) => e.startsWith('start'))).toHaveLength(3);
      expect(await tables(db.url)).toEqual(['Customers', 'Orders', 'Products', '__EFMigrationsHistory']);
      const status = await shared.status({ databaseUrl: db.url, reporter: new RecordingReporter() });
      expect(status.statuses.map((s) => s.state)).toEqual(['applied', 'applied', 'applied']);
      expect(status.statuses[0]!.file).toMatch(/^Migrations\/\d{14}_InitialCreate\.cs$/);
    });
  }, DOTNET_TIMEOUT);

  it('finds no pending model changes and no divergence in the untouched example', async () => {
    expect(await shared.checkModel!(new RecordingReporter(), { secondOpinion: true })).toEqual([]);
  }, DOTNET_TIMEOUT);

  it('rolling back to the second migration gives that migration schema', async () => {
    await server.withDatabase((rolled) =>
      server.withDatabase(async (direct) => {
        const reporter = new RecordingReporter();
        expect((await shared.migrate({ databaseUrl: rolled.url, reporter }, {})).ok).toBe(true);
        const back = await shared.rollback({ databaseUrl: rolled.url, reporter }, { target: 'AddOrders' });
        expect(back.results.map((r) => [r.migration.replace(/^\d+_/, ''), r.status])).toEqual([['AddIndexes', 'rolled-back']]);
        expect((await shared.migrate({ databaseUrl: direct.url, reporter }, { target: 'AddOrders' })).ok).toBe(true);
        expect(renderSnapshot(await introspectUrl(rolled.url))).toBe(renderSnapshot(await introspectUrl(direct.url)));
        const empty = await shared.rollback({ databaseUrl: rolled.url, reporter }, { target: '0' });
        expect(empty.ok).toBe(true);
        expect(await tables(rolled.url)).toEqual(['__EFMigrationsHistory']);
      }),
    );
  }, DOTNET_TIMEOUT);

  it('detects a model change, and drift-guard new records it as a migration', async () => {
    const dir = copyExample();
    const models = path.join(dir, 'Models.cs');
    writeFileSync(models, readFileSync(models, 'utf8').replace('public required string Email { get; set; }', 'public required string Email { get; set; }\n\n    public string? Phone { get; set; }'));
    const findings = await engineFor(dir).engine.checkModel!(new RecordingReporter(), { secondOpinion: false });
    expect(findings).toEqual([expect.objectContaining({ code: 'MODEL_PENDING_CHANGES', severity: 'error', file: 'Shop.csproj' })]);
    expect(findings[0]!.message).toContain('Changes have been made to the model since the last migration');
    const created = await runCli(['new', 'add phone'], { cwd: dir });
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/created Migrations\/\d{14}_AddPhone\.cs/);
    expect(readdirSync(path.join(dir, 'Migrations')).filter((f) => f.includes('AddPhone'))).toHaveLength(2);
    const check = await runCli(['model-check', '--json'], { cwd: dir });
    expect(JSON.parse(check.stdout)).toEqual({ ok: true, findings: [] });
    expect(check.code).toBe(0);
  }, DOTNET_TIMEOUT);

  it("reports a failing migration with EF's error and stops there", async () => {
    const dir = copyExample();
    const file = readdirSync(path.join(dir, 'Migrations')).find((f) => /_AddOrders\.cs$/.test(f))!;
    const full = path.join(dir, 'Migrations', file);
    writeFileSync(full, readFileSync(full, 'utf8').replace(/(protected override void Up\(MigrationBuilder migrationBuilder\)\s*\{)/, '$1\n            migrationBuilder.Sql("SELECT * FROM no_such_table");'));
    await server.withDatabase(async (db) => {
      const result = await runCli(['migrate', '--database-url', db.url], { cwd: dir });
      expect(result.code).toBe(1);
      // At the line of the migrationBuilder.Sql call that carries the failing SQL.
      const line = readFileSync(full, 'utf8').split('\n').findIndex((l) => l.includes('no_such_table')) + 1;
      expect(result.stdout).toContain(`error APPLY_FAILED Migrations/${file}:${line}: dotnet ef database update failed:`);
      expect(result.stdout).toContain('no_such_table');
      expect(result.stdout + result.stderr).not.toContain(decodeURIComponent(new URL(db.url).password));
      expect(await tables(db.url)).toEqual(['Customers', 'Products', '__EFMigrationsHistory']);
    });
  }, DOTNET_TIMEOUT);

  it('puts APPLY_FAILED on the line of the migration code whose command failed', async () => {
    const dir = copyExample();
    const file = readdirSync(path.join(dir, 'Migrations')).find((f) => /_AddOrders\.cs$/.test(f))!;
    const full = path.join(dir, 'Migrations', file);
    const text = readFileSync(full, 'utf8');
    writeFileSync(full, text.replace('column: "CustomerId");', 'column: "CustomerIdx");'));
    // The call that names what the failed CREATE INDEX names (the index, the table): its first line.
    const lines = text.split('\n');
    const line = lines.findIndex((l, i) => l.includes('migrationBuilder.CreateIndex(') && lines[i + 1]!.includes('name: "IX_Orders_CustomerId"')) + 1;
    expect(line).toBeGreaterThan(1);
    await server.withDatabase(async (db) => {
      const result = await runCli(['migrate', '--database-url', db.url], { cwd: dir });
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(new RegExp(`error APPLY_FAILED Migrations/${file.replace('.', '\\.')}:${line}(:\\d+)?: dotnet ef database update failed: .*CustomerIdx`));
    });
  }, DOTNET_TIMEOUT);

  it('applies what EF discovers when a migration lost its Designer file, and reports the file', async () => {
    const dir = copyExample();
    const designer = readdirSync(path.join(dir, 'Migrations')).find((f) => /_AddIndexes\.Designer\.cs$/.test(f))!;
    rmSync(path.join(dir, 'Migrations', designer));
    await server.withDatabase(async (db) => {
      const outcome = await engineFor(dir).engine.migrate({ databaseUrl: db.url, reporter: new RecordingReporter() }, {});
      expect(outcome.ok).toBe(true);
      expect(outcome.findings).toEqual([expect.objectContaining({ code: 'MIGRATION_DESIGNER_MISSING', severity: 'error', file: `Migrations/${designer.replace('.Designer', '')}` })]);
      expect(outcome.results.map((r) => [r.migration.replace(/^\d+_/, ''), r.status])).toEqual([
        ['InitialCreate', 'applied'],
        ['AddOrders', 'applied'],
      ]);
      expect(await tables(db.url)).toEqual(['Customers', 'Orders', 'Products', '__EFMigrationsHistory']);
    });
  }, DOTNET_TIMEOUT);

  it('explains how to pin dotnet-ef when there is no tool manifest', async () => {
    const dir = copyExample();
    rmSync(path.join(dir, '.config'), { recursive: true });
    const result = await runCli(['model-check'], { cwd: dir });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/dotnet-ef is not pinned for Shop\.csproj: run "dotnet new tool-manifest" and "dotnet tool install dotnet-ef/);
  }, DOTNET_TIMEOUT);
});

describe('EF Core helpers', () => {
  it('names migrations as C# classes', () => {
    expect(pascalCase('add orders')).toBe('AddOrders');
    expect(pascalCase('add_order_lines')).toBe('AddOrderLines');
    expect(pascalCase('AddPhone')).toBe('AddPhone');
    expect(() => pascalCase('2fast')).toThrow(/start it with a letter/);
  });

  it('turns a postgres URL into an Npgsql connection string, quoting what needs it', () => {
    expect(npgsqlConnectionString('postgresql://app:p%3Bw%3D@db.local:6543/shop?sslmode=require')).toBe('Host=db.local;Port=6543;Database=shop;Username=app;Password="p;w=";SSL Mode=Require');
    expect(npgsqlConnectionString('postgres://u@h/d')).toBe('Host=h;Port=5432;Database=d;Username=u');
  });
});
