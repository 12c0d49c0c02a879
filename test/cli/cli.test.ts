import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeDir, repoRoot, runCli, startCli } from '../helpers.js';

const dir = makeTempDir();
afterAll(() => removeDir(dir));
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

function project(name: string, config: string): string {
  const projectDir = path.join(dir, name);
  writeFileSync(path.join(makeProject(projectDir), '.drift-guard.yml'), config);
  return projectDir;
}
function makeProject(projectDir: string): string {
  mkdirSync(projectDir, { recursive: true });
  return projectDir;
}

describe('cli basics', () => {
  // Two dozen CLI starts in a row: minutes when two cores are shared with other work.
  it('prints help for the program and for every command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Usage: drift-guard [options] [command]');
    expect(top.stdout).toContain('Exit codes: 0 ok, 1 a check failed');
    const commands = [...top.stdout.matchAll(/^  (\w[\w-]*) /gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['config', 'doctor', 'scratch']));
    for (const command of commands) {
      const result = await runCli([command, '--help']);
      expect(result.code, command).toBe(0);
      expect(result.stdout).toContain(`Usage: drift-guard ${command}`);
    }
  }, 300_000);

  it('prints the package version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it('stops quietly with exit 0 when the reader closes the pipe early (drift-guard ... | head)', async () => {
    const child = startCli(['--help']);
    child.stdout!.destroy(); // the reader is gone before anything is written
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('exits 2 with one line for an unknown command or option', async () => {
    const command = await runCli(['frobnicate']);
    expect(command.code).toBe(2);
    expect(command.stderr.trim()).toBe("drift-guard: unknown command 'frobnicate'; see drift-guard --help");
    const option = await runCli(['doctor', '--formt', 'json']);
    expect(option.code).toBe(2);
    expect(option.stderr.trim().split('\n')).toHaveLength(1);
    expect(option.stderr).toContain('(Did you mean --format?)');
    const choice = await runCli(['doctor', '--format', 'xml']);
    expect(choice.code).toBe(2);
    expect(choice.stderr).toMatch(/argument 'xml' is invalid\. Allowed choices are text, json/);
  });
});

