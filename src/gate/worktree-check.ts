// The PR gate for engines that apply migrations with a tool of their own (EF Core's dotnet ef, the
// user's commands). Those tools apply "everything there is", so the base's schema comes from the
// base commit checked out in a temporary git worktree and applied there; the PR's from the working
// tree. Git analysis works on migration ids that an adapter reads from file names.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoadedConfig } from '../config/load-config.js';
import type { Engine } from '../engines/engine.js';
import { projectRoot } from '../engines/sql/project.js';
import { changedFiles, filesAt, git, repositoryRoot, resolveBase, type ChangedFile } from '../git/git.js';
import { introspectUrl } from '../introspect/introspect.js';
import { withPostgresServer } from '../postgres/scratch.js';
import { erDiagram } from '../report/er-diagram.js';
import { hasErrors, type Finding } from '../report/finding.js';
import { diffSchemas, type Change } from '../schema/diff.js';
import type { SchemaModel } from '../schema/model.js';
import { modelOptions } from '../schema/sources.js';
import { phaseTimer } from '../util/phases.js';
import type { Reporter } from '../util/reporter.js';
import { assembleResult, hazardFindings, type CheckOptions, type CheckResult } from './check.js';
import { squawkLint, type LintInput } from './lint.js';

/** What the worktree gate needs to know about one engine. */
export interface WorktreeAdapter {
  /** Names the tool in phases and messages: "dotnet ef", "command.apply". */
  readonly tool: string;
  /** Repository-relative folder that holds the migrations (and whose absence on the base means "no migrations yet"). */
  readonly migrationsDir: string;
  /** The migration a repository-relative file belongs to, or undefined when it is not a migration file. */
  idOf(file: string): string | undefined;
  /** The migration ids in the working tree. */
  headIds(): string[];
  /** The file a migration is shown as (project-relative), and its text. */
  sourceOf(id: string): { file: string; text: string };
  /** Whether a repository-relative file shapes the model (for ENTITY_WITHOUT_MIGRATION). */
  isEntity(file: string): boolean;
  /** The engine for a checkout: the PR's working tree, or the base's worktree. */
  engine(loaded: LoadedConfig, cwd: string): Engine;
  /** How to move an out-of-order migration to the end. */
  readonly reorderHint: string;
  /** What to do when the base gained migrations. */
  readonly rebaseHint: string;
  /** Whether lint lines point into the migration files (plain SQL) or into generated SQL (EF's script). */
  readonly lintLinesMatchFiles: boolean;
  /** The SQL squawk lints for the added migrations. */
  lintInputs(engine: Engine, added: readonly string[], baseLast: string | undefined, reporter: Reporter): Promise<LintInput[]>;
}

/** Migration ids sort like file names, numbers by value (V2 before V10). */
export const compareIds = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

