// The PR gate for the SQL engine, on one scratch server: git analysis of the migrations (no
// database), then the base's migrations into one scratch database and the PR's into another (the
// apply-from-scratch check), a schema diff with hazards, a rollback check, and the committed schema
// file compared with what the migrations produce. It returns findings and facts; reporting is
// done by src/report.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load-config.js';
import type { Layout, Migration } from '../engines/sql/layout.js';
import { discover, migrateDown, migrateUp, type SqlMigrations } from '../engines/sql/migrator.js';
import { resolveSqlMigrations } from '../engines/sql/project.js';
import { extractDirectory, repositoryRoot, resolveBase, type BaseResolution } from '../git/git.js';
import { introspectUrl } from '../introspect/introspect.js';
import { withPostgresServer, type PostgresOptions, type ScratchDatabase } from '../postgres/scratch.js';
import type { Finding, Severity } from '../report/finding.js';
import { hasErrors } from '../report/finding.js';
import { diffSchemas, type Change } from '../schema/diff.js';
import type { SchemaModel } from '../schema/model.js';
import { renderSnapshot } from '../schema/snapshot.js';
import { loadSqlFile, modelOptions } from '../schema/sources.js';
import { isDriftGuardError } from '../errors.js';
import { erDiagram } from '../report/er-diagram.js';
import { runCommandCheck } from './command-check.js';
import { runEfCoreCheck } from './efcore-check.js';
import { squawkLint } from './lint.js';
import { phaseTimer, type PhaseTiming } from '../util/phases.js';
import type { Reporter } from '../util/reporter.js';

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

export type { PhaseTiming } from '../util/phases.js';

export interface CheckResult {
  readonly version: typeof CHECK_REPORT_VERSION;
  readonly verdict: 'pass' | 'warn' | 'fail';
  readonly base: { readonly ref: string; readonly commit: string; readonly mergeBase: string };
  readonly migrations: { readonly added: readonly string[]; readonly modified: readonly string[]; readonly deleted: readonly string[] };
  readonly findings: readonly Finding[];
  readonly schemaChanges: readonly Change[];
  /** Mermaid erDiagram of the tables the PR touches and their foreign-key neighbours. */
  readonly diagram?: string;
  readonly timings: readonly PhaseTiming[];
}

export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  if (options.loaded.config.engine === 'efcore') return runEfCoreCheck(options);
  if (options.loaded.config.engine === 'command') return runCommandCheck(options);
  const { timings, timed } = phaseTimer(options.reporter);
  const { loaded, cwd } = options;
  const head = resolveSqlMigrations(loaded, cwd, {});
  const repo = await repositoryRoot(cwd);
  const relativeDir = path.relative(repo, head.dir);
  const base = await resolveBase(cwd, options.base, options.env);
  const extracted = await extractDirectory(base.mergeBase, relativeDir, repo);
  const tip = base.baseTip === base.mergeBase ? undefined : await extractDirectory(base.baseTip, relativeDir, repo);
  try {
    const baseProject: SqlMigrations = { dir: extracted.dir, root: head.root, layout: head.layout };
    // Git analysis needs no database: it runs while the server starts.
    const analysisStarted = performance.now();
    const analysisPromise = gitAnalysis(head, baseProject, tip === undefined ? undefined : { ...baseProject, dir: tip.dir }, base, cwd).finally(() =>
      timings.push({ phase: 'git analysis', ms: Math.round(performance.now() - analysisStarted) }),
    );
    analysisPromise.catch(() => undefined);
    const serverStarted = performance.now();
    let schemaChanges: readonly Change[] = [];
    let diagram: string | undefined;
    let findings: Finding[] = [];
    let analysis!: GitAnalysis;

    await withPostgresServer(options.postgres, async (server) => {
      timings.push({ phase: 'start PostgreSQL', ms: Math.round(performance.now() - serverStarted) });
      analysis = await analysisPromise;
      findings = [...analysis.findings];
      const apply = async (project: SqlMigrations, db: ScratchDatabase): Promise<{ ok: boolean; findings: readonly Finding[] }> => {
        if (!existsSync(project.dir)) return { ok: true, findings: [] };
        const outcome = await migrateUp(project, { databaseUrl: db.url, reporter: options.reporter, lockTimeoutMs: 60_000, allowOutOfOrder: true });
        return { ok: outcome.ok && !hasErrors(outcome.findings), findings: outcome.findings };
      };
      await server.withDatabase((baseDb) =>
        server.withDatabase(async (headDb) => {
          const [baseApplied, headApplied] = await timed('apply base and PR migrations to scratch databases', () => Promise.all([apply(baseProject, baseDb), apply(head, headDb)]));
          findings.push(...headApplied.findings.filter((f) => f.severity === 'error'));
          if (!baseApplied.ok) {
            findings.push({
              check: 'apply',
              code: 'BASE_APPLY_FAILED',
              severity: 'warning',
              message: `the base's migrations do not apply to an empty database (${baseApplied.findings.find((f) => f.severity === 'error')?.message ?? 'unknown failure'}); the schema diff is skipped`,
            });
          }
          if (!headApplied.ok) return;
          const ignore = modelOptions(loaded);
          const [baseSchema, headSchema] = await timed('inspect base and PR schemas', () => Promise.all([introspectUrl(baseDb.url, ignore), introspectUrl(headDb.url, ignore)]));
          if (baseApplied.ok) {
            const diff = diffSchemas(baseSchema, headSchema);
            schemaChanges = diff.changes;
            const touched = [...new Set(diff.changes.flatMap((c) => (c.table === undefined ? [] : [`table:${c.table}`])))];
            diagram = erDiagram(headSchema, touched);
            findings.push(...hazardFindings(diff.changes, analysis.added.map((m) => ({ file: m.up.file, text: m.up.fileText })), options.labels ?? [], loaded));
          }
          findings.push(...(await schemaFileFindings(loaded, head.root, headSchema, server)));
          if (loaded.config.check.lint) {
            const inputs = analysis.added.map((m) => ({ file: m.up.file, sql: m.up.sql, lineOffset: m.up.fileText.slice(0, m.up.sqlOffset).split('\n').length - 1 }));
            findings.push(...(await timed('lint (squawk)', () => squawkLint(inputs, server.major))));
          }
          if (baseApplied.ok) findings.push(...(await timed('rollback check', () => rollbackCheck(head, baseSchema, headSchema, headDb.url, analysis.added, analysis.baseLast, options, loaded))));
        }),
      );
    });

    return assembleResult({ findings, loaded, base, migrations: { added: analysis.added.map((m) => m.up.file), modified: analysis.modified, deleted: analysis.deleted }, schemaChanges, diagram, timings });
  } finally {
    rmSync(extracted.root, { recursive: true, force: true });
    if (tip !== undefined) rmSync(tip.root, { recursive: true, force: true });
  }
}