describe('cli config errors', () => {
  it('exits 2 with every located error and no stack trace', async () => {
    const cwd = project('bad', 'postgres:\n  provder: docker\n  version: seventeen\n');
    const result = await runCli(['config'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      [
        'drift-guard: .drift-guard.yml has 2 errors:',
        '  .drift-guard.yml:2:3: unknown key "provder" in postgres; did you mean "provider"?',
        '  .drift-guard.yml:3:12: postgres.version must be a whole number, got "seventeen"',
        '',
      ].join('\n'),
    );
    expect(result.stdout).toBe('');
  });

  it('exits 2 on a YAML syntax error', async () => {
    const cwd = project('syntax', 'postgres:\n\tversion: 16\n');
    const result = await runCli(['doctor'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^drift-guard: \.drift-guard\.yml:2:1: /);
    expect(result.stderr).not.toMatch(STACK_LINE);
  });

  it('exits 2 when --config names a missing file', async () => {
    const result = await runCli(['--config', 'missing.yml', 'config'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^drift-guard: config file missing\.yml does not exist; pass an existing file to --config/);
  });

  it('exits 2 pointing at url-env when provider url has no URL in the environment', async () => {
    const cwd = project('nourl', 'postgres:\n  provider: url\n  url-env: CI_DATABASE_URL\n');
    const result = await runCli(['scratch', '--', 'true'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^drift-guard: \.drift-guard\.yml:3:12: postgres\.url-env names CI_DATABASE_URL, which is not set; export CI_DATABASE_URL/);
  });

  it('shows the stack of an expected error only with DRIFT_GUARD_DEBUG=1', async () => {
    const cwd = project('debug', 'postgres:\n  version: 3\n');
    const quiet = await runCli(['config'], { cwd });
    expect(quiet.stderr).not.toMatch(STACK_LINE);
    const debug = await runCli(['config'], { cwd, env: cleanEnv({ DRIFT_GUARD_DEBUG: '1' }) });
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(STACK_LINE);
  });
});

describe('cli config command', () => {
  const secretUrl = 'postgresql://deploy:Sup3r-S3cret!@db.internal:5432/app';
  const env = cleanEnv({ CI_DATABASE_URL: secretUrl });

  it('prints the resolved config with the secret masked', async () => {
    const cwd = project('secret', 'postgres:\n  url-env: CI_DATABASE_URL\n  version: 15\n');
    const result = await runCli(['config'], { cwd, env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('# drift-guard configuration: .drift-guard.yml');
    expect(result.stdout).toContain('url-env: CI_DATABASE_URL # set: postgresql://deploy:***@db.internal:5432/app');
    expect(result.stdout).toContain('version: 15');
    expect(result.stdout + result.stderr).not.toContain('Sup3r-S3cret');
  });

  it('never prints the secret in JSON either', async () => {
    const cwd = project('secret-json', 'postgres:\n  url-env: CI_DATABASE_URL\n');
    const result = await runCli(['config', '--json'], { cwd, env });
    const parsed = JSON.parse(result.stdout) as { environment: Record<string, { variable: string; set: boolean; value: string }> };
    expect(parsed.environment['postgres.url-env']).toEqual({ variable: 'CI_DATABASE_URL', set: true, value: 'postgresql://deploy:***@db.internal:5432/app' });
    expect(result.stdout + result.stderr).not.toContain('Sup3r-S3cret');
  });

  it('says when the referenced variable is not set', async () => {
    const result = await runCli(['config'], { cwd: project('unset', 'postgres:\n  url-env: CI_DATABASE_URL\n') });
    expect(result.stdout).toContain('url-env: CI_DATABASE_URL # not set');
  });

  it('prints the JSON Schema that is committed in schema/', async () => {
    const result = await runCli(['config', '--schema']);
    expect(JSON.parse(result.stdout)).toEqual(JSON.parse(readFileSync(path.join(repoRoot, 'schema', 'drift-guard.schema.json'), 'utf8')));
  });
});

describe('cli doctor', () => {
  it('reports the embedded binaries and the provider auto picks, as JSON', async () => {
    const result = await runCli(['doctor', '--format', 'json'], { cwd: dir });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      node: { supported: boolean };
      postgres: { installations: { source: string; version: string }[] };
      provider: { setting: string; chosen: string; skipped: { provider: string; reason: string }[] };
    };
    expect(report.node.supported).toBe(true);
    expect(report.postgres.installations).toContainEqual(expect.objectContaining({ source: 'npm', version: expect.stringMatching(/^16\./) }));
    expect(report.provider.setting).toBe('auto');
    // No URL in the environment; Docker only where an engine answers.
    expect(report.provider.skipped[0]).toEqual({ provider: 'url', reason: 'DRIFT_GUARD_DATABASE_URL is not set' });
    expect(['docker', 'embedded']).toContain(report.provider.chosen);
  });

  it('masks a URL it is given and still picks url under auto', async () => {
    const env = cleanEnv({ DRIFT_GUARD_DATABASE_URL: 'postgresql://ci:doctor-pw@127.0.0.1:1/postgres' });
    const result = await runCli(['doctor'], { cwd: dir, env });
    expect(result.stdout).toMatch(/provider\s+auto \(version 16\) -> url/);
    expect(result.stdout + result.stderr).not.toContain('doctor-pw');
  });

  it('colours only when asked, and never with NO_COLOR or --no-color', async () => {
    const colored = await runCli(['doctor'], { cwd: dir, env: cleanEnv({ FORCE_COLOR: '1' }) });
    expect(colored.stdout).toContain('\u001b[');
    const noColorEnv = await runCli(['doctor'], { cwd: dir, env: cleanEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }) });
    expect(noColorEnv.stdout).not.toContain('\u001b[');
    const noColorFlag = await runCli(['--no-color', 'doctor'], { cwd: dir, env: cleanEnv({ FORCE_COLOR: '1' }) });
    expect(noColorFlag.stdout).not.toContain('\u001b[');
    const piped = await runCli(['doctor'], { cwd: dir });
    expect(piped.stdout).not.toContain('\u001b[');
  });
});
