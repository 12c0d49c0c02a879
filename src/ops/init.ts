// `drift-guard init`: sets a project up. It looks at what is there (an EF Core project with
// migrations, a SQL migrations folder and its tool) and writes a starter .drift-guard.yml, the PR
// workflow and a Makefile that includes drift-guard.mk. It never overwrites a file: one that
// exists is kept and named in the result.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILE_NAMES } from '../config/load-config.js';
import { detectLayout } from '../engines/sql/detect-layout.js';
import { DEFAULT_MIGRATION_DIRS, LAYOUTS } from '../engines/sql/project.js';
import { DriftGuardError } from '../errors.js';

export interface InitResult {
  readonly engine: 'efcore' | 'sql';
  /** What was found, in words, for the user. */
  readonly detected: string;
  readonly created: readonly string[];
  readonly kept: readonly string[];
  readonly nextSteps: readonly string[];
}

export interface InitOptions {
  readonly postgresVersion: number;
  /** The SQL migrations folder (absolute, or relative to the project folder); searched for when absent. */
  readonly migrationsDir?: string | undefined;
}

export function initProject(dir: string, options: InitOptions): InitResult {
  const found = options.migrationsDir === undefined ? detect(dir) : sqlFolder(dir, options.migrationsDir);
  const created: string[] = [];
  const kept: string[] = [];
  const write = (relative: string, content: string): void => {
    const file = path.join(dir, relative);
    if (existsSync(file)) {
      kept.push(relative);
      return;
    }
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content, { flag: 'wx' });
    created.push(relative);
  };
  const existingConfig = CONFIG_FILE_NAMES.find((name) => existsSync(path.join(dir, name)));
  if (existingConfig === undefined) write('.drift-guard.yml', configText(found, options.postgresVersion));
  else kept.push(existingConfig);
  write('.github/workflows/drift-guard.yml', workflowText(found.engine, options.postgresVersion, found.engine === 'sql' ? found.sqlDir : undefined));
  const makefile = ['Makefile', 'makefile', 'GNUmakefile'].find((name) => existsSync(path.join(dir, name)));
  if (makefile === undefined) write('Makefile', MAKEFILE);
  else kept.push(makefile);

  const nextSteps = [
    ...(makefile !== undefined && !readFileSync(path.join(dir, makefile), 'utf8').includes('drift-guard.mk') ? [`add "include node_modules/drift-guard/drift-guard.mk" to ${makefile}`] : []),
    ...(found.engine === 'efcore' && !hasToolManifest(dir) ? ['pin the EF tools: dotnet new tool-manifest && dotnet tool install dotnet-ef --version <your EF Core version>'] : []),
    'in .github/workflows/drift-guard.yml, replace "<owner>/drift-guard@v1" (drift-guard has no published Action name yet) with where your copy lives: "uses: ./" in a repository that holds drift-guard, or your fork\'s owner/name@ref',
    'npx drift-guard doctor      # what drift-guard can use here',
    'npx drift-guard check       # the PR gate, locally',
    'commit .drift-guard.yml and .github/workflows/drift-guard.yml',
  ];
  return { engine: found.engine, detected: found.description, created, kept, nextSteps };
}

export interface Detected {
  readonly engine: 'efcore' | 'sql';
  readonly description: string;
  readonly efProject?: string;
  readonly sqlDir?: string;
  readonly layout?: string;
}

