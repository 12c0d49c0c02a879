// The README's main job: `drift-guard check` on a throwaway repository built from examples/sql
// (see demo-repo.mjs), with the embedded PostgreSQL.
//   npm run demo [-- --format markdown|json]
//
// The example PR is built to fail the gate, so check exits 1. The demo says so and exits 0, so
// that `npm ci && npm run demo && npm test` runs on; any other outcome of check is passed through
// (0 would mean the example no longer shows what it should: that is a failure of the demo).

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { makeDemoRepository, repoRoot } from './demo-repo.mjs';

const repo = makeDemoRepository();
try {
  const result = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'cli.js'), 'check', '--base', 'main', ...process.argv.slice(2)], { cwd: repo, stdio: 'inherit' });
  const code = result.status ?? 1;
  if (code === 1) {
    process.stderr.write(
      '\ndemo: drift-guard check exited 1, as it should: the example PR (examples/sql/pr) drops a column and adds an\n' +
        'enum value that its down migration cannot take back, so the gate fails it. In CI that exit code fails the job;\n' +
        'the demo exits 0 because the failure is the point.\n',
    );
    process.exitCode = 0;
  } else if (code === 0) {
    process.stderr.write('\ndemo: drift-guard check passed the example PR, which is built to fail it: the demo is broken\n');
    process.exitCode = 1;
  } else {
    process.exitCode = code;
  }
} finally {
  rmSync(repo, { recursive: true, force: true });
}
