// Wall time of `drift-guard check` on the bundled SQL example with the embedded default, phase by
// phase (median of N warm runs; the first run warms the data-directory cache and is not counted).
//   npm run bench:check [-- runs]

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { makeDemoRepository, repoRoot as root } from '../scripts/demo-repo.mjs';

const runs = Number(process.argv[2] ?? 5);
const repo = makeDemoRepository();

const env = { ...process.env };
delete env.DRIFT_GUARD_DATABASE_URL;
const once = () => {
  const started = performance.now();
  const result = spawnSync(process.execPath, [path.join(root, 'dist/cli.js'), '--quiet', 'check', '--base', 'main', '--format', 'json'], { cwd: repo, env, encoding: 'utf8' });
  const wall = performance.now() - started;
  if (result.status !== 0 && result.status !== 1) throw new Error(`check exited ${result.status}: ${result.stderr}`);
  return { wall, timings: JSON.parse(result.stdout).timings };
};
once();
const samples = Array.from({ length: runs }, once);
rmSync(repo, { recursive: true, force: true });

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`drift-guard check on examples/sql (embedded PostgreSQL, warm cache), median of ${runs} runs`);
for (const phase of samples[0].timings.map((t) => t.phase)) {
  console.log(`  ${phase.padEnd(52)} ${(median(samples.map((s) => s.timings.find((t) => t.phase === phase)?.ms ?? 0)) / 1000).toFixed(3)} s`);
}
console.log(`  ${'whole command (wall, incl. Node start and cleanup)'.padEnd(52)} ${(median(samples.map((s) => s.wall)) / 1000).toFixed(3)} s   target < 3 s`);
