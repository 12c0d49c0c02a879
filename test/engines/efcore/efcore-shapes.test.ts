// The EF Core engine on the shapes real projects have, each a small project generated from
// examples/efcore: a design-time factory that reads DATABASE_URL as a URL and throws without it,
// the history table in another schema, one context's migrations in two folders, attributes written
// with their full namespace, migration classes EF never discovers, and a project that does not
// compile. One built copy per shape, reused by every test of that shape.

import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { efcoreEngine } from '../../../src/engines/efcore/efcore-engine.js';
import type { Engine } from '../../../src/engines/engine.js';
import { withClient } from '../../../src/postgres/client.js';
import { runCheck } from '../../../src/gate/check.js';
import { renderCheckMarkdown, renderCheckText } from '../../../src/report/render-check.js';
import { RecordingReporter } from '../../../src/util/reporter.js';
import { cleanEnv, dotnetVersion, makeTempDir, pgOptions, prRepository, removeDir, repoRoot, runCli, startSharedServer, type PostgresServerHandle } from '../../helpers.js';

const dotnet = dotnetVersion();
if (dotnet === undefined) console.log('EF Core shape tests skipped: the dotnet CLI is not installed here');

const example = path.join(repoRoot, 'examples', 'efcore');
const tmp = makeTempDir('dg-efshapes-');
const EF_TIMEOUT = 240_000;

function copyExample(name: string): string {
  const dir = path.join(tmp, name);
  cpSync(example, dir, { recursive: true, filter: (src) => !/[/\\](bin|obj)$/.test(src) });
  return dir;
}

const migrationFile = (dir: string, pattern: RegExp): string => readdirSync(path.join(dir, 'Migrations')).find((f) => pattern.test(f))!;

/** A factory like the EF 9 seed project's: DATABASE_URL as a postgres:// URL, required. */
const URL_FACTORY = `
public class ShopContextFactory : IDesignTimeDbContextFactory<ShopContext>
{
    public ShopContext CreateDbContext(string[] args)
    {
        var url = Environment.GetEnvironmentVariable("DATABASE_URL")
            ?? throw new InvalidOperationException("DATABASE_URL is not set");
        var uri = new Uri(url);
        var user = uri.UserInfo.Split(':', 2);
        var builder = new Npgsql.NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.Port > 0 ? uri.Port : 5432,
            Database = uri.AbsolutePath.TrimStart('/'),
            Username = Uri.UnescapeDataString(user[0]),
        };
        if (user.Length > 1) builder.Password = Uri.UnescapeDataString(user[1]);
        var options = new DbContextOptionsBuilder<ShopContext>()
            .UseNpgsql(builder.ConnectionString, o => o.MigrationsHistoryTable("__EFMigrationsHistory", "audit"))
            .Options;
        return new ShopContext(options);
    }
}
`;

/**
 * The example reshaped: URL factory, history in schema audit, AddOrders moved to Migrations/Archive,
 * AddIndexes' attributes fully qualified, and two classes EF does not discover (no attribute at
 * all; [Migration] without [DbContext]).
 */
