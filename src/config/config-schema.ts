// The shape of .drift-guard.yml. Keys are kebab-case in YAML; the parsed config keeps them so that
// error messages and `drift-guard config` speak the user's vocabulary. Secrets are never values
// here: a key ending in `-env` names the environment variable that holds the secret.

import * as z from 'zod';

// Each command parses one config once: zod's per-schema code generation (new Function) costs more
// than it saves there. Set before the schemas below are built, which read it.
z.config({ jitless: true });

export const POSTGRES_PROVIDERS = ['auto', 'url', 'docker', 'embedded'] as const;
export type PostgresProviderSetting = (typeof POSTGRES_PROVIDERS)[number];
export const POSTGRES_STORAGE = ['auto', 'memory', 'disk'] as const;
export type PostgresStorageSetting = (typeof POSTGRES_STORAGE)[number];

export const SUPPORTED_POSTGRES_MAJORS = { min: 14, max: 18 } as const;
export const DEFAULT_POSTGRES_MAJOR = 16;
export const DEFAULT_URL_ENV = 'DRIFT_GUARD_DATABASE_URL';

/** An environment variable name, as POSIX shells accept it. */
const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: 'must be the name of an environment variable (letters, digits, _), not its value',
  });

const postgresSchema = z
  .strictObject({
    provider: z
      .enum(POSTGRES_PROVIDERS)
      .default('auto')
      .describe(
        'Where scratch databases come from: url (an existing server), docker (testcontainers), embedded (PostgreSQL binaries from npm or the system), or auto (url, then docker, then embedded).',
      ),
    version: z
      .int()
      .min(SUPPORTED_POSTGRES_MAJORS.min)
      .max(SUPPORTED_POSTGRES_MAJORS.max)
      .default(DEFAULT_POSTGRES_MAJOR)
      .describe('PostgreSQL major version for scratch servers. Match production.'),
    'url-env': envVarName
      .default(DEFAULT_URL_ENV)
      .describe(
        'Environment variable holding the URL of an existing server on which drift-guard may create and drop scratch databases.',
      ),
    image: z
      .string()
      .min(1)
      .optional()
      .describe('Docker image for the docker provider. Default: postgres:<version>. Use it for images with extensions, e.g. postgis/postgis:16-3.4.'),
    storage: z
      .enum(POSTGRES_STORAGE)
      .default('auto')
      .describe(
        'Where a scratch server keeps its data: memory (tmpfs; several times faster to start and to migrate), disk (the temp directory), or auto (memory when at least 1 GiB of tmpfs is free, else disk). Choose disk for migrations that load a lot of data.',
      ),
    'startup-timeout': z
      .int()
      .min(1)
      .max(600)
      .default(60)
      .describe('Seconds to wait for a scratch server to accept connections.'),
    setup: z
      .array(z.string().trim().min(1))
      .default([])
      .describe(
        "SQL files (relative to this file) run, in order, on every new scratch database before any migration, as the role the migrations run as: what the project's databases get outside the migrations (CREATE SCHEMA, ALTER DATABASE ... SET search_path, trusted extensions; roles with postgres.superuser). Never run on production or on the database the migration commands work on.",
      ),
    superuser: z
      .strictObject({
        reason: z
          .string()
          .trim()
          .min(10, { error: 'say why the migrations need a superuser (at least a short sentence); it is shown in every report' })
          .describe('Why the migrations need a superuser (e.g. "CREATE EXTENSION postgis, which is not a trusted extension"). Shown in reports.'),
      })
      .optional()
      .describe(
        "Opt-in: run migrations in scratch databases as the server's superuser. By default they run as a role that owns the scratch database and is not a superuser, so a pull request's SQL cannot run programs or read files on the machine running the check.",
      ),
  })
  .describe('The scratch PostgreSQL used for checks.');

export const SQL_LAYOUTS = ['auto', 'flyway', 'golang-migrate', 'goose', 'dbmate', 'diesel', 'plain'] as const;
export type SqlLayoutSetting = (typeof SQL_LAYOUTS)[number];

