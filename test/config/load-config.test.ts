import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../src/config/config-schema.js';
import { readEnvSecret, requireEnvSecret } from '../../src/config/env-secrets.js';
import { findConfigFile, loadConfig, parseConfigText } from '../../src/config/load-config.js';
import { DriftGuardError } from '../../src/errors.js';
import { makeTempDir, removeDir, repoRoot } from '../helpers.js';
import { readFileSync } from 'node:fs';

const dir = makeTempDir();
afterAll(() => removeDir(dir));

function parse(text: string) {
  return parseConfigText(text, path.join(dir, '.drift-guard.yml'), dir);
}

function errorOf(text: string): DriftGuardError {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof DriftGuardError) return error;
    throw error;
  }
  throw new Error('expected a config error');
}

/** All error lines: the message alone when there is one, else the details. */
function lines(error: DriftGuardError): string[] {
  return error.details.length > 0 ? [...error.details] : [error.message];
}

describe('config parsing', () => {
  it('fills defaults for an empty file', () => {
    const { config } = parse('');
    expect(config.postgres).toEqual({ provider: 'auto', version: 16, 'url-env': 'DRIFT_GUARD_DATABASE_URL', storage: 'auto', 'startup-timeout': 60, setup: [] });
  });

  it('keeps given values and defaults the rest', () => {
    const { config } = parse('postgres:\n  provider: embedded\n  version: 15\n  image: postgis/postgis:15-3.4\n');
    expect(config.postgres).toMatchObject({ provider: 'embedded', version: 15, image: 'postgis/postgis:15-3.4', 'startup-timeout': 60 });
  });

  it('reports YAML syntax errors with file:line:column', () => {
    const error = errorOf('postgres:\n  provider: [auto\n');
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.exitCode).toBe(2);
    expect(lines(error)[0]).toMatch(/^\.drift-guard\.yml:\d+:\d+: /);
  });

  it('rejects duplicate keys', () => {
    const error = errorOf('postgres:\n  version: 15\n  version: 16\n');
    expect(lines(error).join('\n')).toMatch(/\.drift-guard\.yml:3:3: .*[Mm]ap keys must be unique/);
  });

  it('reports a wrong type at the value, naming the key and what was given', () => {
    const error = errorOf('postgres:\n  version: sixteen\n');
    expect(error.message).toBe('.drift-guard.yml:2:12: postgres.version must be a whole number, got "sixteen"');
  });

  it('reports out-of-range numbers', () => {
    expect(errorOf('postgres:\n  version: 9\n').message).toBe('.drift-guard.yml:2:12: postgres.version must be at least 14, got 9');
    expect(errorOf('postgres:\n  version: 16.5\n').message).toMatch(/postgres\.version must be a whole number, got 16\.5/);
  });

  it('suggests the closest enum value', () => {
    expect(errorOf('postgres:\n  provider: embeded\n').message).toBe(
      '.drift-guard.yml:2:13: postgres.provider must be one of auto, url, docker, embedded, got "embeded"; did you mean "embedded"?',
    );
  });

  it('rejects unknown keys with a did-you-mean suggestion at the key', () => {
    expect(errorOf('postgres:\n  provder: docker\n').message).toBe(
      '.drift-guard.yml:2:3: unknown key "provder" in postgres; did you mean "provider"?',
    );
    expect(errorOf('postgress:\n  version: 16\n').message).toBe('.drift-guard.yml:1:1: unknown key "postgress"; did you mean "postgres"?');
  });

  it('lists valid keys when nothing is close', () => {
    expect(errorOf('postgres:\n  flavour: x\n').message).toMatch(/unknown key "flavour" in postgres; valid keys: provider, version, url-env, image, storage, startup-timeout/);
  });

  it('reports every error at once, in file order', () => {
    const error = errorOf('postgres:\n  provder: docker\n  version: "x"\n  startup-timeout: 0\nextra: 1\n');
    expect(error.message).toBe('.drift-guard.yml has 4 errors:');
    expect(error.details).toEqual([
      '.drift-guard.yml:2:3: unknown key "provder" in postgres; did you mean "provider"?',
      '.drift-guard.yml:3:12: postgres.version must be a whole number, got "x"',
      '.drift-guard.yml:4:20: postgres.startup-timeout must be at least 1, got 0',
      '.drift-guard.yml:5:1: unknown key "extra"; valid keys: engine, efcore, command, postgres, database, production, sql, schema, check',
    ]);
  });

  it('refuses a literal connection string and points to -env keys', () => {
    const error = errorOf('postgres:\n  url: postgres://app:s3cret@db:5432/app\n');
    const text = lines(error).join('\n');
    expect(text).toContain('.drift-guard.yml:2:3: unknown key "url" in postgres; secrets are never written in the file');
    expect(text).toContain('url-env');
    expect(text).toContain('.drift-guard.yml:2:8: a connection string with a password is written in the file');
    expect(text).not.toContain('s3cret');
  });

  it('refuses an environment variable value where its name belongs', () => {
    expect(errorOf('postgres:\n  url-env: postgres://localhost/x\n').message).toMatch(
      /^\.drift-guard\.yml:2:12: postgres\.url-env must be the name of an environment variable/,
    );
  });

  it('rejects a file that is not a mapping', () => {
    expect(errorOf('- a\n- b\n').message).toBe('.drift-guard.yml:1:1: the file must be a mapping of keys (e.g. "postgres:"), not a list');
  });
});

