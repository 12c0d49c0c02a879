// The PR gate's view of an EF Core project: a migration is `<14 digits>_<Name>.cs` with its
// `.Designer.cs`; files that change without a migration and match efcore.entities shape the model.
// The base schema comes from the PR's own build (`database update <base's last>`: merged migrations
// are immutable, the git analysis proves it) unless the PR rewrites history; then from the base
// commit built in a git worktree.

import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../../config/load-config.js';
import { addWorktree, repositoryRoot } from '../../git/git.js';
import { globToRegExp } from '../../util/glob.js';
import type { Engine, GateFiles } from '../engine.js';
import { fileMigrations } from '../file-migrations.js';
import { findToolManifest } from './dotnet-ef.js';
import { contextOfMigration, simpleName } from './efcore-integrity.js';

const MIGRATION_FILE = /^(\d{14}_\w+?)(?:\.Designer)?\.cs$/;

export function efcoreGateFiles(options: { loaded: LoadedConfig; cwd: string; root: string; projectDir: string; self: () => Engine; relocated: (loaded: LoadedConfig, cwd: string) => Engine }): GateFiles {
  const { loaded, root, projectDir } = options;
  const patterns = loaded.config.efcore.entities.map(globToRegExp);
  // With the default glob (every .cs file), a file counts only when it shapes the model as the
  // model snapshot knows it; a controller or a service that changes is not an entity.
  const byModel = loaded.config.efcore.entities.length === 1 && loaded.config.efcore.entities[0] === '**/*.cs';
  let modelTypes: ReadonlySet<string> | undefined | null = null;
  const contexts = loaded.config.efcore.context;
  // Several contexts gated: each migration is reported under its DbContext.
  const groupOf = Array.isArray(contexts) && contexts.length > 1 ? (text: string): string | undefined => {
    const found = contextOfMigration(text);
    return found === undefined ? undefined : (contexts.find((c) => simpleName(c) === found) ?? found);
  } : undefined;
  const inProject = (file: string): boolean => path.join(root, file).startsWith(projectDir + path.sep);
  const idOf = (file: string): string | undefined => {
    if (!inProject(file) || /(^|[\\/])(bin|obj)[\\/]/.test(path.relative(projectDir, path.join(root, file)))) return undefined;
    return MIGRATION_FILE.exec(path.basename(file))?.[1];
  };
  return fileMigrations({
    root,
    dir: projectDir,
    idOf,
    mainFile: (files) => files.find((f) => !f.endsWith('.Designer.cs')) ?? files[0]!,
    downIsBuiltIn: true,
    plainSql: false,
    ...(groupOf === undefined ? {} : { groupOf, groups: contexts as readonly string[] }),
    isEntity(file) {
      if (!file.endsWith('.cs')) return false;
      // Inside the migrations project, relative to it; elsewhere under the root (the entities of a
      // separate migrations assembly live in another project), relative to the root.
      const base = inProject(file) ? projectDir : root;
      const relative = path.relative(base, path.join(root, file)).split(path.sep).join('/');
      if (relative.startsWith('../') || /(^|\/)(bin|obj)\//.test(relative) || /ModelSnapshot\.cs$/.test(relative)) return false;
      if (!patterns.some((p) => p.test(relative))) return false;
      if (!byModel) return true;
      if (modelTypes === null) modelTypes = snapshotTypes(projectDir);
      return modelTypes === undefined || shapesModel(path.join(root, file), modelTypes);
    },
    // EF applies the classes a [Migration("id")] attribute names (normally in the .Designer.cs).
    discoverable: (migration) => /\[\s*(?:Microsoft\.EntityFrameworkCore\.Migrations\.)?Migration(?:Attribute)?\s*\(/.test(migration.text),
    reorderHint: 'Regenerate it (dotnet ef migrations remove, then add) so that it comes last',
    rebaseHint: "rebase, then remove and re-add this PR's migrations so that the model snapshot includes theirs",
    async baseEngine(commit, { historyRewritten, baseLast }) {
      if (!historyRewritten) {
        return { engine: options.self(), ...(baseLast === undefined ? {} : { target: baseLast }), how: `the PR's own build, up to ${baseLast ?? 'no migration'}`, dispose: async () => undefined };
      }
      const repo = await repositoryRoot(options.cwd);
      const worktree = await addWorktree(commit, repo);
      const inWorktree = (file: string): string => path.join(worktree.dir, path.relative(repo, file));
      const relocated: LoadedConfig = { ...loaded, file: loaded.file === undefined ? undefined : inWorktree(loaded.file) };
      // The dotnet-ef pin is tooling, not schema: one the base commit lacks (untracked here, or
      // added by this PR) is taken from this checkout, so that the base builds with the same tool.
      const manifest = findToolManifest(projectDir);
      const inRepo = manifest !== undefined && !path.relative(repo, manifest).startsWith('..');
      let pin = '';
      if (inRepo && findToolManifest(inWorktree(projectDir)) === undefined) {
        mkdirSync(path.dirname(inWorktree(manifest)), { recursive: true });
        copyFileSync(manifest, inWorktree(manifest));
        pin = `, with this checkout's ${path.relative(repo, manifest)}, which the base commit lacks`;
      }
      return { engine: options.relocated(relocated, inWorktree(options.cwd)), how: `the base commit built in a git worktree (this PR edits merged migrations${pin})`, dispose: () => worktree.dispose() };
    },
    async lintInputs(added, baseLast, reporter) {
      const sql = await options.self().script({ from: baseLast ?? '0', to: added.at(-1)!.id }, reporter);
      return { inputs: [{ file: added.at(-1)!.file, sql, lineOffset: 0 }], linesMatchFiles: false };
    },
  });
}

/**
 * The CLR type names the model snapshots name (entities, owned and complex types, related types and
 * property types such as enums), by simple name; undefined when the project has no snapshot yet.
 */
export function snapshotTypes(projectDir: string): ReadonlySet<string> | undefined {
  const snapshots: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory()) {
        if (depth < 8 && !/^(bin|obj|node_modules|\..*)$/.test(entry.name)) walk(path.join(dir, entry.name), depth + 1);
      } else if (entry.name.endsWith('ModelSnapshot.cs')) snapshots.push(path.join(dir, entry.name));
    }
  };
  walk(projectDir, 0);
  if (snapshots.length === 0) return undefined;
  const names = new Set<string>();
  const add = (qualified: string): void => {
    for (const part of qualified.split(/[<>,?\s]+/)) {
      const simple = part.split('.').at(-1)?.replace(/\W/g, '');
      if (simple) names.add(simple);
    }
  };
  for (const file of snapshots) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\b(?:Entity|OwnsOne|OwnsMany|HasOne|HasMany|WithOne|WithMany|HasBaseType|ComplexProperty)\(\s*"([^"]+)"/g)) add(m[1]!.replace(/\+.*$/, ''));
    for (const m of text.matchAll(/\b(?:Property|ComplexProperty|PrimitiveCollection)<([^>(]+(?:<[^>]*>)?)>\(/g)) add(m[1]!);
    for (const m of text.matchAll(/typeof\(([\w.]+)\)/g)) add(m[1]!);
  }
  return names;
}

/** Whether a C# file declares a type the model knows, or configures the model (a DbContext, a type configuration, an abstract base class). */
function shapesModel(file: string, modelTypes: ReadonlySet<string>): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return true;
  }
  if (/\bDbContext\b|\bModelBuilder\b|\bIEntityTypeConfiguration\s*<|\bEntityTypeBuilder\s*<|\[(Owned|ComplexType)\]|\babstract\s+(partial\s+)?(class|record)\b/.test(text)) return true;
  for (const m of text.matchAll(/\b(?:class|record|struct|enum|interface)\s+(\w+)/g)) if (modelTypes.has(m[1]!)) return true;
  return false;
}