const databaseSchema = z
  .strictObject({
    'url-env': envVarName
      .default('DATABASE_URL')
      .describe('Environment variable holding the URL of the database that migrate, status, rollback and script work on (a development database). --database-url overrides it.'),
  })
  .describe('The database the migration commands work on.');

const productionSchema = z
  .strictObject({
    'url-env': envVarName.default('PROD_DATABASE_URL').describe('Environment variable holding the production database URL (deploy, backup, drift, baseline). Never put the URL in this file.'),
    'backup-dir': z.string().min(1).default('backups').describe('Where deploy and backup write pg_dump backups, relative to this file.'),
    keep: z.int().min(1).max(1000).default(10).describe('How many backups of a database to keep; older ones are deleted after a verified new one is written.'),
    'lock-timeout': z.int().min(1).max(86_400).default(300).describe('Seconds a deploy waits for another deploy of the same database before giving up.'),
    'lock-timeout-statement': z
      .number()
      .min(0)
      .max(3600)
      .default(5)
      .describe(
        "Seconds each migration statement may wait for a table lock during deploy (PostgreSQL's lock_timeout), so that a migration queued behind a long transaction does not stall every query on the table; 0 waits forever.",
      ),
    'lock-retries': z.int().min(0).max(100).default(3).describe('How many times deploy retries a migration whose lock was not granted within lock-timeout-statement, waiting 1, 2, 4... seconds (at most 30) in between.'),
    'health-urls': z.array(z.string().regex(/^https?:\/\//, { error: 'must be an http:// or https:// URL' })).default([]).describe('HTTP endpoints that must answer 2xx after a deploy.'),
    'health-sql': z.string().min(1).optional().describe('A SQL probe run against production after a deploy (e.g. SELECT 1 FROM orders LIMIT 1); it must succeed.'),
    'health-timeout': z.int().min(1).max(600).default(10).describe('Seconds each health request may take.'),
    'health-retries': z.int().min(0).max(100).default(5).describe('Retries before a health check fails.'),
    'health-interval': z.number().min(0).max(60).default(2).describe('Seconds between health check attempts.'),
  })
  .describe('Production: deploy, backups, drift reports.');

const sqlSchema = z
  .strictObject({
    dir: z
      .string()
      .min(1)
      .optional()
      .describe('The migrations directory, relative to this file. Default: the one of db/migrations, migrations, db/migration, sql/migrations, src/main/resources/db/migration that exists.'),
    layout: z
      .enum(SQL_LAYOUTS)
      .default('auto')
      .describe('Which tool the directory belongs to; auto recognises it from file names and markers.'),
    'allow-out-of-order': z
      .boolean()
      .default(false)
      .describe('Apply a pending migration older than the newest applied one instead of failing with MIGRATION_OUT_OF_ORDER.'),
    'lock-timeout': z
      .int()
      .min(1)
      .max(86_400)
      .default(60)
      .describe('Seconds to wait for another runner holding the migration lock before giving up (exit 3).'),
    'schema-file': z
      .string()
      .min(1)
      .optional()
      .describe('A committed snapshot of the schema (drift-guard inspect output, e.g. db/schema.sql); the PR gate reports SCHEMA_FILE_STALE when the migrations no longer produce it.'),
    ignore: z
      .array(z.string().min(1))
      .default([])
      .describe('Globs (relative to the migrations directory) of SQL files there that are not migrations (seeds, callbacks). Any other .sql file or migration-shaped folder the layout does not read is an UNRECOGNIZED_MIGRATION_FILE error.'),
    entities: z
      .array(z.string().min(1))
      .default([])
      .describe('Globs (relative to this file) of the files that shape the schema (Go structs, sqlc queries, diesel\'s schema.rs, ORM models); the gate reports ENTITY_WITHOUT_MIGRATION when they change without a migration.'),
  })
  .describe('Plain-SQL migrations (Flyway, golang-migrate, goose, dbmate, diesel or drift-guard\'s own layout).');

const schemaSettings = z
  .strictObject({
    ignore: z
      .array(z.string().min(1))
      .default([])
      .describe('Objects left out of inspect, diff and drift: glob patterns on "schema.name" (a bare schema name leaves out the schema and everything in it), e.g. audit, public.tmp_*.'),
    'ignore-history-tables': z
      .boolean()
      .default(true)
      .describe("Leave out the migration tools' history tables (flyway_schema_history, schema_migrations, goose_db_version, __diesel_schema_migrations, drift_guard_migrations, __EFMigrationsHistory)."),
    privileges: z
      .boolean()
      .default(false)
      .describe('Compare GRANTs and default privileges too (owners are always left out). Same as --privileges.'),
  })
  .describe('What schema comparisons look at.');

/** One variable the app reads its connection from, and the form it expects there. */
const connectionEnvEntry = z.strictObject({
  name: envVarName,
  format: z.enum(['npgsql', 'url']).default('npgsql').describe('npgsql: Host=...;Username=...; url: a postgresql://host:port/db URL with the user and password in it'),
});

const efcoreSchema = z
  .strictObject({
    project: z.string().min(1).optional().describe('The project holding the migrations (.csproj), relative to this file. Default: the only .csproj under the project root.'),
    'startup-project': z.string().min(1).optional().describe('The startup project dotnet ef builds and runs (default: project).'),
    configuration: z.string().min(1).default('Debug').describe('Build configuration.'),
    framework: z.string().min(1).optional().describe('Target framework, when the project has several.'),
    'history-schema': z.string().min(1).optional().describe('Schema of the migrations history table, when the project moves it (MigrationsHistoryTable).'),
    'history-table': z.string().min(1).default('__EFMigrationsHistory').describe('Name of the migrations history table.'),
    'connection-env': z
      .union([envVarName, z.array(z.union([envVarName, connectionEnvEntry])).min(1)])
      .default('ConnectionStrings__DefaultConnection')
      .describe(
        'Environment variable(s) through which the app reads its connection string; drift-guard sets each for every dotnet ef call (and a migration bundle), never on the command line. A name (Npgsql keyword string), or a list of names and { name, format: npgsql | url }.',
      ),
    context: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe('The DbContext, when the project has more than one; a list gates each of them.'),
    'extra-args': z.array(z.string()).default([]).describe('Arguments passed to the app after --, e.g. ["--environment", "Test"].'),
    entities: z
      .array(z.string().min(1))
      .default(['**/*.cs'])
      .describe('Globs of the files that shape the model, relative to the migrations project (files outside it, e.g. the entities next to the DbContext of a separate migrations assembly: relative to this file); the gate reports ENTITY_WITHOUT_MIGRATION when they change without a migration. Migrations, snapshots, bin and obj never count. With the default, a file counts only when it declares a type the model snapshot names, a DbContext, a type configuration or an abstract base class.'),
  })
  .describe('EF Core projects (engine: efcore).');

export const ENGINES = ['sql', 'efcore', 'command'] as const;

const commandSchema = z
  .strictObject({
    apply: z.string().min(1).optional().describe('Shell command that applies every migration to $DATABASE_URL (PG* are set too).'),
    rollback: z.string().min(1).optional().describe('Shell command that rolls back to $DRIFT_GUARD_TARGET (a migration file name without its extension, or 0 for all).'),
    'model-check': z.string().min(1).optional().describe('Shell command that exits 0 when the model matches the migrations and 1 when it does not.'),
    migrations: z
      .array(z.string().min(1))
      .default(['migrations/**'])
      .describe('Globs (relative to this file) of the migration files, for the gate\'s git analysis. A migration\'s id is its file name without .up.sql/.down.sql/.sql (a folder\'s name for up.sql/down.sql); ids sort in apply order, numbers by value.'),
    entities: z
      .array(z.string().min(1))
      .default([])
      .describe('Globs (relative to this file) of the files that shape the schema (models, a declarative schema); the gate reports ENTITY_WITHOUT_MIGRATION when they change without a migration.'),
  })
  .describe('engine: command - your own migration commands.');

const SEVERITIES = ['error', 'warning', 'notice'] as const;

const dataSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Run the PR's migrations again on a copy of the base whose tables they touch (and the tables those reference) hold generated rows, so that migrations that only fail (or only hurt) on rows are caught."),
    rows: z.int().min(1).max(100_000).default(200).describe('Generated rows per table.'),
    seed: z.int().min(0).max(2_147_483_647).default(1).describe('Seed of the generated rows: the same seed gives the same rows, so a failure reproduces.'),
    budget: z.number().min(1).max(3600).default(60).describe('Seconds the filling may take; tables not filled by then are reported as notices.'),
    skip: z
      .array(z.string().min(1))
      .default([])
      .describe('Tables not filled: globs on "schema.table" (a pattern without a dot matches the table name in any schema), e.g. audit.*, public.big_*.'),
  })
  .describe("The data-aware gate: the PR's migrations on generated rows in the tables they touch.");

