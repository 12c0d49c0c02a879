// The PR gate for EF Core. Migrations are compiled code, so the base's schema comes from the base
// commit checked out in a temporary git worktree and built there; the PR's from the working tree.
// Git analysis works on migration ids; entity files that change without a migration are
// ENTITY_WITHOUT_MIGRATION (a notice when EF says the model has no pending changes).

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/load-config.js';
import { findProject } from '../engines/efcore/dotnet-ef.js';
import { efcoreEngine } from '../engines/efcore/efcore-engine.js';
import { scanMigrationFiles } from '../engines/efcore/efcore-integrity.js';
import type { Engine } from '../engines/engine.js';
import { projectRoot } from '../engines/sql/project.js';
import { changedFiles, filesAt, git, repositoryRoot, resolveBase } from '../git/git.js';
import { introspectUrl } from '../introspect/introspect.js';
import { withPostgresServer } from '../postgres/scratch.js';
import { erDiagram } from '../report/er-diagram.js';
import { hasErrors, type Finding } from '../report/finding.js';
import { diffSchemas, type Change } from '../schema/diff.js';
import type { SchemaModel } from '../schema/model.js';
import { modelOptions } from '../schema/sources.js';
import { assembleResult, hazardFindings, type CheckOptions, type CheckResult, type PhaseTiming } from './check.js';
import { squawkLint } from './lint.js';

const ID = /(\d{14}_\w+)\.Designer\.cs$/;