function detect(dir: string): Detected {
  const projects = csprojFiles(dir).filter((file) => /Microsoft\.EntityFrameworkCore|Npgsql\.EntityFrameworkCore/.test(readFileSync(path.join(dir, file), 'utf8')));
  if (projects.length > 0) {
    // The project with the migrations (a ModelSnapshot) is the one dotnet ef works on.
    const withMigrations = projects.filter((file) => hasModelSnapshot(path.join(dir, path.dirname(file))));
    const chosen = withMigrations[0] ?? projects[0]!;
    const several = projects.length > 1;
    return { engine: 'efcore', description: `EF Core project ${chosen}${withMigrations.length > 0 ? ' with migrations' : ''}${several ? ` (of ${projects.length} EF Core projects)` : ''}`, ...(several ? { efProject: chosen } : {}) };
  }
  const found = findMigrationFolders(dir);
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    throw new DriftGuardError('USAGE', `migrations in ${found.length} folders; say which one drift-guard works on with --migrations-dir DIR`, {
      details: found.map((f) => `${f.sqlDir} (${f.layout ?? 'tool not recognised'})`),
    });
  }
  return noMigrationsYet('db/migrations');
}

/** Folders a repository search never enters: dependencies, build output, version control. */
const SKIPPED_FOLDERS = new Set(['node_modules', 'vendor', 'bin', 'obj', 'dist', 'build', 'target']);
const SEARCH_DEPTH = 8;
/** A name some layout could read: V1__x.sql, 001_x.sql, 0001_x.up.sql, a diesel folder 2024-01-01-000000_x. */
const MIGRATION_LIKE = /^(?:[VUR]\d*_*.*\.sql|\d+.*\.sql|\d[\d-]*_.+)$/;

/**
 * Every folder in the repository whose files a layout recognises (sql.layout: auto's rules), in
 * path order. A folder of drift-guard's default names with files no layout recognises counts too,
 * without a layout. Hidden folders and those in SKIPPED_FOLDERS are not entered.
 */
export function findMigrationFolders(root: string): Detected[] {
  const found: Detected[] = [];
  const defaults = new Set<string>(DEFAULT_MIGRATION_DIRS);
  const walk = (relative: string, depth: number): void => {
    const full = path.join(root, relative);
    let entries;
    try {
      entries = readdirSync(full, { withFileTypes: true });
    } catch {
      return; // unreadable: not ours to judge
    }
    const display = relative.split(path.sep).join('/');
    if (relative !== '' && entries.some((entry) => MIGRATION_LIKE.test(entry.name))) {
      const detected = recognise(full, display);
      if (detected !== undefined && (detected.layout !== undefined || defaults.has(display))) found.push(detected);
    }
    if (depth >= SEARCH_DEPTH) return;
    for (const entry of entries) {
      if (entry.isDirectory() && !entry.name.startsWith('.') && !SKIPPED_FOLDERS.has(entry.name)) walk(path.join(relative, entry.name), depth + 1);
    }
  };
  walk('', 0);
  return found.sort((a, b) => a.sqlDir!.localeCompare(b.sqlDir!));
}

/** What sql.layout: auto makes of one folder: a layout, "not recognised", or undefined when it holds no migrations. */
function recognise(full: string, display: string): Detected | undefined {
  try {
    const layout = detectLayout(full, LAYOUTS, display);
    return { engine: 'sql', description: `${layout.name} migrations in ${display}`, sqlDir: display, layout: layout.name };
  } catch (error) {
    if (!(error instanceof DriftGuardError)) throw error;
    if (/no migrations recognised/.test(error.message)) return readdirSync(full).length > 0 ? notRecognised(display) : undefined;
    return notRecognised(display); // several tools in one folder
  }
}

function notRecognised(display: string): Detected {
  return { engine: 'sql', description: `migrations in ${display} (tool not recognised: set sql.layout)`, sqlDir: display };
}

function noMigrationsYet(display: string): Detected {
  return { engine: 'sql', description: `no migrations yet: drift-guard's own SQL layout in ${display} (drift-guard new NAME creates the first)`, sqlDir: display, layout: 'plain' };
}

