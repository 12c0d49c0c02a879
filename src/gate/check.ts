// The PR gate, one pipeline for every engine. Steps ask the engine what it can do, never which
// engine it is:
//
//   git analysis (no database, while the server starts and the engine builds)
//   -> the base's migrations, once -> the base schema
//   -> the PR's migrations one at a time on top of it, watched as finely as the engine allows
//      (statements: locks, rewrites, rows, time; migrations: schema delta and rewrites)
//   -> checks over those facts (hazards, rollback, model, schema file, lint)
//   -> one result; rendering is src/report's.
//
// A PR that edits, deletes or reorders merged migrations cannot be applied "on top of the base":
// its migrations are then applied from scratch in one go, and the report says so.

import type { LoadedConfig } from '../config/load-config.js';
import { createEngine } from '../engines/create-engine.js';
import type { BaseTables, Engine, GateFiles, MigrationRef, MigrationSource, ObservedStatement } from '../engines/engine.js';
import { DriftGuardError } from '../errors.js';
import { firstChangedLines, repositoryRoot, resolveBase } from '../git/git.js';
import { introspectUrl, readCatalogUrl, type CatalogRead, type CatalogSnapshot } from '../introspect/introspect.js';
import { openCatalogSession, readFromText, snapshotToText, type CatalogSession } from '../introspect/incremental.js';
import { withPostgresServer, type PostgresOptions, type PostgresServer } from '../postgres/scratch.js';
import { withClient } from '../postgres/client.js';
import { shortKey } from '../postgres/base-cache.js';
import { erDiagram } from '../report/er-diagram.js';
import { hasErrors, type Finding, type Severity } from '../report/finding.js';
import { diffSchemas, type Change } from '../schema/diff.js';
import { diffAcrossRenames, type RenamedDiff } from '../schema/renames.js';
import { relationOid } from '../schema/rows-to-model.js';
import type { SchemaModel } from '../schema/model.js';
import { modelOptions } from '../schema/sources.js';
import { HISTORY_TABLES } from '../schema/rows-to-model.js';
import { projectRoot } from '../engines/sql/project.js';
import { phaseTimer, type PhaseTiming } from '../util/phases.js';
import type { Reporter } from '../util/reporter.js';
import type { MigrationFacts } from './facts.js';
import { analyzeGit, touches, type GitAnalysis } from './git-analysis.js';
import { hazardFindings, measuredLabels } from './hazard-checks.js';
import { weighByProduction, withDataTimes, type DataStatement } from './production-size.js';
import { loadStatsFile, readProductionStats, type StatsFile } from '../ops/stats.js';
import { describeError } from '../errors.js';
import { maskSecrets, registerConnectionString } from '../util/secrets.js';
import path from 'node:path';
import { squawkLint } from './lint.js';
import { outsideDatabaseStatements } from '../engines/sql/outside-database.js';
import { loadParser } from '../engines/sql/sql-script.js';
import { relations, type Relation } from '../engines/sql/observed-run.js';
import { ancestry, explainFailure, fillDatabase, type FillOptions, type FillReport } from '../data/fill.js';
import { rollbackCheck } from './rollback.js';
import { schemaFileFindings } from './schema-file.js';

export { schemaFileFindings } from './schema-file.js';
export { firstDifferentLine } from './git-analysis.js';
export { destructiveAcknowledgement } from './hazard-checks.js';
export type { PhaseTiming } from '../util/phases.js';

export const CHECK_REPORT_VERSION = 1;

export interface CheckOptions {
  readonly loaded: LoadedConfig;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  readonly postgres: PostgresOptions;
  readonly base?: string | undefined;
  /** Labels on the PR (the Action passes them); one may acknowledge destructive changes. */
  readonly labels?: readonly string[];
}

/** What was measured about one new migration, as the report shows it. */
export interface MigrationReport {
  readonly migration: string;
  readonly file: string;
  readonly granularity: 'statement' | 'migration' | 'batch';
  readonly ms: number;
  readonly transaction?: boolean;
  readonly statements?: readonly {
    readonly line: number;
    readonly kind: string;
    readonly ms: number;
    readonly rows?: number;
    readonly locks?: readonly string[];
    readonly rewrites: readonly string[];
    readonly read?: readonly { readonly table: string; readonly rows: number }[];
  }[];
  readonly rewrites?: readonly string[];
  readonly changes: number;
  /** Its group (EF: DbContext), when the project gates several. */
  readonly group?: string;
  /** The same migration on the base's copy filled with generated rows. */
  readonly onData?: { readonly ms: number; readonly statements?: readonly DataStatement[] };
}

/** One group a project gates apart (EF: a DbContext): its new migrations and its findings. */
export interface GroupReport {
  readonly name: string;
  /** The PR's new migrations of this group (files). */
  readonly added: readonly string[];
  /** Of those, the ones applied on the scratch database (with facts). */
  readonly applied: readonly string[];
  /** The codes of what the PR introduces in this group (its migrations' files, its model check). */
  readonly findings: readonly { readonly code: string; readonly severity: Severity }[];
}

/** The generated rows the PR's migrations ran on a second time. */
export interface DataSummary {
  readonly rows: number;
  readonly tables: number;
  readonly perTable: number;
  readonly seed: number;
  readonly ms: number;
  /** touched: only the tables the PR's migrations touched and those they reference were filled; all: every table. */
  readonly scope: 'touched' | 'all';
}

export interface CheckResult {
  readonly version: typeof CHECK_REPORT_VERSION;
  readonly verdict: 'pass' | 'warn' | 'fail';
  readonly base: { readonly ref: string; readonly commit: string; readonly mergeBase: string };
  readonly migrations: { readonly added: readonly string[]; readonly modified: readonly string[]; readonly deleted: readonly string[] };
  /** What the PR introduces; findings that already hold on the base have `existing: true`. */
  readonly findings: readonly Finding[];
  readonly schemaChanges: readonly Change[];
  /** Per new migration: what was watched and measured. */
  readonly facts: readonly MigrationReport[];
  /** Present when the PR's migrations also ran on generated rows (check.data). */
  readonly data?: DataSummary;
  /** Per group (EF: DbContext), when the project gates several. */
  readonly groups?: readonly GroupReport[];
  /** Mermaid erDiagram of the tables the PR touches and their foreign-key neighbours. */
  readonly diagram?: string;
  readonly timings: readonly PhaseTiming[];
}

