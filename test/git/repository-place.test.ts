// Where a directory sits in its repository (root, prefix) is asked once, and in the same git
// process as the first base lookup when the gate asks for both at once; the changed files are
// listed as soon as the merge base is known. The answers and the errors stay those of separate
// questions (outside a repository, inside .git, a base that does not exist, a subdirectory with
// untracked files, a working tree that changes afterwards), with fewer processes.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changedFiles, repositoryRoot, resolveBase } from '../../src/git/git.js';
import { cleanEnv, gitIn, makeTempDir, removeDir, writeTree } from '../helpers.js';

const tmp = makeTempDir('dg-place-');
afterAll(() => removeDir(tmp));

// A `git` first on PATH that logs its arguments, then runs the real one.
const log = path.join(tmp, 'git.log');
const bin = path.join(tmp, 'bin');
const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
mkdirSync(bin);
writeFileSync(path.join(bin, 'git'), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${realGit}' "$@"\n`);
chmodSync(path.join(bin, 'git'), 0o755);
const savedPath = process.env.PATH;
beforeEach(() => {
  writeFileSync(log, '');
  process.env.PATH = `${bin}${path.delimiter}${savedPath}`;
});
afterEach(() => {
  process.env.PATH = savedPath;
});
const calls = (): string[] => readFileSync(log, 'utf8').split('\n').filter((line) => line !== '');

let repos = 0;
/** main with one commit, pr one commit ahead, checked out. */
function repository(): string {
  const dir = path.join(tmp, `repo${repos++}`);
  writeTree(dir, { 'db/1.sql': 'select 1;\n', 'a.txt': 'a\n' });
  const git = gitIn(dir);
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'base');
  git('checkout', '-q', '-b', 'pr');
  writeTree(dir, { 'db/2.sql': 'select 2;\n' });
  git('add', '.');
  git('commit', '-qm', 'pr');
  return dir;
}

describe('the repository place and the base in one git process', () => {
  it('answers the base, the root and the prefix from a subdirectory, with one rev-parse', async () => {
    const dir = repository();
    const sub = path.join(dir, 'db');
    const mainTip = gitIn(dir)('rev-parse', 'main').trim();
    writeFileSync(log, '');
    writeTree(sub, { '3.sql': 'select 3;\n' }); // untracked: named from the repository root
    const resolving = resolveBase(sub, 'main', cleanEnv());
    const root = await repositoryRoot(sub);
    const base = await resolving;
    expect(root).toBe(dir);
    expect(base.baseTip).toBe(mainTip);
    expect(base.mergeBase).toBe(base.baseTip);
    const changes = await changedFiles(base.mergeBase, sub);
    expect(changes).toEqual([
      { path: 'db/2.sql', status: 'added' },
      { path: 'db/3.sql', status: 'added' },
    ]);
    const revParses = calls().filter((line) => line.startsWith('rev-parse'));
    expect(revParses).toEqual(['rev-parse --show-toplevel --show-prefix --verify --quiet main^{commit}']);
  });

  it("lists the changed files once, started with the base's merge base, and afresh after that", async () => {
    const dir = repository();
    const base = await resolveBase(dir, 'main', cleanEnv());
    const diffs = (): number => calls().filter((line) => line.startsWith('diff ')).length;
    expect(await changedFiles(base.mergeBase, dir)).toEqual([{ path: 'db/2.sql', status: 'added' }]);
    expect(diffs()).toBe(1);
    // The early answer served its one caller: a later question sees the working tree as it is then.
    writeTree(dir, { 'db/1.sql': 'select 10;\n', 'db/3.sql': 'select 3;\n' });
    expect(await changedFiles(base.mergeBase, dir)).toEqual([
      { path: 'db/1.sql', status: 'modified' },
      { path: 'db/2.sql', status: 'added' },
      { path: 'db/3.sql', status: 'added' },
    ]);
    expect(diffs()).toBe(2);
  });

  it('keeps each error: a base that does not exist, in a repository', async () => {
    const dir = repository();
    const resolving = resolveBase(dir, 'nope', cleanEnv());
    await expect(repositoryRoot(dir)).resolves.toBe(dir);
    await expect(resolving).rejects.toThrow(/cannot find the base branch \(tried nope\); pass --base REF/);
  });

  it('keeps each error: a directory outside any repository', async () => {
    const dir = path.join(tmp, 'plain');
    mkdirSync(dir);
    process.env.GIT_CEILING_DIRECTORIES = tmp;
    try {
      const resolving = resolveBase(dir, 'main', cleanEnv());
      resolving.catch(() => undefined);
      await expect(repositoryRoot(dir)).rejects.toThrow(`${dir} is not inside a git repository; the PR gate compares a branch with its base`);
      await expect(resolving).rejects.toThrow(/cannot find the base branch \(tried main\)/);
      // Made a repository later: asked again, not the old answer.
      gitIn(dir)('init', '-q', '-b', 'main');
      await expect(repositoryRoot(dir)).resolves.toBe(dir);
    } finally {
      delete process.env.GIT_CEILING_DIRECTORIES;
    }
  });

  it('inside .git: no working tree for the root, but the base still resolves as before', async () => {
    const dir = repository();
    const inside = path.join(dir, '.git');
    const resolving = resolveBase(inside, 'main', cleanEnv());
    await expect(repositoryRoot(inside)).rejects.toThrow(/is not inside a git repository/);
    await expect(resolving).resolves.toMatchObject({ baseRef: 'main', baseTip: gitIn(dir)('rev-parse', 'main').trim() });
  });
});
