// The PR gate for engine: command. The user's apply command applies everything there is, so the
// worktree gate runs it in a checkout of the base for the base's schema. Migration files are found
// by command.migrations globs; their ids come from file names (golang-migrate's 1_x.up.sql and
// 1_x.down.sql are one migration, 1_x; diesel's 2024-01-01-000000_x/up.sql is 2024-01-01-000000_x).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { commandEngine } from '../engines/command/command-engine.js';
import { projectRoot } from '../engines/sql/project.js';
import { repositoryRoot } from '../git/git.js';
import type { CheckOptions, CheckResult } from './check.js';
import { globToRegExp, runWorktreeCheck } from './worktree-check.js';

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

export async function runCommandCheck(options: CheckOptions): Promise<CheckResult> {
  const { loaded, cwd } = options;
  const root = projectRoot(loaded, cwd);
  const repo = await repositoryRoot(cwd);
  const globs = loaded.config.command.migrations;
  const migrationPatterns = globs.map(globToRegExp);
  const entityPatterns = loaded.config.command.entities.map(globToRegExp);
  const fromRepo = (file: string): string => path.relative(root, path.join(repo, file)).split(path.sep).join('/');
  const isMigration = (relative: string): boolean => !relative.startsWith('../') && migrationPatterns.some((p) => p.test(relative));
  const prefix = commonFolder(globs);

  const headFiles = (): string[] => {
    const dir = path.join(root, prefix);
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((entry) => path.posix.join(prefix, entry.split(path.sep).join('/')))
      .filter((relative) => !/(^|\/)(\.git|node_modules)\//.test(relative) && isMigration(relative));
  };
  const fileOf = (id: string): string | undefined => {
    const files = headFiles().filter((f) => commandMigrationId(f) === id);
    return files.find((f) => !isDown(f)) ?? files[0];
  };

  return runWorktreeCheck(options, {
    tool: 'command.apply',
    migrationsDir: path.relative(repo, path.join(root, prefix)),
    idOf: (file) => (isMigration(fromRepo(file)) ? commandMigrationId(fromRepo(file)) : undefined),
    headIds: () => headFiles().map(commandMigrationId),
    sourceOf(id) {
      const file = fileOf(id);
      return file === undefined ? { file: id, text: '' } : { file, text: readFileSync(path.join(root, file), 'utf8') };
    },
    isEntity: (file) => entityPatterns.some((p) => p.test(fromRepo(file))),
    engine: (config, at) => commandEngine(config, at, options.env),
    reorderHint: 'Rename it so that it sorts last',
    rebaseHint: "rebase and renumber this PR's migrations to come after theirs",
    lintLinesMatchFiles: true,
    async lintInputs(_engine, added) {
      return added.flatMap((id) => {
        const file = fileOf(id);
        if (file === undefined || !file.toLowerCase().endsWith('.sql')) return [];
        return [{ file, sql: upPart(readFileSync(path.join(root, file), 'utf8')), lineOffset: 0 }];
      });
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
