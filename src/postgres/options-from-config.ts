// Turns the validated `postgres:` config block plus the environment into PostgresOptions.

import { readEnvSecret, requireEnvSecret } from '../config/env-secrets.js';
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
  };
}
