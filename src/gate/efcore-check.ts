// The PR gate for EF Core: migrations are compiled code, so the worktree gate builds the base in a
// git worktree. Migration ids come from `<14 digits>_<Name>.cs` / `.Designer.cs`; entity files that
// change without a migration are ENTITY_WITHOUT_MIGRATION (a notice when EF sees no pending changes).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { findProject } from '../engines/efcore/dotnet-ef.js';
import { efcoreEngine } from '../engines/efcore/efcore-engine.js';
import { scanMigrationFiles } from '../engines/efcore/efcore-integrity.js';
import { projectRoot } from '../engines/sql/project.js';
import { repositoryRoot } from '../git/git.js';
import type { CheckOptions, CheckResult } from './check.js';
import { globToRegExp, runWorktreeCheck } from './worktree-check.js';

const MIGRATION_FILE = /^(\d{14}_\w+?)(?:\.Designer)?\.cs$/;

export async function runEfCoreCheck(options: CheckOptions): Promise<CheckResult> {
  const { loaded, cwd } = options;
  const root = projectRoot(loaded, cwd);
  const projectDir = path.dirname(findProject(root, loaded.config.efcore.project));
  const repo = await repositoryRoot(cwd);
  const patterns = loaded.config.efcore.entities.map(globToRegExp);
  const migrations = () => scanMigrationFiles(projectDir, root, undefined).migrations;
  return runWorktreeCheck(options, {
    tool: 'dotnet ef',
    migrationsDir: path.relative(repo, projectDir),
    idOf: (file) => (inProject(file) ? MIGRATION_FILE.exec(path.basename(file))?.[1] : undefined),
    headIds: () => migrations().map((m) => m.id),
    sourceOf(id) {
      const designer = migrations().find((m) => m.id === id)?.designer;
      const file = designer === undefined ? path.join(projectDir, `${id}.cs`) : designer.replace(/\.Designer\.cs$/, '.cs');
      return { file: path.relative(root, file), text: existsSync(file) ? readFileSync(file, 'utf8') : '' };
    },
    isEntity(file) {
      if (!file.endsWith('.cs') || !inProject(file)) return false;
      const relative = path.relative(projectDir, path.join(repo, file)).split(path.sep).join('/');
      if (/(^|\/)(bin|obj)\//.test(relative) || /ModelSnapshot\.cs$/.test(relative)) return false;
      return patterns.some((p) => p.test(relative));
    },
    engine: (config, at) => efcoreEngine(config, at, options.env, options.reporter, options.postgres),
    reorderHint: 'Regenerate it (dotnet ef migrations remove, then add) so that it comes last',
    rebaseHint: "rebase, then remove and re-add this PR's migrations so that the model snapshot includes theirs",
    lintLinesMatchFiles: false,
    async lintInputs(engine, added, baseLast, reporter) {
      const sql = await engine.script({ from: baseLast ?? '0', to: added.at(-1)! }, reporter);
      return [{ file: this.sourceOf(added.at(-1)!).file, sql, lineOffset: 0 }];
    },
  });

  function inProject(file: string): boolean {
    return path.join(repo, file).startsWith(projectDir + path.sep);
  }
}
