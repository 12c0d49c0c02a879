// The few git operations the gate needs, as plain `git` processes: resolve the PR's base (deepening
// a shallow clone when it must), list what changed, read a file or directory at a ref.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DriftGuardError } from '../errors.js';
import { fastTempRoot } from '../util/fast-temp.js';
import { trackChild } from '../util/child-process.js';

export interface GitResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function git(args: readonly string[], cwd: string): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } });
    void trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new DriftGuardError('TOOL_MISSING', error.code === 'ENOENT' ? 'git is not installed; the PR gate needs it' : `cannot run git: ${error.message}`)),
    );
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function gitOk(args: readonly string[], cwd: string): Promise<string> {
  const result = await git(args, cwd);
  if (result.code !== 0) throw new DriftGuardError('USAGE', `git ${args.join(' ')} failed: ${result.stderr.trim().split('\n')[0] ?? ''}`);
  return result.stdout;
}

interface RepositoryPlace {
  /** The working tree's top directory. */
  readonly root: string;
  /** `cwd` relative to it, with a trailing slash ('' at the top). */
  readonly prefix: string;
}

/**
 * Where each directory sits in its repository, asked once per directory: the gate needs the root
 * and the prefix several times, and every git process costs the main thread a spawn.
 */
const places = new Map<string, Promise<RepositoryPlace>>();

const REV_PARSE_PLACE = ['rev-parse', '--show-toplevel', '--show-prefix'] as const;

function rememberPlace(cwd: string, place: Promise<RepositoryPlace>): Promise<RepositoryPlace> {
  places.set(cwd, place);
  // A directory that is not in a repository yet may become one (git init): asked again then.
  place.catch(() => places.delete(cwd));
  return place;
}

/** The place from the output of `git rev-parse --show-toplevel --show-prefix [...]`. */
function placeFrom(result: GitResult, cwd: string): RepositoryPlace {
  const lines = result.stdout.split('\n');
  if (result.code === 128 || lines.length < 3) throw new DriftGuardError('USAGE', `${cwd} is not inside a git repository; the PR gate compares a branch with its base`);
  return { root: lines[0]!.trim(), prefix: lines[1]!.trim() };
}

function repositoryPlace(cwd: string): Promise<RepositoryPlace> {
  return places.get(cwd) ?? rememberPlace(cwd, git(REV_PARSE_PLACE, cwd).then((result) => placeFrom(result, cwd)));
}

export async function repositoryRoot(cwd: string): Promise<string> {
  return (await repositoryPlace(cwd)).root;
}

export async function commitOf(ref: string, cwd: string): Promise<string | undefined> {
  const result = await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], cwd);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/**
 * commitOf(), and where `cwd` sits in its repository when nobody asked yet: one git process for
 * both (the gate asks for the base and the root at the same moment).
 */
function commitAndPlace(ref: string, cwd: string): Promise<string | undefined> {
  if (places.has(cwd)) return commitOf(ref, cwd);
  const asked = git([...REV_PARSE_PLACE, '--verify', '--quiet', `${ref}^{commit}`], cwd);
  rememberPlace(cwd, asked.then((result) => placeFrom(result, cwd))).catch(() => undefined);
  return asked.then((result) => {
    if (result.code === 0) return result.stdout.split('\n')[2]?.trim() || undefined;
    // Not in a working tree (inside .git, say): commitOf() alone may still answer, as before.
    return result.code === 128 ? commitOf(ref, cwd) : undefined;
  });
}

export interface BaseResolution {
  /** The commit the PR branched from (merge base of base and HEAD). */
  readonly mergeBase: string;
  /** The tip of the base branch (may be ahead of the merge base). */
  readonly baseTip: string;
  readonly baseRef: string;
}

/**
 * The base to compare with: --base, else the PR's base branch (GITHUB_BASE_REF), else the remote's
 * default branch, else main/master. A shallow clone is deepened (bounded) until the merge base
 * appears; when that is impossible the error names the checkout setting that fixes it.
 */