export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const { loaded, cwd, reporter } = options;
  const { timings, timed } = phaseTimer(reporter);
  const engine = createEngine({ loaded, cwd, env: options.env, reporter, postgres: options.postgres, forGate: true });
  if (engine.gate === undefined) throw new DriftGuardError('USAGE', `the PR gate cannot read ${engine.name} migrations`);
  const files: GateFiles = engine.gate;
  const root = projectRoot(loaded, cwd);
  // Side by side; a directory outside any repository is reported as that, before the base.
  const resolving = resolveBase(cwd, options.base, options.env);
  resolving.catch(() => undefined);
  const repo = await repositoryRoot(cwd);
  const base = await resolving;
  const ignore = modelOptions(loaded);
  // An engine that runs the PR's migrations statement by statement says which tables they touch.
  const byStatement = engine.capabilities.granularity === 'statement' && engine.applyObserved !== undefined;

  // The base-schema cache's key, computed from git while the server starts (which waits for it).
  const baseCacheParts = baseCacheKeyParts().catch(() => undefined);

  // Facts that need no database start at once, in parallel with the server (and the engine's build).
  // The analysis reads every migration file in one go: it starts once the server's start has its
  // key and is unpacking its data directory, so that the reading does not hold that start back.
  const started = performance.now();
  const analysisPromise = baseCacheParts
    .then(() => new Promise((resolve) => setImmediate(resolve)))
    .then(() => analyzeGit(files, base, { root, repo, cwd }))
    .finally(() => timings.push({ phase: 'git analysis', ms: Math.round(performance.now() - started) }));
  const preparePromise = engine.prepare === undefined ? Promise.resolve([] as readonly Finding[]) : timed(`build (${engine.name})`, () => engine.prepare!(reporter));
  analysisPromise.catch(() => undefined);
  preparePromise.catch(() => undefined);
  // Parsing the new migrations (the SQL parser's load included) needs no database either.
  const outsidePromise = analysisPromise.then((done) => outsideTheDatabase(done));
  outsidePromise.catch(() => undefined);

  const findings: Finding[] = [];
  const notChecked = (check: string, reason: string): void => void findings.push({ check, code: 'NOT_CHECKED', severity: 'notice', message: `${check} not checked: ${reason}` });
  let facts: MigrationFacts[] = [];
  let schemaChanges: readonly Change[] = [];
  let diagram: string | undefined;
  let analysis!: GitAnalysis;
  let data: DataSummary | undefined;
  const onData = new Map<string, NonNullable<MigrationReport['onData']>>();
  /** The head's catalog rows after the PR's last migration, and the session that read them (the rollback check's reads start from them). */
  let headCatalog: CatalogSnapshot | undefined;
  let headSession: Promise<CatalogSession> | undefined;
  /** The PR's renamed tables: head name -> base name (the generated rows are in the base's). */
  let renamedTables = new Map<string, string>();
  // Diffing two 1,000-table schemas takes a tenth of a second: a PR with one migration asks for
  // the same pair twice (its step's delta, then base against head).
  // Both sides are reads of one database (the head is the base with the PR's migrations applied):
  // renames are known from catalog identities (src/schema/renames.ts), not guessed.
  let lastDiff: { from: SchemaModel; to: SchemaModel; diff: RenamedDiff } | undefined;
  const diffOf = (from: SchemaModel, to: SchemaModel): RenamedDiff => {
    if (lastDiff?.from !== from || lastDiff.to !== to) lastDiff = { from, to, diff: diffAcrossRenames(from, to) };
    return lastDiff.diff;
  };

  await withPostgresServer({ ...options.postgres, baseCache: { parts: baseCacheParts, decode: (schema) => readFromText(schema, ignore) } }, async (server) => {
    timings.push({ phase: 'start PostgreSQL', ms: Math.round(performance.now() - started) });
    analysis = await analysisPromise;
    findings.push(...analysis.findings);
    const built = await preparePromise;
    findings.push(...built);
    if (hasErrors(built)) {
      notChecked('migrations', "the PR's code does not build, so its migrations were not applied");
      return;
    }
    const nothingToApply = analysis.added.length === 0 && !analysis.historyRewritten;
    findings.push(...(await outsidePromise));
    const baseWanted = analysis.baseLast !== undefined && !nothingToApply;
    const cache = server.baseCache;
    const cachedBase = baseWanted && cache?.hit === true ? cache : undefined;
    // The base's migrations to apply: their files are made ready while the scratch database is made.
    const baseFiles = baseWanted && cachedBase === undefined ? prefetched(files.baseEngine(base.mergeBase, { historyRewritten: analysis.historyRewritten, baseLast: analysis.baseLast })) : undefined;
    await server.withDatabase(async (db) => {
      const context = { databaseUrl: db.url, reporter };
      if (db.role.superuser && !nothingToApply) {
        notChecked('isolation', `the PR's SQL ran as the superuser ${db.role.name} (postgres.superuser: ${db.role.reason ?? 'the server offered no other role'}), so it could run programs and read files on this machine`);
      }
      // The data-aware gate: a copy of the base, filled with generated rows, gets the PR's migrations too.
      const dataWanted = loaded.config.check.data.enabled && !nothingToApply && !analysis.historyRewritten;
      const role = db.role.superuser ? undefined : db.role.name;
      /** Keeps the base and its copy filled in every table in the cache, once that is filled (a miss on a base whose tables reference most of the others). */
      let keepFilled: ((filled: string, note: FillNote) => Promise<void>) | undefined;
      // The base database's schema, read once with its catalog rows (the PR's steps re-read only
      // what they change): kept in the cache with the base, and from there on a hit.
      let baseSchemaRead: Promise<CatalogRead> | undefined;
      const inspectBase = (): Promise<CatalogRead> => (baseSchemaRead ??= timed('inspect the base schema', () => readCatalogUrl(db.url, ignore)));
      // 1. The base schema: from the cache, or the base's migrations, once (and then cached).
      if (cachedBase !== undefined) {
        timings.push({ phase: `base: cached (key ${shortKey(cachedBase.key)})`, ms: cachedBase.ms });
        const t0 = performance.now();
        const kept = cachedBase.schema === undefined ? undefined : await ((cachedBase.decoded?.value as Promise<CatalogRead | undefined> | undefined) ?? readFromText(cachedBase.schema, ignore));
        if (kept !== undefined) {
          baseSchemaRead = Promise.resolve(kept);
          timings.push({ phase: 'base schema: cached with the base', ms: Math.round(performance.now() - t0) });
        }
      } else if (baseWanted) {
        const baseSide = await baseFiles!.take();
        try {
          const cacheNote = cache?.hit === false ? `cache miss: ${cache.reason}` : `not cached: ${!loaded.config.check.cache ? 'check.cache is false' : (await baseCacheParts) === undefined ? `the cache keeps bases built from plain SQL files, not by ${engine.name === 'command' ? 'a command' : 'a build'}` : `the cache needs the embedded server (this one is ${server.provider})`}`;
          const t0 = performance.now();
          const outcome = await reporter.step(`apply the base's migrations (${baseSide.how})`, () => baseSide.engine.migrate(context, { target: baseSide.target }));
          const applied = outcome.results.length > 0 ? `${outcome.results.length} migration(s)` : "the base's migrations";
          timings.push({ phase: `base: applied ${applied} (${baseSide.how}; ${cacheNote})`, ms: Math.round(performance.now() - t0) });
          if (outcome.ok && !hasErrors(outcome.findings) && cache?.hit === false) {
            const keep = async (filled?: { name: string; note: FillNote }): Promise<void> => {
              // Read before the snapshot (the server stops for it): the base as it is kept.
              const schema = snapshotToText((await inspectBase()).snapshot);
              await timed(`base: kept in the cache (key ${shortKey(cache.key)})`, () => cache.store({ database: db.name, role, schema, ...(filled === undefined ? {} : { filled: filled.name, note: JSON.stringify(filled.note) }) }));
            };
            // Where a PR touching any table needs most of the base filled anyway (its tables reference
            // most of the others: a long chain of foreign keys), every table is filled once and kept
            // with the base, so that later gates on it generate no rows.
            if (dataWanted && byStatement && deepAncestry(await ancestry(db.url, fillOptions().skip))) keepFilled = (name, note) => keep({ name, note });
            else await keep();
          }
          if (!outcome.ok || hasErrors(outcome.findings)) {
            findings.push({
              check: 'apply',
              code: 'BASE_APPLY_FAILED',
              severity: 'warning',
              message: `the base's migrations do not apply to an empty database (${outcome.findings.find((f) => f.severity === 'error')?.message ?? 'unknown failure'}); the PR's migrations were applied from scratch, so the schema diff and the rollback check are skipped`,
              existing: true,
            });
            const before = findings.length;
            await server.withDatabase((fresh) => applyFromScratch(engine, fresh.url, undefined));
            // The same failure in a file this PR does not touch is the base's, not the PR's.
            for (let i = before; i < findings.length; i++) {
              const f = findings[i]!;
              if (f.file !== undefined && !touches(analysis.changed, f.file)) findings[i] = { ...f, existing: true };
            }
            // What needs no base still runs; what does says so (never a silent pass).
            await modelChecks(engine, analysis, findings, loaded, timed, reporter, (files) => firstChangedLines(base.mergeBase, files, root));
            if (dataWanted) notChecked('data', "the base's migrations do not apply to an empty database, so there is no base to fill with rows");
            return;
          }
        } finally {
          await baseSide.dispose();
        }
      }
      // The data-aware gate runs the PR's migrations again on copies of the base with rows in their
      // tables: copies of the cached copy filled in every table, or of a copy of the base as it is
      // now, kept for them before the PR's migrations change it.
      const cachedFill = cachedBase?.filled === undefined ? undefined : readFillNote(cachedBase.note);
      if (!dataWanted) await afterBase(undefined);
      else if (cachedBase?.filled !== undefined && cachedFill !== undefined) {
        timings.push({ phase: `generate rows: cached with the base (${cachedFill.data.rows} rows in every table)`, ms: 0 });
        await server.withDatabase((filled) => afterBase({ template: filled.name, filled: cachedFill }), { adopt: cachedBase.filled });
      } else if (keepFilled !== undefined) {
        await server.withDatabase(
          async (filled) => {
            // The base is read (for the cache too) while its copy fills: another database, another session.
            const reading = inspectBase();
            reading.catch(() => undefined);
            let note: FillNote;
            try {
              note = noteOf(await fillRows(filled.url, fillOptions(), undefined));
            } finally {
              await reading.catch(() => undefined);
            }
            await keepFilled!(filled.name, note);
            await afterBase({ template: filled.name, filled: note });
          },
          { template: db.name },
        );
      } else await server.withDatabase((pristine) => afterBase({ template: pristine.name }), { template: db.name });

      async function afterBase(rows: RowsSource | undefined): Promise<void> {
        const baseRead = await inspectBase();
        const baseSchema = baseRead.model;
        // 4. The PR's migrations on generated rows. The first copy of the base is made while they
        // run on the empty base. An engine that runs them itself statement by statement (SQL, EF's
        // script) says which tables they touch: only those are filled, and the run on the rows
        // goes on beside the head's inspection and the checks. Others (a tool's process per step)
        // fill every table at once and run after the checks. What the run finds joins the report
        // after the checks, and only when the run on the empty base succeeded.
        let go!: (scope: RowsScope) => void;
        const scope = new Promise<RowsScope>((resolve) => (go = resolve));
        const dataRun = rows === undefined ? undefined : checkOnRows(server, rows, baseSchema, scope);
        dataRun?.catch(() => undefined);
        try {
          await checksAfterBase(baseRead, (tables) => {
            go(tables);
            return dataRun;
          });
        } finally {
          await headSession?.then((session) => session.close(), () => undefined);
          // The copies are dropped after this returns: their runs must be over.
          go('none');
          await dataRun?.catch(() => undefined);
          if (facts.length === 0) onData.clear();
        }
      }

      async function checksAfterBase(baseRead: CatalogRead, onRows: (scope: RowsScope) => Promise<Finding[]> | undefined): Promise<void> {
      const baseSchema = baseRead.model;
      // 2. The PR's migrations on top of it (or, when it rewrites history, from scratch).
      let headSchema: SchemaModel;
      let headUrl = db.url;
      if (nothingToApply) {
        headSchema = baseSchema;
      } else if (analysis.historyRewritten) {
        const applied = await server.withDatabase(async (fresh) => {
          const schema = await applyFromScratch(engine, fresh.url, baseSchema);
          return schema;
        });
        if (applied === undefined) return;
        headSchema = applied;
        notChecked('rollback', 'this PR edits, deletes or reorders merged migrations, so its migrations were applied from scratch in one go (no per-migration facts)');
        headUrl = '';
      } else {
        const collected = await timed(`apply the PR's ${analysis.added.length} migration(s) one at a time`, () => applyEach(engine, context, analysis.added, baseRead));
        if (collected === undefined) return;
        facts = collected;
        headSchema = facts.at(-1)?.schemaAfter ?? baseSchema;
        // The run on generated rows starts now, beside what follows, when the migrations were
        // watched statement by statement: on the tables they touched.
        const whole = diffOf(baseSchema, headSchema);
        renamedTables = baseNamesOf(whole);
        if (byStatement) void onRows(touchedBy(facts, baseSchema, whole));
      }

      // 3. Checks that need the database or the schemas. A history applied from scratch is
      // another database: its objects are matched by name only.
      const diff = analysis.historyRewritten ? { ...diffSchemas(baseSchema, headSchema), renames: [], from: baseSchema } : diffOf(baseSchema, headSchema);
      // The base under the head's names: where "an existing table" is looked up.
      const namedBase = diff.from;
      schemaChanges = facts.length > 0 && facts.every((f) => f.statements !== undefined) ? measuredLabels(diff.changes, facts, namedBase) : diff.changes;
      diagram = erDiagram(headSchema, [...new Set(diff.changes.flatMap((c) => (c.table === undefined ? [] : [`table:${c.table}`])))]);
      findings.push(...(await schemaFileFindings(loaded, root, headSchema, server)));
      await modelChecks(engine, analysis, findings, loaded, timed, reporter, (files) => firstChangedLines(base.mergeBase, files, root));
      if (loaded.config.check.lint && analysis.added.length > 0) {
        const lint = await files.lintInputs(analysis.added, analysis.baseLast, reporter);
        const linted = await timed('lint (squawk)', () => squawkLint(lint.inputs, server.major));
        findings.push(...(lint.linesMatchFiles ? linted : linted.map(({ line: _line, column: _column, ...finding }) => finding)));
      }
      if (headUrl !== '' && analysis.added.length > 0) {
        // The session the PR's steps were read on (if it opened: a full read otherwise).
        const session = await headSession?.catch(() => undefined);
        findings.push(
          ...(await timed('rollback check', () =>
            rollbackCheck({
              engine,
              url: headUrl,
              facts,
              added: analysis.added,
              baseSchema,
              headSchema,
              ...(headCatalog === undefined || session === undefined ? {} : { head: { catalog: headCatalog, session } }),
              baseLast: analysis.baseLast,
              ignore,
              mode: loaded.config.check.rollback,
              reporter,
              downHint: (m) => files.downHint(m),
            }),
          )),
        );
      }
      // The run on generated rows (started above, or now); then the hazards, which use both runs.
      if (facts.length > 0) findings.push(...((await onRows('every table')) ?? []));
      if (facts.length > 0) findings.push(...hazardFindings(facts, { loaded, labels: options.labels ?? [], baseSchema: namedBase, ranOnData: new Set(onData.keys()), ...(data === undefined ? {} : { onData: { perTable: data.perTable, times: onData } }) }));
      else if (analysis.historyRewritten && diff.changes.length > 0) {
        findings.push(...hazardFindings([{ ...wholeBatch(analysis.added, diff.changes, headSchema), elsewhere: analysis.rewrites }], { loaded, labels: options.labels ?? [], baseSchema }));
      }
      }
    }, cachedBase === undefined ? {} : { adopt: cachedBase.database }).finally(() => baseFiles?.release());
  });

  const stats = await productionStats();
  const measuredOnData = withDataTimes(findings, onData, data?.perTable);
  const weighed = stats === undefined ? measuredOnData : weighByProduction(measuredOnData, {
          stats,
          baseNames: renamedTables,
          onData,
          transactions: new Map(facts.map((f) => [f.source.id, f.transaction === true])),
          perTable: data?.perTable,
          thresholdSeconds: loaded.config.check.thresholds['rewrite-seconds'],
        });

  return assembleResult({
    findings: weighed,
    loaded,
    base,
    migrations: { added: analysis.added.map((m) => m.file), modified: analysis.modified, deleted: analysis.deleted },
    schemaChanges,
    facts: facts.map((f) => ({ ...reportOf(f), ...(onData.has(f.source.id) ? { onData: onData.get(f.source.id)! } : {}) })),
    ...(data === undefined ? {} : { data }),
    ...(files.groups === undefined ? {} : { groups: files.groups }),
    added: analysis.added,
    diagram,
    timings,
  });

  /**
   * What decides the base schema apart from the server (src/postgres/base-cache.ts adds the server):
   * the base's migration files by content, and the settings that apply them. Undefined for engines
   * whose base comes from a build or a command: their files alone do not decide it.
   */
  async function baseCacheKeyParts(): Promise<readonly string[] | undefined> {
    if (files.baseFingerprint === undefined || !loaded.config.check.cache) return undefined;
    return [
      'gate base',
      engine.name,
      JSON.stringify(engine.details),
      JSON.stringify(loaded.config.sql),
      loaded.config.efcore['history-table'],
      options.postgres.superuserReason === undefined ? 'scratch owner role' : 'superuser',
      // What every new scratch database gets before the base's migrations.
      JSON.stringify(options.postgres.setup ?? []),
      await files.baseFingerprint(base.mergeBase),
    ];
  }

  /**
   * Statements that reach outside the database (programs, server files, other servers): the gate
   * runs a pull request's SQL on this machine, so they are errors at their file and line whatever
   * role runs them. Engines whose files are code (EF Core) are left to their own review.
   */
  async function outsideTheDatabase({ added, baseLast }: GitAnalysis): Promise<Finding[]> {
    if (!files.plainSql || added.length === 0) return [];
    await loadParser();
    const { inputs } = await files.lintInputs(added, baseLast, reporter);
    return inputs.flatMap((input) =>
      outsideDatabaseStatements(input.sql).map((hit) => {
        const line = input.sql.slice(0, hit.offset).split('\n').length + input.lineOffset;
        const migration = added.find((m) => m.file === input.file);
        return {
          check: 'security',
          code: 'OUTSIDE_DATABASE' as const,
          severity: 'error' as const,
          message: `${hit.what}: a migration must not reach outside its database (the gate runs it on this machine, production on its server); do it in a deploy step instead`,
          file: input.file,
          line,
          ...(migration === undefined ? {} : { migration: migration.id }),
          evidence: 'inferred' as const,
        };
      }),
    );
  }

  /**
   * Production's table statistics, catalog only: read from production when its URL is in the
   * environment (a read-only session), else from check.stats-file; none when neither is there.
   */
  async function productionStats(): Promise<StatsFile | undefined> {
    if (!findings.some((f) => f.code === 'TABLE_REWRITE' || f.code === 'LOCKING_CHANGE' || f.code === 'DESTRUCTIVE_CHANGE')) return undefined;
    const url = options.env[loaded.config.production['url-env']];
    if (url !== undefined && url !== '') {
      registerConnectionString(url);
      try {
        return await timed("read production's table statistics", () => readProductionStats(url));
      } catch (error) {
        notChecked('production size', `production's statistics could not be read (${maskSecrets(describeError(error))})`);
      }
    }
    const file = loaded.config.check['stats-file'];
    return file === undefined ? undefined : loadStatsFile(path.resolve(root, file));
  }

  /**
   * The PR's migrations again, on a copy of the base filled with generated rows (made from
   * `rows.template`: the base as it was before them, or its copy filled in every table, `rows.filled`,
   * which needs no more rows). With the tables the run on the empty base touched,
   * only those are filled, with the tables they take foreign keys from: a statement's outcome
   * depends on no other table's rows, since it locks every table it reads or writes. Should the run
   * on the rows touch a table outside them (a trigger, a cascade, a branch taken only when rows
   * exist), it runs again on a new copy with those filled too; should it fail, again on a copy
   * with every table filled, so that a failure is reported only as a fill of every table gives it.
   */
  async function checkOnRows(server: PostgresServer, rows: RowsSource, baseSchema: SchemaModel, scope: Promise<RowsScope>): Promise<Finding[]> {
    let options = fillOptions();
    let only: readonly string[] | undefined;
    /** What the run found on rows with extreme values, while it runs again without them. */
    let withExtremes: Finding[] | undefined;
    for (let round = 1; ; round++) {
      const outcome = await server.withDatabase(
        async (copy) => {
          let fill: { note: FillNote; scope?: ReadonlySet<string> } | undefined = round === 1 && rows.filled !== undefined ? { note: rows.filled } : undefined;
          // An engine that cannot say which tables its migrations touch gets every table filled at
          // once, while they run on the empty base.
          if (round === 1 && fill === undefined && !byStatement) fill = { note: noteOf(await fillRows(copy.url, options, undefined)) };
          if (round === 1) {
            const wanted = await scope;
            if (wanted === 'none') return undefined;
            only = wanted === 'every table' ? undefined : wanted;
            // The PR's migrations touched no table of the base (locked, read, rewrote, or changed
            // its schema): rows there change nothing they do, and the run on them would repeat
            // the run on the empty base.
            if (only !== undefined && only.length === 0 && fill === undefined) {
              const settings = loaded.config.check.data;
              data = { rows: 0, tables: 0, perTable: settings.rows, seed: settings.seed, ms: 0, scope: 'touched' };
              timings.push({ phase: "generate rows: none (the PR's migrations touch no table of the base)", ms: 0 });
              return undefined;
            }
          }
          if (fill === undefined) {
            const report = await fillRows(copy.url, options, only);
            fill = { note: noteOf(report), ...(report.scope === undefined ? {} : { scope: report.scope }) };
          }
          data = fill.note.data;
          onData.clear();
          const run = await timed(`apply the PR's migrations again on ${data.rows} generated rows`, () => applyOnData(engine, copy.url, analysis.added, baseSchema));
          return { fill, run };
        },
        { template: rows.template },
      );
      if (outcome === undefined) return [];
      const { fill, run } = outcome;
      // A table the run touched under a name the base does not have (renamed twice by the PR): every table.
      const known = tableNames(baseSchema);
      const unknown = [...run.touched].filter((table) => !known.has(table));
      const again = fill.scope !== undefined && unknown.length > 0 ? { only: undefined, why: `the run touched ${unknown.join(', ')}, which the base has under another name; again with every table filled` } : runAgain(fill.scope, run, only);
      if (again === undefined && run.failed && withExtremes === undefined && options.tame !== true && run.findings.some(mayNeedExtremes)) {
        // A failure on rows with values at their types' limits (CURRENT_DATE - an integer at
        // -2147483648) may need such a value: the same tables again without any.
        withExtremes = run.findings;
        options = { ...options, tame: true };
        timings.push({ phase: "generated rows: the run failed; again without values at their types' limits", ms: 0 });
        continue;
      }
      if (again === undefined) {
        for (const notice of fill.note.notices) notChecked('data', `no rows generated for ${notice.table}: ${notice.reason}`);
        // It fails only where a value is at its type's limit: true, but a warning (such values are
        // rare in production, and a sentinel like 9999-12-31 is for the author to judge).
        if (withExtremes !== undefined && !run.failed) return withExtremes.map((f) => (f.code === 'FAILS_ON_DATA' ? extremesOnly(f) : f));
        return run.findings;
      }
      timings.push({ phase: `generated rows: ${again.why}`, ms: 0 });
      only = again.only;
    }
  }

  function fillOptions(): FillOptions {
    const settings = loaded.config.check.data;
    return { rowsPerTable: settings.rows, seed: settings.seed, budgetMs: settings.budget * 1000, skip: [...settings.skip, ...HISTORY_TABLES, loaded.config.efcore['history-table']] };
  }

  /** The fill's outcome as the report (and the base cache) keeps it. */
  function noteOf(report: FillReport): FillNote {
    const settings = loaded.config.check.data;
    return {
      data: { rows: report.totalRows, tables: report.tables.length, perTable: settings.rows, seed: settings.seed, ms: Math.round(report.ms), scope: report.scope === undefined ? 'all' : 'touched' },
      notices: report.notices.map((n) => ({ table: n.table, reason: n.reason })),
    };
  }

  /** Generated rows in the copy: in every table, or in `only` and the tables they reference. */
  function fillRows(url: string, options: FillOptions, only: readonly string[] | undefined): Promise<FillReport> {
    const what = only === undefined ? 'every table' : `the ${only.length} table(s) the PR's migrations touch and their foreign-key parents`;
    return timed(`generate rows (${options.rowsPerTable} per table) in ${what}`, () => fillDatabase(url, only === undefined ? options : { ...options, only }));
  }

  /**
   * The PR's migrations on the filled copy, watched like the first time. One that applied to the
   * empty tables but fails here fails on existing rows: FAILS_ON_DATA at its statement and line,
   * with PostgreSQL's error and the offending row it names. Also returns the base's tables the
   * statements touched (locked, read, rewrote): what the rows they met were generated in.
   */
  async function applyOnData(target: Engine, url: string, added: readonly MigrationSource[], baseSchema: SchemaModel): Promise<{ findings: Finding[]; failed: boolean; touched: Set<string> }> {
    // A copy of the base's database: the same oids.
    const baseTables = tablesOf(baseSchema);
    const context = { databaseUrl: url, reporter };
    const granularity = target.capabilities.granularity;
    const touched = new Set<string>();
    for (const [index, migration] of added.entries()) {
      const t0 = performance.now();
      let failure: Finding | undefined;
      const observed = granularity === 'statement' && target.applyObserved !== undefined ? await target.applyObserved(context, migration.id, baseTables) : undefined;
      if (observed !== undefined) {
        failure = observed.outcome.ok ? undefined : observed.outcome.findings.find((f) => f.severity === 'error');
        for (const table of touchedTables(observed.statements)) touched.add(renamedTables.get(table) ?? table);
        onData.set(migration.id, {
          ms: Math.round(performance.now() - t0),
          statements: observed.statements.map((s) => ({ line: s.line, ms: s.ms, ...(s.rows === undefined ? {} : { rows: s.rows }), rewrites: s.rewrites, ...(s.read === undefined ? {} : { read: s.read }) })),
        });
      } else {
        const outcome = await target.migrate(context, granularity === 'batch' ? {} : { target: migration.id });
        failure = outcome.ok && !hasErrors(outcome.findings) ? undefined : (outcome.findings.find((f) => f.severity === 'error') ?? { check: 'apply', code: 'APPLY_FAILED', severity: 'error', message: 'unknown failure' });
        onData.set(migration.id, { ms: Math.round(performance.now() - t0) });
      }
      if (failure !== undefined) {
        const later = added.length - index - 1;
        const notRun: Finding = { check: 'data', code: 'NOT_CHECKED', severity: 'notice', message: `data not checked: ${later} later migration(s) did not run on the generated rows` };
        return { findings: [failsOnData(migration, failure, data!), ...(later > 0 ? [notRun] : [])], failed: true, touched };
      }
      if (granularity === 'batch') break;
    }
    return { findings: [], failed: false, touched };
  }

  /** The PR's whole history on an empty database; undefined (and APPLY_FAILED) when it fails. */
  async function applyFromScratch(target: Engine, url: string, _baseSchema: SchemaModel | undefined): Promise<SchemaModel | undefined> {
    const outcome = await timed("apply the PR's migrations from scratch", () => target.migrate({ databaseUrl: url, reporter }, {}));
    findings.push(...outcome.findings.filter((f) => f.severity === 'error'));
    if (!outcome.ok || hasErrors(outcome.findings)) return undefined;
    return introspectUrl(url, ignore);
  }

  /** The new migrations one at a time, each watched as finely as the engine allows. */
  async function applyEach(target: Engine, context: { databaseUrl: string; reporter: Reporter }, added: readonly MigrationSource[], baseRead: CatalogRead): Promise<MigrationFacts[] | undefined> {
    const baseSchema = baseRead.model;
    const collected: MigrationFacts[] = [];
    const baseTables = tablesOf(baseSchema);
    const granularity = target.capabilities.granularity;
    // Each step's schema is read again only where the step changed it (src/introspect/incremental.ts),
    // on one session whose catalog caches fill while the first step runs.
    // The session stays open for the rollback check's reads (closed with the PR's database).
    const opening = openCatalogSession(context.databaseUrl);
    opening.catch(() => undefined);
    headSession = opening;
    void opening.then((session) => session.warm(baseRead.snapshot), () => undefined);
    const readAfter = async (since: CatalogRead): Promise<CatalogRead> => {
      const read = await (await opening).read(since.snapshot, ignore);
      headCatalog = read.snapshot;
      return read;
    };
    return steps();

    async function steps(): Promise<MigrationFacts[] | undefined> {
    let before = baseRead;
    if (granularity === 'batch') {
      const t0 = performance.now();
      const filenodes = await storage(context.databaseUrl);
      const outcome = await target.migrate(context, {});
      findings.push(...outcome.findings.filter((f) => f.severity !== 'notice'));
      if (!outcome.ok || hasErrors(outcome.findings)) return undefined;
      const after = (await readAfter(baseRead)).model;
      const rewrites = rewritten(filenodes, await storage(context.databaseUrl), baseTables);
      return [{ ...wholeBatch(added, diffOf(baseSchema, after).changes, after), rewrites, ms: performance.now() - t0 }];
    }
    for (const [index, migration] of added.entries()) {
      const t0 = performance.now();
      reporter.info(`${index + 1}/${added.length} ${migration.label}`);
      let fact: Omit<MigrationFacts, 'delta' | 'schemaAfter'>;
      const filenodes = granularity === 'statement' ? undefined : await storage(context.databaseUrl);
      const observed = granularity === 'statement' && target.applyObserved !== undefined ? await target.applyObserved(context, migration.id, baseTables) : undefined;
      if (observed !== undefined) {
        if (!observed.outcome.ok) {
          findings.push(...observed.outcome.findings.map((f) => ({ ...f, migration: migration.id })));
          notChecked('the rest', failedBefore(migration, added.length - index - 1));
          return undefined;
        }
        fact = { source: migration, ids: [migration.id], granularity, statements: observed.statements, transaction: observed.transaction, ms: performance.now() - t0 };
      } else {
        const before = filenodes ?? (await storage(context.databaseUrl));
        const outcome = await target.migrate(context, { target: migration.id });
        findings.push(...outcome.findings.filter((f) => f.severity !== 'notice').map((f) => ({ ...f, migration: migration.id, ...(f.file === undefined ? { file: migration.file } : {}) })));
        if (!outcome.ok || hasErrors(outcome.findings)) {
          notChecked('the rest', failedBefore(migration, added.length - index - 1));
          return undefined;
        }
        const ms = performance.now() - t0;
        fact = { source: migration, ids: [migration.id], granularity: 'migration', rewrites: rewritten(before, await storage(context.databaseUrl), baseTables), ms };
      }
      const last = index === added.length - 1;
      // What else runs after the versioned migrations (Flyway's repeatables) belongs to the last step.
      if (last && files.runsAfterVersioned()) {
        const rest = await target.migrate(context, {});
        findings.push(...rest.findings.filter((f) => f.severity === 'error'));
        if (!rest.ok || hasErrors(rest.findings)) return undefined;
      }
      const after = await readAfter(before);
      collected.push({ ...fact, delta: diffOf(before.model, after.model).changes, schemaAfter: after.model });
      before = after;
    }
    return collected;
    }
  }
}

