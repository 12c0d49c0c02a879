// The EF Core engine: every operation is a `dotnet ef` command run correctly (see dotnet-ef.ts);
// drift-guard adds what EF does not: progress, integrity of the files on disk, findings with
// stable codes, and a second opinion on the model from the schema engine.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoadedConfig } from '../../config/load-config.js';
import { DriftGuardError } from '../../errors.js';
import { introspectUrl } from '../../introspect/introspect.js';
import { withClient, withTransaction } from '../../postgres/client.js';
import { withPostgresServer, type PostgresOptions } from '../../postgres/scratch.js';
import { quoteIdent } from '../../postgres/sql.js';
import type { Finding } from '../../report/finding.js';
import { diffSchemas } from '../../schema/diff.js';
import { HISTORY_TABLES } from '../../schema/rows-to-model.js';
import { loadSqlFile, modelOptions } from '../../schema/sources.js';
import type { Reporter } from '../../util/reporter.js';
import type { BaseTables, Engine, EngineStatus, ObservedMigration, RunContext } from '../engine.js';
import type { MigrationStatus } from '../sql/integrity.js';
import type { MigrationResult, RunOutcome } from '../sql/migrator.js';
import { relations, watchStatements } from '../sql/observed-run.js';
import { projectRoot } from '../sql/project.js';
import { loadParser, parseScript, type SqlStatement } from '../sql/sql-script.js';
import { connectionVariables, DotnetEf, efErrorText, efProductVersion, findProject, type EfSettings } from './dotnet-ef.js';
import { scanMigrationFiles, type ScannedMigrations } from './efcore-integrity.js';
import { efcoreGateFiles } from './efcore-gate.js';

/** The message EF prints when the model changed; matched case-sensitively, as EF writes it. */
export const PENDING_CHANGES_MESSAGE = 'Changes have been made to the model since the last migration';

interface EfMigration {
  readonly id: string;
  readonly name: string;
  /** The DbContext (as configured) the migration belongs to; undefined when the project has one. */
  readonly context: string | undefined;
}

