// The production database's URL: only ever from the environment variable production.url-env
// names, registered as a secret the moment it is read.

import type { LoadedConfig } from '../config/load-config.js';
import type { PostgresOptions } from '../postgres/scratch.js';
import type { Reporter } from '../util/reporter.js';
import { DriftGuardError } from '../errors.js';
import { registerConnectionString } from '../util/secrets.js';
import { assertConnectionUrl } from '../postgres/connection-url.js';

export interface ProductionTarget {
  readonly url: string;
  /** The URL with its password masked, for messages. */
  readonly display: string;
  /** The variable it came from, for messages ("PROD_DATABASE_URL"). */
  readonly variable: string;
}

export function productionTarget(loaded: LoadedConfig, env: NodeJS.ProcessEnv): ProductionTarget {
  const variable = loaded.config.production['url-env'];
  const url = env[variable];
  if (url === undefined || url.trim() === '') {
    throw new DriftGuardError('USAGE', `no production database: set ${variable} (the variable production.url-env names) to its postgres:// URL`);
  }
  assertConnectionUrl(url.trim(), variable);
  if (!/^postgres(ql)?:\/\//i.test(url.trim())) {
    throw new DriftGuardError('USAGE', `${variable} must be a postgres:// or postgresql:// URL`);
  }
  return { url: url.trim(), display: registerConnectionString(url.trim()), variable };
}

/** What every production operation works with: the project, production, and scratch servers. */
export interface ProductionRun {
  readonly loaded: LoadedConfig;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  /** Scratch servers for the schemas production is compared with. */
  readonly postgres: PostgresOptions;
  readonly production: ProductionTarget;
}
