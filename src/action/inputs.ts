// The Action's inputs as plain data, validated by small pure functions (unit-tested beside the
// Action's process test). Only src/action imports @actions/*; this file does not.

import { POSTGRES_PROVIDERS, type PostgresProviderSetting } from '../config/config-schema.js';
import { DriftGuardError } from '../errors.js';

export interface ActionInputs {
  readonly config: string | undefined;
  readonly workingDirectory: string;
  readonly postgresVersion: number | undefined;
  readonly postgresProvider: PostgresProviderSetting | undefined;
  readonly databaseUrl: string | undefined;
  readonly baseRef: string | undefined;
  readonly failOn: 'error' | 'warning' | 'never';
  readonly comment: boolean;
  readonly githubToken: string | undefined;
  readonly mode: 'check' | 'drift';
  /** mode: drift - the production database (else the variable production.url-env names). */
  readonly productionUrl: string | undefined;
  /** mode: drift - keep one open issue while drift exists, closed when it is gone. */
  readonly issue: boolean;
  readonly issueLabel: string;
}

export type InputReader = (name: string) => string;

export function readInputs(input: InputReader): ActionInputs {
  const optional = (name: string): string | undefined => {
    const value = input(name).trim();
    return value === '' ? undefined : value;
  };
  return {
    config: optional('config'),
    workingDirectory: optional('working-directory') ?? '.',
    postgresVersion: parseVersion(optional('postgres-version')),
    postgresProvider: optionalOneOf('postgres-provider', optional('postgres-provider'), POSTGRES_PROVIDERS),
    databaseUrl: parseDatabaseUrl(optional('database-url')),
    baseRef: optional('base-ref'),
    failOn: oneOf('fail-on', optional('fail-on') ?? 'error', ['error', 'warning', 'never'] as const),
    comment: parseBoolean('comment', optional('comment') ?? 'true'),
    githubToken: optional('github-token'),
    mode: oneOf('mode', optional('mode') ?? 'check', ['check', 'drift'] as const),
    productionUrl: parseDatabaseUrl(optional('production-url'), 'production-url'),
    issue: parseBoolean('issue', optional('issue') ?? 'true'),
    issueLabel: optional('issue-label') ?? 'schema-drift',
  };
}

export function parseVersion(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const major = Number(value);
  if (!Number.isInteger(major) || major < 14 || major > 18) throw new DriftGuardError('USAGE', `input postgres-version must be a major version from 14 to 18, got "${value}"`);
  return major;
}

export function parseDatabaseUrl(value: string | undefined, name = 'database-url'): string | undefined {
  if (value === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//i.test(value)) throw new DriftGuardError('USAGE', `input ${name} must be a postgres:// or postgresql:// URL`);
  return value;
}

export function parseBoolean(name: string, value: string): boolean {
  if (/^(true|yes|on|1)$/i.test(value)) return true;
  if (/^(false|no|off|0)$/i.test(value)) return false;
  throw new DriftGuardError('USAGE', `input ${name} must be true or false, got "${value}"`);
}

function optionalOneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  return value === undefined ? undefined : oneOf(name, value, allowed);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new DriftGuardError('USAGE', `input ${name} must be one of ${allowed.join(', ')}, got "${value}"`);
}

/** Whether the findings fail the job under fail-on. */
export function shouldFail(failOn: ActionInputs['failOn'], counts: { errors: number; warnings: number }): boolean {
  if (failOn === 'never') return false;
  return counts.errors > 0 || (failOn === 'warning' && counts.warnings > 0);
}