const thresholdsSchema = z
  .strictObject({
    'rewrite-seconds': z
      .number()
      .min(0)
      .default(5)
      .describe("A table rewrite, or a lock that makes writes wait (ACCESS EXCLUSIVE, EXCLUSIVE, SHARE ROW EXCLUSIVE, SHARE), estimated (from production's size) to last longer than this many seconds is an error."),
  })
  .describe("Limits that raise a hazard's severity, weighed by production's table sizes.");

const checkSchema = z
  .strictObject({
    rollback: z
      .enum(['auto', 'always', 'never'])
      .default('auto')
      .describe('Roll the PR back to the base and forward again, comparing schemas: auto (when every new migration has a down script), always, never.'),
    severity: z
      .record(z.string().regex(/^[A-Z_]+$/, { error: 'must be a finding code such as DESTRUCTIVE_CHANGE' }), z.enum(SEVERITIES))
      .default({})
      .describe('Severity per finding code, e.g. { DESTRUCTIVE_CHANGE: error, LOCKING_CHANGE: warning }.'),
    'allow-destructive-label': z.string().min(1).default('drift-guard:allow-destructive').describe('PR label that acknowledges DESTRUCTIVE_CHANGE findings.'),
    lint: z.boolean().default(false).describe("Lint the new migrations' SQL with squawk (LINT findings; EF Core: the SQL of migrations script)."),
    existing: z
      .enum(['warning', 'notice'])
      .default('warning')
      .describe('Severity of errors that already hold on the base (a problem in a file this PR does not touch): they are reported apart ("already on the base") and never fail the PR.'),
    data: dataSchema.default(() => dataSchema.parse({})),
    'stats-file': z
      .string()
      .min(1)
      .optional()
      .describe("Production's table statistics written by drift-guard stats -o FILE (relative to this file), for weighing hazards by production's size when the gate cannot reach production."),
    thresholds: thresholdsSchema.default(() => thresholdsSchema.parse({})),
    cache: z
      .boolean()
      .default(true)
      .describe("Keep the base schema (and its schema model) that the embedded server built, and the base commit's migrations as the gate read them, in the cache directory (DRIFT_GUARD_CACHE_DIR), keyed by the base's migration files, so the next gate on the same base skips applying and reading them. false: build and read them every time."),
  })
  .describe('The PR gate (drift-guard check).');

export const configSchema = z
  .strictObject({
    engine: z.enum(ENGINES).default('sql').describe('How migrations are applied: sql (migration files, see sql:), efcore (dotnet ef, see efcore:) or command (your own commands, see command:).'),
    efcore: efcoreSchema.default(() => efcoreSchema.parse({})),
    command: commandSchema.default(() => commandSchema.parse({})),
    postgres: postgresSchema.default(() => postgresSchema.parse({})),
    database: databaseSchema.default(() => databaseSchema.parse({})),
    production: productionSchema.default(() => productionSchema.parse({})),
    sql: sqlSchema.default(() => sqlSchema.parse({})),
    schema: schemaSettings.default(() => schemaSettings.parse({})),
    check: checkSchema.default(() => checkSchema.parse({})),
  })
  .describe('drift-guard configuration (.drift-guard.yml).');

export type DriftGuardConfig = z.output<typeof configSchema>;
export type PostgresConfig = DriftGuardConfig['postgres'];

export function defaultConfig(): DriftGuardConfig {
  return configSchema.parse({});
}

/** JSON Schema for editors (yaml-language-server) and for the committed schema/ file. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'drift-guard configuration',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}