export function efcoreEngine(loaded: LoadedConfig, cwd: string, env: NodeJS.ProcessEnv, reporter: Reporter, postgres?: PostgresOptions): Engine {
  const config = loaded.config.efcore;
  const root = projectRoot(loaded, cwd);
  const project = findProject(root, config.project);
  const contexts: readonly (string | undefined)[] = config.context === undefined ? [undefined] : typeof config.context === 'string' ? [config.context] : config.context;
  const several = contexts.length > 1;
  const settings: EfSettings = {
    root,
    project,
    startupProject: config['startup-project'] === undefined ? project : path.resolve(root, config['startup-project']),
    configuration: config.configuration,
    framework: config.framework,
    connectionEnv: connectionVariables(config['connection-env']),
    extraArgs: config['extra-args'],
    env,
  };
  const ef = new DotnetEf(settings, reporter);
  const projectDir = path.dirname(project);
  const relative = (file: string): string => path.relative(root, file);
  const historyTable = `${config['history-schema'] === undefined ? '' : `${config['history-schema']}.`}${config['history-table']}`;

  // What EF discovers, once per context and engine object (migrations list --no-connect).
  const listed = new Map<string | undefined, Promise<EfMigration[]>>();
  const discoveredIn = (context: string | undefined): Promise<EfMigration[]> => {
    let cached = listed.get(context);
    if (cached === undefined) {
      cached = (async () => {
        const result = await ef.runOrThrow(['migrations', 'list', '--no-connect'], { json: true, context });
        try {
          return (JSON.parse(result.data) as { id: string; name: string }[]).map((m) => ({ id: m.id, name: m.name, context }));
        } catch {
          throw new DriftGuardError('TOOL_MISSING', `dotnet ef migrations list printed no JSON: ${efErrorText(result)}`);
        }
      })();
      listed.set(context, cached);
    }
    return cached;
  };
  const discovered = async (): Promise<EfMigration[]> => (await Promise.all(contexts.map(discoveredIn))).flat();

  let scannedCache: Promise<ScannedMigrations> | undefined;
  /** The files on disk compared with what EF lists (once per engine object). */
  const scanned = (): Promise<ScannedMigrations> =>
    (scannedCache ??= (async () => {
      const ids = (await discovered()).map((m) => m.id);
      const configured = contexts.filter((c): c is string => c !== undefined);
      return scanMigrationFiles(projectDir, root, { ids, contexts: configured.length === 0 ? undefined : configured });
    })());

  const fileOf = (id: string, scan: ScannedMigrations): string | undefined => {
    const found = scan.migrations.find((m) => m.id === id);
    if (found === undefined) return undefined;
    return relative(found.main ?? found.designer.replace(/\.Designer\.cs$/, '.cs'));
  };

  /** database update <target>, with progress from EF's "Applying/Reverting migration" lines. */
  const update = async (context: RunContext, dbContext: string | undefined, target: string, todo: readonly EfMigration[], direction: 'up' | 'down'): Promise<RunOutcome> => {
    const scan = await scanned();
    const emit = context.onEvent ?? (() => undefined);
    emit({ event: 'plan', direction, total: todo.length, migrations: todo.map((m) => m.id), dryRun: false });
    const results: MigrationResult[] = [];
    let current: { id: string; index: number; started: number } | undefined;
    const finishCurrent = (): void => {
      if (current === undefined) return;
      const ms = performance.now() - current.started;
      emit({ event: 'done', direction, index: current.index, total: todo.length, migration: current.id, version: current.id, ms });
      results.push({ migration: current.id, version: current.id, direction, status: direction === 'up' ? 'applied' : 'rolled-back', ms });
      current = undefined;
    };
    const result = await ef.run(['database', 'update', target], {
      connection: context.databaseUrl,
      context: dbContext,
      onLine: (kind, text) => {
        const match = /^(?:Applying|Reverting) migration '([^']+)'/.exec(text);
        if (kind !== 'info' || match === null) return;
        finishCurrent();
        const index = todo.findIndex((m) => m.id === match[1]) + 1;
        current = { id: match[1]!, index, started: performance.now() };
        emit({ event: 'start', direction, index, total: todo.length, migration: match[1]!, version: match[1]!, transaction: true });
      },
    });
    if (result.exitCode === 0) {
      finishCurrent();
      if (results.length === 0 && todo.length > 0) {
        context.reporter.warn(`dotnet ef had nothing to ${direction === 'up' ? 'apply' : 'revert'}, but ${historyTable} said otherwise: is the history table elsewhere? Set efcore.history-schema / efcore.history-table as the app's MigrationsHistoryTable does`);
      }
      return { ok: true, results, findings: [] };
    }
    const failed = current ?? { id: todo[results.length]?.id ?? target, index: results.length + 1, started: performance.now() };
    const file = fileOf(failed.id, scan);
    const main = scan.migrations.find((m) => m.id === failed.id)?.main;
    const line = main === undefined ? undefined : failingLine(main, result.output, direction);
    const finding: Finding = { check: 'apply', code: 'APPLY_FAILED', severity: 'error', message: `dotnet ef database update failed: ${efErrorText(result)}`, ...(file === undefined ? {} : { file }), ...(line === undefined ? {} : { line }) };
    emit({ event: 'failed', direction, index: failed.index, total: todo.length, migration: failed.id, version: failed.id, ms: performance.now() - failed.started, finding, statementsApplied: 0 });
    results.push({ migration: failed.id, version: failed.id, direction, status: 'failed' });
    for (const rest of todo.filter((m) => !results.some((r) => r.migration === m.id))) results.push({ migration: rest.id, version: rest.id, direction, status: 'not-executed' });
    return { ok: false, results, findings: [finding] };
  };

  const historyIds = (url: string): Promise<Set<string>> =>
    withClient(url, async (client) => {
      const table = `${config['history-schema'] === undefined ? '' : `${quoteIdent(config['history-schema'])}.`}${quoteIdent(config['history-table'])}`;
      const exists = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [table]);
      if (exists.rows[0]?.found !== true) return new Set<string>();
      const rows = await client.query<{ id: string }>(`SELECT "MigrationId" AS id FROM ${table} ORDER BY 1`);
      return new Set(rows.rows.map((r) => r.id));
    });

  const resolveTarget = (migrations: readonly EfMigration[], target: string): EfMigration => {
    const found = migrations.find((m) => m.id === target || m.name === target);
    if (found === undefined) {
      throw new DriftGuardError('USAGE', `no migration ${target} (known: ${migrations.map((m) => m.name).join(', ') || 'none'})`);
    }
    return found;
  };

  // Each new migration's SQL, split out of one `migrations script` from the migration before the
  // first one asked for to the last discovered (the gate asks in order, then again for the rows).
  const scriptsFrom = new Map<string, Promise<Map<string, string> | undefined>>();
  const migrationSql = async (id: string, log: Reporter): Promise<string | undefined> => {
    for (const cached of scriptsFrom.values()) {
      const found = (await cached)?.get(id);
      if (found !== undefined) return found;
    }
    const all = await discovered();
    const index = all.findIndex((m) => m.id === id);
    if (index === -1) return undefined;
    const from = index === 0 ? '0' : all[index - 1]!.id;
    let split = scriptsFrom.get(from);
    if (split === undefined) {
      split = engine.script({ from, to: all.at(-1)!.id }, log).then(splitEfScript, () => undefined);
      scriptsFrom.set(from, split);
    }
    return (await split)?.get(id);
  };

  const scriptCache = new Map<string, Promise<string>>();
  const writeScript = async (options: { from?: string; to?: string; idempotent?: boolean }, dbContext: string | undefined): Promise<string> => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-ef-'));
    try {
      const output = path.join(dir, 'script.sql');
      const args = ['migrations', 'script'];
      if (options.from !== undefined || options.to !== undefined) args.push(options.from ?? '0');
      if (options.to !== undefined) args.push(options.to);
      if (options.idempotent === true) args.push('--idempotent');
      args.push('--output', output);
      await ef.runOrThrow(args, { context: dbContext });
      // EF writes the file with a UTF-8 byte order mark: not SQL.
      return readFileSync(output, 'utf8').replace(/^\uFEFF/, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const onlyContext = (what: string): string | undefined => {
    if (several) throw new DriftGuardError('USAGE', `${what} works on one DbContext; efcore.context lists ${contexts.length} (${contexts.join(', ')}): run it with a config that names one`);
    return contexts[0];
  };

  const notExecuted = (todo: readonly EfMigration[], direction: 'up' | 'down'): MigrationResult[] => todo.map((m) => ({ migration: m.id, version: m.id, direction, status: 'not-executed' }));

  const engine: Engine = {
    name: 'efcore',
    // One context: each migration's SQL (from one `migrations script`) runs statement by statement,
    // watched like a SQL migration. Several: `database update` per migration.
    capabilities: { rollback: true, modelCheck: true, history: true, granularity: several ? 'migration' : 'statement' },
    gate: efcoreGateFiles({ loaded, cwd, root, projectDir, self: () => engine, relocated: (other, at) => efcoreEngine(other, at, env, reporter, postgres) }),
    location: relative(project),
    details: { project: relative(project), historyTable, ...(contexts[0] === undefined ? {} : { context: contexts.join(', ') }) },

    prepare(prepareReporter) {
      return ef.prepare(prepareReporter);
    },

    async list() {
      const build = await ef.prepare();
      if (build.length > 0) return [];
      const scan = await scanned();
      return (await discovered()).map((m) => {
        const file = fileOf(m.id, scan);
        return { id: m.id, label: several && m.context !== undefined ? `${m.context}: ${m.name}` : m.name, ...(file === undefined ? {} : { file }) };
      });
    },

    async migrate(context, options) {
      const build = await ef.prepare(context.reporter);
      if (build.length > 0) return { ok: false, results: [], findings: build };
      // Integrity findings are reported, never a reason to skip: EF applies what it discovers.
      const integrity = (await scanned()).findings;
      const applied = await historyIds(context.databaseUrl);
      const all = await discovered();
      const target = options.target === undefined ? undefined : resolveTarget(all, options.target);
      const results: MigrationResult[] = [];
      const findings: Finding[] = [...integrity];
      let ok = true;
      for (const dbContext of contexts) {
        // Without a target every context goes to its last migration; with one, every context goes
        // to where it stood when the target was added: its migrations whose ids (timestamps) sort
        // up to the target's (one context: up to the target).
        const migrations = all.filter((m) => m.context === dbContext);
        const last = target === undefined ? migrations.length - 1 : dbContext === target.context ? migrations.indexOf(target) : migrations.findLastIndex((m) => m.id <= target.id);
        const todo = migrations.filter((m, i) => !applied.has(m.id) && i <= last);
        if (!ok || options.dryRun === true || todo.length === 0) {
          if (ok) context.onEvent?.({ event: 'plan', direction: 'up', total: todo.length, migrations: todo.map((m) => m.id), dryRun: options.dryRun === true });
          results.push(...notExecuted(todo, 'up'));
          continue;
        }
        const outcome = await update(context, dbContext, todo.at(-1)!.id, todo, 'up');
        results.push(...outcome.results);
        findings.push(...outcome.findings);
        ok = outcome.ok;
      }
      return { ok, results, findings };
    },

    async rollback(context, options) {
      const build = await ef.prepare(context.reporter);
      if (build.length > 0) return { ok: false, results: [], findings: build };
      const all = await discovered();
      const applied = await historyIds(context.databaseUrl);
      if (several && options.target !== undefined) {
        // Every context back to where it stood when the target was added (0: before its first).
        const found = options.target === '0' ? undefined : resolveTarget(all, options.target);
        const results: MigrationResult[] = [];
        const findings: Finding[] = [];
        for (const dbContext of [...contexts].reverse()) {
          const migrations = all.filter((m) => m.context === dbContext);
          const keep = found === undefined ? -1 : dbContext === found.context ? migrations.indexOf(found) : migrations.findLastIndex((m) => m.id <= found.id);
          const todo = migrations.filter((m, i) => applied.has(m.id) && i > keep).reverse();
          if (options.dryRun === true || todo.length === 0) {
            context.onEvent?.({ event: 'plan', direction: 'down', total: todo.length, migrations: todo.map((m) => m.id), dryRun: options.dryRun === true });
            results.push(...notExecuted(todo, 'down'));
            continue;
          }
          const outcome = await update(context, dbContext, keep < 0 ? '0' : migrations[keep]!.id, todo, 'down');
          results.push(...outcome.results);
          findings.push(...outcome.findings);
          if (!outcome.ok) return { ok: false, results, findings };
        }
        return { ok: true, results, findings };
      }
      let dbContext: string | undefined;
      let target: string;
      if (options.target !== undefined && options.target !== '0') {
        const found = resolveTarget(all, options.target);
        dbContext = found.context;
        target = found.id;
      } else {
        // Steps (or 0) move the last context that has applied migrations.
        dbContext = [...contexts].reverse().find((c) => all.some((m) => m.context === c && applied.has(m.id))) ?? contexts.at(-1);
        const done = all.filter((m) => m.context === dbContext && applied.has(m.id));
        const steps = options.steps ?? 1;
        target = options.target === '0' ? '0' : done.length - steps - 1 >= 0 ? done[done.length - steps - 1]!.id : '0';
      }
      const migrations = all.filter((m) => m.context === dbContext);
      const keep = target === '0' ? -1 : migrations.findIndex((m) => m.id === target);
      const todo = migrations.filter((m, i) => applied.has(m.id) && i > keep).reverse();
      if (options.dryRun === true || todo.length === 0) {
        context.onEvent?.({ event: 'plan', direction: 'down', total: todo.length, migrations: todo.map((m) => m.id), dryRun: options.dryRun === true });
        return { ok: true, findings: [], results: notExecuted(todo, 'down') };
      }
      return update(context, dbContext, target, todo, 'down');
    },

    async status(context): Promise<EngineStatus> {
      const build = await ef.prepare(context.reporter);
      if (build.length > 0) return { statuses: [], findings: build };
      const migrations = await discovered();
      const scan = await scanned();
      const applied = await historyIds(context.databaseUrl);
      const statuses: MigrationStatus[] = migrations.map((m) => ({
        version: m.id,
        description: several && m.context !== undefined ? `${m.context}: ${m.name}` : m.name,
        kind: 'versioned',
        state: applied.has(m.id) ? 'applied' : 'pending',
        file: fileOf(m.id, scan),
      }));
      // EF lists only the migrations it has; rows of others (a branch never merged, a deleted
      // migration) are in the history table alone.
      // A row of another context sharing the history table is on disk, not missing.
      const known = new Set([...migrations.map((m) => m.id), ...scan.migrations.map((m) => m.id)]);
      const unknown = [...applied].filter((id) => !known.has(id));
      const findings: Finding[] = [...scan.findings];
      for (const id of unknown) {
        statuses.push({ version: id, description: id.replace(/^\d{14}_/, ''), kind: 'versioned', state: 'missing' });
        findings.push({ check: 'integrity', code: 'MIGRATION_MISSING_ON_DISK', severity: 'error', message: `migration ${id} is recorded in ${config['history-table']} but this project does not have it (a branch never merged, or a deleted migration); restore it or remove its effect and its history row` });
      }
      return { statuses, findings };
    },

    async baseline(context, options) {
      const build = await ef.prepare(context.reporter);
      if (build.length > 0) throw new DriftGuardError('USAGE', `the project does not build: ${build[0]!.file ?? ''}:${build[0]!.line ?? ''} ${build[0]!.message}`);
      const all = await discovered();
      const found = resolveTarget(all, options.target);
      const migrations = all.filter((m) => m.context === found.context);
      const chosen = migrations.slice(0, migrations.indexOf(found) + 1).map((m) => m.id);
      const productVersion = efProductVersion(projectDir);
      const table = `${config['history-schema'] === undefined ? '' : `${quoteIdent(config['history-schema'])}.`}${quoteIdent(config['history-table'])}`;
      await withTransaction(context.databaseUrl, async (client) => {
        if (config['history-schema'] !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(config['history-schema'])}`);
        // The table EF itself creates (HistoryRepository), so that later updates find what they expect.
        await client.query(`CREATE TABLE IF NOT EXISTS ${table} ("MigrationId" character varying(150) NOT NULL, "ProductVersion" character varying(32) NOT NULL, CONSTRAINT ${quoteIdent(`PK_${config['history-table']}`)} PRIMARY KEY ("MigrationId"))`);
        for (const id of chosen) await client.query(`INSERT INTO ${table} ("MigrationId", "ProductVersion") VALUES ($1, $2)`, [id, productVersion]);
      });
      return chosen;
    },

    async create(name) {
      const dbContext = onlyContext('drift-guard new');
      const className = pascalCase(name);
      const result = await ef.runOrThrow(['migrations', 'add', className], { json: true, context: dbContext });
      // New source files: the next command builds again and lists again.
      ef.invalidate();
      listed.clear();
      scannedCache = undefined;
      scriptCache.clear();
      scriptsFrom.clear();
      const files = JSON.parse(result.data) as Record<string, string>;
      return Object.values(files).map(relative);
    },

    ...(several
      ? {}
      : {
          async applyObserved(context, id, baseTables) {
            const sql = await migrationSql(id, context.reporter);
            const main = (await scanned()).migrations.find((m) => m.id === id)?.main;
            if (sql === undefined || main === undefined) return undefined;
            return applyEfObserved(context.databaseUrl, sql, { id, file: relative(main), text: readFileSync(main, 'utf8') }, baseTables);
          },
        }),

    async script(options) {
      const dbContext = onlyContext('drift-guard script');
      // The gate asks for the same range twice (the watched apply and the lint): one dotnet start.
      const key = JSON.stringify([options.from ?? null, options.to ?? null, options.idempotent === true]);
      let cached = scriptCache.get(key);
      if (cached === undefined) {
        cached = writeScript(options, dbContext);
        scriptCache.set(key, cached);
        cached.catch(() => scriptCache.delete(key));
      }
      return cached;
    },

    async checkModel(checkReporter, options) {
      const build = await ef.prepare(checkReporter);
      if (build.length > 0) return build;
      const findings: Finding[] = [];
      for (const dbContext of contexts) {
        const result = await ef.run(['migrations', 'has-pending-model-changes'], { context: dbContext });
        const text = [...result.info, ...result.errors, result.data].join('\n');
        if (result.exitCode === 0) continue;
        // Exit 1 means changes only with EF's own message (case-sensitive); anything else is a failure to check.
        if (!text.includes(PENDING_CHANGES_MESSAGE)) throw new DriftGuardError('TOOL_MISSING', `dotnet ef migrations has-pending-model-changes failed: ${efErrorText(result)}`);
        findings.push({
          check: 'model',
          code: 'MODEL_PENDING_CHANGES',
          severity: 'error',
          message: `${several && dbContext !== undefined ? `${dbContext}: ` : ''}${PENDING_CHANGES_MESSAGE}: the model differs from the last migration's snapshot; add a migration (dotnet ef migrations add <Name>${several && dbContext !== undefined ? ` --context ${dbContext}` : ''}, or make migrate NAME=<Name>)`,
          file: relative(project),
          ...(several && dbContext !== undefined ? { details: { context: dbContext } } : {}),
        });
      }
      if (options.secondOpinion && postgres !== undefined) {
        for (const dbContext of contexts) findings.push(...(await secondOpinion(checkReporter, dbContext)));
      }
      return findings;
    },
  };
  return engine;

  /** dbcontext script in one scratch database, all migrations in another, diffed. */
  async function secondOpinion(checkReporter: Reporter, dbContext: string | undefined): Promise<Finding[]> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-ef-'));
    try {
      const modelFile = path.join(dir, 'model.sql');
      await ef.runOrThrow(['dbcontext', 'script', '--output', modelFile], { context: dbContext });
      const options = modelOptions(loaded);
      const ignore = { ...options, ignore: [...options.ignore, ...historyPatterns()] };
      const [fromMigrations, fromModel] = await withPostgresServer(postgres!, (server) =>
        Promise.all([
          server.withDatabase(async (db) => {
            const outcome = await ef.run(['database', 'update'], { connection: db.url, context: dbContext });
            if (outcome.exitCode !== 0) throw new DriftGuardError('TOOL_MISSING', `applying the migrations to a scratch database failed: ${efErrorText(outcome)}`);
            return introspectUrl(db.url, ignore);
          }),
          server.withDatabase(async (db) => {
            await loadSqlFile(modelFile, db.url, dir);
            return introspectUrl(db.url, ignore);
          }),
        ]),
      );
      const diff = diffSchemas(fromMigrations, fromModel);
      if (diff.changes.length === 0) return [];
      checkReporter.warn(`the migrations do not produce the model: ${diff.changes.length} difference(s)`);
      return [
        {
          check: 'model',
          code: 'MIGRATIONS_DIVERGE_FROM_MODEL',
          severity: 'warning',
          message: `${several && dbContext !== undefined ? `${dbContext}: ` : ''}applying every migration does not produce the model EF scripts (dbcontext script): ${diff.changes
            .slice(0, 5)
            .map((c) => c.description)
            .join('; ')}${diff.changes.length > 5 ? `; and ${diff.changes.length - 5} more` : ''}. A migration was edited by hand, or its Up() no longer matches its Designer file`,
          file: relative(project),
          details: { changes: diff.changes.map((c) => c.description) },
        },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  function historyPatterns(): string[] {
    const table = config['history-table'];
    if (HISTORY_TABLES.includes(table) && config['history-schema'] === undefined) return [];
    return [`${config['history-schema'] ?? '*'}.${table}`];
  }
}

/** "add orders" / "add_orders" -> "AddOrders": migration names are C# class names. */
export function pascalCase(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '');
  const joined = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  if (joined === '' || /^\d/.test(joined)) throw new DriftGuardError('USAGE', `"${name}" cannot be a migration class name; start it with a letter, e.g. AddOrders`);
  return joined;
}

/**
 * The line of a migration's C# that made the command EF reports as failed: in its Up (or Down)
 * method, the first line naming the most specific identifier the failed SQL quotes (a constraint or
 * index name before a column, before a table), or holding the SQL itself (migrationBuilder.Sql);
 * else the method's own line. Undefined when the file
 * cannot be read or has no such method.
 */
export function failingLine(file: string, output: readonly string[], direction: 'up' | 'down'): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const locate = callLocator(text, direction);
  if (locate === undefined) return undefined;
  // The failed command: the lines after the last "Failed executing DbCommand" (EF logs a benign
  // one first when the history table does not exist yet), up to the exception.
  const at = output.findLastIndex((l) => l.includes('Failed executing DbCommand'));
  const after = at === -1 ? [] : output.slice(at + 1);
  const end = after.findIndex((l) => /^\s*(Npgsql\.|System\.|Microsoft\.|at |Exception data:|[0-9A-Z]{5}: )/.test(l));
  return locate((end === -1 ? after.slice(0, 40) : after.slice(0, end)).join('\n')).line;
}

