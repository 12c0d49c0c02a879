// Drives `dotnet ef` the way it should be driven: the pinned tool restored from the project's
// manifest, the project built once, every command with --no-build and machine-readable output
// (--json --prefix-output --no-color), EF's own error text surfaced on failure, and the
// connection handed over through the variable the app reads.

import { trackChild } from '../../util/child-process.js';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DriftGuardError } from '../../errors.js';
import type { Finding } from '../../report/finding.js';
import type { Reporter } from '../../util/reporter.js';
import { maskSecrets } from '../../util/secrets.js';

/** A variable the app reads its connection string from, and the form it expects. */
export interface ConnectionVariable {
  readonly name: string;
  readonly format: 'npgsql' | 'url';
}

export interface EfSettings {
  /** Project root (where .drift-guard.yml is). */
  readonly root: string;
  /** The migrations project (.csproj), absolute. */
  readonly project: string;
  readonly startupProject: string;
  readonly context?: string | undefined;
  readonly configuration: string;
  readonly framework?: string | undefined;
  readonly connectionEnv: readonly ConnectionVariable[];
  readonly extraArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

export interface EfResult {
  readonly exitCode: number;
  /** Lines EF printed as data (with --json: the JSON document). */
  readonly data: string;
  readonly info: readonly string[];
  readonly warnings: readonly string[];
  readonly errors: readonly string[];
  /** Every line but data and verbose ones, in order, without prefixes (an error's continuation lines follow it). */
  readonly output: readonly string[];
  readonly elapsedMs: number;
}

/** `dotnet exec <host> <ef.dll> <command> <options>`: what dotnet ef runs after its MSBuild evaluations. */
export interface EfInvocation {
  /** dotnet exec's own arguments (--depsfile, --additionalprobingpath, --runtimeconfig, ...). */
  readonly host: readonly string[];
  readonly efDll: string;
  /** The project options dotnet ef computed (--assembly, --startup-assembly, --project-dir, ...). */
  readonly options: readonly string[];
}

/** Where the time went: one entry per process drift-guard started for EF. */
export interface EfTiming {
  readonly label: string;
  readonly ms: number;
}

const PREFIXES: readonly [string, 'data' | 'info' | 'warn' | 'error' | 'verbose'][] = [
  ['data:    ', 'data'],
  ['info:    ', 'info'],
  ['warn:    ', 'warn'],
  ['error:   ', 'error'],
  ['verbose: ', 'verbose'],
];

/**
 * What the design-time factory sees for commands that do not connect (has-pending-model-changes,
 * migrations list --no-connect, dbcontext script): a factory that throws without its variable
 * still starts, and nothing from the caller's environment (a production string) leaks in.
 */
export const PLACEHOLDER_URL = 'postgresql://drift_guard@localhost:5432/drift_guard_placeholder';

/** One instance per engine: it restores and builds once, however many commands follow. */
export class DotnetEf {
  private prepared: Promise<readonly Finding[]> | undefined;
  /** How dotnet ef started ef.dll (from its --verbose output), reused by the calls after it. */
  private invocation: EfInvocation | undefined;
  readonly timings: EfTiming[] = [];

  constructor(
    private readonly settings: EfSettings,
    private readonly reporter: Reporter,
  ) {}

  /**
   * dotnet tool restore (when a manifest pins dotnet-ef) and one build of the startup project.
   * A build that fails on the project's code gives BUILD_FAILED findings (one per compiler error);
   * only a missing tool chain throws.
   */
  prepare(reporter: Reporter = this.reporter): Promise<readonly Finding[]> {
    return (this.prepared ??= (async () => {
      const manifest = findToolManifest(path.dirname(this.settings.startupProject));
      if (manifest === undefined) {
        throw new DriftGuardError(
          'TOOL_MISSING',
          `dotnet-ef is not pinned for ${path.relative(this.settings.root, this.settings.startupProject) || this.settings.startupProject}: run "dotnet new tool-manifest" and "dotnet tool install dotnet-ef --version <your EF Core version>" in the repository, and commit the dotnet-tools.json it writes`,
        );
      }
      const cwd = path.dirname(manifest.endsWith(`${path.sep}.config${path.sep}dotnet-tools.json`) ? path.dirname(manifest) : manifest);
      await this.timed('dotnet tool restore', reporter, async () => {
        const restored = await runProcess('dotnet', ['tool', 'restore'], { cwd, env: this.environment(undefined) });
        if (restored.code !== 0) throw new DriftGuardError('TOOL_MISSING', `dotnet tool restore failed in ${cwd}: ${lastLines(restored.output)}`);
      });
      const buildArgs = ['build', this.settings.startupProject, '--configuration', this.settings.configuration, '--nologo', '--verbosity', 'quiet', '-consoleLoggerParameters:NoSummary'];
      if (this.settings.framework !== undefined) buildArgs.push('--framework', this.settings.framework);
      return this.timed(`dotnet build ${path.relative(this.settings.root, this.settings.startupProject)}`, reporter, async () => {
        const built = await runProcess('dotnet', buildArgs, { cwd: this.settings.root, env: this.environment(undefined) });
        if (built.code === 0) return [];
        const findings = buildFindings(built.output, this.settings.root);
        if (findings.length > 0) return findings;
        throw new DriftGuardError('TOOL_MISSING', `dotnet build failed without a compiler error: ${lastLines(built.output)}`);
      });
    })());
  }

