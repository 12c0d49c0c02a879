import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck, type CheckResult } from '../../src/gate/check.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { dotnetVersion, cleanEnv, makeTempDir, pgOptions, prRepository, removeDir, repoRoot, runCli, type PrRepository } from '../helpers.js';

const dotnet = dotnetVersion();
// Each test builds and runs `dotnet ef` several times (about 2 s a call on an idle machine, many
// times that on two cores shared with other work): minutes, not the suite's default 60 s.
const DOTNET_TIMEOUT = 600_000;
if (dotnet === undefined) console.log('EF Core gate tests skipped: the dotnet CLI is not installed here');

const tmp = makeTempDir('dg-efgate-');
afterAll(() => removeDir(tmp));
let n = 0;

/** The EF example committed on main, then a branch "pr" checked out. */
function repo(): PrRepository & { edit: (file: string, from: string, to: string) => void } {
  const dir = path.join(tmp, `shop${n++}`);
  cpSync(path.join(repoRoot, 'examples', 'efcore'), dir, { recursive: true, filter: (src) => !/[/\\](bin|obj)$/.test(src) });
  return {
    ...prRepository(dir),
    edit: (file, from, to) => {
      const full = path.join(dir, file);
      const text = readFileSync(full, 'utf8');
      if (!text.includes(from)) throw new Error(`${file} has no ${from}`);
      writeFileSync(full, text.replace(from, to));
    },
  };
}

const check = (dir: string): Promise<CheckResult> =>
  runCheck({ loaded: loadConfig({ cwd: dir }), cwd: dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ storage: 'memory' }), base: 'main' });

const EMAIL = 'public required string Email { get; set; }';

