// `drift-guard drift`: does production still look like what its migrations say? Three questions,
// each answered with findings:
//   1. the model against the migrations (the engine's model check; the SQL engine's schema file);
//   2. the repo's migrations against production's history (pending, applied but unknown to the
//      repo, edited since applied);
//   3. production's schema against the schema its applied migrations produce in a scratch database
//      (a full diff; `schema.ignore` honoured), with the SQL that would bring production back.

import type { LoadedConfig } from '../config/load-config.js';
import { createEngine } from '../engines/create-engine.js';
import type { Engine, EngineStatus } from '../engines/engine.js';
import { projectRoot } from '../engines/sql/project.js';
import { applySeverities, schemaFileFindings, type PhaseTiming } from '../gate/check.js';
import { introspectUrl } from '../introspect/introspect.js';
import { serverVersion } from '../postgres/client.js';
import { withPostgresServer } from '../postgres/scratch.js';
import { hasErrors, type Finding } from '../report/finding.js';
import { diffSchemas, type Change } from '../schema/diff.js';
import type { SchemaModel } from '../schema/model.js';
import { modelOptions } from '../schema/sources.js';
import { phaseTimer } from '../util/phases.js';
import type { Reporter } from '../util/reporter.js';
import type { ProductionRun } from './production.js';

export const DRIFT_REPORT_VERSION = 1;

export interface DriftOptions extends ProductionRun {
  /** Skip the model check (it builds EF projects; the Action may not want that). */
  readonly skipModelCheck?: boolean;
}

export interface DriftResult {
  readonly version: typeof DRIFT_REPORT_VERSION;
  /** drift: an error-level finding; pending: only migrations waiting to be deployed; clean: nothing. */
  readonly verdict: 'clean' | 'pending' | 'drift';
  readonly production: { readonly url: string; readonly server: string; readonly lastApplied?: string | undefined; readonly applied: number };
  readonly migrations: { readonly pending: readonly string[]; readonly unknown: readonly string[]; readonly changed: readonly string[] };
  readonly findings: readonly Finding[];
  /** From the schema production's migrations produce to production's schema. */
  readonly schemaChanges: readonly Change[];
  /** SQL that would turn production back into what its migrations produce (hazards as comments). */
  readonly repairSql: readonly string[];
  readonly timings: readonly PhaseTiming[];
}

