import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from './fake-github.js';
import { withClient } from '../../src/postgres/client.js';
import { cleanEnv, runCli, makeTempDir, removeDir, repoRoot, startSharedServer, writeTree, type PostgresServerHandle, gitIn } from '../helpers.js';

// The Action as GitHub runs it: `node dist/index.js` with INPUT_* variables, a pull_request event
// file, GITHUB_STEP_SUMMARY/GITHUB_OUTPUT files, and a local HTTP server playing GitHub's REST API.

const tmp = makeTempDir('dg-action-');
let server: PostgresServerHandle;
let stop: () => Promise<void>;
const github = new FakeGitHub();
let project: string;
let baseSha: string;

beforeAll(async () => {
  ({ server, stop } = await startSharedServer());
  await github.start();
  project = path.join(tmp, 'shop');
  writeTree(project, {
    '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\n',
    'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text);\n',
  });
  const git = gitIn(project);
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'base');
  baseSha = git('rev-parse', 'HEAD').trim();
  git('checkout', '-q', '-b', 'pr');
  writeTree(project, { 'db/migrations/20240102000001_drop_legacy.sql': 'ALTER TABLE users DROP COLUMN legacy;\n' });
  git('add', '.');
  git('commit', '-qm', 'pr');
}, 180_000);
afterAll(async () => {
  await github.stop();
  await stop();
  removeDir(tmp);
});

async function runAction(inputs: Record<string, string>, run: number, event: 'pull_request' | 'schedule' = 'pull_request'): Promise<{ code: number | null; stdout: string; summary: string; outputs: string; report: string | undefined }> {
  const dir = path.join(tmp, `run${run}`);
  const payload = event === 'pull_request' ? { pull_request: { number: 7, base: { sha: baseSha }, labels: [] }, repository: { name: 'shop', owner: { login: 'acme' } } } : { schedule: '0 6 * * *', repository: { name: 'shop', owner: { login: 'acme' } } };
  writeTree(dir, { 'summary.md': '', 'outputs.txt': '', 'event.json': JSON.stringify(payload) });
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: event,
    GITHUB_RUN_ID: '4242',
    GITHUB_SERVER_URL: 'https://github.example',
    GITHUB_EVENT_PATH: path.join(dir, 'event.json'),
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_API_URL: `http://127.0.0.1:${github.port}`,
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md'),
    GITHUB_OUTPUT: path.join(dir, 'outputs.txt'),
    GITHUB_WORKSPACE: project,
    RUNNER_TEMP: dir,
    'INPUT_GITHUB-TOKEN': 'ghs_fake_token',
    'INPUT_FAIL-ON': 'error',
    INPUT_COMMENT: 'true',
    INPUT_MODE: 'check',
    'INPUT_WORKING-DIRECTORY': '.',
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'index.js')], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const reportFile = path.join(dir, 'drift-guard-report.json');
  return {
    code,
    stdout,
    summary: readFileSync(path.join(dir, 'summary.md'), 'utf8'),
    outputs: readFileSync(path.join(dir, 'outputs.txt'), 'utf8'),
    report: existsSync(reportFile) ? readFileSync(reportFile, 'utf8') : undefined,
  };
}