/** --migrations-dir: the folder the user named, whatever its tool (or none yet). */
function sqlFolder(projectDir: string, migrationsDir: string): Detected {
  const full = path.resolve(projectDir, migrationsDir);
  const display = path.relative(projectDir, full).split(path.sep).join('/');
  if (display === '' || display.startsWith('..') || path.isAbsolute(display)) {
    throw new DriftGuardError('USAGE', `--migrations-dir ${migrationsDir} is not inside the project folder ${projectDir}; name a folder in the project`);
  }
  if (existsSync(full) && !statSync(full).isDirectory()) throw new DriftGuardError('USAGE', `--migrations-dir ${migrationsDir} is a file, not a folder`);
  if (!existsSync(full) || readdirSync(full).length === 0) return noMigrationsYet(display);
  return recognise(full, display) ?? noMigrationsYet(display);
}

function configText(found: Detected, postgresVersion: number): string {
  const lines = ['# yaml-language-server: $schema=./node_modules/drift-guard/schema/drift-guard.schema.json', '# drift-guard configuration; every key is optional (drift-guard config prints the resolved one).'];
  if (found.engine === 'efcore') {
    lines.push('engine: efcore');
    if (found.efProject !== undefined) lines.push('efcore:', `  project: ${found.efProject}`);
  } else {
    lines.push('engine: sql', 'sql:', `  dir: ${found.sqlDir}`);
    if (found.layout !== undefined) lines.push(`  layout: ${found.layout}`);
  }
  lines.push(
    'postgres:',
    `  version: ${postgresVersion}              # match production`,
    'production:',
    '  url-env: PROD_DATABASE_URL   # the variable holding the production URL (never the URL itself)',
    '  backup-dir: backups',
    'check:',
    '  rollback: auto',
    '  severity: {}                 # e.g. { DESTRUCTIVE_CHANGE: error }',
  );
  return `${lines.join('\n')}\n`;
}

const MAKEFILE = `# Migration tasks: run \`make\` for the list (drift-guard.mk).
include node_modules/drift-guard/drift-guard.mk
# drift-guard.mk leaves the default goal to this file: a plain \`make\` lists the targets.
.DEFAULT_GOAL := help
`;

/** The ready-to-copy workflow shipped in examples/workflows/, with the PostgreSQL version and the cache's migrations folder set. */
function workflowText(engine: 'efcore' | 'sql', postgresVersion: number, sqlDir: string | undefined): string {
  const file = path.join(packageRoot(), 'examples', 'workflows', `${engine}-gate.yml`);
  const text = readFileSync(file, 'utf8')
    .replace(/postgres:16\b/g, `postgres:${postgresVersion}`)
    .replace(/postgres-version: 16\b/g, `postgres-version: ${postgresVersion}`);
  return sqlDir === undefined ? text : text.replace("hashFiles('db/migrations/**')", `hashFiles('${sqlDir.split(path.sep).join('/').replace(/'/g, "''")}/**')`);
}

/** drift-guard's own folder (dist/ when bundled, src/ops/ in development). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'drift-guard') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new DriftGuardError('TOOL_MISSING', 'cannot find drift-guard\'s own files (examples/workflows); reinstall it');
    dir = parent;
  }
}

function csprojFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (relative: string, depth: number): void => {
    if (depth > 4) return;
    for (const entry of readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      if (entry.isDirectory() && !/^(bin|obj|node_modules|\..*)$/.test(entry.name)) walk(path.join(relative, entry.name), depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.csproj')) found.push(path.join(relative, entry.name));
    }
  };
  walk('', 0);
  return found.sort();
}

function hasModelSnapshot(projectDir: string): boolean {
  const walk = (dir: string, depth: number): boolean =>
    depth <= 3 && readdirSync(dir, { withFileTypes: true }).some((entry) => (entry.isDirectory() && !/^(bin|obj)$/.test(entry.name) ? walk(path.join(dir, entry.name), depth + 1) : entry.name.endsWith('ModelSnapshot.cs')));
  return walk(projectDir, 0);
}

function hasToolManifest(dir: string): boolean {
  return existsSync(path.join(dir, '.config', 'dotnet-tools.json')) || existsSync(path.join(dir, 'dotnet-tools.json'));
}