describe.skipIf(dotnet === undefined)('drift-guard check (EF Core)', () => {
  it('passes a PR that adds a property with its migration, and shows the column it adds', async () => {
    const r = repo();
    r.edit('Models.cs', EMAIL, `${EMAIL}\n\n    public string? Phone { get; set; }`);
    expect((await runCli(['new', 'add phone'], { cwd: r.dir })).code).toBe(0);
    r.git('add', '-A');
    r.git('commit', '-qm', 'phone');
    const result = await check(r.dir);
    expect(result.verdict).toBe('pass');
    expect(result.migrations.added).toEqual([expect.stringMatching(/^Migrations\/\d{14}_AddPhone\.cs$/)]);
    // Measured statement by statement (its SQL from one `migrations script`), at the C# call that made it.
    const file = result.migrations.added[0]!;
    const call = readFileSync(path.join(r.dir, file), 'utf8').split('\n').findIndex((l) => l.includes('migrationBuilder.AddColumn<string>(')) + 1;
    expect(result.facts[0]).toEqual(expect.objectContaining({ granularity: 'statement', transaction: true }));
    expect(result.facts[0]!.statements).toEqual([expect.objectContaining({ line: call, kind: 'AlterTableStmt', locks: ['public."Customers" AccessExclusiveLock'] })]);
    // The one thing to know: the lock it takes on a table that exists, measured, at that call.
    expect(result.findings).toEqual([expect.objectContaining({ code: 'LOCKING_CHANGE', severity: 'notice', evidence: 'measured', file, line: call, message: expect.stringContaining('takes ACCESS EXCLUSIVE (reads and writes wait) on public."Customers"') })]);
    expect(result.schemaChanges.map((c) => c.description)).toEqual(['add column public."Customers"."Phone" text']);
  }, DOTNET_TIMEOUT);

  it('FAILS_ON_DATA at the C# call when a migration narrows a column that existing rows do not fit', async () => {
    const r = repo();
    r.edit('Models.cs', '[MaxLength(200)]\n    public required string Name', '[MaxLength(3)]\n    public required string Name');
    expect((await runCli(['new', 'ShortNames'], { cwd: r.dir })).code).toBe(0);
    r.git('add', '-A');
    r.git('commit', '-qm', 'short names');
    const result = await check(r.dir);
    const file = result.migrations.added[0]!;
    const call = readFileSync(path.join(r.dir, file), 'utf8').split('\n').findIndex((l) => l.includes('migrationBuilder.AlterColumn<string>(')) + 1;
    expect(call).toBeGreaterThan(0);
    expect(result.findings.filter((f) => f.code === 'FAILS_ON_DATA' || f.code === 'APPLY_FAILED')).toEqual([
      expect.objectContaining({ code: 'FAILS_ON_DATA', severity: 'error', evidence: 'measured', file, line: call, message: expect.stringMatching(/applies to empty tables but fails once they hold rows .*value too long for type character varying\(3\)/) }),
    ]);
    expect(result.verdict).toBe('fail');
  }, DOTNET_TIMEOUT);

  it('ENTITY_WITHOUT_MIGRATION (warning) and MODEL_PENDING_CHANGES when an entity changes without a migration', async () => {
    const r = repo();
    r.edit('Models.cs', EMAIL, `${EMAIL}\n\n    public string? Phone { get; set; }`);
    r.git('commit', '-qam', 'forgot the migration');
    const result = await check(r.dir);
    expect(result.findings.map((f) => `${f.severity} ${f.code} ${f.file ?? ''}`).sort()).toEqual(['error MODEL_PENDING_CHANGES Shop.csproj', 'warning ENTITY_WITHOUT_MIGRATION Models.cs']);
    // At the change: the new property (git may start the hunk at the blank line before it).
    expect(result.findings.find((f) => f.code === 'ENTITY_WITHOUT_MIGRATION')!.line).toBeOneOf([17, 18]);
    expect(result.verdict).toBe('fail');
  }, DOTNET_TIMEOUT);

  it('pending model changes already on main do not fail a PR that changes no C# code; they are listed as already there', async () => {
    const r = repo();
    r.edit('Models.cs', EMAIL, `${EMAIL}\n\n    public string? Phone { get; set; }`);
    r.git('commit', '-qam', 'main forgot the migration');
    r.git('branch', '-f', 'main', 'HEAD');
    r.commit({ 'README.md': 'Shop, with notes\n' }, 'docs only');
    const result = await check(r.dir);
    expect(result.findings).toEqual([expect.objectContaining({ code: 'MODEL_PENDING_CHANGES', severity: 'warning', existing: true, file: 'Shop.csproj' })]);
    expect(result.findings[0]!.message).toMatch(/already on the base: this PR changes no C# code or project file\)$/);
    expect(result.verdict).not.toBe('fail');
  }, DOTNET_TIMEOUT);

  it('ENTITY_WITHOUT_MIGRATION is a notice when the model does not change ([NotMapped]); code the model does not know is no entity', async () => {
    const r = repo();
    r.edit('Models.cs', EMAIL, `${EMAIL}\n\n    [NotMapped]\n    public string DisplayName => Name;`);
    // Neither the entry point nor a new service declares a type the model snapshot names.
    r.edit('Program.cs', 'var factory', '// Counts the customers.\nvar factory');
    writeFileSync(path.join(r.dir, 'Greeter.cs'), 'namespace Shop;\n\npublic class Greeter\n{\n    public string Greet(Customer customer) => $"Hello {customer.Name}";\n}\n');
    r.git('add', '-A');
    r.git('commit', '-qm', 'computed property, a service');
    const result = await check(r.dir);
    expect(result.findings).toEqual([expect.objectContaining({ code: 'ENTITY_WITHOUT_MIGRATION', severity: 'notice', file: 'Models.cs', line: expect.toBeOneOf([17, 18]) })]);
    expect(result.verdict).toBe('pass');
  }, DOTNET_TIMEOUT);

  it('MIGRATION_MODIFIED when a migration the base has is edited', async () => {
    const r = repo();
    const file = execFileSync('git', ['ls-files', 'Migrations'], { cwd: r.dir, encoding: 'utf8' }).split('\n').find((f) => /_AddOrders\.cs$/.test(f))!;
    r.edit(file, 'protected override void Up(MigrationBuilder migrationBuilder)\n        {', 'protected override void Up(MigrationBuilder migrationBuilder)\n        {\n            migrationBuilder.Sql("SELECT 1");');
    r.git('commit', '-qam', 'edit an applied migration');
    const result = await check(r.dir);
    expect(result.findings.filter((f) => f.severity !== 'notice')).toEqual([expect.objectContaining({ code: 'MIGRATION_MODIFIED', severity: 'error', file })]);
    // History edited: the base is built in a worktree, the PR applied from scratch, and the report says what did not run.
    expect(result.findings.filter((f) => f.code === 'NOT_CHECKED').map((f) => f.check)).toEqual(['rollback']);
  }, DOTNET_TIMEOUT);

  it('a migration class of the base that EF never discovered (no [Migration] attribute) is not MIGRATION_DELETED when the PR replaces it', async () => {
    const r = repo();
    // main carries a migration class without its Designer: EF never listed it, no database ran it.
    const orphan = 'Migrations/20991231000000_AddPhone.cs';
    r.git('checkout', '-q', 'main');
    writeFileSync(
      path.join(r.dir, orphan),
      'using Microsoft.EntityFrameworkCore.Migrations;\n\nnamespace Shop.Migrations\n{\n    public partial class AddPhoneDraft : Migration\n    {\n        protected override void Up(MigrationBuilder migrationBuilder) => migrationBuilder.Sql("SELECT 1");\n        protected override void Down(MigrationBuilder migrationBuilder) => migrationBuilder.Sql("SELECT 1");\n    }\n}\n',
    );
    r.git('add', '-A');
    r.git('commit', '-qm', 'a migration without its Designer');
    r.git('checkout', '-q', '-B', 'pr', 'main');
    // The PR removes it and adds the real one.
    r.git('rm', '-q', orphan);
    r.edit('Models.cs', EMAIL, `${EMAIL}\n\n    public string? Phone { get; set; }`);
    expect((await runCli(['new', 'add phone'], { cwd: r.dir })).code).toBe(0);
    r.git('add', '-A');
    r.git('commit', '-qm', 'phone');
    const result = await check(r.dir);
    expect(result.findings.map((f) => f.code)).not.toContain('MIGRATION_DELETED');
    expect(result.findings.map((f) => f.code)).not.toContain('MIGRATION_OUT_OF_ORDER');
    expect(result.verdict).toBe('pass');
    expect(result.schemaChanges.map((c) => c.description)).toEqual(['add column public."Customers"."Phone" text']);
  }, DOTNET_TIMEOUT);

  it("a base commit without the dotnet-ef pin is built with this checkout's (untracked here)", async () => {
    const r = repo();
    // main stops tracking the tool manifest; the file stays in the working tree, untracked.
    r.git('checkout', '-q', 'main');
    r.git('rm', '-q', '--cached', '.config/dotnet-tools.json');
    r.git('commit', '-qm', 'untrack the tool manifest');
    r.git('checkout', '-q', '-B', 'pr', 'main');
    const file = execFileSync('git', ['ls-files', 'Migrations'], { cwd: r.dir, encoding: 'utf8' }).split('\n').find((f) => /_AddOrders\.cs$/.test(f))!;
    r.edit(file, 'protected override void Up(MigrationBuilder migrationBuilder)\n        {', 'protected override void Up(MigrationBuilder migrationBuilder)\n        {\n            migrationBuilder.Sql("SELECT 1");');
    r.git('commit', '-qam', 'edit an applied migration');
    const result = await check(r.dir);
    expect(result.findings.filter((f) => f.severity !== 'notice')).toEqual([expect.objectContaining({ code: 'MIGRATION_MODIFIED', severity: 'error', file })]);
    expect(result.timings.map((t) => t.phase)).toContainEqual(expect.stringContaining("the base commit built in a git worktree (this PR edits merged migrations, with this checkout's .config/dotnet-tools.json, which the base commit lacks"));
  }, DOTNET_TIMEOUT);
});
