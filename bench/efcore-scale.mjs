// The EF Core gate at the scale of real projects: examples/efcore grown to N generated migrations
// (default 150; each creates a table with an index; Designer files carry the whole model as EF
// writes them, so the project compiles like a real one), committed on main; a branch adds one more.
// In one run, on the same tree:
//   floor: one `dotnet build` + one `dotnet ef database update` + one
//          `dotnet ef migrations has-pending-model-changes` (--no-build), timed inside a scratch database
//   gate:  `drift-guard check --base main --json` (its phase timings printed)
// Both start from a tree without bin/ and obj/. Target: gate <= 1.3x floor.
//   npm run bench:efcore [-- migrations [rounds]]
// On a shared machine the load changes between the two measurements: use several rounds.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');

if (process.argv[2] === '--floor-inner') {
  // Runs inside `drift-guard scratch`: DATABASE_URL is the scratch database.
  const url = new URL(process.env.DATABASE_URL);
  const connection = `Host=${url.hostname};Port=${url.port};Database=${url.pathname.slice(1)};Username=${decodeURIComponent(url.username)};Password=${decodeURIComponent(url.password)}`;
  const env = { ...process.env, ConnectionStrings__DefaultConnection: connection, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' };
  const timings = {};
  const run = (label, args, okCodes = [0]) => {
    const started = performance.now();
    const result = spawnSync('dotnet', args, { cwd: process.cwd(), env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    timings[label] = performance.now() - started;
    if (!okCodes.includes(result.status)) throw new Error(`${label} exited ${result.status}: ${(result.stdout + result.stderr).slice(-2000)}`);
  };
  run('dotnet tool restore', ['tool', 'restore']);
  run('dotnet build', ['build', 'Shop.csproj', '--nologo', '--verbosity', 'quiet']);
  run('dotnet ef database update', ['ef', 'database', 'update', '--project', 'Shop.csproj', '--no-build']);
  run('dotnet ef migrations has-pending-model-changes', ['ef', 'migrations', 'has-pending-model-changes', '--project', 'Shop.csproj', '--no-build']);
  writeFileSync(process.argv[3], JSON.stringify(timings));
  process.exit(0);
}

const count = Number(process.argv[2] ?? 150);
const example = path.join(root, 'examples', 'efcore');
const dir = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-efcore-'));
const pad = (n) => String(n).padStart(3, '0');
const idOf = (n) => `20261122${String(Math.floor(n / 60)).padStart(2, '0')}${String(n % 60).padStart(2, '0')}00_AddBench${pad(n)}`;

const entityModel = (n) => `            modelBuilder.Entity("Shop.Bench${pad(n)}", b =>
                {
                    b.Property<int>("Id")
                        .ValueGeneratedOnAdd()
                        .HasColumnType("integer");

                    NpgsqlPropertyBuilderExtensions.UseIdentityByDefaultColumn(b.Property<int>("Id"));

                    b.Property<DateTimeOffset>("CreatedAt")
                        .HasColumnType("timestamp with time zone");

                    b.Property<string>("Name")
                        .IsRequired()
                        .HasMaxLength(100)
                        .HasColumnType("character varying(100)");

                    b.HasKey("Id");

                    b.HasIndex("Name");

                    b.ToTable("Bench${pad(n)}s");
                });

`;

const snapshotText = readFileSync(path.join(example, 'Migrations', 'ShopContextModelSnapshot.cs'), 'utf8');
const anchor = 'NpgsqlModelBuilderExtensions.UseIdentityByDefaultColumns(modelBuilder);\n\n';
if (!snapshotText.includes(anchor)) throw new Error('the example snapshot changed shape');
/** The example's model plus Bench001..n, as a snapshot or a Designer file's BuildTargetModel. */
const modelWith = (n, text) => text.replace(anchor, anchor + Array.from({ length: n }, (_, i) => entityModel(i + 1)).join(''));
const designer = (n) =>
  modelWith(n, snapshotText)
    .replace('using Shop;\n', 'using Microsoft.EntityFrameworkCore.Migrations;\nusing Shop;\n')
    .replace('partial class ShopContextModelSnapshot : ModelSnapshot', `[Migration("${idOf(n)}")]\n    partial class AddBench${pad(n)}`)
    .replace('protected override void BuildModel(ModelBuilder modelBuilder)', '/// <inheritdoc />\n        protected override void BuildTargetModel(ModelBuilder modelBuilder)');
const migration = (n) => `using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Shop.Migrations
{
    /// <inheritdoc />
    public partial class AddBench${pad(n)} : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "Bench${pad(n)}s",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Name = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Bench${pad(n)}s", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Bench${pad(n)}s_Name",
                table: "Bench${pad(n)}s",
                column: "Name");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "Bench${pad(n)}s");
        }
    }
}
`;
const entities = (n) =>
  `// Generated by bench/efcore-scale.mjs.\nusing System.ComponentModel.DataAnnotations;\nusing Microsoft.EntityFrameworkCore;\n\nnamespace Shop;\n\n` +
  Array.from({ length: n }, (_, i) => `[Index(nameof(Name))]\npublic class Bench${pad(i + 1)}\n{\n    public int Id { get; set; }\n\n    [MaxLength(100)]\n    public required string Name { get; set; }\n\n    public DateTimeOffset CreatedAt { get; set; }\n}\n`).join('\n') +
  `\npublic partial class ShopContext\n{\n${Array.from({ length: n }, (_, i) => `    public DbSet<Bench${pad(i + 1)}> Bench${pad(i + 1)}s => Set<Bench${pad(i + 1)}>();`).join('\n')}\n}\n`;

/** Migrations 1..n, the snapshot and the entities at n. */
function grow(from, to) {
  for (let n = from; n <= to; n++) {
    writeFileSync(path.join(dir, 'Migrations', `${idOf(n)}.cs`), migration(n));
    writeFileSync(path.join(dir, 'Migrations', `${idOf(n)}.Designer.cs`), designer(n));
  }
  writeFileSync(path.join(dir, 'Migrations', 'ShopContextModelSnapshot.cs'), modelWith(to, snapshotText));
  writeFileSync(path.join(dir, 'BenchModels.cs'), entities(to));
}

cpSync(example, dir, { recursive: true, filter: (src) => !/[/\\](bin|obj)$/.test(src) });
const contextFile = path.join(dir, 'ShopContext.cs');
writeFileSync(contextFile, readFileSync(contextFile, 'utf8').replace('public class ShopContext(', 'public partial class ShopContext('));
grow(1, count);
const git = (...args) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' });
git('init', '-q', '-b', 'main');
git('add', '-A');
git('-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', 'commit', '-qm', `${count} migrations`);
git('checkout', '-q', '-b', 'pr');
grow(count + 1, count + 1);
git('add', '-A');
git('-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', 'commit', '-qm', 'one more');
const clean = () => {
  rmSync(path.join(dir, 'bin'), { recursive: true, force: true });
  rmSync(path.join(dir, 'obj'), { recursive: true, force: true });
};

const env = { ...process.env };
delete env.DRIFT_GUARD_DATABASE_URL;
console.log(`examples/efcore grown to ${count} migrations (+1 on the PR branch) in ${dir}`);

const rounds = Number(process.argv[3] ?? 1);
const s = (ms) => `${(ms / 1000).toFixed(1)} s`.padStart(9);
const ratios = [];
for (let round = 1; round <= rounds; round++) {
  // Floor.
  clean();
  const floorFile = path.join(dir, 'floor.json');
  const floorStarted = performance.now();
  const floor = spawnSync(process.execPath, [cli, '--quiet', 'scratch', '--', process.execPath, fileURLToPath(import.meta.url), '--floor-inner', floorFile], { cwd: dir, env, encoding: 'utf8' });
  const floorWall = performance.now() - floorStarted;
  if (floor.status !== 0) throw new Error(`floor failed (${floor.status}): ${floor.stderr.slice(-2000)}`);
  const floorTimings = JSON.parse(readFileSync(floorFile, 'utf8'));
  rmSync(floorFile);
  const floorMs = floorTimings['dotnet build'] + floorTimings['dotnet ef database update'] + floorTimings['dotnet ef migrations has-pending-model-changes'];

  // Gate.
  clean();
  const gateStarted = performance.now();
  const gate = spawnSync(process.execPath, [cli, '--quiet', 'check', '--base', 'main', '--format', 'json'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const gateMs = performance.now() - gateStarted;
  if (gate.status !== 0 && gate.status !== 1) throw new Error(`check exited ${gate.status}: ${gate.stderr.slice(-2000)}`);
  const report = JSON.parse(gate.stdout);

  console.log(`\nround ${round} of ${rounds}`);
  console.log('floor (same tree, from a tree without bin/obj):');
  for (const [label, ms] of Object.entries(floorTimings)) console.log(`  ${label.padEnd(60)} ${s(ms)}${label === 'dotnet tool restore' ? '  (not counted)' : ''}`);
  console.log(`  ${'floor = build + database update + has-pending-model-changes'.padEnd(60)} ${s(floorMs)}   (wall incl. scratch server ${s(floorWall).trim()})`);
  console.log(`gate: drift-guard check --base main (verdict ${report.verdict}; ${report.findings.length} finding(s): ${report.findings.map((f) => f.code).join(', ') || 'none'})`);
  for (const t of report.timings) console.log(`  ${t.phase.padEnd(60)} ${s(t.ms)}`);
  console.log(`  ${'whole command (wall)'.padEnd(60)} ${s(gateMs)}`);
  console.log(`ratio gate / floor: ${(gateMs / floorMs).toFixed(2)}x   target <= 1.3x`);
  // The build swings most with the machine's load; what the gate adds is clearer without it.
  const gateBuild = report.timings.find((t) => t.phase.startsWith('build'))?.ms ?? 0;
  console.log(`without the build: gate ${s(gateMs - gateBuild).trim()} vs floor ${s(floorMs - floorTimings['dotnet build']).trim()} (database update + has-pending-model-changes)`);
  ratios.push(gateMs / floorMs);
}
if (rounds > 1) {
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = rounds % 2 === 1 ? sorted[(rounds - 1) / 2] : (sorted[rounds / 2 - 1] + sorted[rounds / 2]) / 2;
  console.log(`\nratios: ${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')}; median ${median.toFixed(2)}x`);
}
if (process.env.KEEP !== '1') rmSync(dir, { recursive: true, force: true });