/**
 * Whether a PR touching one table of the base needs most of it filled anyway: on average more
 * than 50 tables, and more than a quarter of them (a long chain of foreign keys). Such a base is
 * kept in the cache with a copy filled in every table.
 */
function deepAncestry(ancestry: { mean: number; tables: number }): boolean {
  return ancestry.mean > 50 && ancestry.mean > ancestry.tables / 4;
}

/** What the data-aware gate's copies are made from, and the fill they hold when it is every table. */
interface RowsSource {
  readonly template: string;
  readonly filled?: FillNote;
}

/** The data-aware gate's fill as the report and the base cache keep it. */
interface FillNote {
  readonly data: DataSummary;
  readonly notices: readonly { readonly table: string; readonly reason: string }[];
}

/** A cached fill's note, or undefined when it is not one (the copy is then not used). */
function readFillNote(note: string | undefined): FillNote | undefined {
  try {
    const parsed = JSON.parse(note ?? '') as FillNote;
    return typeof parsed.data?.rows === 'number' && Array.isArray(parsed.notices) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which tables the run on generated rows fills: the tables the run on the empty base touched,
 * every table, or none (that run failed, so nothing runs on rows).
 */
type RowsScope = readonly string[] | 'every table' | 'none';

/**
 * Whether the run on rows filled only `only` (its fill's `scope`) must run again, and on what:
 * with the tables it touched outside them filled too, or, when it failed, with every table.
 */
function runAgain(scope: ReadonlySet<string> | undefined, run: { failed: boolean; touched: ReadonlySet<string> }, only: readonly string[] | undefined): { only: readonly string[] | undefined; why: string } | undefined {
  if (scope === undefined) return undefined;
  if (run.failed) return { only: undefined, why: 'the run failed with only the tables it touched filled; again with every table filled' };
  const outside = [...run.touched].filter((table) => !scope.has(table)).sort();
  return outside.length === 0 ? undefined : { only: [...(only ?? []), ...outside], why: `the run touched ${outside.join(', ')}, which had none; again with those filled too` };
}

/** The qualified names of a schema's tables. */
function tableNames(schema: SchemaModel): Set<string> {
  return new Set([...schema.objects.values()].filter((o) => o.kind === 'table').map((o) => o.qname));
}

/** A schema's tables by name and, where it was read from a database, by oid (src/engines/engine.ts). */
function tablesOf(schema: SchemaModel): BaseTables {
  const names = tableNames(schema);
  if (schema.identities === undefined) return names;
  const oids = new Set<string>();
  for (const object of schema.objects.values()) {
    const oid = object.kind === 'table' ? relationOid(schema.identities.get(object.id)) : undefined;
    if (oid !== undefined) oids.add(String(oid));
  }
  return Object.assign(names, { oids });
}

/** The base's tables the statements locked, read or rewrote. */
function touchedTables(statements: readonly ObservedStatement[]): string[] {
  return statements.flatMap((s) => [...(s.locks ?? []).filter((l) => l.existing).map((l) => l.table), ...(s.read ?? []).map((r) => r.table), ...s.rewrites]);
}

/**
 * The base's tables the PR's migrations touched on the empty base: locked, read or rewrote, and
 * the tables their schema changes are on (a statement outside a transaction, such as CREATE INDEX
 * CONCURRENTLY, leaves no locks to read). Every table when a migration was not watched statement
 * by statement.
 */
function touchedBy(facts: readonly MigrationFacts[], baseSchema: SchemaModel, whole: RenamedDiff): RowsScope {
  if (facts.some((f) => f.statements === undefined)) return 'every table';
  const baseTables = tableNames(baseSchema);
  // The statements name a table the PR renamed by its new name; the rows are generated in the base.
  const baseName = baseNamesOf(whole);
  const touched = facts.flatMap((f) => [...touchedTables(f.statements!), ...f.delta.flatMap((c) => (c.table === undefined ? [] : [c.table]))]).map((table) => baseName.get(table) ?? table);
  // A base table under a name the head does not have either (renamed twice): every table, rather than a guess.
  if (facts.some((f) => touchedTables(f.statements!).some((table) => !baseTables.has(baseName.get(table) ?? table)))) return 'every table';
  return [...new Set(touched.filter((table) => baseTables.has(table)))].sort();
}

/** Head table name -> base table name, for the tables the PR renamed or moved. */
function baseNamesOf(diff: RenamedDiff): Map<string, string> {
  const names = new Map<string, string>();
  for (const rename of diff.renames) {
    if (rename.kind === 'table') names.set(rename.to.slice('table:'.length), rename.from.slice('table:'.length));
  }
  return names;
}

/** What to do about a statement that fails on existing rows, by PostgreSQL's error class. */
const DATA_ADVICE: Readonly<Record<string, string>> = {
  '23502': 'give the column a DEFAULT, or add it nullable, backfill it, then SET NOT NULL',
  '23505': 'remove the duplicates first (or make the key include what tells them apart)',
  '23514': 'add the constraint NOT VALID, fix the rows, then VALIDATE CONSTRAINT',
  '23503': 'add the foreign key NOT VALID, fix or delete the orphan rows, then VALIDATE CONSTRAINT',
  '22P02': 'convert with a USING expression that handles values that are not of the new type, or clean them first',
  '22001': 'shorten the longer values first, or keep the wider type',
  '22003': 'keep a type wide enough for the values, or fix them first',
  '23P01': 'remove the overlapping rows first',
};

function failsOnData(migration: MigrationSource, failure: Finding, data: DataSummary): Finding {
  const details = (failure.details ?? {}) as { sqlstate?: string; detail?: string };
  const explained = explainFailure({ message: failure.message, ...(details.detail === undefined ? {} : { detail: details.detail }), ...(details.sqlstate === undefined ? {} : { code: details.sqlstate }) });
  const advice = details.sqlstate === undefined ? undefined : DATA_ADVICE[details.sqlstate];
  return {
    check: 'data',
    code: 'FAILS_ON_DATA',
    severity: 'error',
    message: `${migration.label} applies to empty tables but fails once they hold rows (${data.perTable} generated per table, seed ${data.seed}): ${failure.message}${explained === undefined ? '' : `; ${explained}`}${advice === undefined ? '' : `. Make it safe for existing rows: ${advice}`}`,
    file: failure.file ?? migration.file,
    ...(failure.line === undefined ? {} : { line: failure.line }),
    ...(failure.column === undefined ? {} : { column: failure.column }),
    migration: migration.id,
    evidence: 'measured',
    ...(failure.details === undefined ? {} : { details: failure.details }),
  };
}

/**
 * Whether a failure on the generated rows may come from a value at its type's limit: a data
 * exception (class 22: out of range, overflow, too long) or a CHECK. NULLs, duplicates and missing
 * parents are there with or without such values.
 */
function mayNeedExtremes(finding: Finding): boolean {
  const sqlstate = (finding.details as { sqlstate?: string } | undefined)?.sqlstate;
  return finding.code === 'FAILS_ON_DATA' && sqlstate !== undefined && (sqlstate.startsWith('22') || sqlstate === '23514');
}

/** FAILS_ON_DATA for a failure that needs a value at its type's limit: a warning that says so. */
function extremesOnly(finding: Finding): Finding {
  return {
    ...finding,
    severity: 'warning',
    message: `${finding.message} It needs a value at its type's limit: on the same rows without such values (the largest and smallest integers, numerics and floats, years 1 and 9999, 1,000-year intervals, texts over 40 characters) it applies. Make it safe for them if production can hold one (a sentinel like 9999-12-31 or 2147483647).`,
  };
}

function failedBefore(migration: MigrationSource, later: number): string {
  return `${migration.label} failed to apply, so ${later > 0 ? `the ${later} migration(s) after it, ` : ''}the schema diff, its hazards and the rollback check did not run`;
}

/** The model check (EF's pending model changes; the user's command) and ENTITY_WITHOUT_MIGRATION. */
async function modelChecks(
  engine: Engine,
  analysis: GitAnalysis,
  findings: Finding[],
  loaded: LoadedConfig,
  timed: <T>(phase: string, fn: () => Promise<T>) => Promise<T>,
  reporter: Reporter,
  changedLines: (files: readonly string[]) => Promise<Map<string, number>>,
): Promise<void> {
  const model = engine.capabilities.modelCheck && engine.checkModel !== undefined ? await timed('model check', () => engine.checkModel!(reporter, { secondOpinion: false })) : [];
  // EF Core builds the model from the project's code: a PR that changes none of it (and adds no
  // migration) cannot have made the model drift from the migrations, so pending changes were
  // already on the base. Otherwise the gate cannot tell without building the base, and fails.
  const codeChanged = [...analysis.changed].some((file) => EF_MODEL_INPUT.test(file));
  const inherited = engine.name === 'efcore' && !codeChanged && analysis.added.length === 0 && !analysis.historyRewritten;
  findings.push(
    ...model.map((f): Finding => {
      if (f.code !== 'MODEL_PENDING_CHANGES' || engine.name !== 'efcore') return f;
      return inherited
        ? { ...f, existing: true, message: `${f.message} (already on the base: this PR changes no C# code or project file)` }
        : { ...f, message: `${f.message}. If the base already has pending model changes, this PR inherits them: add the missing migration there first` };
    }),
  );
  if (analysis.added.length > 0) return;
  const checked = engine.capabilities.modelCheck || loaded.config.sql['schema-file'] !== undefined;
  const pending = findings.some((f) => f.code === 'MODEL_PENDING_CHANGES' || f.code === 'SCHEMA_FILE_STALE');
  // Each file at the first line its change touches, so that the annotation lands on the change.
  const lines = await changedLines(analysis.entityFiles).catch(() => new Map<string, number>());
  for (const file of analysis.entityFiles) {
    const line = lines.get(file);
    findings.push({
      check: 'model',
      code: 'ENTITY_WITHOUT_MIGRATION',
      severity: checked && !pending ? 'notice' : 'warning',
      message: !checked
        ? `${file} changed and this PR adds no migration; if the change touches the schema, add one (a model check would tell: sql.schema-file for SQL migrations, command.model-check for your own commands)`
        : pending
          ? `${file} changed and this PR adds no migration, and the model check reports pending changes: add a migration`
          : `${file} changed and this PR adds no migration; the model check reports no pending changes (e.g. a [NotMapped] property), so none is needed`,
      file,
      ...(line === undefined ? {} : { line }),
    });
  }
}

/** Files an EF Core model is built from: C# code and the project and build files. */
const EF_MODEL_INPUT = /\.(cs|csproj|props|targets)$/i;

/** The whole PR as one step (engines that apply everything at once, or history applied from scratch). */
function wholeBatch(added: readonly MigrationSource[], delta: readonly Change[], after: SchemaModel): MigrationFacts {
  const last = added.at(-1) ?? { id: '(history)', label: 'the migrations', file: '', text: '', upText: '', hasDown: false };
  const source: MigrationSource = { ...last, upText: added.map((m) => m.upText).join('\n') };
  return { source, ids: added.map((m) => m.id), granularity: 'batch', delta, schemaAfter: after, ms: 0 };
}

/** Storage (relfilenode) of every user table, to tell which ones a migration rewrote. */
async function storage(url: string): Promise<Map<string, Relation>> {
  const all = await withClient(url, (client) => relations(client));
  return new Map([...all].filter(([, r]) => r.relkind === 'r' || r.relkind === 'm'));
}

function rewritten(before: Map<string, Relation>, after: Map<string, Relation>, baseTables: ReadonlySet<string>): string[] {
  return [...before.entries()].filter(([oid, b]) => after.has(oid) && after.get(oid)!.filenode !== b.filenode && baseTables.has(b.qname)).map(([, b]) => b.qname);
}

function reportOf(fact: MigrationFacts): MigrationReport {
  return {
    migration: fact.source.id,
    file: fact.source.file,
    granularity: fact.granularity,
    ms: Math.round(fact.ms),
    ...(fact.transaction === undefined ? {} : { transaction: fact.transaction }),
    ...(fact.statements === undefined
      ? {}
      : {
          statements: fact.statements.map((s) => ({
            line: s.line,
            kind: s.kind,
            ms: s.ms,
            ...(s.rows === undefined ? {} : { rows: s.rows }),
            ...(s.locks === undefined ? {} : { locks: s.locks.filter((l) => l.existing).map((l) => `${l.table} ${l.mode}`) }),
            rewrites: s.rewrites,
            ...(s.read === undefined ? {} : { read: s.read }),
          })),
        }),
    ...(fact.rewrites === undefined ? {} : { rewrites: fact.rewrites }),
    changes: fact.delta.length,
    ...(fact.source.group === undefined ? {} : { group: fact.source.group }),
  };
}

/** Severities applied, findings on the base kept apart, verdict computed. */
export function assembleResult(parts: {
  findings: readonly Finding[];
  loaded: LoadedConfig;
  base: { baseRef: string; baseTip: string; mergeBase: string };
  migrations: CheckResult['migrations'];
  schemaChanges: readonly Change[];
  facts?: readonly MigrationReport[];
  data?: DataSummary;
  /** The groups the project gates apart, and the new migrations with their groups. */
  groups?: readonly string[];
  added?: readonly MigrationRef[];
  diagram: string | undefined;
  timings: readonly PhaseTiming[];
}): CheckResult {
  const existingSeverity = parts.loaded.config.check.existing;
  const adjusted = applySeverities(parts.findings, parts.loaded).map((f) => (f.existing === true && f.severity === 'error' ? { ...f, severity: existingSeverity } : f));
  const introduced = adjusted.filter((f) => f.existing !== true);
  return {
    version: CHECK_REPORT_VERSION,
    verdict: hasErrors(introduced) ? 'fail' : adjusted.some((f) => f.severity === 'warning') ? 'warn' : 'pass',
    base: { ref: parts.base.baseRef, commit: parts.base.baseTip, mergeBase: parts.base.mergeBase },
    migrations: parts.migrations,
    findings: adjusted,
    schemaChanges: parts.schemaChanges,
    facts: parts.facts ?? [],
    ...(parts.data === undefined ? {} : { data: parts.data }),
    ...(parts.groups === undefined ? {} : { groups: groupReports(parts.groups, parts.added ?? [], parts.facts ?? [], introduced) }),
    ...(parts.diagram === undefined ? {} : { diagram: parts.diagram }),
    timings: parts.timings,
  };
}

/**
 * Per group: its new migrations, which of them were applied, and what the PR introduces in it (a
 * finding belongs to a group by its details.context, its migration, or its file).
 */
export function groupReports(groups: readonly string[], added: readonly MigrationRef[], facts: readonly MigrationReport[], introduced: readonly Finding[]): GroupReport[] {
  return groups.map((name) => {
    const mine = added.filter((m) => m.group === name);
    const ids = new Set(mine.map((m) => m.id));
    const files = new Set(mine.flatMap((m) => (m.file === undefined ? [] : [m.file])));
    const belongs = (f: Finding): boolean => (f.details as { context?: unknown } | undefined)?.context === name || (f.migration !== undefined && ids.has(f.migration)) || (f.file !== undefined && files.has(f.file));
    return {
      name,
      added: mine.map((m) => m.file ?? m.id),
      applied: facts.filter((f) => f.group === name).map((f) => f.file),
      findings: introduced.filter(belongs).map((f) => ({ code: f.code, severity: f.severity })),
    };
  });
}

export function applySeverities(findings: readonly Finding[], loaded: LoadedConfig): Finding[] {
  const overrides = loaded.config.check.severity as Record<string, Severity>;
  return findings.map((finding) => {
    const severity = overrides[finding.code];
    // An acknowledged destructive change stays a notice whatever the configured severity.
    if (severity === undefined || (finding.code === 'DESTRUCTIVE_CHANGE' && finding.severity === 'notice')) return finding;
    return { ...finding, severity };
  });
}

/**
 * Something disposable made ahead of its use: `take()` hands it over (the taker disposes of it);
 * `release()` disposes of it when nobody took it (the run ended before), and is a no-op otherwise.
 */
function prefetched<T extends { dispose(): Promise<void> }>(making: Promise<T>): { take(): Promise<T>; release(): Promise<void> } {
  making.catch(() => undefined);
  let taken = false;
  return {
    take() {
      taken = true;
      return making;
    },
    async release() {
      if (taken) return;
      taken = true;
      await (await making.catch(() => undefined))?.dispose();
    },
  };
}
