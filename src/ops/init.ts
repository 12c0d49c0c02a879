// `drift-guard init`: sets a project up. It looks at what is there (an EF Core project with
// migrations, a SQL migrations folder and its tool) and writes a starter .drift-guard.yml, the PR
// workflow and a Makefile that includes drift-guard.mk. It never overwrites a file: one that
// exists is kept and named in the result.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export function initProject(dir: string, options: { postgresVersion: number }): InitResult {
  const found = detect(dir);
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
  write('.github/workflows/drift-guard.yml', workflowText(found.engine, options.postgresVersion));
  const makefile = ['Makefile', 'makefile', 'GNUmakefile'].find((name) => existsSync(path.join(dir, name)));
  if (makefile === undefined) write('Makefile', MAKEFILE);
  else kept.push(makefile);

  const nextSteps = [
    ...(makefile !== undefined && !readFileSync(path.join(dir, makefile), 'utf8').includes('drift-guard.mk') ? [`add "include node_modules/drift-guard/drift-guard.mk" to ${makefile}`] : []),
    ...(found.engine === 'efcore' && !hasToolManifest(dir) ? ['pin the EF tools: dotnet new tool-manifest && dotnet tool install dotnet-ef --version <your EF Core version>'] : []),
    'in .github/workflows/drift-guard.yml, point "uses: <owner>/drift-guard@v1" at the drift-guard Action you use',
    'npx drift-guard doctor      # what drift-guard can use here',
    'npx drift-guard check       # the PR gate, locally',
    'commit .drift-guard.yml and .github/workflows/drift-guard.yml',
  ];
  return { engine: found.engine, detected: found.description, created, kept, nextSteps };
}

interface Detected {
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
  for (const candidate of DEFAULT_MIGRATION_DIRS) {
    const full = path.join(dir, candidate);
    if (!existsSync(full) || readdirSync(full).length === 0) continue;
    try {
      const layout = detectLayout(full, LAYOUTS, candidate);
      return { engine: 'sql', description: `${layout.name} migrations in ${candidate}`, sqlDir: candidate, layout: layout.name };
    } catch (error) {
      if (error instanceof DriftGuardError) return { engine: 'sql', description: `migrations in ${candidate} (tool not recognised: set sql.layout)`, sqlDir: candidate };
      throw error;
    }
  }
  return { engine: 'sql', description: 'no migrations yet: drift-guard\'s own SQL layout in db/migrations (drift-guard new NAME creates the first)', sqlDir: 'db/migrations', layout: 'plain' };
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
`;

/** The ready-to-copy workflow shipped in examples/workflows/, with the PostgreSQL version set. */
function workflowText(engine: 'efcore' | 'sql', postgresVersion: number): string {
  const file = path.join(packageRoot(), 'examples', 'workflows', `${engine}-gate.yml`);
  return readFileSync(file, 'utf8').replace(/postgres:16\b/g, `postgres:${postgresVersion}`);
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
