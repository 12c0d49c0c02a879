// What scripts read from status, migrate and rollback: --exit-code, the JSON shapes --help
// promises, durations rounded, the file a rollback runs; and drift-guard without a command.

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeDir, runCli, startSharedServer, writeTree, type PostgresServerHandle } from '../helpers.js';

let server: PostgresServerHandle;
let stopServer: () => Promise<void>;
const tmp = makeTempDir('dg-status-json-');
beforeAll(async () => {
  ({ server, stop: stopServer } = await startSharedServer());
});
afterAll(async () => {
  await stopServer();
  removeDir(tmp);
});

function project(name: string): string {
  const dir = path.join(tmp, name);
  writeTree(dir, {
    '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\n',
    'db/migrations/20240101000001_users.sql': 'CREATE TABLE users (id int PRIMARY KEY);\n',
    'db/migrations/20240101000001_users.down.sql': 'DROP TABLE users;\n',
    'db/migrations/20240101000002_orders.sql': 'CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);\n',
    'db/migrations/20240101000002_orders.down.sql': 'DROP TABLE orders;\n',
  });
  return dir;
}

/** Every number under a key ending in "ms"/"Ms", anywhere in a JSON value. */
function durations(value: unknown, found: number[] = []): number[] {
  if (Array.isArray(value)) for (const item of value) durations(item, found);
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === 'number' && /(?:^ms|Ms)$/.test(key)) found.push(item);
      else durations(item, found);
    }
  }
  return found;
}

describe('status, migrate and rollback for scripts', () => {
  it('status --exit-code exits 1 while a migration is pending, 0 once none is; without it, 0', async () => {
    const cwd = project('exit-code');
    await server.withDatabase(async (db) => {
      const env = cleanEnv({ DATABASE_URL: db.url });
      const plain = await runCli(['status'], { cwd, env });
      expect(plain.code, plain.stderr).toBe(0);
      expect(plain.stdout).toContain('2 pending');
      // The header names the history table in words, not by an internal key.
      expect(plain.stdout).toContain('history table drift_guard_migrations');
      expect(plain.stdout).not.toContain('historyTable');

      expect((await runCli(['status', '--exit-code'], { cwd, env })).code).toBe(1);
      expect((await runCli(['migrate', '--to', '20240101000001'], { cwd, env })).code).toBe(0);
      expect((await runCli(['status', '--exit-code'], { cwd, env })).code).toBe(1);
      expect((await runCli(['migrate'], { cwd, env })).code).toBe(0);
      const done = await runCli(['status', '--exit-code'], { cwd, env });
      expect(done.code, done.stdout + done.stderr).toBe(0);
      expect(done.stdout).toContain('2 applied');
    });
  }, 180_000);

  it('status --json is one object, as its --help says; migrate --json one event per line, durations rounded', async () => {
    const cwd = project('json');
    const help = await runCli(['status', '--help'], { cwd });
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('json prints one JSON object');
    const migrateHelp = await runCli(['migrate', '--help'], { cwd });
    expect(migrateHelp.stdout.replace(/\s+/g, ' ')).toContain('json prints one event per line (NDJSON)');
    await server.withDatabase(async (db) => {
      const env = cleanEnv({ DATABASE_URL: db.url });
      const migrate = await runCli(['migrate', '--json'], { cwd, env });
      expect(migrate.code, migrate.stderr).toBe(0);
      const events = migrate.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(events.map((e) => e.event)).toEqual(['plan', 'start', 'done', 'start', 'done', 'summary']);
      const ms = durations(events);
      expect(ms.length).toBeGreaterThanOrEqual(4);
      for (const value of ms) expect(Math.round(value * 10) / 10).toBe(value);
      expect(migrate.stdout).not.toMatch(/"ms":\d+\.\d{2,}/);

      const status = await runCli(['status', '--json'], { cwd, env });
      expect(status.code, status.stderr).toBe(0);
      const parsed = JSON.parse(status.stdout) as { engine: string; layout: string; migrations: { state: string }[]; findings: unknown[] };
      expect(parsed).toMatchObject({ engine: 'sql', layout: 'plain', findings: [] });
      expect(parsed.migrations.map((m) => m.state)).toEqual(['applied', 'applied']);
    });
  }, 180_000);

  it('rollback --json names the down file it runs', async () => {
    const cwd = project('rollback');
    await server.withDatabase(async (db) => {
      const env = cleanEnv({ DATABASE_URL: db.url });
      expect((await runCli(['migrate'], { cwd, env })).code).toBe(0);
      const rollback = await runCli(['rollback', '--json'], { cwd, env });
      expect(rollback.code, rollback.stderr).toBe(0);
      const events = rollback.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; file?: string; results?: { file?: string; status: string }[] });
      const start = events.find((e) => e.event === 'start')!;
      const done = events.find((e) => e.event === 'done')!;
      const down = path.join('db', 'migrations', '20240101000002_orders.down.sql');
      expect(start.file).toBe(down);
      expect(done.file).toBe(down);
      expect(events.at(-1)!.results).toEqual([expect.objectContaining({ file: down, status: 'rolled-back' })]);
    });
  }, 180_000);

  it('drift-guard without a command prints the help to stderr and exits 2; drift-guard help exits 0', async () => {
    const bare = await runCli([], { cwd: tmp });
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toContain('Usage: drift-guard');
    const help = await runCli(['help'], { cwd: tmp });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: drift-guard');
    expect((await runCli(['--help'], { cwd: tmp })).code).toBe(0);
  }, 180_000);
});
