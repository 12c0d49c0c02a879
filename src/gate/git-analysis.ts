// The gate's first step, without a database: which migrations the PR adds, edits, deletes or
// inserts before the base's newest, whether the base moved on, which schema-shaping files changed,
// and the migrations directory's own problems (each marked when the PR did not touch its file: it
// already holds on the base). Engine-independent: migrations come from the engine's GateFiles.

import path from 'node:path';
import type { GateFiles, MigrationSource } from '../engines/engine.js';
import { changedFiles, type BaseResolution } from '../git/git.js';
import type { Finding } from '../report/finding.js';

export interface GitAnalysis {
  readonly findings: readonly Finding[];
  readonly added: readonly MigrationSource[];
  readonly modified: readonly string[];
  readonly deleted: readonly string[];
  /** The newest migration id on the base, if any. */
  readonly baseLast: string | undefined;
  /** The PR edits, deletes or inserts before the base's newest: its history is not the base's plus more. */
  readonly historyRewritten: boolean;
  /** Files that shape the schema and changed (not deleted) in the PR, project-relative. */
  readonly entityFiles: readonly string[];
  /** Every file the PR changes, project-relative. */
  readonly changed: ReadonlySet<string>;
  /** Merged migrations this PR deletes (as they were) or edits (as they are now). */
  readonly rewrites: readonly MigrationSource[];
}

export async function analyzeGit(files: GateFiles, base: BaseResolution, options: { root: string; repo: string; cwd: string }): Promise<GitAnalysis> {
  const [now, atBase, changes] = await Promise.all([files.head(), files.at(base.mergeBase), changedFiles(base.mergeBase, options.cwd)]);
  // The base's migrations the tool applies; the others (an EF class no [Migration] attribute names)
  // never ran anywhere: neither deleted nor edited when the PR changes them, nor the base's last.
  const before = files.discoverable === undefined ? atBase : atBase.filter((m) => files.discoverable!(m));
  const shown = (repoPath: string): string => path.relative(options.root, path.join(options.repo, repoPath));
  const changed = new Set(changes.flatMap((c) => [shown(c.path), ...(c.from === undefined ? [] : [shown(c.from)])]));
  const findings: Finding[] = [];
  const byId = new Map(now.map((m) => [m.id, m]));
  const modified: string[] = [];
  const deleted: string[] = [];
  const rewrites: MigrationSource[] = [];
  for (const old of before) {
    const current = byId.get(old.id);
    if (current === undefined) {
      deleted.push(old.file);
      rewrites.push(old);
      findings.push({
        check: 'migrations',
        code: 'MIGRATION_DELETED',
        severity: 'error',
        message: `${old.label} exists on the base (${base.baseRef}) and is gone in this PR; databases that applied it keep its changes. Restore it and undo its effect in a new migration`,
        file: old.file,
        migration: old.id,
      });
    } else if (current.text !== old.text && normalize(current.text) !== normalize(old.text)) {
      modified.push(current.file);
      rewrites.push(current);
      findings.push({
        check: 'migrations',
        code: 'MIGRATION_MODIFIED',
        severity: 'error',
        message: `${current.label} was already on the base (${base.baseRef}) and this PR edits it; databases that applied it will not see the edit. Revert it and put the change in a new migration`,
        file: current.file,
        line: firstDifferentLine(old.upText, current.upText),
        migration: current.id,
      });
    }
  }
  // Undiscovered ones too: the same file in the PR is not a new migration.
  const known = new Set(atBase.map((m) => m.id));
  const added = now.filter((m) => !known.has(m.id));
  const baseLast = before.map((m) => m.id).sort(files.compare).at(-1);
  let outOfOrder = 0;
  for (const migration of added) {
    if (baseLast !== undefined && files.compare(migration.id, baseLast) < 0) {
      outOfOrder += 1;
      findings.push({
        check: 'migrations',
        code: 'MIGRATION_OUT_OF_ORDER',
        severity: 'error',
        message: `${migration.label} (${migration.id}) sorts before the base's newest migration ${baseLast}; databases already past ${baseLast} would skip or refuse it. ${files.reorderHint}`,
        file: migration.file,
        migration: migration.id,
      });
    }
  }
  if (base.baseTip !== base.mergeBase && added.length > 0) {
    const theirs = (await files.at(base.baseTip)).filter((m) => !known.has(m.id) && !byId.has(m.id));
    if (theirs.length > 0) {
      findings.push({
        check: 'migrations',
        code: 'BASE_ADVANCED',
        severity: 'warning',
        message: `${base.baseRef} gained ${theirs.length} migration(s) since this branch forked (${theirs.map((m) => m.label).join(', ')}); ${files.rebaseHint}`,
      });
    }
  }
  // The directory's own problems: the PR's when it touched the file, the base's otherwise.
  for (const problem of files.problems()) {
    findings.push(problem.file !== undefined && !touches(changed, problem.file) ? { ...problem, existing: true } : problem);
  }
  const isEntity = files.isEntity;
  const entityFiles =
    isEntity === undefined ? [] : changes.filter((c) => c.status !== 'deleted').map((c) => shown(c.path)).filter((file) => !file.startsWith('..') && !files.isMigrationFile(file) && isEntity(file));
  return { findings, added, modified, deleted, baseLast, historyRewritten: modified.length > 0 || deleted.length > 0 || outOfOrder > 0, entityFiles, changed, rewrites };
}

/** Whether the PR changed `file`, or anything inside it when it is a folder. */
export function touches(changed: ReadonlySet<string>, file: string): boolean {
  if (changed.has(file)) return true;
  const prefix = `${file}${path.sep}`;
  for (const entry of changed) if (entry.startsWith(prefix)) return true;
  return false;
}

function normalize(text: string): string {
  return text
    .split('\u0000')
    .map((part) => part.replace(/^\ufeff/, '').replace(/\r\n?/g, '\n').trimEnd())
    .join('\u0000');
}

export function firstDifferentLine(a: string, b: string): number {
  const x = normalize(a).split('\n');
  const y = normalize(b).split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return i + 1;
  return 1;
}
