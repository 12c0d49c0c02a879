import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveBase } from '../../src/git/git.js';
import { cleanEnv, gitIn, makeTempDir, removeDir, writeTree } from '../helpers.js';

// The base commit of a PR in the clones CI makes: shallow ones get deepened until the merge base
// appears; a clone that cannot find it names the checkout setting that fixes it.

const tmp = makeTempDir('dg-base-');
afterAll(() => removeDir(tmp));

/** origin: main with 40 commits; pr forks at main's 10th commit and adds 3 of its own. */
function origin(): { dir: string; fork: string } {
  const dir = path.join(tmp, 'origin');
  const git = gitIn(dir);
  writeTree(dir, { 'f.txt': '0\n' });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'c0');
  let fork = '';
  for (let i = 1; i < 40; i++) {
    writeTree(dir, { 'f.txt': `${i}\n` });
    git('commit', '-qam', `c${i}`);
    if (i === 10) fork = git('rev-parse', 'HEAD').trim();
  }
  git('checkout', '-q', '-b', 'pr', fork);
  for (let i = 0; i < 3; i++) {
    writeTree(dir, { 'g.txt': `${i}\n` });
    git('add', '.');
    git('commit', '-qm', `p${i}`);
  }
  git('checkout', '-q', 'main');
  return { dir, fork };
}

const source = origin();
let clones = 0;

function shallowClone(): string {
  const dir = path.join(tmp, `clone${clones++}`);
  // What actions/checkout does for a pull_request by default: the PR's head, depth 1, one branch.
  gitIn(tmp)('clone', '-q', '--depth=1', '--single-branch', '--branch', 'pr', `file://${source.dir}`, dir);
  return dir;
}

describe('resolveBase', () => {
  it('fetches the PR base branch (GITHUB_BASE_REF) and deepens a depth-1 clone until the merge base appears', async () => {
    const dir = shallowClone();
    expect(gitIn(dir)('rev-parse', '--is-shallow-repository').trim()).toBe('true');
    const base = await resolveBase(dir, undefined, cleanEnv({ GITHUB_BASE_REF: 'main' }));
    expect(base.baseRef).toBe('origin/main');
    expect(base.mergeBase).toBe(source.fork);
    expect(base.baseTip).toBe(gitIn(source.dir)('rev-parse', 'main').trim());
  });

  it('says when two histories share nothing, once the clone is complete', async () => {
    const dir = shallowClone();
    const git = gitIn(dir);
    git('checkout', '-q', '--orphan', 'unrelated');
    git('commit', '-qm', 'orphan');
    await expect(resolveBase(dir, undefined, cleanEnv({ GITHUB_BASE_REF: 'main' }))).rejects.toThrow(/HEAD and origin\/main share no history; pass --base/);
  });

  it('stops deepening after 1,550 commits and names the checkout setting', async () => {
    // main runs 1,700 commits past the fork: more than the bounded deepening fetches.
    const dir = path.join(tmp, 'long');
    mkdirSync(dir);
    const git = gitIn(dir);
    git('init', '-q', '-b', 'main');
    const lines: string[] = [];
    const commit = (ref: string, mark: number, parent: number | undefined): void => {
      lines.push(`commit ${ref}`, `mark :${mark}`, `committer t <t@t> ${1_700_000_000 + mark} +0000`, 'data 1', 'x', ...(parent === undefined ? [] : [`from :${parent}`]), `M 644 inline f.txt`, `data ${String(mark).length}`, String(mark), '');
    };
    commit('refs/heads/main', 1, undefined);
    for (let mark = 2; mark <= 1_701; mark++) commit('refs/heads/main', mark, mark - 1);
    commit('refs/heads/pr', 1_702, 1);
    execFileSync('git', ['fast-import', '--quiet'], { cwd: dir, input: `${lines.join('\n')}\n` });
    const clone = path.join(tmp, 'long-clone');
    gitIn(tmp)('clone', '-q', '--depth=1', '--single-branch', '--branch', 'pr', `file://${dir}`, clone);
    await expect(resolveBase(clone, undefined, cleanEnv({ GITHUB_BASE_REF: 'main' }))).rejects.toThrow(/no common commit in this shallow clone, even deepened; use actions\/checkout with fetch-depth: 0, or pass --base/);
    expect(gitIn(clone)('rev-parse', '--is-shallow-repository').trim()).toBe('true');
  });

  it('says so, and how to fix it, when the base cannot be found at all', async () => {
    const dir = path.join(tmp, 'lonely');
    writeTree(dir, { 'a.txt': 'a\n' });
    const git = gitIn(dir);
    git('init', '-q', '-b', 'work');
    git('add', '.');
    git('commit', '-qm', 'a');
    await expect(resolveBase(dir, undefined, cleanEnv())).rejects.toThrow(/cannot find the base branch \(tried origin\/main, origin\/master, main, master\); pass --base REF/);
    await expect(resolveBase(dir, 'nope', cleanEnv())).rejects.toThrow(/tried nope/);
  });
});