/**
 * A `dotnet ef migrations script` cut into its migrations: each ends with the history INSERT of
 * its id (and the COMMIT after it). Undefined when the script has no such INSERT.
 */
export function splitEfScript(script: string): Map<string, string> | undefined {
  const blocks = new Map<string, string>();
  const end = /INSERT INTO [^\n(]+\("MigrationId", "ProductVersion"\)\s*VALUES \('([^']+)', '[^']*'\);[ \t]*(?:\r?\n\s*COMMIT;)?/g;
  let start = 0;
  for (const match of script.matchAll(end)) {
    const stop = match.index + match[0].length;
    blocks.set(match[1]!, script.slice(start, stop));
    start = stop;
  }
  return blocks.size === 0 ? undefined : blocks;
}

/**
 * One EF migration's SQL applied statement by statement, watched like a SQL migration (locks,
 * rewrites, rows read and written, time); each statement is put on the line of the migration's C#
 * that made it. Undefined when the SQL cannot be parsed (the caller applies it with EF instead).
 */
async function applyEfObserved(url: string, sql: string, migration: { id: string; file: string; text: string }, baseTables: BaseTables): Promise<ObservedMigration | undefined> {
  await loadParser();
  const parsed = parseScript(sql);
  if (!parsed.ok) return undefined;
  const statements = parsed.statements;
  const locate = callLocator(migration.text, 'up') ?? (() => ({ line: 1, column: 1 }));
  // One transaction when the migration's SQL is one START TRANSACTION ... COMMIT.
  const controls = statements.filter((st) => st.transactionControl);
  const transaction = controls.length === 2 && statements[0]?.transactionControl === true && statements.at(-1)?.transactionControl === true;
  const started = performance.now();
  return withClient(url, async (client) => {
    const snapshot = await relations(client);
    const watched = await watchStatements(statements, {
      client,
      baseTables,
      snapshot,
      inTransaction: false,
      position: (statement) => locate(statement.text),
    });
    const ms = performance.now() - started;
    const label = { migration: migration.id, version: migration.id, direction: 'up' as const };
    // EF's own wrapping (START TRANSACTION, COMMIT) and bookkeeping (the history row) are not the migration's work.
    const observed = watched.observed.filter((st) => st.kind !== 'TransactionStmt' && !/"MigrationId", "ProductVersion"/.test(st.text));
    if (watched.failure !== undefined) {
      if (watched.failure.inOpenTransaction) await client.query('ROLLBACK').catch(() => undefined);
      const error = watched.failure.error as { message?: string; code?: string; detail?: string; hint?: string };
      const { line, column } = locate(watched.failure.statement.text);
      const finding: Finding = {
        check: 'apply',
        code: 'APPLY_FAILED',
        severity: 'error',
        message: error.message ?? String(error),
        file: migration.file,
        line,
        column,
        details: {
          statement: statementExcerpt(watched.failure.statement),
          ...(error.code === undefined ? {} : { sqlstate: error.code }),
          ...(error.detail === undefined ? {} : { detail: error.detail }),
          ...(error.hint === undefined ? {} : { hint: error.hint }),
        },
      };
      return { outcome: { ok: false, findings: [finding], results: [{ ...label, status: 'failed', ms }] }, file: migration.file, transaction, statements: observed };
    }
    return { outcome: { ok: true, findings: [], results: [{ ...label, status: 'applied', ms }] }, file: migration.file, transaction, statements: observed };
  });
}

