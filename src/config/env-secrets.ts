// Secrets named by `*-env` keys are read from the environment here, registered for masking the
// moment they are read, and reported as missing with the location of the key that names them.

import { DriftGuardError } from '../errors.js';
import { registerConnectionString } from '../util/secrets.js';
import { valueAt, type ConfigPath, type LoadedConfig } from './load-config.js';
import { assertConnectionUrl } from '../postgres/connection-url.js';

export interface EnvSecret {
  /** The environment variable's name, as configured. */
  readonly name: string;
  /** The value, or undefined when the variable is unset or empty. */
  readonly value: string | undefined;
  /** The value with any password masked, safe to print. */
  readonly display: string | undefined;
}

export function readEnvSecret(loaded: LoadedConfig, keyPath: ConfigPath, env: NodeJS.ProcessEnv): EnvSecret {
  const name = String(valueAt(loaded.config, keyPath));
  const raw = env[name];
  const value = raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  if (value !== undefined) assertConnectionUrl(value, name);
  return { name, value, display: value === undefined ? undefined : registerConnectionString(value) };
}

export function requireEnvSecret(
  loaded: LoadedConfig,
  keyPath: ConfigPath,
  env: NodeJS.ProcessEnv,
  purpose: string,
): string {
  const secret = readEnvSecret(loaded, keyPath, env);
  if (secret.value !== undefined) return secret.value;
  throw new DriftGuardError(
    'ENV_VAR_MISSING',
    `${loaded.locate(keyPath)}: ${keyPath.join('.')} names ${secret.name}, which is not set; export ${secret.name} with ${purpose}, or change ${keyPath.join('.')}`,
  );
}