export async function runEfCoreCheck(options: CheckOptions): Promise<CheckResult> {
  const { loaded, cwd, reporter } = options;
  const timings: PhaseTiming[] = [];
  const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await reporter.step(phase, fn);
    } finally {
      timings.push({ phase, ms: Math.round(performance.now() - started) });
    }
  };
  const root = projectRoot(loaded, cwd);
  const project = findProject(root, loaded.config.efcore.project);
  const projectDir = path.dirname(project);
  const repo = await repositoryRoot(cwd);
  const base = await resolveBase(cwd, options.base, options.env);
  const head = efcoreEngine(loaded, cwd, options.env, reporter, options.postgres);

  const analysis = await timed('git analysis', () => analyze());
  const findings: Finding[] = [...analysis.findings];
  let schemaChanges: readonly Change[] = [];
  let diagram: string | undefined;

  await withPostgresServer(options.postgres, async (server) => {
    await server.withDatabase((headDb) =>
      server.withDatabase(async (baseDb) => {
        const headRun = await timed('apply the PR migrations (dotnet ef)', () => head.migrate({ databaseUrl: headDb.url, reporter }, {}));
        findings.push(...headRun.findings.filter((f) => f.severity !== 'notice'));
        const ignore = modelOptions(loaded);
        const model = await timed('model check (has-pending-model-changes)', () => head.checkModel!(reporter, { secondOpinion: false }));
        findings.push(...model);
        const pending = model.some((f) => f.code === 'MODEL_PENDING_CHANGES');
        for (const file of analysis.entitiesWithoutMigration) {
          findings.push({
            check: 'model',
            code: 'ENTITY_WITHOUT_MIGRATION',
            severity: pending ? 'warning' : 'notice',
            message: pending
              ? `${file} changed and this PR adds no migration, and EF reports pending model changes: add a migration`
              : `${file} changed and this PR adds no migration; EF reports no pending model changes (e.g. a [NotMapped] property), so none is needed`,
            file,
          });
        }
        if (!headRun.ok || (analysis.added.length === 0 && analysis.modified.length === 0)) return;
        const headSchema = await introspectUrl(headDb.url, ignore);
        const baseSchema = await timed('build and apply the base migrations (git worktree)', () => baseSchemaAt(baseDb.url, ignore));
        if (baseSchema === undefined) return;
        const diff = diffSchemas(baseSchema, headSchema);
        schemaChanges = diff.changes;
        diagram = erDiagram(headSchema, [...new Set(diff.changes.flatMap((c) => (c.table === undefined ? [] : [`table:${c.table}`])))]);
        findings.push(...hazardFindings(diff.changes, analysis.added.map((id) => migrationSource(id)), options.labels ?? [], loaded));
        if (loaded.config.check.lint && analysis.added.length > 0) {
          const sql = await head.script({ from: analysis.baseLast ?? '0', to: analysis.added.at(-1)! }, reporter);
          findings.push(...(await timed('lint (squawk)', () => squawkLint([{ file: migrationSource(analysis.added.at(-1)!).file, sql, lineOffset: 0 }], server.major))).map(({ line: _l, column: _c, ...f }) => f));
        }
        if (loaded.config.check.rollback !== 'never' && analysis.added.length > 0) {
          findings.push(...(await timed('rollback check (dotnet ef)', () => rollbackCheck(head, headDb.url, baseSchema, headSchema, analysis.baseLast))));
        }
      }),
    );
  });

  return assembleResult({
    findings,
    loaded,
    base,
    migrations: { added: analysis.added.map((id) => migrationSource(id).file), modified: analysis.modified, deleted: analysis.deleted },
    schemaChanges,
    diagram,
    timings,
  });

  function migrationSource(id: string): { file: string; text: string } {
    const designer = scanMigrationFiles(projectDir, root, undefined).migrations.find((m) => m.id === id)?.designer;
    const file = designer === undefined ? id : designer.replace(/\.Designer\.cs$/, '.cs');
    return { file: path.relative(root, file), text: existsSync(file) ? readFileSync(file, 'utf8') : '' };
  }

  async function analyze(): Promise<{ findings: Finding[]; added: string[]; modified: string[]; deleted: string[]; baseLast: string | undefined; entitiesWithoutMigration: string[] }> {
    const relativeProject = path.relative(repo, projectDir);
    const idsAt = async (ref: string): Promise<string[]> =>
      (await filesAt(ref, relativeProject === '' ? '.' : relativeProject, repo)).map((f) => ID.exec(f)?.[1]).filter((id): id is string => id !== undefined).sort();
    const baseIds = await idsAt(base.mergeBase);
    const headIds = scanMigrationFiles(projectDir, root, undefined).migrations.map((m) => m.id).sort();
    const changed = await changedFiles(base.mergeBase, cwd);
    const found: Finding[] = [];
    const added = headIds.filter((id) => !baseIds.includes(id));
    const baseLast = baseIds.at(-1);
    const modified: string[] = [];
    const deleted: string[] = [];
    for (const change of changed) {
      const name = path.basename(change.path);
      const id = baseIds.find((b) => name === `${b}.cs` || name === `${b}.Designer.cs`);
      const file = path.relative(root, path.join(repo, change.path));
      if (id === undefined) continue;
      if (change.status === 'deleted') {
        deleted.push(file);
        found.push({ check: 'migrations', code: 'MIGRATION_DELETED', severity: 'error', message: `${name} (migration ${id}) exists on the base (${base.baseRef}) and is gone in this PR; restore it and undo its effect in a new migration`, file });
      } else if (change.status === 'modified' || change.status === 'renamed') {
        modified.push(file);
        found.push({ check: 'migrations', code: 'MIGRATION_MODIFIED', severity: 'error', message: `${name} (migration ${id}) was already on the base (${base.baseRef}) and this PR edits it; databases that applied it will not see the edit. Revert it and add a new migration`, file });
      }
    }
    for (const id of added) {
      if (baseLast !== undefined && id < baseLast) {
        found.push({ check: 'migrations', code: 'MIGRATION_OUT_OF_ORDER', severity: 'error', message: `migration ${id} sorts before the base's newest migration ${baseLast}; regenerate it (dotnet ef migrations remove, then add) so that it comes last`, file: migrationSource(id).file });
      }
    }
    if (base.baseTip !== base.mergeBase && added.length > 0) {
      const theirs = (await idsAt(base.baseTip)).filter((id) => !baseIds.includes(id));
      if (theirs.length > 0) {
        found.push({ check: 'migrations', code: 'BASE_ADVANCED', severity: 'warning', message: `${base.baseRef} gained ${theirs.length} migration(s) since this branch forked (${theirs.join(', ')}); rebase, then remove and re-add this PR's migrations so that the model snapshot includes theirs` });
      }
    }
    const patterns = loaded.config.efcore.entities.map(globToRegExp);
    const entitiesWithoutMigration =
      added.length > 0
        ? []
        : changed
            .filter((c) => c.status !== 'deleted' && c.path.endsWith('.cs'))
            .map((c) => path.join(repo, c.path))
            .filter((file) => file.startsWith(projectDir + path.sep))
            .map((file) => path.relative(projectDir, file).split(path.sep).join('/'))
            .filter((rel) => !/(^|\/)(bin|obj)\//.test(rel) && !/\.Designer\.cs$|ModelSnapshot\.cs$/.test(rel) && !/(^|\/)\d{14}_\w+\.cs$/.test(rel))
            .filter((rel) => patterns.some((p) => p.test(rel)))
            .map((rel) => path.relative(root, path.join(projectDir, rel)));
    return { findings: found, added, modified, deleted, baseLast, entitiesWithoutMigration };
  }

  /** Checks the merge base out in a worktree, builds it there and applies its migrations. */
  async function baseSchemaAt(url: string, ignore: ReturnType<typeof modelOptions>): Promise<SchemaModel | undefined> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-base-'));
    const worktree = path.join(dir, 'base');
    try {
      const added = await git(['worktree', 'add', '--detach', '--quiet', worktree, base.mergeBase], repo);
      if (added.code !== 0) throw new Error(added.stderr.trim());
      const baseCwd = path.join(worktree, path.relative(repo, cwd));
      if (!existsSync(path.join(worktree, path.relative(repo, project)))) return emptySchemaFor(url, ignore);
      const engine = efcoreEngine(loadConfig({ cwd: baseCwd }), baseCwd, options.env, reporter, options.postgres);
      const outcome = await engine.migrate({ databaseUrl: url, reporter }, {});
      if (!outcome.ok) {
        findings.push({ check: 'apply', code: 'BASE_APPLY_FAILED', severity: 'warning', message: `the base's migrations do not apply to an empty database (${outcome.findings.find((f) => f.severity === 'error')?.message ?? 'unknown failure'}); the schema diff is skipped` });
        return undefined;
      }
      return introspectUrl(url, ignore);
    } finally {
      await git(['worktree', 'remove', '--force', worktree], repo);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  function emptySchemaFor(url: string, ignore: ReturnType<typeof modelOptions>): Promise<SchemaModel> {
    return introspectUrl(url, ignore);
  }
}

async function rollbackCheck(engine: Engine, url: string, baseSchema: SchemaModel, headSchema: SchemaModel, baseLast: string | undefined): Promise<Finding[]> {
  const reporter = { info: () => undefined, warn: () => undefined, step: <T>(_l: string, f: () => Promise<T>) => f() };
  const down = await engine.rollback({ databaseUrl: url, reporter }, { target: baseLast ?? '0' });
  if (!down.ok) return [{ check: 'rollback', code: 'ROLLBACK_FAILED', severity: 'error', message: `rolling this PR back (dotnet ef database update ${baseLast ?? '0'}) failed: ${down.findings[0]?.message ?? 'unknown error'}` }];
  const found: Finding[] = [];
  const afterDown = diffSchemas(baseSchema, await introspectUrl(url));
  if (afterDown.changes.length > 0) {
    found.push({ check: 'rollback', code: 'ROLLBACK_INCOMPLETE', severity: 'error', message: `rolling back does not restore the base schema: ${afterDown.changes.slice(0, 3).map((c) => c.description).join('; ')} (a Down() misses something)` });
  }
  const up = await engine.migrate({ databaseUrl: url, reporter }, {});
  if (!up.ok || hasErrors(up.findings)) {
    found.push({ check: 'rollback', code: 'ROLLBACK_FAILED', severity: 'error', message: `re-applying after the rollback failed: ${up.findings[0]?.message ?? 'unknown error'}` });
  } else if (diffSchemas(headSchema, await introspectUrl(url)).changes.length > 0) {
    found.push({ check: 'rollback', code: 'ROLLBACK_INCOMPLETE', severity: 'error', message: 'applying again after the rollback gives a different schema (a Down() leaves something behind)' });
  }
  return found;
}

/** "**" matches across folders, "*" within one. */
function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\u0000').replace(/\*\*/g, '\u0001').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped.replace(/\u0000/g, '(?:.*/)?').replace(/\u0001/g, '.*')}$`);
}
