// Schema sources for inspect, diff and drift: a PostgreSQL URL, a .sql file, a migrations
// directory, or git:REF (the project's migrations at a commit). Everything that is not a URL is
// loaded into a scratch database on one shared server. What only those need (the scratch server,
// the SQL engine, git) is imported on first use: `diff URL URL` starts without it.

import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load-config.js';
import { DriftGuardError } from '../errors.js';
import { introspectUrl } from '../introspect/introspect.js';
import { withClient } from '../postgres/client.js';
import type { PostgresOptions, PostgresServer } from '../postgres/scratch.js';
import { hasErrors } from '../report/finding.js';
import type { Reporter } from '../util/reporter.js';
import { registerConnectionString } from '../util/secrets.js';
import type { SchemaModel } from './model.js';
import type { ModelOptions } from './rows-to-model.js';

export type SchemaSource =
  | { readonly kind: 'url'; readonly url: string; readonly label: string }
  | { readonly kind: 'sql-file'; readonly file: string; readonly label: string }
  | { readonly kind: 'migrations'; readonly dir: string; readonly label: string }
  | { readonly kind: 'git'; readonly ref: string; readonly label: string };

export function parseSource(text: string, cwd: string): SchemaSource {
  if (/^postgres(ql)?:\/\//i.test(text)) return { kind: 'url', url: text, label: registerConnectionString(text) };
  if (text.startsWith('git:')) {
    const ref = text.slice('git:'.length);
    if (ref === '') throw new DriftGuardError('USAGE', 'git: needs a ref, e.g. git:main or git:HEAD~1');
    return { kind: 'git', ref, label: text };
  }
  const full = path.resolve(cwd, text);
  if (!existsSync(full)) {
    throw new DriftGuardError('USAGE', `schema source ${text} is neither a postgres:// URL, git:REF, an existing .sql file nor a migrations directory`);
  }
  if (statSync(full).isDirectory()) return { kind: 'migrations', dir: full, label: text };
  return { kind: 'sql-file', file: full, label: text };
}

export interface SourceContext {
  readonly loaded: LoadedConfig;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  readonly postgres: PostgresOptions;
  /** --privileges on the command line. */
  readonly privileges?: boolean;
}

export function modelOptions(loaded: LoadedConfig, overrides: { privileges?: boolean } = {}): ModelOptions {
  const schema = loaded.config.schema;
  return { ignore: schema.ignore, ignoreHistoryTables: schema['ignore-history-tables'], privileges: overrides.privileges === true || schema.privileges };
}

/** Loads every source into a model; starts one scratch server only if a source needs one. */
export async function loadSchemas(sources: readonly SchemaSource[], context: SourceContext): Promise<SchemaModel[]> {
  const options = modelOptions(context.loaded, { privileges: context.privileges === true });
  const needsServer = sources.some((s) => s.kind !== 'url');
  // Sources load side by side (each on its own connection and database): reading two large
  // schemas takes the time of one.
  const load = (server: PostgresServer | undefined): Promise<SchemaModel[]> =>
    Promise.all(
      sources.map((source) =>
        source.kind === 'url'
          ? context.reporter.step(`reading the schema of ${source.label}`, () => introspectUrl(source.url, options, { closeInBackground: true }))
          : server!.withDatabase(async (db) => {
              await context.reporter.step(`loading ${source.label} into a scratch database`, () => loadInto(source, db.url, context));
              return introspectUrl(db.url, options);
            }),
      ),
    );
  if (!needsServer) return load(undefined);
  const { withPostgresServer } = await import('../postgres/scratch.js');
  return withPostgresServer(context.postgres, load);
}

async function loadInto(source: Exclude<SchemaSource, { kind: 'url' }>, url: string, context: SourceContext): Promise<void> {
  switch (source.kind) {
    case 'sql-file':
      return loadSqlFile(source.file, url, context.cwd);
    case 'migrations':
      return applyMigrations(source.dir, url, context, source.label);
    case 'git': {
      const extracted = await extractMigrationsAtRef(source.ref, context);
      try {
        return await applyMigrations(extracted.dir, url, context, source.label);
      } finally {
        rmSync(extracted.root, { recursive: true, force: true });
      }
    }
  }
}

/** Runs a SQL file (plain SQL; pg_dump's \restrict lines are skipped) as one script. */
export async function loadSqlFile(file: string, url: string, cwd: string): Promise<void> {
  const text = readFileSync(file, 'utf8').replace(/^\ufeff/, '');
  const shown = path.relative(cwd, file) || file;
  const lines = text.split('\n');
  const meta = lines.findIndex((line) => /^\\/.test(line) && !/^\\(un)?restrict\b/.test(line));
  if (meta >= 0) {
    throw new DriftGuardError('USAGE', `${shown}:${meta + 1}:1: psql meta-command "${lines[meta]!.trim().slice(0, 30)}" is not SQL; remove it (drift-guard loads plain SQL)`);
  }
  const sql = lines.map((line) => (/^\\(un)?restrict\b/.test(line) ? '' : line)).join('\n');
  await withClient(url, async (client) => {
    try {
      await client.query(sql);
    } catch (error) {
      const [{ findFailingStatement }, { lineAndColumn }] = await Promise.all([import('../engines/sql/execute.js'), import('../engines/sql/sql-script.js')]);
      // One multi-statement query is all-or-nothing; without a position, replay to find the statement.
      const pgError = error as { message: string; position?: string };
      const located = pgError.position === undefined ? await findFailingStatement(client, sql) : { offset: Number(pgError.position) - 1, error: pgError };
      const { line, column } = lineAndColumn(sql, located?.offset ?? 0);
      throw new DriftGuardError('USAGE', `${shown}:${line}:${column}: ${located?.error.message ?? pgError.message} (while loading it into a scratch database)`);
    }
  });
}

async function applyMigrations(dir: string, url: string, context: SourceContext, label: string): Promise<void> {
  if (!existsSync(dir)) return; // no migrations (yet) at that commit: an empty schema
  const [{ resolveSqlMigrations }, { migrateUp }] = await Promise.all([import('../engines/sql/project.js'), import('../engines/sql/migrator.js')]);
  const project = resolveSqlMigrations(context.loaded, context.cwd, { dir });
  const outcome = await migrateUp(project, { databaseUrl: url, reporter: context.reporter, lockTimeoutMs: 60_000, allowOutOfOrder: true });
  if (!outcome.ok || hasErrors(outcome.findings)) {
    const first = outcome.findings.find((f) => f.severity === 'error');
    const where = first?.file === undefined ? '' : `${first.file}${first.line === undefined ? '' : `:${first.line}:${first.column ?? 1}`}: `;
    throw new DriftGuardError('USAGE', `the migrations in ${label} do not apply to an empty database: ${where}${first?.message ?? 'unknown failure'}`);
  }
}

/** Extracts the configured migrations directory as it was at `ref`. */
async function extractMigrationsAtRef(ref: string, context: SourceContext): Promise<{ root: string; dir: string }> {
  const [{ resolveSqlMigrations, projectRoot }, { extractDirectory, repositoryRoot }] = await Promise.all([import('../engines/sql/project.js'), import('../git/git.js')]);
  const project = resolveSqlMigrations(context.loaded, context.cwd, {});
  const top = await repositoryRoot(projectRoot(context.loaded, context.cwd));
  return extractDirectory(ref, path.relative(top, project.dir), top);
}