  /** After a command that wrote source files (migrations add): the next command builds again. */
  invalidate(): void {
    this.prepared = undefined;
    this.invocation = undefined;
  }

  /** Runs a step (the reporter shows its time) and records its time. */
  private async timed<T>(label: string, reporter: Reporter, operation: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await reporter.step(label, operation);
    } finally {
      this.timings.push({ label, ms: performance.now() - started });
    }
  }

  /**
   * Runs `dotnet ef <args>` with --no-build and the common options. `connection` (a postgres URL)
   * reaches the app through its connection variables; the command line carries --connection
   * without the password (so EF uses that database whatever the app's factory does), and Npgsql
   * takes the password from PGPASSWORD.
   */
  async run(args: readonly string[], options: { connection?: string | undefined; json?: boolean; context?: string | undefined; onLine?: (kind: string, text: string) => void } = {}): Promise<EfResult> {
    const build = await this.prepare();
    if (build.length > 0) throw new DriftGuardError('TOOL_MISSING', `dotnet build failed: ${build[0]!.file ?? ''}:${build[0]!.line ?? ''} ${build[0]!.message}`);
    const s = this.settings;
    if (args.includes('--connection')) throw new Error('pass the connection through options.connection');
    const command = [...args];
    if (options.json === true) command.push('--json');
    const context = options.context ?? s.context;
    if (context !== undefined) command.push('--context', context);
    if (options.connection !== undefined && acceptsConnection(args)) command.push('--connection', npgsqlConnectionString(options.connection, { password: false }));
    // After the first call, ef.dll directly, as dotnet ef would start it: dotnet ef evaluates both
    // projects with MSBuild on every call (seconds each) to find the same paths again.
    const direct = this.invocation;
    const capture = direct === undefined;
    const full = direct !== undefined
      ? ['exec', ...direct.host, direct.efDll, ...command, ...direct.options, '--prefix-output', '--no-color']
      : ['ef', ...command, '--project', s.project, '--startup-project', s.startupProject, '--configuration', s.configuration, '--no-build', '--prefix-output', '--no-color', '--verbose', ...(s.framework === undefined ? [] : ['--framework', s.framework])];
    if (s.extraArgs.length > 0) full.push('--', ...s.extraArgs);
    const env = this.environment(options.connection);
    const started = performance.now();
    const data: string[] = [];
    const info: string[] = [];
    const warnings: string[] = [];
    const errors: string[] = [];
    const output: string[] = [];
    const result = await runProcess('dotnet', full, {
      cwd: s.root,
      env,
      onLine: (line) => {
        const prefix = PREFIXES.find(([p]) => line.startsWith(p));
        const kind = prefix?.[1] ?? 'info';
        const text = prefix === undefined ? line : line.slice(prefix[0].length);
        if (capture && kind === 'verbose' && text.startsWith('dotnet exec ')) this.invocation ??= parseEfInvocation(text);
        if (kind === 'data') data.push(text);
        else if (kind === 'warn') warnings.push(text);
        else if (kind === 'error') errors.push(text);
        else if (kind === 'info') info.push(text);
        if (kind !== 'data' && kind !== 'verbose') output.push(text);
        options.onLine?.(kind, text);
      },
    });
    const elapsedMs = performance.now() - started;
    // The tool chain, not the project: an environment error whatever the command was.
    const noRuntime = result.code === 0 ? undefined : missingRuntime([...info, ...errors]);
    if (noRuntime !== undefined) throw new DriftGuardError('TOOL_MISSING', `dotnet ef ${args.slice(0, 2).join(' ')}: ${noRuntime}`);
    const label = `dotnet ef ${args.filter((a) => !a.startsWith('-') && !a.includes(path.sep)).slice(0, 2).join(' ')}${context !== undefined && context !== s.context ? ` (${context})` : ''}`;
    this.timings.push({ label, ms: elapsedMs });
    this.reporter.info(`${label}: ${(elapsedMs / 1000).toFixed(1)} s`);
    for (const warning of warnings) {
      if (/tools version .* is older than that of the runtime/i.test(warning)) this.reporter.warn(`dotnet-ef: ${warning} (update the version pinned in the tool manifest, dotnet-tools.json)`);
    }
    return { exitCode: result.code, data: data.join('\n'), info, warnings, errors, output, elapsedMs };
  }