interface GitAnalysis {
  readonly findings: Finding[];
  readonly added: readonly Migration[];
  readonly modified: readonly string[];
  readonly deleted: readonly string[];
  /** The newest migration version on the base, if any. */
  readonly baseLast: string | undefined;
}

/** Edited, deleted, out-of-order migrations, and a base that moved on; from files alone. */
async function gitAnalysis(head: SqlMigrations, base: SqlMigrations, tip: SqlMigrations | undefined, resolution: BaseResolution, cwd: string): Promise<GitAnalysis> {
  const layout = head.layout;
  const now = existsSync(head.dir) ? discover(head).migrations.filter((m) => m.kind === 'versioned') : [];
  const before = existsSync(base.dir) ? discover(base).migrations.filter((m) => m.kind === 'versioned') : [];
  const findings: Finding[] = [];
  const byVersion = new Map(now.map((m) => [m.version, m]));
  const modified: string[] = [];
  const deleted: string[] = [];
  for (const old of before) {
    const current = byVersion.get(old.version);
    const oldFile = path.relative(head.root, path.join(head.dir, path.relative(base.dir, path.join(base.root, old.up.file))));
    if (current === undefined) {
      deleted.push(oldFile);
      findings.push({
        check: 'migrations',
        code: 'MIGRATION_DELETED',
        severity: 'error',
        message: `${old.label} exists on the base (${resolution.baseRef}) and is gone in this PR; databases that applied it keep its changes. Restore it and undo its effect in a new migration`,
        file: oldFile,
      });
    } else if (normalize(current.up.fileText) !== normalize(old.up.fileText) || normalize(current.down?.fileText ?? '') !== normalize(old.down?.fileText ?? '')) {
      modified.push(current.up.file);
      findings.push({
        check: 'migrations',
        code: 'MIGRATION_MODIFIED',
        severity: 'error',
        message: `${current.label} was already on the base (${resolution.baseRef}) and this PR edits it; databases that applied it will not see the edit. Revert it and put the change in a new migration`,
        file: current.up.file,
        line: firstDifferentLine(old.up.fileText, current.up.fileText),
      });
    }
  }
  const known = new Set(before.map((m) => m.version));
  const added = now.filter((m) => !known.has(m.version));
  const baseLast = before.map((m) => m.version).sort(layout.compareVersions).at(-1);
  for (const migration of added) {
    if (baseLast !== undefined && layout.compareVersions(migration.version, baseLast) < 0) {
      findings.push({
        check: 'migrations',
        code: 'MIGRATION_OUT_OF_ORDER',
        severity: 'error',
        message: `${migration.label} (version ${migration.version}) sorts before the base's newest migration ${baseLast}; databases already past ${baseLast} would skip or refuse it. Give it a newer version`,
        file: migration.up.file,
      });
    }
  }
  if (tip !== undefined && existsSync(tip.dir) && added.length > 0) {
    const onTip = discover(tip).migrations.filter((m) => m.kind === 'versioned' && !known.has(m.version) && !byVersion.has(m.version));
    if (onTip.length > 0) {
      findings.push({
        check: 'migrations',
        code: 'BASE_ADVANCED',
        severity: 'warning',
        message: `${resolution.baseRef} gained ${onTip.length} migration(s) since this branch forked (${onTip.map((m) => m.label).join(', ')}); rebase and regenerate this PR's migrations on top of them`,
      });
    }
  }
  void cwd;
  return { findings, added, modified, deleted, baseLast };
}

