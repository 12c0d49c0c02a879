// Wall time of `drift-guard check` on the bundled SQL example with the embedded default, phase by
// phase (median of N warm runs; the first run warms the data-directory cache and is not counted).
//   npm run bench:check [-- runs]

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 5);
const repo = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-check-'));
const git = (...args) => execFileSync('git', args, { cwd: repo, stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@b' } });
cpSync(path.join(root, 'examples/sql/base'), repo, { recursive: true });
git('init', '-q', '-b', 'main');
git('add', '.');
git('commit', '-qm', 'base');
git('checkout', '-q', '-b', 'pr');
cpSync(path.join(root, 'examples/sql/pr'), repo, { recursive: true });
git('add', '.');
git('commit', '-qm', 'pr');

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