  /** Runs a command that must succeed; a failure becomes an environment error carrying EF's words. */
  async runOrThrow(args: readonly string[], options: { connection?: string | undefined; json?: boolean; context?: string | undefined } = {}): Promise<EfResult> {
    const result = await this.run(args, options);
    if (result.exitCode !== 0) throw new DriftGuardError('TOOL_MISSING', `dotnet ef ${args[0] ?? ''} ${args[1] ?? ''} failed: ${efErrorText(result)}`);
    return result;
  }

  /** The environment of every dotnet process: the app's connection variables always set. */
  environment(connection: string | undefined): NodeJS.ProcessEnv {
    return { ...this.settings.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1', DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1', ...connectionEnvironment(this.settings.connectionEnv, connection) };
  }
}

/**
 * The variables that hand `connection` (a postgres URL; the placeholder when undefined) to the
 * app, each in the form it reads, plus PGPASSWORD for a --connection written without password.
 */
export function connectionEnvironment(variables: readonly ConnectionVariable[], connection: string | undefined): Record<string, string> {
  const url = connection ?? PLACEHOLDER_URL;
  const env: Record<string, string> = {};
  for (const variable of variables) env[variable.name] = variable.format === 'url' ? url : npgsqlConnectionString(url);
  const password = passwordOfUrl(url);
  if (password !== undefined) env.PGPASSWORD = password;
  return env;
}

/** The configured efcore.connection-env, in one shape. */
export function connectionVariables(setting: string | readonly (string | { name: string; format?: 'npgsql' | 'url' | undefined })[]): ConnectionVariable[] {
  const list = typeof setting === 'string' ? [setting] : setting;
  return list.map((entry) => (typeof entry === 'string' ? { name: entry, format: 'npgsql' } : { name: entry.name, format: entry.format ?? 'npgsql' }));
}

/**
 * MSBuild's error lines (`File.cs(12,5): error CS1002: ; expected [Shop.csproj]`,
 * `Shop.csproj : error NU1101: ...`) as BUILD_FAILED findings, at the file relative to the root.
 */
export function buildFindings(output: string, root: string): Finding[] {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const raw of output.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    const match = /^(.*?)(?:\((\d+)(?:,(\d+))?(?:,\d+,\d+)?\))?\s*:\s*error\s+([A-Za-z]+\d+)\s*:\s*(.*?)(?:\s+\[[^\]]+\])?$/.exec(line);
    if (match === null) continue;
    const [, where, lineNo, column, code, message] = match;
    if (seen.has(line.replace(/\s+\[[^\]]+\]$/, ''))) continue;
    seen.add(line.replace(/\s+\[[^\]]+\]$/, ''));
    const file = where === undefined || where === '' || /^MSBUILD$/i.test(where.trim()) ? undefined : path.isAbsolute(where.trim()) ? path.relative(root, where.trim()) : where.trim();
    findings.push({
      check: 'build',
      code: 'BUILD_FAILED',
      severity: 'error',
      message: maskSecrets(`${code}: ${message}`),
      ...(file === undefined ? {} : { file }),
      ...(lineNo === undefined ? {} : { line: Number(lineNo) }),
      ...(column === undefined ? {} : { column: Number(column) }),
      details: { compilerCode: code },
    });
  }
  return findings;
}

/** ef.dll's options that describe the projects (dotnet ef appends them); value-less ones listed apart. */
const PROJECT_OPTIONS = new Set(['--assembly', '--project', '--startup-assembly', '--startup-project', '--project-dir', '--root-namespace', '--language', '--framework', '--configuration', '--working-dir', '--data-dir', '--design-assembly', '--runtime', '--platform']);
const PROJECT_FLAGS = new Set(['--nullable']);
const OUTPUT_FLAGS = new Set(['--verbose', '--prefix-output', '--no-color']);

/**
 * The `dotnet exec ...` line dotnet ef prints with --verbose, split as the .NET runtime splits a
 * command line, and taken apart. Undefined for anything not in the expected shape: the caller
 * then keeps calling dotnet ef.
 */