export async function resolveBase(cwd: string, explicit: string | undefined, env: NodeJS.ProcessEnv): Promise<BaseResolution> {
  const candidates = explicit !== undefined ? [explicit] : await defaultBaseCandidates(cwd, env);
  let baseRef: string | undefined;
  let baseTip: string | undefined;
  for (const candidate of candidates) {
    baseTip = await commitAndPlace(candidate, cwd);
    if (baseTip === undefined && env.GITHUB_BASE_REF !== undefined && candidate === `origin/${env.GITHUB_BASE_REF}`) {
      await git(['fetch', '--no-tags', '--depth=50', 'origin', `+refs/heads/${env.GITHUB_BASE_REF}:refs/remotes/origin/${env.GITHUB_BASE_REF}`], cwd);
      baseTip = await commitOf(candidate, cwd);
    }
    if (baseTip !== undefined) {
      baseRef = candidate;
      break;
    }
  }
  if (baseRef === undefined || baseTip === undefined) {
    throw new DriftGuardError(
      'USAGE',
      `cannot find the base branch (tried ${candidates.join(', ')}); pass --base REF, or fetch it (actions/checkout with fetch-depth: 0)`,
    );
  }
  let shallow = false;
  for (let attempt = 0; attempt < 6; attempt++) {
    const merged = await git(['merge-base', baseTip, 'HEAD'], cwd);
    if (merged.code === 0) {
      const mergeBase = merged.stdout.trim();
      startChangedFiles(mergeBase, cwd);
      return { mergeBase, baseTip, baseRef };
    }
    shallow = (await git(['rev-parse', '--is-shallow-repository'], cwd)).stdout.trim() === 'true';
    if (!shallow || attempt === 5) break;
    // Deepen both sides: 50, 100, 200, 400, 800 commits (1,550 in all), then give up.
    const fetched = await git(['fetch', '--no-tags', `--deepen=${50 * 2 ** attempt}`, 'origin'], cwd);
    if (fetched.code !== 0) break;
  }
  throw new DriftGuardError(
    'USAGE',
    shallow
      ? `HEAD and ${baseRef} have no common commit in this shallow clone, even deepened; use actions/checkout with fetch-depth: 0, or pass --base`
      : `HEAD and ${baseRef} share no history; pass --base with the branch this one was made from`,
  );
}

async function defaultBaseCandidates(cwd: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const candidates: string[] = [];
  if (env.GITHUB_BASE_REF !== undefined && env.GITHUB_BASE_REF !== '') candidates.push(`origin/${env.GITHUB_BASE_REF}`);
  const head = await git(['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD'], cwd);
  if (head.code === 0) candidates.push(head.stdout.trim());
  candidates.push('origin/main', 'origin/master', 'main', 'master');
  return [...new Set(candidates)];
}

export type ChangeStatus = 'added' | 'modified' | 'deleted' | 'renamed';

export interface ChangedFile {
  readonly path: string;
  readonly status: ChangeStatus;
  /** For renames: where it came from. */
  readonly from?: string;
}

/**
 * changedFiles() started by resolveBase() for the merge base it found, kept for the first caller
 * only (the gate's git analysis, a moment later). A process forked while drift-guard is still
 * small costs its main thread a fraction of one forked once the base schema is in memory.
 */
const started = new Map<string, Promise<ChangedFile[]>>();

function startChangedFiles(base: string, cwd: string): void {
  const listing = listChangedFiles(base, cwd);
  listing.catch(() => undefined); // The caller sees the failure, if any comes.
  started.set(`${cwd}\0${base}`, listing);
}

/** Files that differ between `base` and the working tree (what is on disk now, committed or not). */
export function changedFiles(base: string, cwd: string): Promise<ChangedFile[]> {
  const key = `${cwd}\0${base}`;
  const early = started.get(key);
  if (early === undefined) return listChangedFiles(base, cwd);
  started.delete(key);
  return early;
}

async function listChangedFiles(base: string, cwd: string): Promise<ChangedFile[]> {
  const [output, untracked, { prefix }] = await Promise.all([
    gitOk(['diff', '--name-status', '-M', '--no-color', base, '--', '.'], cwd),
    gitOk(['ls-files', '--others', '--exclude-standard'], cwd),
    repositoryPlace(cwd),
  ]);
  const files: ChangedFile[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [status, first, second] = line.split('\t') as [string, string, string | undefined];
    const code = status[0];
    if (code === 'R' && second !== undefined) files.push({ path: second, status: 'renamed', from: first });
    else files.push({ path: first, status: code === 'A' ? 'added' : code === 'D' ? 'deleted' : 'modified' });
  }
  for (const file of untracked.split('\n')) if (file.trim() !== '') files.push({ path: `${prefix}${file}`, status: 'added' });
  return files;
}

/**
 * The first line each file's change touches in the working tree against `base` (files relative to
 * `cwd`; a file git does not track yet starts at line 1). Files without a line-level change (a
 * mode change, a binary) are absent.
 */
export async function firstChangedLines(base: string, files: readonly string[], cwd: string): Promise<Map<string, number>> {
  const lines = new Map<string, number>();
  if (files.length === 0) return lines;
  const result = await git(['diff', '-U0', '--no-color', '--no-ext-diff', '--relative', base, '--', ...files], cwd);
  if (result.code !== 0) return lines;
  let current: string | undefined;
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith('+++ ')) current = line === '+++ /dev/null' ? undefined : line.slice(4).replace(/^b\//, '');
    else if (current !== undefined && line.startsWith('@@') && !lines.has(current)) {
      const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
      if (hunk !== null) lines.set(current, Math.max(1, Number(hunk[1])));
    }
  }
  for (const file of files) if (!lines.has(file)) {
    const tracked = await git(['ls-files', '--error-unmatch', '--', file], cwd);
    if (tracked.code !== 0) lines.set(file, 1);
  }
  return lines;
}