function statementExcerpt(statement: SqlStatement): string {
  const text = statement.text.replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/**
 * Where in a migration's C# a SQL statement came from, for one file: in its Up (or Down) method,
 * the migrationBuilder call naming most of what the SQL quotes (a constraint or index name weighs
 * more than a column's or a table's), or holding the SQL itself (migrationBuilder.Sql); else the
 * method's own line. Transaction control and the history INSERT are EF's own: the method's line.
 * Undefined when the file has no such method.
 */
export function callLocator(text: string, direction: 'up' | 'down'): ((sql: string) => { line: number; column: number }) | undefined {
  const lines = text.split(/\r?\n/);
  const method = direction === 'up' ? /\boverride\s+void\s+Up\s*\(/ : /\boverride\s+void\s+Down\s*\(/;
  const start = lines.findIndex((l) => method.test(l));
  if (start === -1) return undefined;
  const next = lines.findIndex((l, i) => i > start && /\boverride\s+void\s+(Up|Down|BuildTargetModel)\s*\(/.test(l));
  const body = lines.slice(start, next === -1 ? lines.length : next);
  const at = (index: number): { line: number; column: number } => ({ line: start + index + 1, column: Math.max(0, body[index]!.search(/\S/)) + 1 });
  // The method's calls (migrationBuilder.AddColumn(...), .Sql(...)), each from its first line.
  const calls: { index: number; text: string }[] = [];
  body.forEach((l, i) => {
    if (/\bmigrationBuilder\s*\.\s*\w+/.test(l) || calls.length === 0) calls.push({ index: i, text: l });
    else calls.at(-1)!.text += `\n${l}`;
  });
  // Each call's text as the SQL it holds reads: C# escapes undone (\" and a verbatim string's ""
  // are quotes, \n and \t white space), white space collapsed.
  const plain = calls.map((call) => ({ index: call.index, text: call.text, sql: collapse(call.text.replace(/\\"|""/g, '"').replace(/\\[nrt]/g, ' ')) }));
  return (sql) => {
    if (/^\s*(START\s+TRANSACTION|BEGIN|COMMIT)\b/i.test(sql) || /"MigrationId", "ProductVersion"/.test(sql)) return at(0);
    // A migrationBuilder.Sql call that holds the statement (its start: a long one may be split
    // over concatenated strings): several calls on one table each get their own statements.
    // Statements often start alike (ALTER TABLE s."Users" ALTER ...): the call holding the longest start.
    const statement = collapse(sql).replace(/;$/, '');
    let holding = statement.length >= 8 ? plain.filter((call) => /\bSql\s*\(/.test(call.text) && call.sql.includes(statement.slice(0, 40))) : [];
    for (let n = 80; holding.length > 1 && n < statement.length + 40; n += 40) {
      const longer = holding.filter((call) => call.sql.includes(statement.slice(0, n)));
      if (longer.length === 0) break;
      holding = longer;
    }
    if (holding.length > 0) return at(holding[0]!.index);
    const identifiers = [...new Set(sql.match(/"([^"]+)"/g)?.map((q) => q.slice(1, -1)) ?? [])];
    let best: { index: number; score: number } | undefined;
    for (const call of plain) {
      const score = identifiers.filter((name) => call.sql.includes(`"${name}"`)).reduce((sum, name) => sum + name.length, 0);
      if (score > 0 && (best === undefined || score > best.score)) best = { index: call.index, score };
    }
    if (best !== undefined) return at(best.index);
    const first = sql.split('\n').map((l) => l.trim()).find((l) => l.length >= 8)?.replace(/;$/, '');
    const fallback = first === undefined ? undefined : plain.find((call) => call.sql.includes(collapse(first)));
    return at(fallback?.index ?? 0);
  };
}

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();