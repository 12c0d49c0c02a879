// Turns the validated `postgres:` config block plus the environment into PostgresOptions.

import path from 'node:path';
import { readEnvSecret, requireEnvSecret } from '../config/env-secrets.js';
import { DriftGuardError } from '../errors.js';
import { readMigrationFile } from '../engines/sql/layouts/common.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { Reporter } from '../util/reporter.js';
import type { PostgresOptions } from './scratch.js';

export function postgresOptionsFromConfig(loaded: LoadedConfig, env: NodeJS.ProcessEnv, reporter: Reporter): PostgresOptions {
  const pg = loaded.config.postgres;
  const urlKey = ['postgres', 'url-env'] as const;
  // An explicit url provider needs the variable (exit 2, pointing at the key); auto just skips it.
  const url =
    pg.provider === 'url'
      ? requireEnvSecret(loaded, urlKey, env, 'the URL of a server where drift-guard may create scratch databases (postgresql://user:password@host:5432/postgres)')
      : readEnvSecret(loaded, urlKey, env).value;
  return {
    provider: pg.provider,
    version: pg.version,
    url,
    urlEnvName: pg['url-env'],
    image: pg.image,
    storage: pg.storage,
    startupTimeoutMs: pg['startup-timeout'] * 1000,
    env,
    reporter,
    superuserReason: pg.superuser?.reason,
    setup: setupScripts(loaded),
  };
}

/** postgres.setup's files, read now: a file that cannot be read is a config error naming it. */
function setupScripts(loaded: LoadedConfig): { file: string; sql: string }[] {
  const files = loaded.config.postgres.setup;
  if (files.length === 0) return [];
  const dir = loaded.file === undefined ? process.cwd() : path.dirname(loaded.file);
  return files.map((file, index) => {
    try {
      return { file, sql: readMigrationFile(path.resolve(dir, file)) };
    } catch (error) {
      throw new DriftGuardError(
        'CONFIG_INVALID',
        `${loaded.locate(['postgres', 'setup', index], 'value')}: postgres.setup names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the path of a SQL file relative to the config file`,
      );
    }
  });
}
