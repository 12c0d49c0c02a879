// The PR gate's view of a plain-SQL migrations directory: migrations at HEAD and at a commit (the
// layout's own discovery, so a file the layout ignores is never a migration), the base's files
// for the base schema, and lint inputs at the files' own lines.

import { rmSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../../config/load-config.js';
import { extractDirectory, git, repositoryRoot } from '../../git/git.js';
import { DriftGuardError } from '../../errors.js';
import { globToRegExp } from '../../util/glob.js';
import type { Engine, GateFiles, MigrationSource } from '../engine.js';
import type { Migration } from './layout.js';
import { discover, downFileHint, type SqlMigrations } from './migrator.js';

/** `current`: the working tree's migrations as discover() reads them, read once and shared with the engine. */
export function sqlGateFiles(loaded: LoadedConfig, project: SqlMigrations, cwd: string, makeEngine: (project: SqlMigrations) => Engine, current: () => ReturnType<typeof discover>): GateFiles {
  const { layout } = project;
  const dirFromRoot = path.relative(project.root, project.dir);
  const entities = loaded.config.sql.entities.map(globToRegExp);
  const source = (m: Migration): MigrationSource => ({
    id: m.version,
    label: m.label,
    file: m.up.file,
    text: `${m.up.fileText}\u0000${m.down?.fileText ?? ''}`,
    upText: m.up.fileText,
    hasDown: m.down !== undefined,
    ...(m.down === undefined || m.down.file === m.up.file ? {} : { downFile: m.down.file }),
  });
  const versioned = (p: SqlMigrations): Migration[] => (p === project ? current() : discover(p)).migrations.filter((m) => m.kind === 'versioned');
  /** The migrations directory as it was at `commit`, in a temp folder laid out like the working tree. */
  const extract = async (commit: string): Promise<{ project: SqlMigrations; dispose(): void }> => {
    const repo = await repositoryRoot(cwd);
    const extracted = await extractDirectory(commit, path.relative(repo, project.dir), repo);
    const root = path.join(extracted.root, path.relative(repo, project.root));
    return { project: { ...project, dir: extracted.dir, root }, dispose: () => rmSync(extracted.root, { recursive: true, force: true }) };
  };
  return {
    async head() {
      return versioned(project).map(source);
    },
    async at(commit) {
      const base = await extract(commit);
      try {
        return versioned(base.project).map(source);
      } finally {
        base.dispose();
      }
    },
    async baseFingerprint(commit) {
      const repo = await repositoryRoot(cwd);
      // Object ids are content hashes: a changed, added, removed or renamed file changes the listing.
      const listed = await git(['ls-tree', '-r', '--full-tree', commit, '--', path.relative(repo, project.dir) || '.'], repo);
      if (listed.code !== 0) throw new DriftGuardError('USAGE', `git ls-tree ${commit} failed: ${listed.stderr.trim().split('\n')[0] ?? ''}`);
      return listed.stdout;
    },
    compare: (a, b) => layout.compareVersions(a, b),
    plainSql: true,
    runsAfterVersioned: () => current().migrations.some((m) => m.kind === 'repeatable'),
    problems: () => current().problems,
    isMigrationFile: (file) => dirFromRoot === '' || file === dirFromRoot || file.startsWith(`${dirFromRoot}${path.sep}`),
    isEntity: entities.length === 0 ? undefined : (file) => entities.some((pattern) => pattern.test(file.split(path.sep).join('/'))),
    // Plain SQL needs no build: the base schema always comes from the base's own files, exactly.
    async baseEngine(commit) {
      const base = await extract(commit);
      return { engine: makeEngine(base.project), how: "the base's migration files", dispose: async () => base.dispose() };
    },
    downHint(source) {
      const migration = versioned(project).find((m) => m.version === source.id);
      return migration === undefined ? 'a down migration' : downFileHint(layout, migration);
    },
    reorderHint: 'Give it a newer version so that it comes last',
    rebaseHint: "rebase and renumber this PR's migrations to come after theirs",
    async lintInputs(added) {
      const byVersion = new Map(versioned(project).map((m) => [m.version, m]));
      const inputs = added.flatMap((a) => {
        const m = byVersion.get(a.id);
        return m === undefined ? [] : [{ file: m.up.file, sql: m.up.sql, lineOffset: m.up.fileText.slice(0, m.up.sqlOffset).split('\n').length - 1 }];
      });
      return { inputs, linesMatchFiles: true };
    },
  };
}
