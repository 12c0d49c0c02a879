// The README's main job: `drift-guard check` on a throwaway repository built from examples/sql
// (see demo-repo.mjs), with the embedded PostgreSQL.
//   npm run demo [-- --format markdown|json]

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { makeDemoRepository, repoRoot } from './demo-repo.mjs';

const repo = makeDemoRepository();
try {
  const result = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'cli.js'), 'check', '--base', 'main', ...process.argv.slice(2)], { cwd: repo, stdio: 'inherit' });
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(repo, { recursive: true, force: true });
}