function realShapes(): string {
  const dir = copyExample('shapes');
  const context = path.join(dir, 'ShopContext.cs');
  const text = readFileSync(context, 'utf8');
  writeFileSync(context, text.slice(0, text.indexOf('public class ShopContextFactory')) + URL_FACTORY);
  writeFileSync(path.join(dir, '.drift-guard.yml'), ['engine: efcore', 'efcore:', '  project: Shop.csproj', '  history-schema: audit', '  connection-env:', '    - name: DATABASE_URL', '      format: url', ''].join('\n'));
  mkdirSync(path.join(dir, 'Migrations', 'Archive'));
  for (const file of readdirSync(path.join(dir, 'Migrations')).filter((f) => f.includes('_AddOrders'))) renameSync(path.join(dir, 'Migrations', file), path.join(dir, 'Migrations', 'Archive', file));
  const designer = path.join(dir, 'Migrations', migrationFile(dir, /_AddIndexes\.Designer\.cs$/));
  const designerText = readFileSync(designer, 'utf8')
    .replace('[DbContext(typeof(ShopContext))]', '[global::Microsoft.EntityFrameworkCore.Infrastructure.DbContext(typeof(global::Shop.ShopContext))]')
    .replace(/\[Migration\("([^"]+)"\)\]/, '[Microsoft.EntityFrameworkCore.Migrations.MigrationAttribute("$1")]');
  if (!designerText.includes('global::Shop.ShopContext') || !designerText.includes('MigrationAttribute(')) throw new Error('the Designer file changed shape');
  writeFileSync(designer, designerText);
  const orphan = (cls: string, attributes: string): string =>
    `using Microsoft.EntityFrameworkCore.Migrations;\n\nnamespace Shop.Migrations\n{\n    ${attributes}\n    public partial class ${cls} : Migration\n    {\n        protected override void Up(MigrationBuilder migrationBuilder) => migrationBuilder.Sql("CREATE TABLE never_applied (id int)");\n        protected override void Down(MigrationBuilder migrationBuilder) => migrationBuilder.Sql("DROP TABLE never_applied");\n    }\n}\n`;
  writeFileSync(path.join(dir, 'Migrations', '20261201000000_NoAttribute.cs'), orphan('NoAttribute', '// [Migration("20261201000000_NoAttribute")] (commented out)'));
  writeFileSync(path.join(dir, 'Migrations', '20261201000000_NoAttribute.Designer.cs'), 'namespace Shop.Migrations\n{\n    partial class NoAttribute\n    {\n    }\n}\n');
  writeFileSync(path.join(dir, 'Migrations', '20261201000001_NoContext.cs'), orphan('NoContext', '[Migration("20261201000001_NoContext")]'));
  return dir;
}

describe.skipIf(dotnet === undefined)('EF Core engine on real-project shapes', () => {
  let server: PostgresServerHandle;
  let stop: () => Promise<void>;
  let dir: string;
  let engine: Engine;
  const reporter = new RecordingReporter();
  beforeAll(async () => {
    ({ server, stop } = await startSharedServer());
    dir = realShapes();
    engine = efcoreEngine(loadConfig({ cwd: dir }), dir, cleanEnv(), reporter, pgOptions({ storage: 'memory' }));
    expect(await engine.prepare!(reporter)).toEqual([]);
  }, EF_TIMEOUT);
  afterAll(async () => {
    await stop();
    removeDir(tmp);
  });

  const historyRows = (url: string): Promise<string[]> =>
    withClient(url, async (c) => (await c.query<{ id: string }>('SELECT "MigrationId" AS id FROM audit."__EFMigrationsHistory" ORDER BY 1')).rows.map((r) => r.id.replace(/^\d+_/, '')));

  it(
    'lists what EF discovers (split folders, fully qualified attributes) and names each class EF never sees',
    async () => {
      const refs = await engine.list!(reporter);
      expect(refs.map((r) => [r.label, r.file])).toEqual([
        ['InitialCreate', `Migrations/${migrationFile(dir, /_InitialCreate\.cs$/)}`],
        ['AddOrders', expect.stringMatching(/^Migrations\/Archive\/\d{14}_AddOrders\.cs$/)],
        ['AddIndexes', `Migrations/${migrationFile(dir, /_AddIndexes\.cs$/)}`],
      ]);
      await server.withDatabase(async (db) => {
        const status = await engine.status({ databaseUrl: db.url, reporter });
        expect(status.findings.map((f) => `${f.severity} ${f.code} ${f.file ?? ''}`).sort()).toEqual([
          'error MIGRATION_NOT_DISCOVERED Migrations/20261201000000_NoAttribute.cs',
          'error MIGRATION_NOT_DISCOVERED Migrations/20261201000001_NoContext.cs',
          'warning MIGRATIONS_SPLIT ',
        ]);
        expect(status.findings.find((f) => f.file?.includes('NoContext'))!.message).toContain('no [DbContext(typeof(...))] attribute');
        expect(status.statuses.map((s) => s.state)).toEqual(['pending', 'pending', 'pending']);
      });
    },
    EF_TIMEOUT,
  );

  it(
    'applies what EF discovers despite those findings, with the password never on a command line',
    async () => {
      await server.withDatabase(async (db) => {
        const password = decodeURIComponent(new URL(db.url).password);
        expect(password.length).toBeGreaterThan(3);
        let running = true;
        let sawEf = false;
        const leaks: string[] = [];
        const watch = (async () => {
          while (running) {
            for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
              const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
              if (cmdline.includes('database\0update')) sawEf = true;
              if (cmdline.includes(password)) leaks.push(cmdline.replace(/\0/g, ' '));
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();
        const outcome = await engine.migrate({ databaseUrl: db.url, reporter }, {}).finally(() => (running = false));
        await watch;
        expect(sawEf).toBe(true);
        expect(leaks).toEqual([]);
        expect(outcome.ok).toBe(true);
        expect(outcome.results.map((r) => [r.migration.replace(/^\d+_/, ''), r.status])).toEqual([
          ['InitialCreate', 'applied'],
          ['AddOrders', 'applied'],
          ['AddIndexes', 'applied'],
        ]);
        expect(outcome.findings.filter((f) => f.severity === 'error').map((f) => f.code)).toEqual(['MIGRATION_NOT_DISCOVERED', 'MIGRATION_NOT_DISCOVERED']);
        expect(await historyRows(db.url)).toEqual(['InitialCreate', 'AddOrders', 'AddIndexes']);
        const status = await engine.status({ databaseUrl: db.url, reporter });
        expect(status.statuses.map((s) => s.state)).toEqual(['applied', 'applied', 'applied']);
      });
    },
    EF_TIMEOUT,
  );

  it(
    'applies up to a migration id and then the rest, one build and one migrations list for everything',
    async () => {
      await server.withDatabase(async (db) => {
        const refs = await engine.list!(reporter);
        const first = await engine.migrate({ databaseUrl: db.url, reporter }, { target: refs[0]!.id });
        expect(first.results.map((r) => r.status)).toEqual(['applied']);
        expect(await historyRows(db.url)).toEqual(['InitialCreate']);
        for (const ref of refs.slice(1)) {
          const step = await engine.migrate({ databaseUrl: db.url, reporter }, { target: ref.id });
          expect(step.results.map((r) => [r.migration, r.status])).toEqual([[ref.id, 'applied']]);
        }
        expect(await historyRows(db.url)).toEqual(['InitialCreate', 'AddOrders', 'AddIndexes']);
      });
      // Where the time went, through the reporter: one restore, one build, one migrations list.
      expect(reporter.lines.filter((l) => l === 'step: dotnet build Shop.csproj')).toHaveLength(1);
      expect(reporter.lines.filter((l) => /^info: dotnet ef migrations list: /.test(l))).toHaveLength(1);
      expect(reporter.lines.filter((l) => /^info: dotnet ef database update: /.test(l)).length).toBeGreaterThanOrEqual(4);
    },
    EF_TIMEOUT,
  );

  it(
    'checks the model with DATABASE_URL set (the factory throws without it)',
    async () => {
      expect(await engine.checkModel!(reporter, { secondOpinion: false })).toEqual([]);
    },
    EF_TIMEOUT,
  );
});

describe.skipIf(dotnet === undefined)('EF Core engine on a project that does not compile', () => {
  it(
    'gives BUILD_FAILED per compiler error at file, line and column; the CLI exits 1 with them',
    async () => {
      const dir = copyExample('broken');
      const models = path.join(dir, 'Models.cs');
      const lines = readFileSync(models, 'utf8').split('\n');
      const at = lines.findIndex((l) => l.includes('public decimal Price { get; set; }'));
      lines[at] = '    public NoSuchType Price { get; set; }';
      lines.splice(at + 1, 0, '    public   Missing Thing { get; set; }');
      writeFileSync(models, lines.join('\n'));
      const reporter = new RecordingReporter();
      const engine = efcoreEngine(loadConfig({ cwd: dir }), dir, cleanEnv(), reporter, pgOptions({ storage: 'memory' }));
      const findings = await engine.prepare!(reporter);
      expect(findings.map((f) => [f.code, f.severity, f.file, f.line, (f.details as { compilerCode: string }).compilerCode]).sort()).toEqual([
        ['BUILD_FAILED', 'error', 'Models.cs', at + 1, 'CS0246'],
        ['BUILD_FAILED', 'error', 'Models.cs', at + 2, 'CS0246'],
      ]);
      expect(findings.map((f) => f.column)).toEqual([12, 14]);
      expect(findings[0]!.message).toMatch(/^CS0246: The type or namespace name 'NoSuchType' could not be found/);
      // The same engine object does not build twice.
      expect(await engine.prepare!(reporter)).toBe(findings);
      expect(await engine.checkModel!(reporter, { secondOpinion: false })).toBe(findings);
      expect(reporter.lines.filter((l) => l.startsWith('step: dotnet build'))).toHaveLength(1);

      const cli = await runCli(['model-check', '--json'], { cwd: dir });
      expect(cli.code).toBe(1);
      expect(JSON.parse(cli.stdout)).toEqual({ ok: false, findings: [expect.objectContaining({ code: 'BUILD_FAILED', file: 'Models.cs', line: at + 1 }), expect.objectContaining({ code: 'BUILD_FAILED', file: 'Models.cs', line: at + 2 })] });
    },
    EF_TIMEOUT,
  );

  it('exits 3 only when the tool chain itself is missing', async () => {
    const dir = copyExample('nodotnet');
    const empty = path.join(tmp, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    const cli = await runCli(['model-check'], { cwd: dir, env: cleanEnv({ PATH: empty }) });
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain('the dotnet CLI is not installed');
  });
});

describe.skipIf(dotnet === undefined)('EF Core engine on a project with two DbContexts', () => {
  let server: PostgresServerHandle;
  let stop: () => Promise<void>;
  let dir: string;
  let both: Engine;
  const reporter = new RecordingReporter();
  const withConfig = (context: string): Engine => {
    writeFileSync(path.join(dir, '.drift-guard.yml'), `engine: efcore\nefcore:\n  project: Shop.csproj\n  context: ${context}\n`);
    return efcoreEngine(loadConfig({ cwd: dir }), dir, cleanEnv(), reporter, pgOptions({ storage: 'memory' }));
  };
  beforeAll(async () => {
    ({ server, stop } = await startSharedServer());
    dir = copyExample('two-contexts');
    cpSync(path.join(repoRoot, 'test', 'fixtures', 'efcore-two-contexts'), dir, { recursive: true, filter: (src) => !src.endsWith('README.md') });
    both = withConfig('[ShopContext, AuditContext]');
    expect(await both.prepare!(reporter)).toEqual([]);
  }, EF_TIMEOUT);
  afterAll(async () => {
    await stop();
  });

  it(
    'lists, applies, reports and model-checks each context; one context alone does not call the other\'s migrations undiscovered',
    async () => {
      expect((await both.list!(reporter)).map((r) => r.label)).toEqual(['ShopContext: InitialCreate', 'ShopContext: AddOrders', 'ShopContext: AddIndexes', 'AuditContext: AddAudit']);
      await server.withDatabase(async (db) => {
        const outcome = await both.migrate({ databaseUrl: db.url, reporter }, {});
        expect(outcome.findings).toEqual([]);
        expect(outcome.results.map((r) => [r.migration.replace(/^\d+_/, ''), r.status])).toEqual([
          ['InitialCreate', 'applied'],
          ['AddOrders', 'applied'],
          ['AddIndexes', 'applied'],
          ['AddAudit', 'applied'],
        ]);
        const audit = await withClient(db.url, async (c) => (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'audit'")).rows.map((r) => r.t));
        expect(audit).toEqual(['Entries']);
        const status = await both.status({ databaseUrl: db.url, reporter });
        expect(status.findings).toEqual([]);
        expect(status.statuses.map((s) => `${s.description} ${s.state}`)).toEqual(['ShopContext: InitialCreate applied', 'ShopContext: AddOrders applied', 'ShopContext: AddIndexes applied', 'AuditContext: AddAudit applied']);
        const shopOnly = await withConfig('ShopContext').status({ databaseUrl: db.url, reporter });
        // The shared history table holds AuditContext's row: on disk, so not missing.
        expect(shopOnly.findings).toEqual([]);
        expect(shopOnly.statuses.map((s) => s.state)).toEqual(['applied', 'applied', 'applied']);
      });
      expect(await both.checkModel!(reporter, { secondOpinion: false })).toEqual([]);
      expect(reporter.lines.filter((l) => l.startsWith('info: dotnet ef migrations has-pending-model-changes')).map((l) => l.replace(/: [\d.]+ s$/, ''))).toEqual([
        'info: dotnet ef migrations has-pending-model-changes (ShopContext)',
        'info: dotnet ef migrations has-pending-model-changes (AuditContext)',
      ]);
    },
    EF_TIMEOUT * 2,
  );

  it(
    'gates each context: a report line per context with what was applied and found there',
    async () => {
      writeFileSync(path.join(dir, '.drift-guard.yml'), 'engine: efcore\nefcore:\n  project: Shop.csproj\n  context: [ShopContext, AuditContext]\n');
      writeFileSync(path.join(dir, '.gitignore'), 'bin/\nobj/\n');
      const repo = prRepository(dir);
      // AuditContext gains a hand-written migration (raw SQL, the model unchanged: a plain CREATE
      // INDEX, a LOCKING_CHANGE notice); ShopContext's entity changes without one.
      const id = '20261204000000_AuditByAt';
      repo.commit({
        [`AuditMigrations/${id}.cs`]: `using Microsoft.EntityFrameworkCore.Migrations;\n\nnamespace Shop.AuditMigrations\n{\n    public partial class AuditByAt : Migration\n    {\n        protected override void Up(MigrationBuilder migrationBuilder) => migrationBuilder.Sql("CREATE INDEX audit_entries_at ON audit.\\"Entries\\" (\\"At\\")");\n        protected override void Down(MigrationBuilder migrationBuilder) => migrationBuilder.Sql("DROP INDEX audit.audit_entries_at");\n    }\n}\n`,
        [`AuditMigrations/${id}.Designer.cs`]: `using Microsoft.EntityFrameworkCore.Infrastructure;\nusing Microsoft.EntityFrameworkCore.Migrations;\n\nnamespace Shop.AuditMigrations\n{\n    [DbContext(typeof(AuditContext))]\n    [Migration("${id}")]\n    partial class AuditByAt\n    {\n    }\n}\n`,
        'Models.cs': readFileSync(path.join(dir, 'Models.cs'), 'utf8').replace('public required string Email { get; set; }', 'public required string Email { get; set; }\n\n    public string? Phone { get; set; }'),
      });
      const result = await runCheck({ loaded: loadConfig({ cwd: dir }), cwd: dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ storage: 'memory' }), base: 'main' });
      expect(result.findings.filter((f) => f.severity !== 'notice').map((f) => [f.severity, f.code, (f.details as { context?: string } | undefined)?.context])).toEqual([['error', 'MODEL_PENDING_CHANGES', 'ShopContext']]);
      expect(result.verdict).toBe('fail');
      expect(result.schemaChanges.map((c) => c.description)).toEqual([expect.stringContaining('audit_entries_at')]);
      expect(result.facts.map((f) => [f.migration, f.group])).toEqual([[id, 'AuditContext']]);
      expect(result.groups).toEqual([
        { name: 'ShopContext', added: [], applied: [], findings: [{ code: 'MODEL_PENDING_CHANGES', severity: 'error' }] },
        { name: 'AuditContext', added: [`AuditMigrations/${id}.cs`], applied: [`AuditMigrations/${id}.cs`], findings: [{ code: 'LOCKING_CHANGE', severity: 'notice' }] },
      ]);
      const markdown = renderCheckMarkdown(result);
      expect(markdown).toContain('| `ShopContext` | none | 0 of 0 | ❌ `MODEL_PENDING_CHANGES` |');
      expect(markdown).toContain(`| \`AuditContext\` | \`${id}.cs\` | 1 of 1 | ℹ️ \`LOCKING_CHANGE\` |`);
      expect(renderCheckText(result, { style: (_kind, text) => text })).toContain('AuditContext: 1 new migration, 1 applied; notice LOCKING_CHANGE');
    },
    EF_TIMEOUT * 2,
  );
});
