// The README's main job: builds a throwaway git repository from examples/sql (main = base/, a
// feature branch adding pr/) and runs `drift-guard check` on it with the embedded PostgreSQL.
//   npm run demo [-- --format markdown|json]

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(root, 'examples', 'sql');
const repo = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-demo-'));
const git = (...args) =>
  execFileSync('git', args, { cwd: repo, stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 'demo', GIT_AUTHOR_EMAIL: 'demo@example.com', GIT_COMMITTER_NAME: 'demo', GIT_COMMITTER_EMAIL: 'demo@example.com' } });
try {
  cpSync(path.join(example, 'base'), repo, { recursive: true });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'base schema');
  git('checkout', '-q', '-b', 'order-tracking');
  cpSync(path.join(example, 'pr'), repo, { recursive: true });
  git('add', '.');
  git('commit', '-qm', 'order tracking');
  const result = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'check', '--base', 'main', ...process.argv.slice(2)], { cwd: repo, stdio: 'inherit' });
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(repo, { recursive: true, force: true });
}
