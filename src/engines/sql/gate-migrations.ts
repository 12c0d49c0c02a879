// The PR gate reads the migrations at its base commit on every run: the directory is extracted
// with `git archive` and read by the layout, a thousand files on a long history. What the layout
// finds there depends on the files at that commit (their listing: path, mode and object id, a hash
// of the content) and on the settings only, so it is kept in <cache root>/gate-migrations/<key>.json
// and the next gate on the same base reads it from there. A listing with anything whose content is
// not its object (symbolic links, submodules) or with .gitattributes (git archive may leave files
// out or rewrite them) is never kept, nor is any when the repository has info/attributes. Never a
// source of truth: an entry that cannot be read, or is not one, is ignored and written again.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheRoot } from '../../util/cache-root.js';
import { VERSION } from '../../version.js';
import type { MigrationSource } from '../engine.js';

const FORMAT = 'drift-guard gate migrations 1';
/** Entries kept after a write (most recently written first). */
const KEEP = 8;
const KEY = /^[0-9a-f]{64}$/;

/**
 * The key for what the layout reads from `listing` (git ls-tree -r output) with `settings`, or
 * undefined when the listing has something git archive would not give as its object says.
 */
export function gateMigrationsKey(listing: string, settings: readonly string[], repo: string): string | undefined {
  const lines = listing.split('\n').filter((line) => line !== '');
  const regular = lines.every((line) => /^100(644|755) blob [0-9a-f]+\t/.test(line) && !/(^|\/)\.gitattributes$/.test(line.slice(line.indexOf('\t') + 1)));
  if (!regular || !existsSync(path.join(repo, '.git')) || !statSync(path.join(repo, '.git')).isDirectory() || existsSync(path.join(repo, '.git', 'info', 'attributes'))) return undefined;
  const hash = createHash('sha256');
  for (const part of [FORMAT, VERSION, ...settings, listing]) hash.update(`${Buffer.byteLength(part)}:`).update(part).update('\0');
  return hash.digest('hex');
}

export interface GateMigrationsCache {
  read(key: string): MigrationSource[] | undefined;
  write(key: string, migrations: readonly MigrationSource[]): void;
}

export function gateMigrationsCache(env: NodeJS.ProcessEnv): GateMigrationsCache {
  const dir = path.join(cacheRoot(env), 'gate-migrations');
  const file = (key: string): string => {
    if (!KEY.test(key)) throw new Error(`a gate migrations key is a sha256 hex string, not ${JSON.stringify(key)}`);
    return path.join(dir, `${key}.json`);
  };
  return {
    read(key) {
      try {
        const parsed = JSON.parse(readFileSync(file(key), 'utf8')) as { format?: unknown; key?: unknown; migrations?: unknown };
        if (parsed.format !== FORMAT || parsed.key !== key || !Array.isArray(parsed.migrations) || !parsed.migrations.every(isSource)) return undefined;
        return parsed.migrations as MigrationSource[];
      } catch {
        return undefined;
      }
    },
    write(key, migrations) {
      const temp = path.join(dir, `.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(temp, JSON.stringify({ format: FORMAT, key, migrations }), { mode: 0o600 });
        renameSync(temp, file(key));
        const entries = readdirSync(dir)
          .filter((name) => /^[0-9a-f]{64}\.json$/.test(name))
          .map((name) => ({ name, at: statSync(path.join(dir, name)).mtimeMs }))
          .sort((a, b) => b.at - a.at);
        for (const stale of entries.slice(KEEP)) rmSync(path.join(dir, stale.name), { force: true });
      } catch {
        // A cache that cannot be written costs the next run a read of the base's files, nothing else.
        rmSync(temp, { force: true });
      }
    },
  };
}

function isSource(value: unknown): boolean {
  const m = value as Partial<Record<keyof MigrationSource, unknown>> | null;
  return (
    m !== null &&
    typeof m === 'object' &&
    typeof m.id === 'string' &&
    typeof m.label === 'string' &&
    typeof m.file === 'string' &&
    typeof m.text === 'string' &&
    typeof m.upText === 'string' &&
    typeof m.hasDown === 'boolean' &&
    (m.downFile === undefined || typeof m.downFile === 'string')
  );
}
