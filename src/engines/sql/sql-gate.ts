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
import { gateMigrationsCache, gateMigrationsKey } from './gate-migrations.js';
import { discover, downFileHint, type SqlMigrations } from './migrator.js';

/**
 * `current`: the working tree's migrations as discover() reads them, read once and shared with the
 * engine. `env`: where the migrations read at a base commit are kept (gate-migrations.ts), unless
 * check.cache is false.
 */
export function sqlGateFiles(
  loaded: LoadedConfig,
  project: SqlMigrations,
  cwd: string,
  makeEngine: (project: SqlMigrations) => Engine,
  current: () => ReturnType<typeof discover>,
  env?: NodeJS.ProcessEnv,
): GateFiles {
  const { layout } = project;
  const dirFromRoot = path.relative(project.root, project.dir);
  const entities = loaded.config.sql.entities.map(globToRegExp);
  const source = (m: Migration): MigrationSource => ({
    id: m.version,
    label: m.label,
    file: m.up.file,
    text: `${m.up.fileText}\u0000${m.down?.fileText ?? ''}`,
    upText: m.up.fileText,
    // A down script with nothing in it (diesel's and vaultwarden's way of saying "irreversible")
    // undoes nothing: the migration has no down, and the rollback check says so instead of failing.
    hasDown: m.down !== undefined && !emptySql(m.down.sql),
    ...(m.down !== undefined && emptySql(m.down.sql) ? { downEmpty: true as const } : {}),
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
  /** The migrations directory at a commit as git stores it (ls-tree: mode, object id, path), once per commit. */
  const listings = new Map<string, Promise<string>>();
  const listing = (commit: string): Promise<string> => {
    let listed = listings.get(commit);
    if (listed === undefined) {
      listed = (async () => {
        const repo = await repositoryRoot(cwd);
        // With the .gitattributes on the way to the directory: git archive (which extracts it) obeys them.
        const dir = path.relative(repo, project.dir).split(path.sep).join('/');
        const parents = dir === '' ? [] : dir.split('/').slice(0, -1).map((_, i, parts) => `${parts.slice(0, i + 1).join('/')}/.gitattributes`);
        const result = await git(['ls-tree', '-r', '--full-tree', commit, '--', dir || '.', ...(dir === '' ? [] : ['.gitattributes', ...parents])], repo);
        if (result.code !== 0) throw new DriftGuardError('USAGE', `git ls-tree ${commit} failed: ${result.stderr.trim().split('\n')[0] ?? ''}`);
        return result.stdout;
      })();
      listings.set(commit, listed);
    }
    return listed;
  };
  const kept = env === undefined || !loaded.config.check.cache ? undefined : gateMigrationsCache(env);
  return {
    async head() {
      return versioned(project).map(source);
    },
    async at(commit) {
      // What the layout reads at a commit depends on the files there and the settings only: a base
      // seen before (the same listing) is not extracted and read again.
      const repo = await repositoryRoot(cwd);
      const key = kept === undefined ? undefined : gateMigrationsKey(await listing(commit), [JSON.stringify(loaded.config.sql), project.layout.name, path.relative(repo, project.root), path.relative(repo, project.dir)], repo);
      const known = key === undefined ? undefined : kept!.read(key);
      if (known !== undefined) return known;
      const base = await extract(commit);
      try {
        const found = versioned(base.project).map(source);
        if (key !== undefined) kept!.write(key, found);
        return found;
      } finally {
        base.dispose();
      }
    },
    // Object ids are content hashes: a changed, added, removed or renamed file changes the listing.
    baseFingerprint: (commit) => listing(commit),
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

/** SQL that holds no statement: blank, comments and semicolons only. */
function emptySql(sql: string): boolean {
  return sql.replace(/\/\*[\s\S]*?\*\//g, '').replace(/--[^\n]*/g, '').replace(/[;\s]/g, '') === '';
}
