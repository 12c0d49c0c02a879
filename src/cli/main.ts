// The drift-guard command line: the only module that parses argv. Each command builds an options
// object and calls library code; errors are mapped to exit codes here and nowhere else.

import { Command, CommanderError, Option } from 'commander';
import { describeError, ExitCode, isDriftGuardError } from '../errors.js';
import { escapeControlCharacters } from '../util/control-chars.js';
import { maskSecrets } from '../util/secrets.js';
import { VERSION } from '../version.js';
import type * as ConfigCommands from './commands/config-command.js';
import type * as DoctorCommands from './commands/doctor-command.js';
import type * as ScratchCommands from './commands/scratch-command.js';
import type * as SchemaCommands from './commands/schema-commands.js';
import type * as CheckCommands from './commands/check-command.js';
import type * as OpsCommands from './commands/ops-commands.js';
import type * as MigrationCommands from './commands/migration-commands.js';
import { SQL_LAYOUTS, type SqlLayoutSetting } from '../config/config-schema.js';
import { DriftGuardError } from '../errors.js';
import { createContext, outputFormat, type CommandContext } from './context.js';
import { colorWanted, Terminal, type CliStreams } from './terminal.js';

/**
 * A command's module is loaded when the command runs, not at start: `diff` does not evaluate
 * the gate, the engines, the data generator or the operations code (the bundle keeps them, in
 * functions that run on first use; scripts/build.mjs).
 */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): M[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never {
  return (async (...args: unknown[]) => ((await load())[name] as (...args: unknown[]) => unknown)(...args)) as never;
}
const configModule = (): Promise<typeof ConfigCommands> => import('./commands/config-command.js');
const doctorModule = (): Promise<typeof DoctorCommands> => import('./commands/doctor-command.js');
const scratchModule = (): Promise<typeof ScratchCommands> => import('./commands/scratch-command.js');
const schemaModule = (): Promise<typeof SchemaCommands> => import('./commands/schema-commands.js');
const checkModule = (): Promise<typeof CheckCommands> => import('./commands/check-command.js');
const opsModule = (): Promise<typeof OpsCommands> => import('./commands/ops-commands.js');
const migrationModule = (): Promise<typeof MigrationCommands> => import('./commands/migration-commands.js');
const configCommand = lazy(configModule, 'configCommand');
const doctorCommand = lazy(doctorModule, 'doctorCommand');
const scratchCommand = lazy(scratchModule, 'scratchCommand');
const inspectCommand = lazy(schemaModule, 'inspectCommand');
const diffCommand = lazy(schemaModule, 'diffCommand');
const checkCommand = lazy(checkModule, 'checkCommand');
const backupCommand = lazy(opsModule, 'backupCommand');
const baselineCommand = lazy(opsModule, 'baselineCommand');
const deployCommand = lazy(opsModule, 'deployCommand');
const driftCommand = lazy(opsModule, 'driftCommand');
const initCommand = lazy(opsModule, 'initCommand');
const resetCommand = lazy(opsModule, 'resetCommand');
const restoreCommand = lazy(opsModule, 'restoreCommand');
const statsCommand = lazy(opsModule, 'statsCommand');
const migrateCommand = lazy(migrationModule, 'migrateCommand');
const modelCheckCommand = lazy(migrationModule, 'modelCheckCommand');
const newCommand = lazy(migrationModule, 'newCommand');
const rollbackCommand = lazy(migrationModule, 'rollbackCommand');
const scriptCommand = lazy(migrationModule, 'scriptCommand');
const statusCommand = lazy(migrationModule, 'statusCommand');

export interface CliEnvironment extends CliStreams {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

interface GlobalOptions {
  config?: string;
  quiet?: boolean;
  color: boolean;
}

export async function main(argv: readonly string[], io: CliEnvironment): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let terminal = new Terminal(io, { color: false, quiet: false });
  const program = new Command('drift-guard');
  const context = (): CommandContext => {
    const globals = program.opts<GlobalOptions>();
    terminal = new Terminal(io, { color: colorWanted(globals.color, io.env, io.stderr.isTTY), quiet: globals.quiet === true });
    return createContext(terminal, io.env, io.cwd, globals.config);
  };

  program
    .description('Guards PostgreSQL schema migrations from pull request to production.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('-c, --config <file>', 'config file (default: .drift-guard.yml, searched from the working directory upwards)')
    .option('-q, --quiet', 'print only results, warnings and errors')
    .option('--no-color', 'no colours (also NO_COLOR=1)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 a check failed or differences found, 2 usage or configuration error,
3 environment error (no PostgreSQL, a tool missing, a database unreachable).
Set DRIFT_GUARD_DEBUG=1 to see stack traces.`,
    )
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(escapeControlCharacters(maskSecrets(text))),
      writeErr: (text) => io.stderr.write(escapeControlCharacters(maskSecrets(text))),
      outputError: (text, write) => write(`drift-guard: ${oneLine(text.replace(/^error: /, ''))}; see drift-guard --help\n`),
    });

  program
    .command('config')
    .description('print the resolved configuration (secrets masked) or its JSON Schema')
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .option('--json', 'same as --format json')
    .option('--schema', 'print the JSON Schema of .drift-guard.yml')
    .action(async (options: { format: 'yaml' | 'json'; json?: boolean; schema?: boolean }) => {
      exitCode = await configCommand(context(), { format: outputFormat(options, 'yaml'), schema: options.schema === true });
    });

  program
    .command('doctor')
    .description('show what drift-guard can use here (Node, PostgreSQL, Docker, dotnet, git) and which PostgreSQL provider auto picks')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { format: 'text' | 'json'; json?: boolean }) => {
      exitCode = await doctorCommand(context(), { format: outputFormat(options, 'text') });
    });

  program
    .command('scratch')
    .description('run a command against a throwaway database (DATABASE_URL and PG* set), then drop it')
    .argument('<command...>', 'the command and its arguments, after --')
    .usage('[options] -- <command> [args...]')
    .action(async (command: string[]) => {
      exitCode = await scratchCommand(context(), command);
    });

  const sqlOptions = (command: Command, json = 'json prints one event per line (NDJSON), the last a summary'): Command =>
    command
      .option('--database-url <url>', 'database to work on (default: $DATABASE_URL, or the variable named by database.url-env)')
      .option('--dir <dir>', 'migrations directory (default: sql.dir)')
      .addOption(new Option('--layout <layout>', 'migration tool layout (default: sql.layout)').choices([...SQL_LAYOUTS]))
      .addOption(new Option('--format <format>', `output format; ${json}`).choices(['text', 'json']).default('text'))
      .option('--json', 'same as --format json');
  type SqlFlags = { databaseUrl?: string; dir?: string; layout?: SqlLayoutSetting; format: 'text' | 'json'; json?: boolean };
  const sqlFlags = (options: SqlFlags) => ({ ...options, format: outputFormat(options, 'text') });

  sqlOptions(
    program
      .command('migrate')
      .description('apply pending migrations (each in its own transaction with its history row)')
      .option('--to <version>', 'apply up to and including this version')
      .option('--dry-run', 'verify and list what would be applied; change nothing'),
  ).action(async (options: SqlFlags & { to?: string; dryRun?: boolean }) => {
    exitCode = await migrateCommand(context(), sqlFlags(options));
  });

  sqlOptions(program.command('status').description('applied, pending, changed and missing migrations, with when each was applied'), 'json prints one JSON object (engine, location, migrations, findings)')
    .option('--production', 'the production database (production.url-env) instead of DATABASE_URL')
    .option('--exit-code', 'exit 1 when a migration is pending (for scripts), not only when integrity fails')
    .action(async (options: SqlFlags & { production?: boolean; exitCode?: boolean }) => {
      exitCode = await statusCommand(context(), { ...sqlFlags(options), production: options.production === true, exitCode: options.exitCode === true });
    });

  sqlOptions(
    program
      .command('rollback')
      .description('roll back applied migrations with their down scripts (default: the newest one)')
      .option('--steps <n>', 'how many migrations to roll back', positiveCount('--steps'))
      .option('--to <version>', 'roll back every migration newer than this version (0: all)')
      .option('--dry-run', 'list what would be rolled back; change nothing'),
  ).action(async (options: SqlFlags & { steps?: number; to?: string; dryRun?: boolean }) => {
    exitCode = await rollbackCommand(context(), sqlFlags(options));
  });

  program
    .command('new')
    .description("create the next migration file(s) in the layout's naming scheme")
    .argument('<name>', 'what the migration does, e.g. add_orders')
    .option('--dir <dir>', 'migrations directory (default: sql.dir)')
    .addOption(new Option('--layout <layout>', 'migration tool layout (default: sql.layout)').choices([...SQL_LAYOUTS]))
    .action(async (name: string, options: { dir?: string; layout?: SqlLayoutSetting }) => {
      exitCode = await newCommand(context(), name, options);
    });

  program
    .command('script')
    .description('print the SQL of the migrations exactly as it would be applied, for review')
    .option('--from <version>', 'start after this version')
    .option('--to <version>', 'stop at this version (inclusive)')
    .option('--idempotent', 'EF Core: a script that checks the history table before each migration')
    .option('--dir <dir>', 'migrations directory (default: sql.dir)')
    .addOption(new Option('--layout <layout>', 'migration tool layout (default: sql.layout)').choices([...SQL_LAYOUTS]))
    .action(async (options: { from?: string; to?: string; idempotent?: boolean; dir?: string; layout?: SqlLayoutSetting }) => {
      exitCode = await scriptCommand(context(), options);
    });

  program
    .command('model-check')
    .description('EF Core: does the model match the migrations? (has-pending-model-changes; --compare also applies them and diffs with the model)')
    .option('--compare', 'also load dbcontext script and all migrations into scratch databases and diff them')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { compare?: boolean; format: 'text' | 'json'; json?: boolean }) => {
      exitCode = await modelCheckCommand(context(), { compare: options.compare === true, format: outputFormat(options, 'text') });
    });

  program
    .command('inspect')
    .description('print a schema as normalized, deterministic DDL (or JSON): the snapshot a project can commit')
    .argument('<source>', 'postgres:// URL, a .sql file, a migrations directory, or git:REF')
    .addOption(new Option('--format <format>', 'output format').choices(['sql', 'json']).default('sql'))
    .option('--json', 'same as --format json')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--privileges', 'include GRANTs and default privileges (also schema.privileges)')
    .action(async (source: string, options: { format: 'sql' | 'json'; json?: boolean; output?: string; privileges?: boolean }) => {
      exitCode = await inspectCommand(context(), source, { format: options.json === true ? 'json' : options.format, output: options.output, privileges: options.privileges });
    });

  program
    .command('diff')
    .description('what turns FROM into TO: changes with hazards, or the SQL (exit 0 identical, 1 different)')
    .argument('<from>', 'postgres:// URL, a .sql file, a migrations directory, or git:REF')
    .argument('<to>', 'postgres:// URL, a .sql file, a migrations directory, or git:REF')
    .addOption(new Option('--format <format>', 'output format').choices(['sql', 'text', 'json', 'markdown']).default('text'))
    .option('--json', 'same as --format json')
    .option('--privileges', 'compare GRANTs and default privileges too (also schema.privileges)')
    .action(async (from: string, to: string, options: { format: 'sql' | 'text' | 'json' | 'markdown'; json?: boolean; privileges?: boolean }) => {
      exitCode = await diffCommand(context(), from, to, { format: options.json === true ? 'json' : options.format, privileges: options.privileges });
    });

  program
    .command('check')
    .description("the PR gate: this branch's migrations against its base (git analysis, apply from scratch, schema diff with hazards, rollback)")
    .option('--base <ref>', 'what to compare with (default: the PR base, origin/HEAD, main or master)')
    .option('--label <label>', 'a PR label (repeatable); the allow-destructive label acknowledges destructive changes', (value: string, all: string[]) => [...all, value], [] as string[])
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { base?: string; label: string[]; format: 'text' | 'markdown' | 'json'; json?: boolean }) => {
      exitCode = await checkCommand(context(), { base: options.base, labels: options.label, format: options.json === true ? 'json' : options.format });
    });

  program
    .command('drift')
    .description('production against its migrations: model, migration history, and schema (exit 1 on drift); the URL comes from production.url-env')
    .option('--no-model-check', 'skip the model check (it builds EF Core projects)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { modelCheck: boolean; format: 'text' | 'markdown' | 'json'; json?: boolean }) => {
      exitCode = await driftCommand(context(), { modelCheck: options.modelCheck, format: options.json === true ? 'json' : options.format });
    });

  program
    .command('deploy')
    .description('apply pending migrations to production: confirm, lock, pre-flight drift check, verified backup, apply, verify, health check (make migrate-prod)')
    .option('-y, --yes', 'confirmed (automation; also CONFIRM=YES)')
    .option('--allow-drift', 'deploy even when production has drifted from its migrations')
    .option('--rollback-on-failure', 'when anything fails after the apply, roll back to the previous migration')
    .option('--backup-dir <dir>', 'where the backup goes (default: production.backup-dir)')
    .option('--keep <n>', 'backups to keep (default: production.keep)', positiveCount('--keep'))
    .option('--health-url <url>', 'an HTTP endpoint that must answer 2xx afterwards (repeatable; adds to production.health-urls)', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--bundle <file>', 'engine: efcore: apply with this migration bundle (dotnet ef migrations bundle) instead of dotnet ef')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { yes?: boolean; allowDrift?: boolean; rollbackOnFailure?: boolean; backupDir?: string; keep?: number; healthUrl: string[]; bundle?: string; format: 'text' | 'json'; json?: boolean }) => {
      exitCode = await deployCommand(context(), {
        yes: options.yes === true,
        allowDrift: options.allowDrift === true,
        rollbackOnFailure: options.rollbackOnFailure === true,
        backupDir: options.backupDir,
        keep: options.keep,
        healthUrl: options.healthUrl,
        bundle: options.bundle,
        format: outputFormat(options, 'text') === 'json' ? 'json' : 'text',
      });
    });

  program
    .command('backup')
    .description('a verified pg_dump -Fc backup of production, with its sha256 and a JSON record; older ones pruned to production.keep')
    .option('--backup-dir <dir>', 'where it goes (default: production.backup-dir)')
    .option('--keep <n>', 'backups to keep (default: production.keep)', positiveCount('--keep'))
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { backupDir?: string; keep?: number; format: 'text' | 'json'; json?: boolean }) => {
      exitCode = await backupCommand(context(), { backupDir: options.backupDir, keep: options.keep, format: outputFormat(options, 'text') === 'json' ? 'json' : 'text' });
    });

  program
    .command('stats')
    .description("production's table sizes (rows, bytes, NULL shares) from the catalog only, never row data, as JSON for check.stats-file")
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (options: { output?: string }) => {
      exitCode = await statsCommand(context(), { output: options.output });
    });

  program
    .command('restore')
    .description('restore a backup in one transaction into DATABASE_URL (or --production), after checking its sha256')
    .argument('<file>', 'the .dump file')
    .option('--production', 'restore into production (production.url-env) instead of DATABASE_URL')
    .option('--database-url <url>', 'the database to restore into (default: database.url-env)')
    .option('-y, --yes', 'confirmed (automation; also CONFIRM=YES)')
    .action(async (file: string, options: { production?: boolean; databaseUrl?: string; yes?: boolean }) => {
      exitCode = await restoreCommand(context(), file, { production: options.production === true, databaseUrl: options.databaseUrl, yes: options.yes === true });
    });

  program
    .command('baseline')
    .description('record the migrations as applied in a database that has their schema but no history (EnsureCreated, by hand); refuses when the schemas differ')
    .option('--to <migration>', 'the newest migration the database has (default: the last one)')
    .option('--production', 'the production database (production.url-env) instead of DATABASE_URL')
    .option('--database-url <url>', 'the database (default: database.url-env)')
    .option('-y, --yes', 'confirmed (automation; also CONFIRM=YES)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { to?: string; production?: boolean; databaseUrl?: string; yes?: boolean; format: 'text' | 'json'; json?: boolean }) => {
      exitCode = await baselineCommand(context(), { to: options.to, production: options.production === true, databaseUrl: options.databaseUrl, yes: options.yes === true, format: outputFormat(options, 'text') === 'json' ? 'json' : 'text' });
    });

  program
    .command('reset')
    .description('development: drop everything in DATABASE_URL and apply every migration again (refuses a database not on this machine without --force, and production always)')
    .option('--database-url <url>', 'the database (default: database.url-env)')
    .option('--force', 'reset a database that is not on this machine')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { databaseUrl?: string; force?: boolean; format: 'text' | 'json'; json?: boolean }) => {
      exitCode = await resetCommand(context(), { databaseUrl: options.databaseUrl, force: options.force === true, format: outputFormat(options, 'text') === 'json' ? 'json' : 'text' });
    });

  program
    .command('init')
    .description('set a project up: a starter .drift-guard.yml (EF Core or SQL layout detected), the PR workflow and a Makefile; never overwrites a file')
    .option('--project-dir <dir>', 'the project folder to set up (default: here)')
    .option('--migrations-dir <dir>', 'the SQL migrations folder, relative to the project folder (default: searched for)')
    .addOption(new Option('--dir <dir>').hideHelp())
    .option('--postgres-version <major>', 'PostgreSQL major of production', (value: string) => {
      const major = Number(value);
      if (!Number.isInteger(major) || major < 14 || major > 18) throw new DriftGuardError('USAGE', `--postgres-version must be a major version from 14 to 18, got "${value}"`);
      return major;
    }, 16)
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (options: { projectDir?: string; migrationsDir?: string; dir?: string; postgresVersion: number; format: 'text' | 'json'; json?: boolean }) => {
      // --dir is a migrations folder in migrate, status, rollback, new and script; init once took it for the project folder.
      if (options.dir !== undefined) {
        throw new DriftGuardError('USAGE', `init has no --dir: use --project-dir ${options.dir} for the folder to set up, or --migrations-dir ${options.dir} for the migrations folder (--dir means a migrations folder in every other command)`);
      }
      exitCode = await initCommand(context(), {
        projectDir: options.projectDir,
        migrationsDir: options.migrationsDir,
        postgresVersion: options.postgresVersion,
        format: outputFormat(options, 'text') === 'json' ? 'json' : 'text',
      });
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, terminal, io.env);
  }
}

function reportError(error: unknown, terminal: Terminal, env: NodeJS.ProcessEnv): number {
  const debug = env.DRIFT_GUARD_DEBUG === '1' || env.DRIFT_GUARD_DEBUG === 'true';
  if (error instanceof CommanderError) {
    // Help and version "errors" are how commander says it printed them. Help printed because no
    // command was given (to stderr, exit code 1 in commander's terms) is a usage error.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
    if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    return ExitCode.usage;
  }
  if (isDriftGuardError(error)) {
    terminal.err(`drift-guard: ${error.message}`);
    for (const detail of error.details) terminal.err(`  ${detail}`);
    if (debug && error.stack !== undefined) terminal.err(error.stack);
    return error.exitCode;
  }
  // Anything else is a bug in drift-guard: one line by default, the stack on request for a report.
  terminal.err(`drift-guard: internal error: ${describeError(error)} (rerun with DRIFT_GUARD_DEBUG=1 for the stack trace, and please report it)`);
  if (debug) terminal.err(error instanceof Error && error.stack !== undefined ? error.stack : String(error));
  return ExitCode.environment;
}

function positiveCount(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new DriftGuardError('USAGE', `${flag} must be a positive whole number, got "${value}"`);
    return n;
  };
}

function oneLine(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}
