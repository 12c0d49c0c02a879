import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck, type CheckResult } from '../../src/gate/check.js';
import { commandMigrationId, upPart } from '../../src/engines/command/command-gate.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, pgOptions, prRepository, repoRoot, sharedServerSuite, writeTree, type PrRepository } from '../helpers.js';

// engine: command end to end: each case is a scratch git repository whose "migration tool" is a
// small Node script (golang-migrate style N_name.up.sql / N_name.down.sql, a history table of its
// own) that drift-guard only knows through command.apply / rollback / model-check.

// One embedded server for the file; each check takes scratch databases on it (the url provider).
const { tmp, server } = sharedServerSuite('dg-command-gate-');
let n = 0;

const TOOL = `
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import pg from ${JSON.stringify(path.join(repoRoot, 'node_modules', 'pg', 'lib', 'index.js'))};
const [command, target] = process.argv.slice(2);
if (command === 'model-check') process.exit(existsSync('model.pending') ? 1 : 0);
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
await client.query('CREATE TABLE IF NOT EXISTS tool_history (id text PRIMARY KEY)');
const ids = readdirSync('migrations').filter((f) => f.endsWith('.up.sql')).map((f) => f.slice(0, -7)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
const applied = new Set((await client.query('SELECT id FROM tool_history')).rows.map((r) => r.id));
const run = async (id, file, record) => {
  try {
    await client.query('BEGIN');
    await client.query(readFileSync('migrations/' + file, 'utf8'));
    await client.query(record, [id]);
    await client.query('COMMIT');
  } catch (error) {
    console.error(file + ': ' + error.message + ' [' + process.env.DATABASE_URL + ' password=' + process.env.PGPASSWORD + ']');
    process.exit(1);
  }
};
if (command === 'up') {
  for (const id of ids) if (!applied.has(id)) await run(id, id + '.up.sql', 'INSERT INTO tool_history VALUES ($1)');
} else {
  for (const id of [...ids].reverse()) if (applied.has(id) && id.localeCompare(target, 'en', { numeric: true }) > 0 && target !== id) await run(id, id + '.down.sql', 'DELETE FROM tool_history WHERE id = $1');
}
await client.end();
`;

const CONFIG = `engine: command
command:
  apply: node tool.mjs up
  rollback: node tool.mjs down "$DRIFT_GUARD_TARGET"
  model-check: node tool.mjs model-check
  migrations: [migrations/*.sql]
  entities: [models/**]
schema:
  ignore: [public.tool_history]
`;

const USERS = { 'migrations/1_users.up.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text);\n', 'migrations/1_users.down.sql': 'DROP TABLE users;\n' };

function repo(base: Record<string, string>, config = CONFIG): PrRepository {
  const dir = path.join(tmp, `r${n++}`);
  writeTree(dir, { '.drift-guard.yml': config, 'tool.mjs': TOOL, 'models/user.txt': 'id email legacy\n', ...base });
  return prRepository(dir);
}

const check = (r: PrRepository, env: NodeJS.ProcessEnv = cleanEnv()): Promise<CheckResult> =>
  runCheck({ loaded: loadConfig({ cwd: r.dir }), cwd: r.dir, env, reporter: new RecordingReporter(), postgres: pgOptions({ provider: 'url', url: server().adminUrl }), base: 'main' });
const codes = (result: CheckResult): string[] => result.findings.map((f) => `${f.severity} ${f.code}`).sort();

