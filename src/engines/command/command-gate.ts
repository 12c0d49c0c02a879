// The PR gate's view of engine: command. Migration files are found by command.migrations globs;
// their ids come from file names (golang-migrate's 1_x.up.sql and 1_x.down.sql are one migration,
// 1_x; diesel's 2024-01-01-000000_x/up.sql is 2024-01-01-000000_x). The user's apply command applies
// everything there is, so the base schema always comes from the base commit in a git worktree.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../../config/load-config.js';
import { addWorktree, repositoryRoot } from '../../git/git.js';
import { globToRegExp } from '../../util/glob.js';
import type { Engine, GateFiles } from '../engine.js';
import { fileMigrations } from '../file-migrations.js';

/** A migration file's id, from its project-relative path. */
export function commandMigrationId(file: string): string {
  const name = path.posix.basename(file);
  const stem = name.replace(/\.(up|down)\.sql$/i, '').replace(/\.[^.]+$/, '');
  return /^(up|down)$/i.test(stem) ? path.posix.basename(path.posix.dirname(file)) : stem;
}

const isDown = (file: string): boolean => /(^|[./])down\.sql$/i.test(path.posix.basename(file));

/** The up part of a goose or dbmate file (both directions live in one file). */
export function upPart(sql: string): string {
  const marker = /^--\s*(\+goose\s+down|migrate:down)\b/im.exec(sql);
  return marker === null ? sql : sql.slice(0, marker.index);
}

export function commandGateFiles(options: { loaded: LoadedConfig; cwd: string; root: string; relocated: (loaded: LoadedConfig, cwd: string) => Engine }): GateFiles {
  const { loaded, root } = options;
  const globs = loaded.config.command.migrations;
  const migrationPatterns = globs.map(globToRegExp);
  const entityPatterns = loaded.config.command.entities.map(globToRegExp);
  const posix = (file: string): string => file.split(path.sep).join('/');
  const isMigration = (file: string): boolean => !file.startsWith('..') && migrationPatterns.some((p) => p.test(posix(file)));
  return fileMigrations({
    root,
    dir: path.join(root, commonFolder(globs)),
    idOf: (file) => (isMigration(file) ? commandMigrationId(posix(file)) : undefined),
    mainFile: (files) => files.find((f) => !isDown(f)) ?? files[0]!,
    downFile: (files) => files.find((f) => isDown(f)),
    plainSql: true,
    isEntity: entityPatterns.length === 0 ? undefined : (file) => entityPatterns.some((p) => p.test(posix(file))),
    reorderHint: 'Rename it so that it sorts last',
    rebaseHint: "rebase and renumber this PR's migrations to come after theirs",
    async baseEngine(commit) {
      const repo = await repositoryRoot(options.cwd);
      const worktree = await addWorktree(commit, repo);
      const inWorktree = (file: string): string => path.join(worktree.dir, path.relative(repo, file));
      const relocated: LoadedConfig = { ...loaded, file: loaded.file === undefined ? undefined : inWorktree(loaded.file) };
      return { engine: options.relocated(relocated, inWorktree(options.cwd)), how: 'command.apply in the base commit (git worktree)', dispose: () => worktree.dispose() };
    },
    async lintInputs(added) {
      const inputs = added.flatMap((m) => (m.file.toLowerCase().endsWith('.sql') ? [{ file: m.file, sql: upPart(readFileSync(path.join(root, m.file), 'utf8')), lineOffset: 0 }] : []));
      return { inputs, linesMatchFiles: true };
    },
  });
}

/** The folder every glob starts in ("db/migrations/**" and "db/migrations/*.sql" give db/migrations). */
function commonFolder(globs: readonly string[]): string {
  const fixed = globs.map((glob) => {
    const parts = glob.split('/');
    const wild = parts.findIndex((part) => /[*?[]/.test(part));
    return (wild === -1 ? parts.slice(0, -1) : parts.slice(0, wild)).filter((p) => p !== '.');
  });
  const first = fixed[0] ?? [];
  let length = 0;
  while (length < first.length && fixed.every((parts) => parts[length] === first[length])) length += 1;
  return first.slice(0, length).join('/');
}
