// The EF migration files compared with what EF discovers, on small source trees written here (no
// dotnet needed): attributes in every form C# allows, classes EF never sees, and MSBuild's error
// lines turned into BUILD_FAILED findings; the connection variables each in its form; the ef.dll
// command line dotnet ef prints, taken apart for reuse.

import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFindings, connectionEnvironment, connectionVariables, efErrorText, findProject, npgsqlConnectionString, parseEfInvocation, PLACEHOLDER_URL, splitCommandLine } from '../../../src/engines/efcore/dotnet-ef.js';
import { scanMigrationFiles } from '../../../src/engines/efcore/efcore-integrity.js';
import { makeTempDir, removeDir, writeTree } from '../../helpers.js';

const tmp = makeTempDir('dg-efintegrity-');
afterAll(() => removeDir(tmp));
let n = 0;

const main = (cls: string, ns = 'App.Migrations'): string =>
  `using Microsoft.EntityFrameworkCore.Migrations;\nnamespace ${ns}\n{\n    public partial class ${cls} : Migration\n    {\n        protected override void Up(MigrationBuilder migrationBuilder) { }\n    }\n}\n`;
const designer = (cls: string, attributes: string): string => `namespace App.Migrations\n{\n    ${attributes}\n    partial class ${cls}\n    {\n    }\n}\n`;

function project(files: Record<string, string>): string {
  const dir = path.join(tmp, `p${n++}`);
  writeTree(dir, files);
  return dir;
}

describe('EF migration files against what EF discovers', () => {
  it('reads [Migration] and [DbContext] however they are written: no false MIGRATION_DESIGNER_MISSING', () => {
    const dir = project({
      'Migrations/20240101000000_Short.cs': main('Short'),
      'Migrations/20240101000000_Short.Designer.cs': designer('Short', '[DbContext(typeof(AppContext))]\n    [Migration("20240101000000_Short")]'),
      // The whole class in one file, attributes with their full namespace (the EF 8 seed project's shape).
      'Migrations/20240102000000_Qualified.cs': main('Qualified').replace(
        'public partial class',
        '[Microsoft.EntityFrameworkCore.Infrastructure.DbContext(typeof(App.Data.AppContext))]\n    [Microsoft.EntityFrameworkCore.Migrations.Migration("20240102000000_Qualified")]\n    public partial class',
      ),
      'Migrations/20240103000000_Global.cs': main('Global'),
      'Migrations/20240103000000_Global.Designer.cs': designer('Global', '[global::Microsoft.EntityFrameworkCore.Infrastructure.DbContextAttribute(typeof(global::App.Data.AppContext))]\n    [global::Microsoft.EntityFrameworkCore.Migrations.MigrationAttribute("20240103000000_Global")]'),
      'Migrations/20240104000000_OneBracket.cs': main('OneBracket'),
      'Migrations/20240104000000_OneBracket.Designer.cs': designer('OneBracket', '[DbContext(typeof(AppContext)), Migration( "20240104000000_OneBracket" )]'),
      'Migrations/AppContextModelSnapshot.cs': 'namespace App.Migrations\n{\n    [DbContext(typeof(AppContext))]\n    partial class AppContextModelSnapshot : ModelSnapshot\n    {\n    }\n}\n',
    });
    const ids = ['20240101000000_Short', '20240102000000_Qualified', '20240103000000_Global', '20240104000000_OneBracket'];
    const scanned = scanMigrationFiles(dir, dir, ids);
    expect(scanned.findings).toEqual([]);
    expect(scanned.migrations.map((m) => [m.id, m.context, path.relative(dir, m.main!)])).toEqual([
      ['20240101000000_Short', 'AppContext', 'Migrations/20240101000000_Short.cs'],
      ['20240102000000_Qualified', 'AppContext', 'Migrations/20240102000000_Qualified.cs'],
      ['20240103000000_Global', 'AppContext', 'Migrations/20240103000000_Global.cs'],
      ['20240104000000_OneBracket', 'AppContext', 'Migrations/20240104000000_OneBracket.cs'],
    ]);
  });

  it('names each class EF does not list at its file, with the reason', () => {
    const dir = project({
      'Migrations/20240101000000_Fine.cs': main('Fine'),
      'Migrations/20240101000000_Fine.Designer.cs': designer('Fine', '[DbContext(typeof(AppContext))]\n    [Migration("20240101000000_Fine")]'),
      // No attribute at all (a commented-out one does not count), with a Designer file.
      'Migrations/20240102000000_Bare.cs': main('Bare'),
      'Migrations/20240102000000_Bare.Designer.cs': designer('Bare', '// [Migration("20240102000000_Bare")]'),
      // [Migration] without [DbContext].
      'Migrations/20240103000000_NoContext.cs': main('NoContext').replace('public partial class', '[Migration("20240103000000_NoContext")]\n    public partial class'),
      // The Designer file is gone.
      'Migrations/20240104000000_Lost.cs': main('Lost'),
      // Another context's migration, not gated here: not ours to compare.
      'Other/20240105000000_Elsewhere.cs': main('Elsewhere'),
      'Other/20240105000000_Elsewhere.Designer.cs': designer('Elsewhere', '[DbContext(typeof(global::App.ReportingContext))]\n    [Migration("20240105000000_Elsewhere")]'),
    });
    const scanned = scanMigrationFiles(dir, dir, { ids: ['20240101000000_Fine'], contexts: ['App.AppContext'] });
    expect(scanned.findings.map((f) => `${f.code} ${f.file ?? ''}`).sort()).toEqual([
      'MIGRATION_DESIGNER_MISSING Migrations/20240104000000_Lost.cs',
      'MIGRATION_NOT_DISCOVERED Migrations/20240102000000_Bare.cs',
      'MIGRATION_NOT_DISCOVERED Migrations/20240103000000_NoContext.cs',
    ]);
    expect(scanned.findings.find((f) => f.file?.includes('NoContext'))!.message).toContain('no [DbContext(typeof(...))] attribute');
    expect(scanned.findings.find((f) => f.file?.includes('Bare'))!.message).toContain('without a [Migration("<id>")] attribute');
    // Without a context list, the other context's migration is one EF did not list.
    const all = scanMigrationFiles(dir, dir, ['20240101000000_Fine']);
    expect(all.findings.filter((f) => f.file === 'Other/20240105000000_Elsewhere.cs').map((f) => f.code)).toEqual(['MIGRATION_NOT_DISCOVERED']);
  });
});