export async function runDrift(options: DriftOptions): Promise<DriftResult> {
  const { loaded, cwd, reporter, production } = options;
  const { timings, timed } = phaseTimer(reporter);
  const engine = createEngine({ loaded, cwd, env: options.env, reporter, postgres: options.postgres });
  const ignore = modelOptions(loaded);
  const findings: Finding[] = [];

  const server = await serverVersion(production.url);
  const history = await timed('production migration history', () => historyOf(engine, production.url, reporter));
  if (history === undefined) {
    findings.push({ check: 'drift', code: 'HISTORY_NOT_CHECKED', severity: 'notice', message: `engine: command keeps its own history; production is compared with the schema of every migration` });
  }
  const statuses = history?.statuses ?? [];
  findings.push(...(history?.findings ?? []).map((f) => ({ ...f, check: 'drift' })));
  const versioned = statuses.filter((s) => s.kind === 'versioned');
  const pending = versioned.filter((s) => s.state === 'pending' || s.state === 'out-of-order').map((s) => s.version);
  const unknown = versioned.filter((s) => s.state === 'missing').map((s) => s.version);
  const changed = versioned.filter((s) => s.state === 'changed').map((s) => s.version);
  const applied = versioned.filter((s) => s.state === 'applied' || s.state === 'changed');
  const lastApplied = applied.at(-1)?.version;

  const productionSchema = await timed('inspect production', () => introspectUrl(production.url, ignore));
  const tables = [...productionSchema.objects.values()].filter((o) => o.kind === 'table').length;
  const historyless = history !== undefined && applied.length === 0 && unknown.length === 0 && tables > 0;

  let schemaChanges: readonly Change[] = [];
  let repairSql: readonly string[] = [];
  await withPostgresServer(options.postgres, async (scratch) => {
    const serverMajor = Math.floor(productionSchema.serverVersionNum / 10_000);
    if (serverMajor !== scratch.major) {
      reporter.warn(`production runs PostgreSQL ${serverMajor}, the scratch server ${scratch.major}: set postgres.version: ${serverMajor} so that both speak the same catalog`);
    }
    // What production should look like: its applied migrations (all of them for a database without history, to show how far off it is).
    const target = historyless ? undefined : history === undefined ? undefined : (lastApplied ?? '0');
    const expected = await scratch.withDatabase(async (db) => {
      if (target === '0') return introspectUrl(db.url, ignore);
      const outcome = await timed(`apply the migrations production has (${target ?? 'all'}) to a scratch database`, () => engine.migrate({ databaseUrl: db.url, reporter }, { ...(target === undefined ? {} : { target }) }));
      if (!outcome.ok || hasErrors(outcome.findings)) {
        findings.push(...outcome.findings.filter((f) => f.severity === 'error'));
        return undefined;
      }
      return introspectUrl(db.url, ignore);
    });
    if (expected !== undefined) {
      const diff = diffSchemas(expected, productionSchema);
      schemaChanges = diff.changes;
      repairSql = diffSchemas(productionSchema, expected).statements;
      if (historyless) {
        findings.push({
          check: 'drift',
          code: 'NO_MIGRATION_HISTORY',
          severity: 'error',
          message:
            diff.changes.length === 0
              ? `production has ${tables} table(s) and no migration history (created by EnsureCreated or by hand?); its schema equals what every migration produces: record them with drift-guard baseline --to ${versioned.at(-1)?.version ?? '<migration>'}`
              : `production has ${tables} table(s) and no migration history (created by EnsureCreated or by hand?), and its schema differs from every migration's in ${diff.changes.length} place(s); make them equal, then record the history with drift-guard baseline`,
        });
      } else {
        findings.push(...diff.changes.map((change) => driftFinding(change)));
      }
      for (const unsupported of diff.unsupported) findings.push({ check: 'drift', code: 'DRIFT_INCOMPLETE', severity: 'warning', message: `not compared: ${unsupported}` });
    }
    if (options.skipModelCheck !== true) findings.push(...(await timed('model check', () => modelCheck(engine, loaded, cwd, scratch, reporter, ignore, pending.length === 0 ? expected : undefined))));
  });

  if (pending.length > 0) {
    findings.push({ check: 'drift', code: 'MIGRATION_PENDING', severity: 'warning', message: `${pending.length} migration(s) not yet applied in production: ${pending.join(', ')}` });
  }
  const final = applySeverities(findings, loaded);
  const verdict = hasErrors(final) ? 'drift' : pending.length > 0 ? 'pending' : 'clean';
  return {
    version: DRIFT_REPORT_VERSION,
    verdict,
    production: { url: production.display, server, lastApplied, applied: applied.length },
    migrations: { pending, unknown, changed },
    findings: final,
    schemaChanges,
    repairSql,
    timings,
  };
}

async function historyOf(engine: Engine, url: string, reporter: Reporter): Promise<EngineStatus | undefined> {
  return engine.capabilities.history ? engine.status({ databaseUrl: url, reporter }) : undefined;
}

function driftFinding(change: Change): Finding {
  const what = change.description.replace(/^(create|drop|add|remove) /, '');
  const message =
    change.action === 'create'
      ? `production has ${what}, which its migrations do not create`
      : change.action === 'drop'
        ? `production lacks ${what}, which its migrations create`
        : `production differs from its migrations: ${change.description}`;
  return { check: 'drift', code: 'PRODUCTION_DRIFT', severity: 'error', message };
}

/** The engine's model check; for the SQL engine, the committed schema file against every migration. */
async function modelCheck(
  engine: Engine,
  loaded: LoadedConfig,
  cwd: string,
  scratch: { withDatabase<T>(fn: (db: { url: string }) => Promise<T>): Promise<T> },
  reporter: Reporter,
  ignore: ReturnType<typeof modelOptions>,
  everyMigration: SchemaModel | undefined,
): Promise<Finding[]> {
  if (engine.capabilities.modelCheck && engine.checkModel !== undefined) return [...(await engine.checkModel(reporter, { secondOpinion: false }))];
  if (engine.name !== 'sql' || loaded.config.sql['schema-file'] === undefined) return [];
  const head =
    everyMigration ??
    (await scratch.withDatabase(async (db) => {
      const outcome = await engine.migrate({ databaseUrl: db.url, reporter }, {});
      return outcome.ok ? introspectUrl(db.url, ignore) : undefined;
    }));
  return head === undefined ? [] : schemaFileFindings(loaded, projectRoot(loaded, cwd), head, scratch);
}