/** Paths of the files under `dir` (repository-relative) at `ref`. */
export async function filesAt(ref: string, dir: string, cwd: string): Promise<string[]> {
  const output = await gitOk(['ls-tree', '-r', '--name-only', ref, '--', dir], cwd);
  return output.split('\n').filter((line) => line !== '');
}

/**
 * The contents of many files at `ref` (repository-relative paths) from one `git cat-file --batch`
 * process instead of one `git show` each: a project with hundreds of migrations would otherwise
 * start hundreds of processes while the build needs the CPU. A file missing at `ref` is absent.
 */
export function filesContentAt(ref: string, files: readonly string[], cwd: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } });
    void trackChild(child);
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new DriftGuardError('TOOL_MISSING', error.code === 'ENOENT' ? 'git is not installed; the PR gate needs it' : `cannot run git: ${error.message}`)),
    );
    child.on('close', (code) => {
      if (code !== 0) return reject(new DriftGuardError('USAGE', `git cat-file --batch failed: ${stderr.trim().split('\n')[0] ?? ''}`));
      const output = Buffer.concat(chunks);
      const contents = new Map<string, string>();
      let at = 0;
      for (const file of files) {
        const end = output.indexOf(0x0a, at);
        if (end < 0) break;
        const header = output.subarray(at, end).toString();
        at = end + 1;
        const size = /^\S+ \S+ (\d+)$/.exec(header)?.[1];
        if (size === undefined) continue; // "<object> missing"
        contents.set(file, output.subarray(at, at + Number(size)).toString());
        at += Number(size) + 1;
      }
      resolve(contents);
    });
    child.stdin.end(files.map((file) => `${ref}:${file.split(path.sep).join('/')}\n`).join(''));
  });
}

/**
 * Extracts `relativeDir` (repository-relative) as it was at `ref` into a new temp directory; the
 * caller removes `root` when done.
 */
export async function extractDirectory(ref: string, relativeDir: string, repoRoot: string): Promise<{ root: string; dir: string }> {
  if ((await commitOf(ref, repoRoot)) === undefined) {
    throw new DriftGuardError('USAGE', `git:${ref}: no such commit, branch or tag here (fetch it first, e.g. git fetch origin ${ref})`);
  }
  // A thousand small files: on tmpfs where there is one (a quarter of the time a disk takes).
  const root = mkdtempSync(path.join(fastTempRoot(), 'drift-guard-git-'));
  const dir = path.join(root, relativeDir);
  const listed = await git(['ls-tree', '--name-only', ref, '--', relativeDir], repoRoot);
  if (listed.stdout.trim() === '') return { root, dir }; // Not there at that commit: an empty directory.
  try {
    await pipeArchive(ref, relativeDir, repoRoot, root);
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  if (!existsSync(dir)) {
    rmSync(root, { recursive: true, force: true });
    throw new DriftGuardError('USAGE', `git:${ref} has no ${relativeDir} directory`);
  }
  return { root, dir };
}

function pipeArchive(ref: string, relative: string, cwd: string, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const archive = spawn('git', ['archive', '--format=tar', ref, '--', relative], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', target], { stdio: ['pipe', 'ignore', 'pipe'] });
    archive.stdout.pipe(tar.stdin);
    let stderr = '';
    archive.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Both processes must have exited (in either order) before the outcome is known.
    const exited = (child: typeof archive | typeof tar): Promise<number | null> => new Promise((done, fail) => child.on('close', done).on('error', fail));
    Promise.all([exited(archive), exited(tar)]).then(([archiveCode, tarCode]) => {
      if (archiveCode === 0 && tarCode === 0) resolve();
      else reject(new DriftGuardError('USAGE', `cannot read ${relative} at git:${ref}: ${stderr.trim().split('\n')[0] || `git archive exited with ${archiveCode}, tar with ${tarCode}`}`));
    }, reject);
  });
}

/** A file's text at `ref` (repository-relative path), or undefined when it is not there. */
export async function fileAt(ref: string, file: string, cwd: string): Promise<string | undefined> {
  const result = await git(['show', `${ref}:${file.split(path.sep).join('/')}`], cwd);
  return result.code === 0 ? result.stdout : undefined;
}

/**
 * Checks `ref` out in a temporary git worktree; `dispose` removes it. Used when a tool must build or
 * run the base's own code (EF Core's compiled migrations, the user's commands).
 */
export async function addWorktree(ref: string, repoRoot: string): Promise<{ dir: string; dispose(): Promise<void> }> {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'drift-guard-base-'));
  const dir = path.join(parent, 'base');
  const created = await git(['worktree', 'add', '--detach', '--quiet', dir, ref], repoRoot);
  if (created.code !== 0) {
    rmSync(parent, { recursive: true, force: true });
    throw new DriftGuardError('USAGE', `git worktree add failed: ${created.stderr.trim().split('\n')[0] ?? ''}`);
  }
  return {
    dir,
    async dispose() {
      await git(['worktree', 'remove', '--force', dir], repoRoot);
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