describe('MSBuild errors as BUILD_FAILED findings', () => {
  it('one per compiler error at its project-relative file, line and column; duplicates and warnings left out', () => {
    const root = '/src/app';
    const output = [
      '/src/app/Models/Order.cs(12,17): error CS0246: The type or namespace name \'Missing\' could not be found (are you missing a using directive or an assembly reference?) [/src/app/App.csproj]',
      '/src/app/Models/Order.cs(12,17): error CS0246: The type or namespace name \'Missing\' could not be found (are you missing a using directive or an assembly reference?) [/src/app/App.csproj]',
      '/src/app/Data/AppContext.cs(30,5): error CS1002: ; expected [/src/app/App.csproj]',
      '/src/app/Data/AppContext.cs(31,5): warning CS0168: The variable \'x\' is declared but never used [/src/app/App.csproj]',
      '/src/app/App.csproj : error NU1101: Unable to find package No.Such.Package. No packages exist with this id in source(s): mirror [/src/app/App.csproj]',
    ].join('\r\n');
    expect(buildFindings(output, root).map((f) => [f.file, f.line, f.column, f.message.slice(0, 40)])).toEqual([
      ['Models/Order.cs', 12, 17, "CS0246: The type or namespace name 'Miss"],
      ['Data/AppContext.cs', 30, 5, 'CS1002: ; expected'],
      ['App.csproj', undefined, undefined, 'NU1101: Unable to find package No.Such.P'],
    ]);
  });
});

describe('connection variables', () => {
  const url = 'postgresql://app:s%3Bcr%40t@db.local:6543/shop';
  it('sets each variable in its form, and PGPASSWORD for a --connection without password', () => {
    const variables = connectionVariables(['ConnectionStrings__Default', { name: 'DATABASE_URL', format: 'url' }]);
    expect(connectionEnvironment(variables, url)).toEqual({
      ConnectionStrings__Default: 'Host=db.local;Port=6543;Database=shop;Username=app;Password="s;cr@t"',
      DATABASE_URL: url,
      PGPASSWORD: 's;cr@t',
    });
    expect(npgsqlConnectionString(url, { password: false })).toBe('Host=db.local;Port=6543;Database=shop;Username=app');
    expect(npgsqlConnectionString('postgresql://app@h/d?password=pw', { password: false })).toBe('Host=h;Port=5432;Database=d;Username=app');
    expect(connectionEnvironment(variables, 'postgresql://app@h/d?password=pw').PGPASSWORD).toBe('pw');
  });

  it('gives commands that do not connect a placeholder, never the caller\'s value', () => {
    expect(connectionEnvironment(connectionVariables('DATABASE_URL'), undefined)).toEqual({ DATABASE_URL: npgsqlConnectionString(PLACEHOLDER_URL) });
    expect(connectionVariables('X')).toEqual([{ name: 'X', format: 'npgsql' }]);
  });
});