describe('config discovery', () => {
  it('walks up from the working directory', () => {
    const project = path.join(dir, 'walk');
    const nested = path.join(project, 'src', 'deep');
    mkdirSync(nested, { recursive: true });
    writeFileSync(path.join(project, '.drift-guard.yml'), 'postgres:\n  version: 17\n');
    expect(findConfigFile(nested)).toBe(path.join(project, '.drift-guard.yml'));
    expect(loadConfig({ cwd: nested }).config.postgres.version).toBe(17);
  });

  it('uses defaults when no file exists', () => {
    const loaded = loadConfig({ cwd: '/' });
    expect(loaded.file).toBeUndefined();
    expect(loaded.config.postgres.provider).toBe('auto');
  });

  it('fails with exit code 2 when --config names a missing file', () => {
    try {
      loadConfig({ cwd: dir, configPath: 'nope.yml' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DriftGuardError);
      expect((error as DriftGuardError).code).toBe('CONFIG_NOT_FOUND');
      expect((error as DriftGuardError).exitCode).toBe(2);
      expect((error as DriftGuardError).message).toContain('nope.yml does not exist');
    }
  });
});

describe('secrets from the environment', () => {
  it('reads and masks the value', () => {
    const loaded = parse('postgres:\n  url-env: MY_DB\n');
    const secret = readEnvSecret(loaded, ['postgres', 'url-env'], { MY_DB: 'postgresql://app:hunter22@db:5432/app' });
    expect(secret.value).toBe('postgresql://app:hunter22@db:5432/app');
    expect(secret.display).toBe('postgresql://app:***@db:5432/app');
  });

  it('reports a missing variable at the key that names it', () => {
    const loaded = parse('postgres:\n  provider: url\n  url-env: MY_DB\n');
    expect(() => requireEnvSecret(loaded, ['postgres', 'url-env'], {}, 'a URL')).toThrowError(
      /^\.drift-guard\.yml:3:12: postgres\.url-env names MY_DB, which is not set; export MY_DB with a URL/,
    );
  });
});

describe('JSON Schema', () => {
  it('is committed and up to date (npm run build regenerates it)', () => {
    const committed = JSON.parse(readFileSync(path.join(repoRoot, 'schema', 'drift-guard.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(configJsonSchema());
  });

  it('describes defaults and rejects unknown keys', () => {
    const schema = configJsonSchema() as { additionalProperties: boolean; properties: { postgres: { properties: Record<string, { default?: unknown }> } } };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.postgres.properties.version?.default).toBe(16);
  });
});
