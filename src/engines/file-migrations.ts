// The PR gate's view of migrations that a tool of its own applies (EF Core, engine: command): a
// migration is the set of files whose names give the same id; at a commit the same files are read
// from git. Engines plug in how a file name gives an id, which file is the up script, and how the
// base schema is built.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { filesAt, filesContentAt, repositoryRoot } from '../git/git.js';
import type { Finding } from '../report/finding.js';
import type { GateFiles, MigrationSource } from './engine.js';

export interface FileMigrationsOptions {
  /** Project root (the config file's folder); files are shown relative to it. */
  readonly root: string;
  /** Absolute folder under which migration files live. */
  readonly dir: string;
  /** The migration id of a project-relative file, or undefined when it is not a migration file. */
  idOf(file: string): string | undefined;
  /** Of a migration's files, the one it is shown as (its up script or class). */
  mainFile(files: readonly string[]): string;
  /** Of a migration's files, its down script, if it has a separate one. */
  downFile?(files: readonly string[]): string | undefined;
  /** Whether the files are the SQL that runs (not code that makes it). */
  readonly plainSql: boolean;
  /** Whether every migration can be rolled back without a down file (EF's Down method). */
  readonly downIsBuiltIn?: boolean;
  readonly isEntity: GateFiles['isEntity'];
  /** The group (EF: DbContext) a migration belongs to, from its files' texts; undefined for none. */
  groupOf?(text: string): string | undefined;
  readonly groups?: readonly string[];
  readonly reorderHint: string;
  readonly rebaseHint: string;
  readonly baseEngine: GateFiles['baseEngine'];
  readonly lintInputs: GateFiles['lintInputs'];
  problems?(): readonly Finding[];
  /** See GateFiles.discoverable. */
  discoverable?(migration: MigrationSource): boolean;
}

/** Migration ids sort like file names, numbers by value (V2 before V10). */
export const compareIds = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

const SKIPPED = /(^|\/)(\.git|node_modules|bin|obj)(\/|$)/;

export function fileMigrations(options: FileMigrationsOptions): GateFiles {
  const { root } = options;
  const group = async (files: readonly string[], read: (file: string) => Promise<string>): Promise<MigrationSource[]> => {
    const byId = new Map<string, string[]>();
    for (const file of files) {
      const id = options.idOf(file);
      if (id !== undefined) byId.set(id, [...(byId.get(id) ?? []), file]);
    }
    const sources: MigrationSource[] = [];
    for (const [id, group] of byId) {
      const sorted = [...group].sort();
      const main = options.mainFile(sorted);
      const down = options.downFile?.(sorted);
      const texts = await Promise.all(sorted.map(read));
      const upText = texts[sorted.indexOf(main)] ?? '';
      const text = texts.join('\u0000');
      const groupName = options.groupOf?.(text);
      sources.push({ id, label: path.basename(main), file: main, text, upText, hasDown: options.downIsBuiltIn === true || down !== undefined, ...(down === undefined ? {} : { downFile: down }), ...(groupName === undefined ? {} : { group: groupName }) });
    }
    return sources.sort((a, b) => compareIds(a.id, b.id));
  };
  const onDisk = (): string[] => {
    let entries: string[];
    try {
      entries = readdirSync(options.dir, { recursive: true, encoding: 'utf8' });
    } catch {
      return [];
    }
    return entries
      .map((entry) => path.relative(root, path.join(options.dir, entry)))
      .filter((file) => !SKIPPED.test(file.split(path.sep).join('/')) && options.idOf(file) !== undefined);
  };
  return {
    head: () => group(onDisk(), async (file) => readFileSync(path.join(root, file), 'utf8')),
    async at(commit) {
      const repo = await repositoryRoot(root);
      const inRepo = path.relative(repo, options.dir) || '.';
      const files = (await filesAt(commit, inRepo, repo)).map((file) => path.relative(root, path.join(repo, file))).filter((file) => !SKIPPED.test(file.split(path.sep).join('/')));
      const inRepoPath = (file: string): string => path.relative(repo, path.join(root, file));
      const contents = await filesContentAt(commit, files.filter((file) => options.idOf(file) !== undefined).map(inRepoPath), repo);
      return group(files, async (file) => contents.get(inRepoPath(file)) ?? '');
    },
    compare: compareIds,
    runsAfterVersioned: () => false,
    plainSql: options.plainSql,
    problems: () => options.problems?.() ?? [],
    isMigrationFile: (file) => options.idOf(file) !== undefined,
    ...(options.discoverable === undefined ? {} : { discoverable: options.discoverable }),
    ...(options.groups === undefined ? {} : { groups: options.groups }),
    isEntity: options.isEntity,
    baseEngine: options.baseEngine,
    downHint: (m) => (m.file.endsWith('.up.sql') ? m.file.replace(/\.up\.sql$/, '.down.sql') : `a down migration for ${m.label}`),
    reorderHint: options.reorderHint,
    rebaseHint: options.rebaseHint,
    lintInputs: options.lintInputs,
  };
}
