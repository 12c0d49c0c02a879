// Resolves which migrations directory and layout a command works on, from flags and config.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SqlLayoutSetting } from '../../config/config-schema.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { DriftGuardError } from '../../errors.js';
import { detectLayout, type LayoutRegistry } from './detect-layout.js';
import type { Layout } from './layout.js';
import { dbmateLayout } from './layouts/dbmate.js';
import { dieselLayout } from './layouts/diesel.js';
import { flywayLayout } from './layouts/flyway.js';
import { golangMigrateLayout } from './layouts/golang-migrate.js';
import { gooseLayout } from './layouts/goose.js';
import { plainLayout } from './layouts/plain.js';
import type { SqlMigrations } from './migrator.js';

export const LAYOUTS: LayoutRegistry = {
  flyway: flywayLayout,
  'golang-migrate': golangMigrateLayout,
  goose: gooseLayout,
  dbmate: dbmateLayout,
  diesel: dieselLayout,
  plain: plainLayout,
};

export const DEFAULT_MIGRATION_DIRS = ['db/migrations', 'migrations', 'db/migration', 'sql/migrations', 'src/main/resources/db/migration'] as const;

export interface SqlOverrides {
  readonly dir?: string | undefined;
  readonly layout?: SqlLayoutSetting | undefined;
}

/** The project root: the config file's directory, or the working directory without one. */
export function projectRoot(loaded: LoadedConfig, cwd: string): string {
  return loaded.file === undefined ? cwd : path.dirname(loaded.file);
}

export function resolveSqlMigrations(loaded: LoadedConfig, cwd: string, overrides: SqlOverrides = {}, options: { mayBeEmpty?: boolean } = {}): SqlMigrations {
  const root = projectRoot(loaded, cwd);
  const dir = resolveDir(loaded, cwd, root, overrides.dir, options.mayBeEmpty === true);
  const display = path.relative(cwd, dir) || '.';
  const setting = overrides.layout ?? loaded.config.sql.layout;
  const layout: Layout = setting === 'auto' ? detectLayout(dir, LAYOUTS, display) : LAYOUTS[setting];
  return { dir, root, layout, ignore: loaded.config.sql.ignore };
}

function resolveDir(loaded: LoadedConfig, cwd: string, root: string, flag: string | undefined, mayBeEmpty: boolean): string {
  if (flag !== undefined) return path.resolve(cwd, flag);
  const configured = loaded.config.sql.dir;
  if (configured !== undefined) {
    const dir = path.resolve(root, configured);
    if (!existsSync(dir) && !mayBeEmpty) {
      throw new DriftGuardError('USAGE', `${loaded.locate(['sql', 'dir'])}: sql.dir ${configured} does not exist; create it (drift-guard new NAME does) or fix the path`);
    }
    return dir;
  }
  const found = DEFAULT_MIGRATION_DIRS.map((candidate) => path.join(root, candidate)).filter((candidate) => existsSync(candidate));
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    throw new DriftGuardError('USAGE', `no migrations directory found (looked for ${DEFAULT_MIGRATION_DIRS.join(', ')} under ${root}); set sql.dir in .drift-guard.yml or pass --dir`);
  }
  throw new DriftGuardError('USAGE', `more than one migrations directory (${found.map((f) => path.relative(root, f)).join(', ')}); set sql.dir in .drift-guard.yml or pass --dir`);
}
