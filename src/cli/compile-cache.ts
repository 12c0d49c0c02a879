// Loads the CLI bundle (CommonJS) through V8's code cache, the way Node 22's compile cache does
// for modules: the second run of a command skips parsing and compiling the bundle (about 30 ms
// of every command's start on the machines we measure; `npm run bench:startup`). Node 20 has no
// built-in compile cache for ES modules, hence a CommonJS bundle compiled with vm.Script.
//
// The cache lives in the v8/ folder of drift-guard's cache directory (DRIFT_GUARD_CACHE_DIR,
// $XDG_CACHE_HOME/drift-guard or ~/.cache/drift-guard), one file per bundle file (bundleKey()), Node
// version and command, written atomically; files owned by another user are never read. DRIFT_GUARD_NO_COMPILE_CACHE=1 (or Node's NODE_DISABLE_COMPILE_CACHE=1) turns it
// off. Any problem with the cache (unwritable home, a corrupt or foreign file) only costs the
// compile time it would have saved.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { cacheRoot } from '../util/cache-root.js';
import { VERSION } from '../version.js';

export interface LoadedBundle {
  /** The bundle's module.exports. */
  readonly exports: Record<string, unknown>;
  /** Writes the code cache when there was none (or V8 refused it); call once the command has run, so the functions it compiled are in. */
  saveCache(): void;
}

/** How long a cache file of another bundle is kept after it was last written. */
const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

export function cacheDirectory(env: NodeJS.ProcessEnv): string | undefined {
  if (env.DRIFT_GUARD_NO_COMPILE_CACHE === '1' || env.NODE_DISABLE_COMPILE_CACHE === '1') return undefined;
  return path.join(cacheRoot(env), 'v8');
}

/** `command` names the cache file: each command's first run caches the functions that command compiles. */
export function loadBundle(file: string, command: string, env: NodeJS.ProcessEnv): LoadedBundle {
  const source = readFileSync(file, 'utf8');
  const dir = cacheDirectory(env);
  const prefix = `cli-${bundleKey(file)}-`;
  const cacheFile = dir === undefined ? undefined : path.join(dir, `${prefix}${command.replace(/[^a-z-]/g, '').slice(0, 24) || 'none'}.v8cache`);
  const cachedData = cacheFile === undefined ? undefined : readOwnFile(cacheFile);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, ...(cachedData === undefined ? {} : { cachedData }) });
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, path.dirname(file));
  return {
    exports: module.exports,
    saveCache() {
      if (cacheFile === undefined || (cachedData !== undefined && !script.cachedDataRejected)) return;
      try {
        mkdirSync(dir!, { recursive: true, mode: 0o700 });
        const temporary = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
        renameSync(temporary, cacheFile);
        // Caches of other bundles (an older drift-guard, another Node) are dead weight once
        // nobody has written them for a day. Not sooner: two builds used in turn (a benchmark's
        // before and after, two projects pinned to different versions) would otherwise delete
        // each other's cache on every run and both start without one.
        const stale = Date.now() - STALE_AFTER_MS;
        for (const name of readdirSync(dir!)) {
          if (!name.startsWith('cli-') || name.startsWith(prefix) || name.endsWith('.tmp')) continue;
          const other = path.join(dir!, name);
          if (statSync(other).mtimeMs < stale) unlinkSync(other);
        }
      } catch {
        // A read-only home or a full disk: run without a cache.
      }
    },
  };
}

/**
 * Names the bundle's cache without hashing its 800 KB on every start (16 ms): its size, times and
 * file number, drift-guard's version, Node's version and the architecture. Any write to the file
 * changes its ctime (which nobody can set back), so an edited bundle never meets the code cache of
 * the old one, whose functions V8 would run as they were; copying or reinstalling it costs one
 * compile.
 */
export function bundleKey(file: string): string {
  const stat = statSync(file, { bigint: true });
  return createHash('sha256')
    .update([VERSION, process.version, process.arch, stat.size, stat.mtimeNs, stat.ctimeNs, stat.ino, stat.dev].join('\0'))
    .digest('hex')
    .slice(0, 16);
}

function readOwnFile(file: string): Buffer | undefined {
  try {
    const stat = statSync(file);
    if (process.getuid !== undefined && stat.uid !== process.getuid()) return undefined;
    return readFileSync(file);
  } catch {
    return undefined;
  }
}