describe('drift-guard check (engine: command)', () => {
  it('passes a clean PR: base applied in a worktree, diff, rollback to the base and back', async () => {
    const r = repo(USERS);
    r.commit({ 'migrations/2_orders.up.sql': 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n', 'migrations/2_orders.down.sql': 'DROP TABLE orders;\n' });
    const result = await check(r);
    expect(result.findings).toEqual([]);
    expect(result.verdict).toBe('pass');
    expect(result.migrations.added).toEqual(['migrations/2_orders.up.sql']);
    expect(result.schemaChanges.map((c) => c.description)).toEqual(['create table public.orders', 'create primary key orders_pkey on public.orders', 'create foreign key orders_user_id_fkey on public.orders']);
    expect(result.timings.map((t) => t.phase)).toEqual(expect.arrayContaining(["base: applied the base's migrations (command.apply in the base commit (git worktree); not cached: the cache keeps bases built from plain SQL files, not by a command)", "apply the PR's 1 migration(s) one at a time", 'rollback check']));
    // command.apply applies everything at once: the PR is one batch, and what it rewrote is measured around it.
    expect(result.facts).toEqual([expect.objectContaining({ migration: '2_orders', granularity: 'batch', rewrites: [] })]);
  });

  it('MIGRATION_MODIFIED, MIGRATION_DELETED and MIGRATION_OUT_OF_ORDER from file names and git', async () => {
    const r = repo({ ...USERS, 'migrations/5_posts.up.sql': 'CREATE TABLE posts (id int);\n', 'migrations/5_posts.down.sql': 'DROP TABLE posts;\n' });
    r.commit({ 'migrations/1_users.up.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text, extra int);\n', 'migrations/5_posts.up.sql': null, 'migrations/5_posts.down.sql': null });
    const first = await check(r);
    // One finding per migration (5_posts has two files); dropping posts is destructive too.
    // The PR rewrites history, so its migrations are applied from scratch and the rollback check says why it did not run.
    expect(codes(first)).toEqual(['error MIGRATION_DELETED', 'error MIGRATION_MODIFIED', 'notice NOT_CHECKED', 'warning DESTRUCTIVE_CHANGE']);
    expect(first.findings.find((f) => f.code === 'MIGRATION_DELETED')?.message).toMatch(/5_posts\.up\.sql exists on the base \(main\)/);
    expect(first.findings.find((f) => f.code === 'MIGRATION_MODIFIED')?.file).toBe('migrations/1_users.up.sql');

    const s = repo({ ...USERS, 'migrations/10_posts.up.sql': 'CREATE TABLE posts (id int);\n', 'migrations/10_posts.down.sql': 'DROP TABLE posts;\n' });
    s.commit({ 'migrations/9_tags.up.sql': 'CREATE TABLE tags (id int);\n', 'migrations/9_tags.down.sql': 'DROP TABLE tags;\n' });
    const second = await check(s);
    expect(codes(second)).toEqual(['error MIGRATION_OUT_OF_ORDER', 'notice NOT_CHECKED']);
    expect(second.findings[0]!.message).toMatch(/9_tags\.up\.sql \(9_tags\) sorts before the base's newest migration 10_posts/);
  });

  it('APPLY_FAILED carries the tool\'s own message, and a password in it is masked', async () => {
    const r = repo(USERS);
    r.commit({ 'migrations/2_bad.up.sql': 'CREATE TABLE bad (id int REFERENCES nowhere (id));\n', 'migrations/2_bad.down.sql': 'DROP TABLE bad;\n' });
    const result = await check(r);
    expect(codes(result)).toEqual(['error APPLY_FAILED']);
    const message = result.findings[0]!.message;
    expect(message).toMatch(/2_bad\.up\.sql: relation "nowhere" does not exist/);
    // The tool printed DATABASE_URL and PGPASSWORD; the scratch server's password is masked in both.
    expect(message).toMatch(/postgres(ql)?:\/\/[^:/]+:\*\*\*@/);
    expect(message).toMatch(/password=\*\*\*$/);
    expect(result.verdict).toBe('fail');
  });

  it('ROLLBACK_INCOMPLETE when a down migration leaves something behind', async () => {
    const r = repo(USERS);
    r.commit({ 'migrations/2_orders.up.sql': 'CREATE TABLE orders (id int);\nCREATE TABLE IF NOT EXISTS audit (at timestamptz);\n', 'migrations/2_orders.down.sql': 'DROP TABLE orders;\n' });
    const result = await check(r);
    expect(codes(result)).toEqual(['error ROLLBACK_INCOMPLETE']);
    expect(result.findings[0]).toMatchObject({ file: 'migrations/2_orders.down.sql', migration: '2_orders' });
    expect(result.findings[0]!.message).toMatch(/rolling back 2_orders\.up\.sql does not restore the schema before it: .*audit/);
  });

  it('ROLLBACK_FAILED when the rollback command fails', async () => {
    const r = repo(USERS);
    r.commit({ 'migrations/2_orders.up.sql': 'CREATE TABLE orders (id int);\n', 'migrations/2_orders.down.sql': 'DROP TABLE no_such_table;\n' });
    expect(codes(await check(r))).toEqual(['error ROLLBACK_FAILED']);
  });

  it('DESTRUCTIVE_CHANGE from the schema diff, acknowledged by a comment in the migration', async () => {
    const r = repo(USERS);
    r.commit({ 'migrations/2_drop.up.sql': 'ALTER TABLE users DROP COLUMN legacy;\n', 'migrations/2_drop.down.sql': 'ALTER TABLE users ADD COLUMN legacy text;\n' });
    const result = await check(r);
    expect(codes(result)).toEqual(['warning DESTRUCTIVE_CHANGE']);
    r.commit({ 'migrations/2_drop.up.sql': '-- drift-guard: allow DELETES_DATA legacy is unused since v3\nALTER TABLE users DROP COLUMN legacy;\n' });
    expect(codes(await check(r))).toEqual(['notice DESTRUCTIVE_CHANGE']);
  });

  it('ENTITY_WITHOUT_MIGRATION: a warning with MODEL_PENDING_CHANGES when the model check fails, a notice when it passes', async () => {
    const r = repo(USERS);
    r.commit({ 'models/user.txt': 'id email legacy nickname\n', 'model.pending': 'yes\n' });
    const pending = await check(r);
    expect(pending.findings.map((f) => `${f.severity} ${f.code} ${f.file ?? ''}`).sort()).toEqual(['error MODEL_PENDING_CHANGES ', 'warning ENTITY_WITHOUT_MIGRATION models/user.txt']);
    r.commit({ 'model.pending': null });
    expect(codes(await check(r))).toEqual(['notice ENTITY_WITHOUT_MIGRATION']);
  });

  it('a base without migrations (or without the config) is an empty database', async () => {
    const r = repo({ 'README.md': 'nothing yet\n' }, 'engine: sql\n');
    r.commit({ '.drift-guard.yml': CONFIG, ...USERS });
    const result = await check(r);
    expect(result.findings).toEqual([]);
    expect(result.schemaChanges.map((c) => c.description)).toEqual(['create table public.users', 'create primary key users_pkey on public.users']);
  });

  it('BASE_ADVANCED when main gained migrations after the branch forked', async () => {
    const r = repo(USERS);
    r.commit({ 'migrations/2_orders.up.sql': 'CREATE TABLE orders (id int);\n', 'migrations/2_orders.down.sql': 'DROP TABLE orders;\n' });
    r.git('checkout', '-q', 'main');
    r.commit({ 'migrations/2_tags.up.sql': 'CREATE TABLE tags (id int);\n', 'migrations/2_tags.down.sql': 'DROP TABLE tags;\n' }, 'main moves on');
    r.git('checkout', '-q', 'pr');
    const result = await check(r);
    expect(codes(result)).toEqual(['warning BASE_ADVANCED']);
    expect(result.findings[0]!.message).toMatch(/2_tags/);
  });
});

describe('command migration ids', () => {
  it('reads the ids of the common tools\' file names', () => {
    expect(commandMigrationId('migrations/1_users.up.sql')).toBe('1_users');
    expect(commandMigrationId('migrations/1_users.down.sql')).toBe('1_users');
    expect(commandMigrationId('db/migrations/20240101000000_users.sql')).toBe('20240101000000_users');
    expect(commandMigrationId('migrations/2024-01-01-000000_users/up.sql')).toBe('2024-01-01-000000_users');
    expect(commandMigrationId('sql/V2__users.sql')).toBe('V2__users');
  });

  it('lints only the up part of goose and dbmate files', () => {
    expect(upPart('-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n')).toBe('-- +goose Up\nCREATE TABLE a (id int);\n');
    expect(upPart('-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n')).toBe('-- migrate:up\nCREATE TABLE a (id int);\n\n');
    expect(upPart('CREATE TABLE a (id int);\n')).toBe('CREATE TABLE a (id int);\n');
  });
});