describe('the ef.dll invocation dotnet ef prints with --verbose', () => {
  const line =
    'dotnet exec --depsfile "/src/my app/App/bin/Debug/net10.0/App.deps.json" --additionalprobingpath /root/.nuget/packages --runtimeconfig "/src/my app/App/bin/Debug/net10.0/App.runtimeconfig.json" /root/.nuget/packages/dotnet-ef/10.0.11/tools/net8.0/any/tools/net8.0/any/ef.dll migrations list --no-connect --json --context ShopContext --assembly "/src/my app/App/bin/Debug/net10.0/App.Migrations.dll" --project "/src/my app/App.Migrations/App.Migrations.csproj" --startup-assembly "/src/my app/App/bin/Debug/net10.0/App.dll" --startup-project "/src/my app/App/App.csproj" --project-dir "/src/my app/App.Migrations/" --root-namespace App --language C# --framework net10.0 --configuration Debug --nullable --working-dir "/src/my app" --verbose --prefix-output -- --environment Test';

  it('keeps the host arguments, ef.dll and the project options; drops the command, the output flags and the app\'s arguments', () => {
    expect(parseEfInvocation(line)).toEqual({
      host: ['--depsfile', '/src/my app/App/bin/Debug/net10.0/App.deps.json', '--additionalprobingpath', '/root/.nuget/packages', '--runtimeconfig', '/src/my app/App/bin/Debug/net10.0/App.runtimeconfig.json'],
      efDll: '/root/.nuget/packages/dotnet-ef/10.0.11/tools/net8.0/any/tools/net8.0/any/ef.dll',
      options: [
        '--assembly', '/src/my app/App/bin/Debug/net10.0/App.Migrations.dll',
        '--project', '/src/my app/App.Migrations/App.Migrations.csproj',
        '--startup-assembly', '/src/my app/App/bin/Debug/net10.0/App.dll',
        '--startup-project', '/src/my app/App/App.csproj',
        '--project-dir', '/src/my app/App.Migrations/',
        '--root-namespace', 'App', '--language', 'C#', '--framework', 'net10.0', '--configuration', 'Debug', '--nullable',
        '--working-dir', '/src/my app',
      ],
    });
  });

  it('refuses a line of another shape (an option it does not know, no ef.dll), so dotnet ef stays in use', () => {
    expect(parseEfInvocation(line.replace('--nullable', '--brand-new-option'))).toBeUndefined();
    expect(parseEfInvocation(line.replace('/ef.dll', '/other.dll'))).toBeUndefined();
    expect(parseEfInvocation('dotnet msbuild /getProperty:ProjectName x.csproj')).toBeUndefined();
  });

  it('splits as .NET does: quotes, escaped quotes, backslashes', () => {
    expect(splitCommandLine('a "b c" "d \\"e\\"" f\\\\g "h\\\\" i')).toEqual(['a', 'b c', 'd "e"', 'f\\\\g', 'h\\', 'i']);
  });
});

describe('a runtime the app targets is missing', () => {
  it('says which runtime, what is installed and both fixes, in one line', () => {
    // What the .NET host prints for a net9.0 project on a machine with only .NET 10 (seen on a public project).
    const info = [
      'You must install or update .NET to run this application.',
      '',
      'App: /root/.nuget/packages/dotnet-ef/10.0.11/tools/net8.0/any/tools/net8.0/any/ef.dll',
      'Architecture: x64',
      "Framework: 'Microsoft.NETCore.App', version '9.0.0' (x64)",
      '.NET location: /usr/share/dotnet/',
      '',
      'The following frameworks were found:',
      '  10.0.12 at [/usr/share/dotnet/shared/Microsoft.NETCore.App]',
      '',
      'To install missing framework, download:',
      'https://aka.ms/dotnet-core-applaunch?framework=Microsoft.NETCore.App&framework_version=9.0.0&arch=x64&rid=linux-x64&os=debian.12',
    ];
    expect(efErrorText({ exitCode: 150, data: '', info, warnings: [], errors: [], output: info, elapsedMs: 1 })).toBe(
      'the app needs the .NET runtime Microsoft.NETCore.App 9.0.0, which is not installed here (installed: 10.0.12): install it (actions/setup-dotnet with dotnet-version: 9.0.x), or let dotnet run it on the newer runtime with DOTNET_ROLL_FORWARD=Major in the environment',
    );
  });
});

describe('findProject', () => {
  const csproj = (packages: string[]): string => `<Project Sdk="Microsoft.NET.Sdk">\n  <ItemGroup>\n${packages.map((p) => `    <PackageReference Include="${p}" Version="10.0.0" />`).join('\n')}\n  </ItemGroup>\n</Project>\n`;

  it('takes the one project that uses EF Core when a solution has test projects too', () => {
    const dir = project({ 'App.csproj': csproj(['Npgsql.EntityFrameworkCore.PostgreSQL']), 'tests/App.Tests/App.Tests.csproj': csproj(['xunit']) });
    expect(findProject(dir, undefined)).toBe(path.join(dir, 'App.csproj'));
  });

  it('refuses (exit 2), naming the projects, when several use EF Core', () => {
    const two = project({ 'src/Data/Data.csproj': csproj(['Npgsql.EntityFrameworkCore.PostgreSQL']), 'tests/Data.Tests/Data.Tests.csproj': csproj(['Microsoft.EntityFrameworkCore.InMemory']) });
    expect(() => findProject(two, undefined)).toThrow(/several projects found \(src\/Data\/Data\.csproj, tests\/Data\.Tests\/Data\.Tests\.csproj\); set efcore\.project/);
  });
});