export async function runWorktreeCheck(options: CheckOptions, adapter: WorktreeAdapter): Promise<CheckResult> {
  const { loaded, cwd, reporter } = options;
  const { timings, timed } = phaseTimer(reporter);
  const repo = await repositoryRoot(cwd);
  const base = await resolveBase(cwd, options.base, options.env);
  const root = projectRoot(loaded, cwd);
  const head = adapter.engine(loaded, cwd);

  const analysis = await timed('git analysis', () => analyze());
  const findings: Finding[] = [...analysis.findings];
  let schemaChanges: readonly Change[] = [];
  let diagram: string | undefined;

  await withPostgresServer(options.postgres, async (server) => {
    await server.withDatabase((headDb) =>
      server.withDatabase(async (baseDb) => {
        const headRun = await timed(`apply the PR migrations (${adapter.tool})`, () => head.migrate({ databaseUrl: headDb.url, reporter }, {}));
        findings.push(...headRun.findings.filter((f) => f.severity !== 'notice'));
        const ignore = modelOptions(loaded);
        const model = head.capabilities.modelCheck ? await timed('model check', () => head.checkModel!(reporter, { secondOpinion: false })) : [];
        findings.push(...model);
        const pending = model.some((f) => f.code === 'MODEL_PENDING_CHANGES');
        for (const file of analysis.entitiesWithoutMigration) {
          const checked = head.capabilities.modelCheck;
          findings.push({
            check: 'model',
            code: 'ENTITY_WITHOUT_MIGRATION',
            severity: checked && !pending ? 'notice' : 'warning',
            message: !checked
              ? `${file} changed and this PR adds no migration; if the change touches the schema, add one (configure a model check to tell)`
              : pending
                ? `${file} changed and this PR adds no migration, and the model check reports pending changes: add a migration`
                : `${file} changed and this PR adds no migration; the model check reports no pending changes (e.g. a [NotMapped] property), so none is needed`,
            file,
          });
        }
        if (!headRun.ok || (analysis.added.length === 0 && analysis.modified.length === 0)) return;
        const headSchema = await introspectUrl(headDb.url, ignore);
        const baseSchema = await timed(`apply the base migrations (git worktree, ${adapter.tool})`, () => baseSchemaAt(baseDb.url, ignore));
        if (baseSchema === undefined) return;
        const diff = diffSchemas(baseSchema, headSchema);
        schemaChanges = diff.changes;
        diagram = erDiagram(headSchema, [...new Set(diff.changes.flatMap((c) => (c.table === undefined ? [] : [`table:${c.table}`])))]);
        findings.push(...hazardFindings(diff.changes, analysis.added.map((id) => adapter.sourceOf(id)), options.labels ?? [], loaded));
        if (loaded.config.check.lint && analysis.added.length > 0) {
          const inputs = await adapter.lintInputs(head, analysis.added, analysis.baseLast, reporter);
          const linted = await timed('lint (squawk)', () => squawkLint(inputs, server.major));
          findings.push(...(adapter.lintLinesMatchFiles ? linted : linted.map(({ line: _line, column: _column, ...finding }) => finding)));
        }
        if (loaded.config.check.rollback !== 'never' && head.capabilities.rollback && analysis.added.length > 0) {
          findings.push(...(await timed(`rollback check (${adapter.tool})`, () => rollbackCheck(head, headDb.url, baseSchema, headSchema, analysis.baseLast, ignore))));
        }
      }),
    );
  });

  return assembleResult({
    findings,
    loaded,
    base,
    migrations: { added: analysis.added.map((id) => adapter.sourceOf(id).file), modified: analysis.modified, deleted: analysis.deleted },
    schemaChanges,
    diagram,
    timings,
  });

  async function analyze(): Promise<{ findings: Finding[]; added: string[]; modified: string[]; deleted: string[]; baseLast: string | undefined; entitiesWithoutMigration: string[] }> {
    const idsAt = async (ref: string): Promise<string[]> => [...new Set((await filesAt(ref, adapter.migrationsDir === '' ? '.' : adapter.migrationsDir, repo)).map((f) => adapter.idOf(f)).filter((id): id is string => id !== undefined))].sort(compareIds);
    const baseIds = await idsAt(base.mergeBase);
    const headIds = [...new Set(adapter.headIds())].sort(compareIds);
    const changed = await changedFiles(base.mergeBase, cwd);
    const found: Finding[] = [];
    const added = headIds.filter((id) => !baseIds.includes(id));
    const baseLast = baseIds.at(-1);
    const modified: string[] = [];
    const deleted: string[] = [];
    const shown = (change: ChangedFile): string => path.relative(root, path.join(repo, change.path)).split(path.sep).join('/');
    // One finding per migration: gone when none of its files is left, edited when any of them changed.
    const touched = new Map<string, ChangedFile[]>();
    for (const change of changed) {
      for (const file of change.status === 'renamed' && change.from !== undefined ? [change.from, change.path] : [change.path]) {
        const id = adapter.idOf(file);
        if (id !== undefined && baseIds.includes(id)) touched.set(id, [...(touched.get(id) ?? []), change]);
      }
    }
    for (const [id, changes] of touched) {
      if (!headIds.includes(id)) {
        const file = shown({ ...changes[0]!, path: changes[0]!.from ?? changes[0]!.path });
        deleted.push(file);
        found.push({ check: 'migrations', code: 'MIGRATION_DELETED', severity: 'error', message: `migration ${id} exists on the base (${base.baseRef}) and is gone in this PR; databases that applied it keep its changes. Restore it and undo its effect in a new migration`, file });
      } else {
        const edited = changes.find((c) => c.status !== 'deleted' && adapter.idOf(c.path) === id) ?? changes[0]!;
        const file = shown(edited);
        modified.push(file);
        found.push({ check: 'migrations', code: 'MIGRATION_MODIFIED', severity: 'error', message: `${path.basename(edited.path)} (migration ${id}) was already on the base (${base.baseRef}) and this PR edits it; databases that applied it will not see the edit. Revert it and add a new migration`, file });
      }
    }
    for (const id of added) {
      if (baseLast !== undefined && compareIds(id, baseLast) < 0) {
        found.push({ check: 'migrations', code: 'MIGRATION_OUT_OF_ORDER', severity: 'error', message: `migration ${id} sorts before the base's newest migration ${baseLast}; databases already past ${baseLast} would skip or refuse it. ${adapter.reorderHint}`, file: adapter.sourceOf(id).file });
      }
    }
    if (base.baseTip !== base.mergeBase && added.length > 0) {
      const theirs = (await idsAt(base.baseTip)).filter((id) => !baseIds.includes(id) && !headIds.includes(id));
      if (theirs.length > 0) {
        found.push({ check: 'migrations', code: 'BASE_ADVANCED', severity: 'warning', message: `${base.baseRef} gained ${theirs.length} migration(s) since this branch forked (${theirs.join(', ')}); ${adapter.rebaseHint}` });
      }
    }
    const entitiesWithoutMigration = added.length > 0 ? [] : changed.filter((c) => c.status !== 'deleted' && adapter.idOf(c.path) === undefined && adapter.isEntity(c.path)).map(shown);
    return { findings: found, added, modified, deleted, baseLast, entitiesWithoutMigration };
  }

  /** Checks the merge base out in a worktree and applies its migrations there with the PR's config. */
  async function baseSchemaAt(url: string, ignore: ReturnType<typeof modelOptions>): Promise<SchemaModel | undefined> {
    if (analysis.baseLast === undefined) return introspectUrl(url, ignore); // No migrations on the base: an empty database.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-base-'));
    const worktree = path.join(dir, 'base');
    try {
      const created = await git(['worktree', 'add', '--detach', '--quiet', worktree, base.mergeBase], repo);
      if (created.code !== 0) throw new Error(`git worktree add failed: ${created.stderr.trim()}`);
      const inWorktree = (file: string): string => path.join(worktree, path.relative(repo, file));
      const relocated: LoadedConfig = { ...loaded, file: loaded.file === undefined ? undefined : inWorktree(loaded.file) };
      const engine = adapter.engine(relocated, inWorktree(cwd));
      const outcome = await engine.migrate({ databaseUrl: url, reporter }, {});
      if (!outcome.ok || hasErrors(outcome.findings)) {
        findings.push({ check: 'apply', code: 'BASE_APPLY_FAILED', severity: 'warning', message: `the base's migrations do not apply to an empty database (${outcome.findings.find((f) => f.severity === 'error')?.message ?? 'unknown failure'}); the schema diff is skipped` });
        return undefined;
      }
      return introspectUrl(url, ignore);
    } finally {
      await git(['worktree', 'remove', '--force', worktree], repo);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function rollbackCheck(engine: Engine, url: string, baseSchema: SchemaModel, headSchema: SchemaModel, baseLast: string | undefined, ignore: ReturnType<typeof modelOptions>): Promise<Finding[]> {
  const reporter = { info: () => undefined, warn: () => undefined, step: <T>(_l: string, f: () => Promise<T>) => f() };
  const down = await engine.rollback({ databaseUrl: url, reporter }, { target: baseLast ?? '0' });
  if (!down.ok) return [{ check: 'rollback', code: 'ROLLBACK_FAILED', severity: 'error', message: `rolling this PR back to ${baseLast ?? 'an empty database'} failed: ${down.findings[0]?.message ?? 'unknown error'}` }];
  const found: Finding[] = [];
  const afterDown = diffSchemas(baseSchema, await introspectUrl(url, ignore));
  if (afterDown.changes.length > 0) {
    found.push({ check: 'rollback', code: 'ROLLBACK_INCOMPLETE', severity: 'error', message: `rolling back does not restore the base schema: ${afterDown.changes.slice(0, 3).map((c) => c.description).join('; ')} (a down migration misses something)` });
  }
  const up = await engine.migrate({ databaseUrl: url, reporter }, {});
  if (!up.ok || hasErrors(up.findings)) {
    found.push({ check: 'rollback', code: 'ROLLBACK_FAILED', severity: 'error', message: `re-applying after the rollback failed: ${up.findings[0]?.message ?? 'unknown error'}` });
  } else if (diffSchemas(headSchema, await introspectUrl(url, ignore)).changes.length > 0) {
    found.push({ check: 'rollback', code: 'ROLLBACK_INCOMPLETE', severity: 'error', message: 'applying again after the rollback gives a different schema (a down migration leaves something behind)' });
  }
  return found;
}

/** "**" matches across folders, "*" within one. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\u0000').replace(/\*\*/g, '\u0001').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped.replace(/\u0000/g, '(?:.*/)?').replace(/\u0001/g, '.*')}$`);
}