/** Severities applied, verdict computed: the result every engine's gate returns. */
export function assembleResult(parts: {
  findings: readonly Finding[];
  loaded: LoadedConfig;
  base: BaseResolution;
  migrations: CheckResult['migrations'];
  schemaChanges: readonly Change[];
  diagram: string | undefined;
  timings: readonly PhaseTiming[];
}): CheckResult {
  const adjusted = applySeverities(parts.findings, parts.loaded);
  return {
    version: CHECK_REPORT_VERSION,
    verdict: hasErrors(adjusted) ? 'fail' : adjusted.some((f) => f.severity === 'warning') ? 'warn' : 'pass',
    base: { ref: parts.base.baseRef, commit: parts.base.baseTip, mergeBase: parts.base.mergeBase },
    migrations: parts.migrations,
    findings: adjusted,
    schemaChanges: parts.schemaChanges,
    ...(parts.diagram === undefined ? {} : { diagram: parts.diagram }),
    timings: parts.timings,
  };
}

/** A new migration file that carries the acknowledgement comment, if any. */
export function destructiveAcknowledgement(added: readonly { file: string; text: string }[]): { file: string; reason: string } | undefined {
  for (const migration of added) {
    const reason = /(?:--|\/\/)\s*drift-guard:\s*allow\s+DELETES_DATA\b\s*(.*)$/im.exec(migration.text)?.[1]?.trim();
    if (reason !== undefined) return { file: migration.file, reason };
  }
  return undefined;
}

/** DELETES_DATA becomes DESTRUCTIVE_CHANGE (acknowledgeable); the other hazards LOCKING_CHANGE. */
export function hazardFindings(changes: readonly Change[], added: readonly { file: string; text: string }[], labels: readonly string[], loaded: LoadedConfig): Finding[] {
  const findings: Finding[] = [];
  const label = loaded.config.check['allow-destructive-label'];
  const acknowledgement = destructiveAcknowledgement(added);
  const file = added.at(-1)?.file;
  for (const change of changes) {
    for (const h of change.hazards) {
      if (h.code === 'DELETES_DATA') {
        const acknowledged = labels.includes(label) ? `acknowledged by the PR label ${label}` : acknowledgement !== undefined ? `acknowledged in ${acknowledgement.file}: ${acknowledgement.reason || 'no reason given'}` : undefined;
        findings.push({
          check: 'schema',
          code: 'DESTRUCTIVE_CHANGE',
          severity: acknowledged === undefined ? 'warning' : 'notice',
          message: `${change.description}: ${h.message}${acknowledged === undefined ? ` To accept it, add the PR label ${label} or a line "-- drift-guard: allow DELETES_DATA <reason>" to the migration` : ` (${acknowledged})`}`,
          ...(file === undefined ? {} : { file }),
        });
      } else {
        findings.push({
          check: 'schema',
          code: 'LOCKING_CHANGE',
          severity: 'notice',
          message: `${change.description}: ${h.message}${h.safeAlternative === undefined ? '' : ` Safer: ${h.safeAlternative}.`}`,
          details: { hazard: h.code },
          ...(file === undefined ? {} : { file }),
        });
      }
    }
  }
  return findings;
}

/**
 * sql.schema-file against what the migrations produce. The same text is quick; otherwise the file
 * is loaded into a scratch database and compared as a schema, so a hand-edited declarative file
 * that only differs in layout is not stale.
 */