export function parseEfInvocation(line: string): EfInvocation | undefined {
  const tokens = splitCommandLine(line);
  if (tokens[0] !== 'dotnet' || tokens[1] !== 'exec') return undefined;
  const efAt = tokens.findIndex((token) => /(^|[\\/])ef\.dll$/i.test(token));
  const assemblyAt = tokens.indexOf('--assembly');
  if (efAt < 2 || assemblyAt <= efAt) return undefined;
  const options: string[] = [];
  for (let i = assemblyAt; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') break;
    if (OUTPUT_FLAGS.has(token)) continue;
    if (PROJECT_FLAGS.has(token)) options.push(token);
    else if (PROJECT_OPTIONS.has(token) && i + 1 < tokens.length) options.push(token, tokens[++i]!);
    else return undefined;
  }
  if (!options.includes('--startup-assembly')) return undefined;
  return { host: tokens.slice(2, efAt), efDll: tokens[efAt]!, options };
}

/** A command line split into arguments by the rules .NET uses (quotes; backslashes before a quote). */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let started = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\') {
      let n = 0;
      while (line[i + n] === '\\') n++;
      if (line[i + n] === '"') {
        current += '\\'.repeat(Math.floor(n / 2));
        if (n % 2 === 1) current += '"';
        else quoted = !quoted;
        i += n;
      } else {
        current += '\\'.repeat(n);
        i += n - 1;
      }
      started = true;
    } else if (c === '"') {
      quoted = !quoted;
      started = true;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (started) args.push(current);
  return args;
}

function acceptsConnection(args: readonly string[]): boolean {
  const [group, command] = args;
  return (group === 'database' && command === 'update') || (group === 'migrations' && command === 'list');
}

/**
 * EF's error, masked: the exception message it ends with (PostgreSQL's "42P01: relation ... does
 * not exist", a compile or design-time error), not the logged SQL text of the failed command that
 * comes before it.
 */
export function efErrorText(result: EfResult): string {
  const missing = missingRuntime([...result.info, ...result.errors]);
  if (missing !== undefined) return missing;
  const lines = result.errors.map((line) => line.trim()).filter((line) => line !== '');
  const failedCommand = lines.findIndex((line) => line.startsWith('Failed executing DbCommand'));
  const sqlState = lines.filter((line) => /^[0-9A-Z]{5}: /.test(line));
  let text: string;
  if (sqlState.length > 0) text = sqlState.at(-1)!;
  else if (lines.length > 0) text = (failedCommand >= 0 ? lines.slice(failedCommand + 1).filter((l) => !/^(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|ORDER|CREATE|ALTER|DROP)\b/.test(l)) : lines).slice(-3).join(' / ') || lines.slice(-3).join(' / ');
  else text = result.info.slice(-3).join(' / ');
  return maskSecrets(text || `exit code ${result.exitCode}`);
}

/**
 * The .NET host's "You must install or update .NET to run this application" (the app targets a
 * runtime this machine does not have, e.g. net9.0 with only the .NET 10 runtime), in one line with
 * both ways out. Undefined for any other failure.
 */
export function missingRuntime(lines: readonly string[]): string | undefined {
  if (!lines.some((line) => line.includes('You must install or update .NET to run this application'))) return undefined;
  const framework = lines.map((line) => /Framework: '([^']+)', version '([^']+)'/.exec(line)).find((m) => m !== null);
  const found = lines.map((line) => /^\s*(\d+\.\d+\.\d+\S*) at \[/.exec(line)?.[1]).filter((v): v is string => v !== undefined);
  const wanted = framework === undefined ? 'a .NET runtime that is not installed here' : `the .NET runtime ${framework[1]} ${framework[2]}, which is not installed here`;
  const major = framework?.[2]?.split('.')[0];
  return `the app needs ${wanted}${found.length > 0 ? ` (installed: ${found.join(', ')})` : ''}: install it${major === undefined ? '' : ` (actions/setup-dotnet with dotnet-version: ${major}.0.x)`}, or let dotnet run it on the newer runtime with DOTNET_ROLL_FORWARD=Major in the environment`;
}

function passwordOfUrl(url: string): string | undefined {
  const parsed = new URL(url);
  const password = parsed.password !== '' ? decodeURIComponent(parsed.password) : parsed.searchParams.get('password') ?? undefined;
  return password === '' ? undefined : password;
}

/**
 * postgres://user:pw@host:port/db?sslmode=require -> Npgsql's Host=...;Port=...;...
 * With `password: false` the password is left out (Npgsql then reads PGPASSWORD).
 */
export function npgsqlConnectionString(url: string, options: { password?: boolean } = {}): string {
  const parsed = new URL(url);
  const parts: [string, string][] = [
    ['Host', decodeURIComponent(parsed.hostname)],
    ['Port', parsed.port || '5432'],
    ['Database', decodeURIComponent(parsed.pathname.slice(1)) || 'postgres'],
    ['Username', decodeURIComponent(parsed.username)],
  ];
  const password = passwordOfUrl(url);
  if (password !== undefined && options.password !== false) parts.push(['Password', password]);
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode !== null) parts.push(['SSL Mode', { disable: 'Disable', allow: 'Allow', prefer: 'Prefer', require: 'Require', 'verify-ca': 'VerifyCA', 'verify-full': 'VerifyFull' }[sslmode] ?? sslmode]);
  return parts
    .filter(([, value]) => value !== '')
    .map(([key, value]) => `${key}=${/[;'"=\s]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value}`)
    .join(';');
}

