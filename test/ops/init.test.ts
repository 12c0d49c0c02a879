import { cpSync, readFileSync } from 'node:fs';
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
