import { cpSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeDir, repoRoot, runCli, writeTree } from '../helpers.js';

// init on real project shapes: what it detects, what it writes, that the config it writes is
// valid, and that it never overwrites a file.

const tmp = makeTempDir('dg-init-');
afterAll(() => removeDir(tmp));

const init = (dir: string, args: string[] = []) => runCli(['init', '--json', ...args], { cwd: dir, env: cleanEnv() });
const parse = (stdout: string) => JSON.parse(stdout) as { engine: string; detected: string; created: string[]; kept: string[]; nextSteps: string[] };

describe('drift-guard init', () => {
  it('sets up an EF Core project: engine efcore, the EF workflow, a Makefile; the config validates', async () => {
    const dir = path.join(tmp, 'shop');
    cpSync(path.join(repoRoot, 'examples', 'efcore'), dir, { recursive: true, filter: (src) => !/[/\\](bin|obj|\.drift-guard\.yml)$/.test(src) });
    const result = await init(dir, ['--postgres-version', '17']);
    expect(result.code, result.stderr).toBe(0);
    const report = parse(result.stdout);
    expect(report).toMatchObject({ engine: 'efcore', detected: 'EF Core project Shop.csproj with migrations', created: ['.drift-guard.yml', '.github/workflows/drift-guard.yml', 'Makefile'], kept: [] });
    expect(readFileSync(path.join(dir, '.drift-guard.yml'), 'utf8')).toMatch(/^engine: efcore$/m);
    const workflow = readFileSync(path.join(dir, '.github/workflows/drift-guard.yml'), 'utf8');
    expect(workflow).toBe(readFileSync(path.join(repoRoot, 'examples/workflows/efcore-gate.yml'), 'utf8').replace('postgres:16', 'postgres:17'));
    expect(readFileSync(path.join(dir, 'Makefile'), 'utf8')).toContain('include node_modules/drift-guard/drift-guard.mk');
    const config = await runCli(['config', '--format', 'json'], { cwd: dir, env: cleanEnv() });
    expect(config.code, config.stderr).toBe(0);
    expect(JSON.parse(config.stdout)).toMatchObject({ config: { engine: 'efcore', postgres: { version: 17 } } });
  });

  it('recognises the SQL tool of an existing migrations folder', async () => {
    const dir = path.join(tmp, 'go');
    writeTree(dir, { 'db/migrations/000001_users.up.sql': 'CREATE TABLE users (id int);\n', 'db/migrations/000001_users.down.sql': 'DROP TABLE users;\n' });
    const report = parse((await init(dir)).stdout);
    expect(report).toMatchObject({ engine: 'sql', detected: 'golang-migrate migrations in db/migrations' });
    expect(readFileSync(path.join(dir, '.drift-guard.yml'), 'utf8')).toContain('sql:\n  dir: db/migrations\n  layout: golang-migrate\n');
    expect(readFileSync(path.join(dir, '.github/workflows/drift-guard.yml'), 'utf8')).toBe(readFileSync(path.join(repoRoot, 'examples/workflows/sql-gate.yml'), 'utf8'));
    const status = await runCli(['config'], { cwd: dir, env: cleanEnv() });
    expect(status.code, status.stderr).toBe(0);
  });

  it('never overwrites: a second run keeps everything, and an existing Makefile gets advice instead', async () => {
    const dir = path.join(tmp, 'mine');
    writeTree(dir, { Makefile: 'all:\n\techo mine\n' });
    const first = parse((await init(dir)).stdout);
    expect(first.detected).toMatch(/^no migrations yet/);
    expect(first.created).toEqual(['.drift-guard.yml', '.github/workflows/drift-guard.yml']);
    expect(first.kept).toEqual(['Makefile']);
    expect(first.nextSteps[0]).toBe('add "include node_modules/drift-guard/drift-guard.mk" to Makefile');
    const before = readFileSync(path.join(dir, '.drift-guard.yml'), 'utf8');
    writeTree(dir, { '.drift-guard.yml': `${before}# my edit\n` });
    const second = parse((await init(dir)).stdout);
    expect(second.created).toEqual([]);
    expect(second.kept).toEqual(['.drift-guard.yml', '.github/workflows/drift-guard.yml', 'Makefile']);
    expect(readFileSync(path.join(dir, '.drift-guard.yml'), 'utf8')).toBe(`${before}# my edit\n`);
    expect(readFileSync(path.join(dir, 'Makefile'), 'utf8')).toBe('all:\n\techo mine\n');
  });
});