describe('the GitHub Action (dist/index.js)', () => {
  it('writes the summary, one comment it then updates in place, annotations and outputs; masks the password', async () => {
    await server.withDatabase(async (db) => {
      const password = decodeURIComponent(new URL(db.adminUrl).password);
      const first = await runAction({ 'database-url': db.adminUrl }, 1);
      expect(first.code, first.stdout).toBe(0);
      expect(first.summary).toContain('drift-guard: migrations apply, with warnings');
      expect(first.summary).toContain('DESTRUCTIVE_CHANGE');
      expect(first.stdout).toMatch(/::warning title=drift-guard DESTRUCTIVE_CHANGE,file=db\/migrations\/20240102000001_drop_legacy\.sql,line=1,col=1::/);
      expect(first.outputs).toMatch(/result<<.*\nwarn\n/);
      expect(first.outputs).toMatch(/schema-changes<<.*\n1\n/);
      expect(github.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
      expect(github.comments).toHaveLength(1);
      expect(github.comments[0]!.body).toContain('<!-- drift-guard:check -->');

      writeFileSync(path.join(project, 'db/migrations/20240102000001_drop_legacy.sql'), '-- drift-guard: allow DELETES_DATA unused since 2023\nALTER TABLE users DROP COLUMN legacy;\n');
      const second = await runAction({ 'database-url': db.adminUrl }, 2);
      expect(second.code, second.stdout).toBe(0);
      expect(github.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
      expect(github.calls.filter((c) => c.method === 'PATCH')).toHaveLength(1);
      expect(github.comments).toHaveLength(1);
      expect(github.comments[0]!.body).toContain('unused since 2023');

      // ::add-mask:: lines are the masking commands themselves: the runner consumes them and masks the value everywhere.
      const visible = (stdout: string): string => stdout.split('\n').filter((line) => !line.startsWith('::add-mask::')).join('\n');
      expect(first.stdout).toContain('::add-mask::');
      for (const text of [visible(first.stdout), first.summary, first.report ?? '', visible(second.stdout), ...github.comments.map((c) => c.body)]) expect(text).not.toContain(password);
      expect(JSON.parse(first.report!)).toMatchObject({ version: 1, verdict: 'warn' });
    });
  });

  it('skips the comment with a notice when the token cannot write, and still succeeds', async () => {
    await server.withDatabase(async (db) => {
      github.comments = [];
      github.forbidCreate = true;
      try {
        const result = await runAction({ 'database-url': db.adminUrl }, 3);
        expect(result.code, result.stdout).toBe(0);
        expect(result.stdout).toContain("::notice::the token cannot write PR comments (HTTP 403; a fork's PR gets a read-only token)");
        expect(github.comments).toEqual([]);
      } finally {
        github.forbidCreate = false;
      }
    });
  });

  it('fails the job once, with the verdict, on an error finding (and on bad input)', async () => {
    await server.withDatabase(async (db) => {
      writeFileSync(path.join(project, 'db/migrations/20240101000001_users.sql'), 'CREATE TABLE users (id bigint PRIMARY KEY);\n');
      try {
        const result = await runAction({ 'database-url': db.adminUrl, comment: 'false' }, 4);
        expect(result.code).toBe(1);
        expect(result.stdout.match(/^::error::/gm)).toHaveLength(1);
        expect(result.stdout).toMatch(/::error::drift-guard: this PR's migrations need attention/);
        expect(result.stdout).toMatch(/::error title=drift-guard MIGRATION_MODIFIED,file=db\/migrations\/20240101000001_users\.sql,line=1::/);
      } finally {
        execFileSync('git', ['checkout', '--', 'db/migrations/20240101000001_users.sql'], { cwd: project });
      }
      const bad = await runAction({ 'fail-on': 'sometimes' }, 5);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('::error::input fail-on must be one of error, warning, never, got "sometimes"');
      const provider = await runAction({ 'postgres-provider': 'podman' }, 6);
      expect(provider.code).toBe(1);
      expect(provider.stdout).toContain('::error::input postgres-provider must be one of auto, url, docker, embedded, got "podman"');
    });
  });

  it('mode: drift opens one labelled issue while production drifts, updates it, and closes it when the drift is gone', async () => {
    await server.withDatabase(async (production) => {
      const password = decodeURIComponent(new URL(production.url).password);
      const migrated = await runCli(['migrate', '--database-url', production.url], { cwd: project, env: cleanEnv() });
      expect(migrated.code, migrated.stderr).toBe(0);
      await withClient(production.url, (client) => client.query('ALTER TABLE users ADD COLUMN nickname text'));
      github.issues = [];
      const drift = { mode: 'drift', 'production-url': production.url, comment: 'false' };

      const first = await runAction(drift, 10, 'schedule');
      expect(first.code, first.stdout).toBe(1);
      expect(first.stdout.match(/^::error::/gm)).toHaveLength(1);
      expect(first.stdout).toMatch(/::error title=drift-guard PRODUCTION_DRIFT::production has column public\.users\.nickname text/);
      expect(first.summary).toContain('has drifted (1 error, 1 schema difference)');
      expect(first.outputs).toMatch(/result<<.*\ndrift\n/);
      expect(github.issues).toHaveLength(1);
      expect(github.issues[0]).toMatchObject({ title: 'Production schema drift', state: 'open', labels: [{ name: 'schema-drift' }] });
      expect(github.issues[0]!.body).toContain('<!-- drift-guard:drift -->');

      await withClient(production.url, (client) => client.query('ALTER TABLE users ADD COLUMN second text'));
      const second = await runAction(drift, 11, 'schedule');
      expect(second.code).toBe(1);
      expect(github.issues).toHaveLength(1);
      expect(github.issues[0]!.body).toContain('has drifted (2 errors, 2 schema differences)');

      await withClient(production.url, (client) => client.query('ALTER TABLE users DROP COLUMN nickname, DROP COLUMN second'));
      const third = await runAction(drift, 12, 'schedule');
      expect(third.code, third.stdout).toBe(0);
      expect(third.outputs).toMatch(/result<<.*\nclean\n/);
      expect(github.issues[0]).toMatchObject({ state: 'closed', state_reason: 'completed' });
      expect(github.issues[0]!.comments).toEqual(['The drift is gone: production matches its migrations again ([run](https://github.example/acme/shop/actions/runs/4242)). Closing.']);

      const visible = (stdout: string): string => stdout.split('\n').filter((line) => !line.startsWith('::add-mask::')).join('\n');
      for (const text of [visible(first.stdout), first.summary, first.report ?? '', visible(second.stdout), visible(third.stdout), ...github.issues.map((i) => i.body)]) expect(text).not.toContain(password);
    });
  });

  it('mode: drift without issue permissions reports in the summary and says what permission is missing', async () => {
    await server.withDatabase(async (production) => {
      expect((await runCli(['migrate', '--database-url', production.url], { cwd: project, env: cleanEnv() })).code).toBe(0);
      await withClient(production.url, (client) => client.query('CREATE INDEX users_email ON users (email)'));
      github.issues = [];
      github.forbidCreate = true;
      try {
        const result = await runAction({ mode: 'drift', 'production-url': production.url, 'fail-on': 'never' }, 13, 'schedule');
        expect(result.code, result.stdout).toBe(0);
        expect(result.stdout).toContain('::notice::the token cannot manage issues (HTTP 403); give the workflow "permissions: issues: write"');
        expect(result.summary).toContain('has drifted');
      } finally {
        github.forbidCreate = false;
      }
    });
  });
});
