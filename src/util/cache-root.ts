// Where drift-guard keeps what it may throw away: initialised PostgreSQL data directories
// (src/postgres/data-dir-cache.ts) and the CLI's code cache (src/cli/compile-cache.ts).
// Node built-ins only: the CLI launcher imports it.

import os from 'node:os';
import path from 'node:path';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DRIFT_GUARD_CACHE_DIR) return path.resolve(env.DRIFT_GUARD_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'drift-guard');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'drift-guard');
  if (process.platform === 'win32' && env.LOCALAPPDATA) return path.join(env.LOCALAPPDATA, 'drift-guard', 'cache');
  return path.join(os.homedir(), '.cache', 'drift-guard');
}