describe('drift-guard init: finding the migrations', () => {
  const goose = (n: number) => `-- +goose Up\nCREATE TABLE t${n} (id int);\n-- +goose Down\nDROP TABLE t${n};\n`;

  it('finds a goose folder anywhere in the repository, skipping dependencies and build output', async () => {
    const dir = path.join(tmp, 'goose-app');
    writeTree(dir, {
      'go.mod': 'module example.com/app\n',
      'assets/migrations/postgres/00001_users.sql': goose(1),
      'assets/migrations/postgres/00002_orders.sql': goose(2),
      'node_modules/some-lib/migrations/000001_x.up.sql': 'CREATE TABLE x (id int);\n',
      'vendor/github.com/lib/db/migrations/00001_a.sql': goose(3),
      'build/migrations/00001_a.sql': goose(4),
      '.git/migrations/00001_a.sql': goose(5),
      'docs/notes.sql': 'SELECT 1;\n',
    });
    const result = await init(dir);
    expect(result.code, result.stderr).toBe(0);
    expect(parse(result.stdout).detected).toBe('goose migrations in assets/migrations/postgres');
    expect(readFileSync(path.join(dir, '.drift-guard.yml'), 'utf8')).toContain('sql:\n  dir: assets/migrations/postgres\n  layout: goose\n');
    const status = await runCli(['script'], { cwd: dir, env: cleanEnv() });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('2 migration(s) from assets/migrations/postgres (goose)');
  }, 180_000);

  it('finds Flyway under src/main/resources, not its copy in target/', async () => {
    const dir = path.join(tmp, 'java-app');
    writeTree(dir, {
      'src/main/resources/db/migration/V1__init.sql': 'CREATE TABLE a (id int);\n',
      'target/classes/db/migration/V1__init.sql': 'CREATE TABLE a (id int);\n',
    });
    expect(parse((await init(dir)).stdout).detected).toBe('flyway migrations in src/main/resources/db/migration');
  });

  it('refuses to guess between several folders: exit 2, both named, --migrations-dir suggested, nothing written', async () => {
    const dir = path.join(tmp, 'two');
    writeTree(dir, {
      'db/migrations/000001_users.up.sql': 'CREATE TABLE users (id int);\n',
      'db/migrations/000001_users.down.sql': 'DROP TABLE users;\n',
      'services/billing/migrations/00001_invoices.sql': goose(1),
    });
    const result = await init(dir);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('migrations in 2 folders; say which one drift-guard works on with --migrations-dir DIR');
    expect(result.stderr).toContain('db/migrations (golang-migrate)');
    expect(result.stderr).toContain('services/billing/migrations (goose)');
    expect(existsSync(path.join(dir, '.drift-guard.yml'))).toBe(false);

    const chosen = await init(dir, ['--migrations-dir', 'services/billing/migrations']);
    expect(chosen.code, chosen.stderr).toBe(0);
    expect(parse(chosen.stdout).detected).toBe('goose migrations in services/billing/migrations');
    expect(readFileSync(path.join(dir, '.drift-guard.yml'), 'utf8')).toContain('sql:\n  dir: services/billing/migrations\n  layout: goose\n');
  }, 180_000);

  it('--migrations-dir names a folder that does not exist yet: drift-guard\'s own layout there', async () => {
    const dir = path.join(tmp, 'fresh');
    writeTree(dir, { 'README.md': 'new\n' });
    const result = await init(dir, ['--migrations-dir', 'database/migrations']);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(path.join(dir, '.drift-guard.yml'), 'utf8')).toContain('sql:\n  dir: database/migrations\n  layout: plain\n');
    const outside = await init(dir, ['--migrations-dir', '../elsewhere']);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain('is not inside the project folder');
  }, 180_000);

  it('--project-dir sets up another folder; --dir is refused with the rename, nothing written', async () => {
    const dir = path.join(tmp, 'elsewhere-app');
    writeTree(dir, { 'migrations/20260101000000_a.sql': '-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n' });
    const refused = await runCli(['init', '--dir', dir], { cwd: tmp, env: cleanEnv() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`init has no --dir: use --project-dir ${dir}`);
    expect(refused.stderr).toContain('--migrations-dir');
    expect(existsSync(path.join(dir, '.drift-guard.yml'))).toBe(false);
    expect(existsSync(path.join(dir, 'migrations', '.drift-guard.yml'))).toBe(false);

    const result = await runCli(['init', '--json', '--project-dir', dir], { cwd: tmp, env: cleanEnv() });
    expect(result.code, result.stderr).toBe(0);
    expect(parse(result.stdout)).toMatchObject({ detected: 'dbmate migrations in migrations', created: ['.drift-guard.yml', '.github/workflows/drift-guard.yml', 'Makefile'] });
    expect(existsSync(path.join(dir, '.drift-guard.yml'))).toBe(true);
  }, 180_000);
});
