// The README's install, as a new user follows it: `npm pack` drift-guard, install the tarball into
// an empty project, run the command. A file the package needs but package.json "files" leaves out
// (the bundle, the workflows init copies, drift-guard.mk, the JSON Schema) fails here.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeDir, repoRoot, writeTree } from '../helpers.js';

const run = promisify(execFile);
const tmp = makeTempDir('dg-pack-');
afterAll(() => removeDir(tmp));

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

describe('the packed tarball', () => {
  it('installs into an empty project, where npx drift-guard --version and init work', async () => {
    // The suite runs after `npm run build`; the tarball takes dist/ as it is.
    expect(existsSync(path.join(repoRoot, 'dist', 'cli.js')), 'dist/cli.js is missing: run npm run build first').toBe(true);
    const env = cleanEnv({ npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });
    await run(npm, ['pack', '--silent', '--pack-destination', tmp], { cwd: repoRoot, env });
    const tarball = readdirSync(tmp).find((entry) => entry.endsWith('.tgz'));
    expect(tarball).toBeDefined();

    const app = path.join(tmp, 'app');
    writeTree(app, {
      'package.json': '{ "name": "app", "version": "1.0.0", "private": true }\n',
      'db/migrations/000001_users.up.sql': 'CREATE TABLE users (id int);\n',
      'db/migrations/000001_users.down.sql': 'DROP TABLE users;\n',
    });
    // Dependencies come from the registry (or npm's cache); the optional ones (PostgreSQL binaries,
    // squawk) are not needed for --version and init.
    await run(npm, ['install', '--no-audit', '--no-fund', '--omit=optional', '--prefer-offline', '--save-dev', path.join(tmp, tarball!)], { cwd: app, env });

    const version = await run(npx, ['--no-install', 'drift-guard', '--version'], { cwd: app, env });
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout.trim()).toBe(manifest.version);

    const init = await run(npx, ['--no-install', 'drift-guard', 'init', '--json'], { cwd: app, env });
    expect(JSON.parse(init.stdout)).toMatchObject({
      engine: 'sql',
      detected: 'golang-migrate migrations in db/migrations',
      created: ['.drift-guard.yml', '.github/workflows/drift-guard.yml', 'Makefile'],
    });
    expect(readFileSync(path.join(app, '.github/workflows/drift-guard.yml'), 'utf8')).toBe(readFileSync(path.join(repoRoot, 'examples/workflows/sql-gate.yml'), 'utf8'));

    // What the written files point at is in the package: the schema line, the Makefile's include.
    expect(readFileSync(path.join(app, '.drift-guard.yml'), 'utf8')).toContain('$schema=./node_modules/drift-guard/schema/drift-guard.schema.json');
    expect(existsSync(path.join(app, 'node_modules/drift-guard/schema/drift-guard.schema.json'))).toBe(true);
    const make = await run('make', ['--no-print-directory'], { cwd: app, env });
    expect(make.stdout).toMatch(/^ {2}make migrate-status /m);

    const config = await run(npx, ['--no-install', 'drift-guard', 'config', '--json'], { cwd: app, env });
    expect(JSON.parse(config.stdout)).toMatchObject({ config: { sql: { dir: 'db/migrations', layout: 'golang-migrate' } } });
  }, 600_000); // npm install from the registry (or its cache): minutes on a loaded machine
});
