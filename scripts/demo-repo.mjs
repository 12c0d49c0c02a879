// Builds the demo's throwaway git repository from examples/sql: main holds base/, the branch
// order-tracking adds pr/. Used by `npm run demo` and by bench/check.mjs.

import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Returns the repository's directory; the caller removes it. */
export function makeDemoRepository() {
  const example = path.join(repoRoot, 'examples', 'sql');
  const repo = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-demo-'));
  const git = (...args) =>
    execFileSync('git', args, { cwd: repo, stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 'demo', GIT_AUTHOR_EMAIL: 'demo@example.com', GIT_COMMITTER_NAME: 'demo', GIT_COMMITTER_EMAIL: 'demo@example.com' } });
  cpSync(path.join(example, 'base'), repo, { recursive: true });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'base schema');
  git('checkout', '-q', '-b', 'order-tracking');
  cpSync(path.join(example, 'pr'), repo, { recursive: true });
  git('add', '.');
  git('commit', '-qm', 'order tracking');
  return repo;
}