/**
 * The EF Core version the project builds with (what EF writes as ProductVersion in its history):
 * Microsoft.EntityFrameworkCore in obj/project.assets.json, else the pinned dotnet-ef.
 */
export function efProductVersion(projectDir: string): string {
  const assets = path.join(projectDir, 'obj', 'project.assets.json');
  if (existsSync(assets)) {
    const libraries = Object.keys((JSON.parse(readFileSync(assets, 'utf8')) as { libraries?: Record<string, unknown> }).libraries ?? {});
    const version = libraries.map((key) => /^Microsoft\.EntityFrameworkCore\/(.+)$/i.exec(key)?.[1]).find((v) => v !== undefined);
    if (version !== undefined) return version;
  }
  const manifest = findToolManifest(projectDir);
  const pinned = manifest === undefined ? undefined : (JSON.parse(readFileSync(manifest, 'utf8')) as { tools?: Record<string, { version?: string }> }).tools?.['dotnet-ef']?.version;
  if (pinned !== undefined) return pinned;
  throw new DriftGuardError('USAGE', `cannot tell the EF Core version of ${projectDir} (no obj/project.assets.json: build it first)`);
}

/** The tool manifest dotnet would use: the nearest .config/dotnet-tools.json or dotnet-tools.json upwards. */
export function findToolManifest(from: string): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    for (const candidate of [path.join(dir, '.config', 'dotnet-tools.json'), path.join(dir, 'dotnet-tools.json')]) {
      if (existsSync(candidate)) return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The project's .csproj: the configured one, or the only one under the root (bin/obj skipped). */
export function findProject(root: string, configured: string | undefined): string {
  if (configured !== undefined) {
    const full = path.resolve(root, configured);
    if (!existsSync(full)) throw new DriftGuardError('USAGE', `efcore.project ${configured} does not exist`);
    return full;
  }
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 3) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !['bin', 'obj', 'node_modules', '.git'].includes(entry.name)) walk(path.join(dir, entry.name), depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.csproj')) found.push(path.join(dir, entry.name));
    }
  };
  walk(root, 0);
  if (found.length === 1) return found[0]!;
  // A solution's other projects (tests, tools) often do not reference EF Core at all; when just one
  // does, it is the project. Several that do (a separate migrations assembly) need the config.
  const withEf = found.filter((file) => /Microsoft\.EntityFrameworkCore|Npgsql\.EntityFrameworkCore/.test(readFileSync(file, 'utf8')));
  if (withEf.length === 1) return withEf[0]!;
  throw new DriftGuardError(
    'USAGE',
    found.length === 0 ? `no .csproj found under ${root}; set efcore.project in .drift-guard.yml` : `several projects found (${found.map((f) => path.relative(root, f)).sort().join(', ')}); set efcore.project (and efcore.startup-project)`,
  );
}

interface ProcessResult {
  readonly code: number;
  readonly output: string;
}

function runProcess(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; onLine?: (line: string) => void }): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a cancelled run also ends the build servers and the app dotnet starts.
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    void trackChild(child, { group: true });
    let output = '';
    let pending = '';
    const take = (chunk: Buffer): void => {
      const text = chunk.toString();
      output += text;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) options.onLine?.(line.replace(/\r$/, ''));
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new DriftGuardError(
          'TOOL_MISSING',
          error.code === 'ENOENT' ? 'the dotnet CLI is not installed (needed for engine: efcore); install the .NET SDK' : `cannot run ${command}: ${error.message}`,
        ),
      ),
    );
    child.on('close', (code) => {
      if (pending !== '') options.onLine?.(pending);
      resolve({ code: code ?? 1, output });
    });
  });
}

function lastLines(output: string): string {
  return maskSecrets(
    output
      .trim()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-3)
      .join(' / '),
  );
}
