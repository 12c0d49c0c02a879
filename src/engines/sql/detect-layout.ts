// `sql.layout: auto`: recognises a directory's tool from its file names and markers, and refuses
// to guess when the directory is empty, mixes tools, or could be more than one.

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { DriftGuardError } from '../../errors.js';
import type { Layout, LayoutName } from './layout.js';
import { directoryEntries, readMigrationFile } from './layouts/common.js';

export type LayoutRegistry = Readonly<Record<LayoutName, Layout>>;

const FLYWAY = /^(?:[VU]\d[\w.]*__.+|R__.+)\.sql$/;
const GOLANG_MIGRATE = /^\d+_.+\.(?:up|down)\.sql$/;
const DIESEL_DIR = /^\d[\d-]*_.+$/;
const PLAIN = /^\d{14}_.+\.sql$/;
const NUMBERED_SQL = /^\d+_.+\.sql$/;

export function detectLayout(dir: string, registry: LayoutRegistry, displayDir: string): Layout {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DriftGuardError('USAGE', `migrations directory ${displayDir} does not exist; set sql.dir in .drift-guard.yml or pass --dir`);
  }
  const evidence = new Map<LayoutName, string>();
  for (const { name: entry, stats } of directoryEntries(dir)) {
    const full = path.join(dir, entry);
    if (stats.isDirectory()) {
      if (DIESEL_DIR.test(entry) && existsSync(path.join(full, 'up.sql'))) evidence.set('diesel', `${entry}/up.sql`);
      continue;
    }
    if (FLYWAY.test(entry)) evidence.set('flyway', entry);
    else if (GOLANG_MIGRATE.test(entry)) evidence.set('golang-migrate', entry);
    else if (NUMBERED_SQL.test(entry)) {
      const text = readMigrationFile(full);
      if (/^\s*--\s*\+goose\s+up\b/im.test(text)) evidence.set('goose', entry);
      else if (/^\s*--\s*migrate:up\b/im.test(text)) evidence.set('dbmate', entry);
      else if (PLAIN.test(entry) && !entry.endsWith('.down.sql')) evidence.set('plain', entry);
    }
  }
  if (evidence.size === 1) return registry[[...evidence.keys()][0]!];
  if (evidence.size === 0) {
    throw new DriftGuardError(
      'USAGE',
      `no migrations recognised in ${displayDir}; set sql.layout (${Object.keys(registry).join(', ')}) to say which tool the directory belongs to`,
    );
  }
  const seen = [...evidence.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, file]) => `${name} (${file})`).join(', ');
  throw new DriftGuardError('USAGE', `${displayDir} mixes migration layouts: ${seen}; keep one tool per directory, or set sql.layout`);
}