export async function schemaFileFindings(loaded: LoadedConfig, root: string, headSchema: SchemaModel, scratch: { withDatabase<T>(fn: (db: { url: string }) => Promise<T>): Promise<T> }): Promise<Finding[]> {
  const configured = loaded.config.sql['schema-file'];
  if (configured === undefined) return [];
  const file = path.resolve(root, configured);
  const regenerate = `regenerate it with drift-guard inspect ${path.relative(root, path.resolve(root, loaded.config.sql.dir ?? '.')) || '.'} -o ${configured}`;
  if (!existsSync(file)) return [{ check: 'model', code: 'SCHEMA_FILE_STALE', severity: 'error', message: `${configured} does not exist; create it: ${regenerate.replace('regenerate it with ', '')}`, file: configured }];
  const committed = readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
  if (committed === renderSnapshot(headSchema)) return [];
  let fileSchema: SchemaModel;
  try {
    fileSchema = await scratch.withDatabase(async (db) => {
      await loadSqlFile(file, db.url, root);
      return introspectUrl(db.url, modelOptions(loaded));
    });
  } catch (error) {
    if (!isDriftGuardError(error)) throw error;
    return [{ check: 'model', code: 'SCHEMA_FILE_STALE', severity: 'error', message: `${error.message}; fix it or ${regenerate}`, file: configured }];
  }
  const differences = diffSchemas(headSchema, fileSchema).changes;
  if (differences.length === 0) return [];
  return [
    {
      check: 'model',
      code: 'SCHEMA_FILE_STALE',
      severity: 'error',
      message: `${configured} no longer matches what the migrations produce (${differences.slice(0, 3).map((c) => c.description).join('; ')}${differences.length > 3 ? `; ${differences.length - 3} more` : ''}); add a migration for it (drift-guard new NAME generates one) or ${regenerate}`,
      file: configured,
    },
  ];
}

/** Down to the base's last migration must give the base schema; up again must give the PR's. */
async function rollbackCheck(
  head: SqlMigrations,
  baseSchema: SchemaModel,
  headSchema: SchemaModel,
  url: string,
  added: readonly Migration[],
  baseLast: string | undefined,
  options: CheckOptions,
  loaded: LoadedConfig,
): Promise<Finding[]> {
  const mode = loaded.config.check.rollback;
  if (mode === 'never' || added.length === 0) return [];
  const withoutDown = added.filter((m) => m.down === undefined);
  if (withoutDown.length > 0) {
    if (mode === 'auto') return [];
    return [{ check: 'rollback', code: 'ROLLBACK_NOT_CHECKED', severity: 'warning', message: `${withoutDown.map((m) => m.label).join(', ')} has no down migration, so this PR cannot be rolled back`, file: withoutDown[0]!.up.file }];
  }
  const settings = { databaseUrl: url, reporter: options.reporter, lockTimeoutMs: 60_000, allowOutOfOrder: true };
  const ignore = modelOptions(loaded);
  const down = await migrateDown(head, settings, { target: baseLast ?? '0' });
  if (!down.ok) {
    const failure = down.findings.find((f) => f.severity === 'error');
    return [{ check: 'rollback', code: 'ROLLBACK_FAILED', severity: 'error', message: `rolling this PR back failed: ${failure?.message ?? 'unknown error'}`, ...(failure?.file === undefined ? {} : { file: failure.file, ...(failure.line === undefined ? {} : { line: failure.line }) }) }];
  }
  const afterDown = diffSchemas(baseSchema, await introspectUrl(url, ignore));
  const findings: Finding[] = [];
  if (afterDown.changes.length > 0) {
    findings.push({
      check: 'rollback',
      code: 'ROLLBACK_INCOMPLETE',
      severity: 'error',
      message: `rolling back does not restore the base schema: ${afterDown.changes.slice(0, 3).map((c) => c.description).join('; ')}${afterDown.changes.length > 3 ? ` and ${afterDown.changes.length - 3} more` : ''} (a down migration misses something)`,
      file: added.at(-1)!.down!.file,
      details: { changes: afterDown.changes.map((c) => c.description) },
    });
  }
  const up = await migrateUp(head, settings);
  if (!up.ok) {
    const failure = up.findings.find((f) => f.severity === 'error');
    findings.push({ check: 'rollback', code: 'ROLLBACK_FAILED', severity: 'error', message: `re-applying after the rollback failed: ${failure?.message ?? 'unknown error'}` });
    return findings;
  }
  const afterUp = diffSchemas(headSchema, await introspectUrl(url, ignore));
  if (afterUp.changes.length > 0) {
    findings.push({
      check: 'rollback',
      code: 'ROLLBACK_INCOMPLETE',
      severity: 'error',
      message: `applying again after the rollback gives a different schema: ${afterUp.changes.slice(0, 3).map((c) => c.description).join('; ')} (a down migration leaves something behind)`,
    });
  }
  return findings;
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

function normalize(text: string): string {
  return text.replace(/^\ufeff/, '').replace(/\r\n?/g, '\n').trimEnd();
}

export function firstDifferentLine(a: string, b: string): number {
  const x = normalize(a).split('\n');
  const y = normalize(b).split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return i + 1;
  return 1;
}

export type { Layout };
