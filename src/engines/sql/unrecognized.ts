// Fail closed on the migrations directory: every SQL file (and every migration-shaped folder) in it
// is either read by the configured layout or named in an error. A Flyway-named file in a
// golang-migrate directory, or a stray `V1__x.sql` beside plain migrations, would otherwise never
// run anywhere the gate looks, and the PR that adds it would pass.

import { type Dirent, lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Finding } from '../../report/finding.js';
import { globToRegExp } from '../../util/glob.js';
import type { Discovered, LayoutName } from './layout.js';

/** What each layout expects its files to look like, for the fix in the message. */
const NAMING: Record<LayoutName, string> = {
  flyway: 'V<version>__<description>.sql, U<version>__<description>.sql or R__<description>.sql',
  'golang-migrate': '<version>_<name>.up.sql and <version>_<name>.down.sql',
  goose: '<version>_<name>.sql with -- +goose Up / -- +goose Down sections',
  dbmate: '<version>_<name>.sql with -- migrate:up / -- migrate:down sections',
  diesel: 'a folder <version>_<name>/ holding up.sql and down.sql',
  plain: '<14-digit timestamp>_<name>.sql and <14-digit timestamp>_<name>.down.sql',
};

/**
 * UNRECOGNIZED_MIGRATION_FILE findings for the files the layout did not read. Non-SQL files
 * (README.md, .gitkeep, diesel's metadata.toml) are not migrations and are left alone; `ignore`
 * holds globs relative to the migrations directory (sql.ignore).
 */
export function unrecognizedFiles(dir: string, root: string, layout: LayoutName, discovered: Discovered, ignore: readonly string[]): Finding[] {
  const read = new Set<string>();
  for (const migration of discovered.migrations) {
    read.add(migration.up.file);
    if (migration.down !== undefined) read.add(migration.down.file);
  }
  for (const problem of discovered.problems) if (problem.file !== undefined) read.add(problem.file);
  // Every folder that holds a file the layout read, at any depth (one set, not a scan per folder:
  // a diesel history has a folder per migration).
  const foldersRead = new Set<string>();
  for (const file of read) {
    for (let folder = path.dirname(file); !foldersRead.has(folder); folder = path.dirname(folder)) {
      foldersRead.add(folder);
      if (path.dirname(folder) === folder) break;
    }
  }
  const ignored = ignore.map(globToRegExp);
  const isIgnored = (relative: string): boolean => ignored.some((pattern) => pattern.test(relative) || pattern.test(`${relative}/`));
  const findings: Finding[] = [];
  const report = (full: string, what: string): void => {
    const file = path.relative(root, full);
    findings.push({
      check: 'migrations',
      code: 'UNRECOGNIZED_MIGRATION_FILE',
      severity: 'error',
      message: `${file} is ${what} that the ${layout} layout does not read, so it would never be applied; rename it to ${NAMING[layout]}, set sql.layout to the tool it belongs to, or list it in sql.ignore`,
      file,
    });
  };
  const walk = (folder: string, depth: number): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch {
      return; // An unreadable folder is the layout's to report.
    }
    // Paths joined by hand (entry names are single segments): a normalization per file is
    // measurable on a long history.
    const relativeFolder = path.relative(root, folder);
    const relativeOf = (entry: string): string => (relativeFolder === '' ? entry : `${relativeFolder}${path.sep}${entry}`);
    for (const dirent of entries) {
      const entry = dirent.name;
      if (entry.startsWith('.') || entry === 'node_modules') continue;
      const full = folder.endsWith(path.sep) ? `${folder}${entry}` : `${folder}${path.sep}${entry}`;
      if (ignored.length > 0 && isIgnored(path.relative(dir, full).split(path.sep).join('/'))) continue;
      let isDirectory: boolean;
      try {
        // A symbolic link (or an entry of unknown type) is followed; other entries say what they are.
        isDirectory = dirent.isFile() ? false : dirent.isDirectory() ? true : statSync(full).isDirectory();
      } catch {
        // A dangling symbolic link: it cannot be a migration anyone applies, but it looks like one.
        if (/\.sql$/i.test(entry) && lstatSync(full).isSymbolicLink()) report(full, 'a symbolic link to nothing');
        continue;
      }
      if (isDirectory) {
        if (depth > 8) continue;
        const shaped = safeList(full).some((name) => /^up\.sql$/i.test(name));
        const readInside = foldersRead.has(relativeOf(entry));
        if (shaped && !readInside) {
          report(full, 'a migration-shaped folder (it holds up.sql)');
          continue;
        }
        walk(full, depth + 1);
        continue;
      }
      if (!/\.sql$/i.test(entry)) continue;
      if (!read.has(relativeOf(entry))) report(full, 'an SQL file');
    }
  };
  walk(dir, 0);
  // Another tool's sections are plain comments to this layout: both directions would run as one.
  for (const migration of discovered.migrations) {
    const text = migration.up.fileText;
    const other = layout !== 'goose' && /^\s*--\s*\+goose\s+(up|down)\b/im.test(text) ? 'goose' : layout !== 'dbmate' && /^\s*--\s*migrate:(up|down)\b/im.test(text) ? 'dbmate' : undefined;
    if (other === undefined) continue;
    findings.push({
      check: 'migrations',
      code: 'UNRECOGNIZED_MIGRATION_FILE',
      severity: 'error',
      message: `${migration.up.file} is written for ${other} (its up and down sections are markers that the ${layout} layout reads as comments, so both would run as one migration); set sql.layout: ${other}`,
      file: migration.up.file,
    });
  }
  return findings;
}

function safeList(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch {
    return [];
  }
}
