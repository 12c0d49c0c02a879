import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findInstallations } from '../../../src/postgres/binaries.js';
import { findClientTools } from '../../../src/postgres/client-tools.js';
import { withClient } from '../../../src/postgres/client.js';
import type { LayoutName } from '../../../src/engines/sql/layout.js';
import { cleanEnv, makeTempDir, prRepository, removeDir, runCli, startSharedServer, writeTree, type PostgresServerHandle } from '../../helpers.js';

// Every command on a small project in each of the six layouts, as a user runs them (the real CLI),
// so that no layout can again work for migrate/rollback and crash everywhere else: status,
// migrate, rollback, new, script, check (a PR adding a migration), drift and deploy.

const env = cleanEnv();
const pgDump = (await findClientTools(env))[0];
const installations = await findInstallations(env);
// deploy needs pg_dump of the server's major; the rest runs on any server.
const major = pgDump !== undefined && installations.some((i) => i.major === pgDump.major) ? pgDump.major : undefined;
if (major === undefined) console.log('layout matrix: deploy is skipped (it needs pg_dump and a PostgreSQL server of the same major; CI installs Debian\'s postgresql)');

const tmp = makeTempDir('dg-matrix-');
let shared: { server: PostgresServerHandle; stop: () => Promise<void> };
beforeAll(async () => void (shared = await startSharedServer(major === undefined ? {} : { version: major })), 180_000);
afterAll(async () => {
  await shared?.stop();
  removeDir(tmp);
});

interface Shape {
  readonly files: (n: number, name: string, up: string, down: string) => Record<string, string>;
  /** The version `--to` takes for migration n. */
  readonly version: (n: number) => string;
}

const stamp = (n: number): string => `2024010${n}000001`;
const SHAPES: Record<LayoutName, Shape> = {
  flyway: { files: (n, name, up, down) => ({ [`V${n}__${name}.sql`]: up, [`U${n}__${name}.sql`]: down }), version: (n) => String(n) },
  'golang-migrate': { files: (n, name, up, down) => ({ [`00000${n}_${name}.up.sql`]: up, [`00000${n}_${name}.down.sql`]: down }), version: (n) => String(n) },
  goose: { files: (n, name, up, down) => ({ [`0000${n}_${name}.sql`]: `-- +goose Up\n${up}-- +goose Down\n${down}` }), version: (n) => String(n) },
  dbmate: { files: (n, name, up, down) => ({ [`${stamp(n)}_${name}.sql`]: `-- migrate:up\n${up}\n-- migrate:down\n${down}` }), version: stamp },
  diesel: { files: (n, name, up, down) => ({ [`2024-01-0${n}-000001_${name}/up.sql`]: up, [`2024-01-0${n}-000001_${name}/down.sql`]: down }), version: (n) => `2024010${n}000001` },
  plain: { files: (n, name, up, down) => ({ [`${stamp(n)}_${name}.sql`]: up, [`${stamp(n)}_${name}.down.sql`]: down }), version: stamp },
};

const MIGRATIONS: [string, string, string][] = [
  ['users', 'CREATE TABLE users (id bigint PRIMARY KEY, email text);\n', 'DROP TABLE users;\n'],
  ['orders', 'CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n', 'DROP TABLE orders;\n'],
  ['tags', 'CREATE TABLE tags (id bigint PRIMARY KEY, label text NOT NULL);\n', 'DROP TABLE tags;\n'],
];

const inDir = (files: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(files).map(([name, text]) => [`db/migrations/${name}`, text]));
const tables = (url: string): Promise<string[]> =>
  withClient(url, async (client) => (await client.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('users', 'orders', 'tags') ORDER BY 1")).rows.map((r) => r.t));

describe.each(Object.keys(SHAPES) as LayoutName[])('every command on a %s project', (layout) => {
  it('status, migrate, rollback, new, script, check, drift and deploy', async () => {
    const shape = SHAPES[layout];
    const dir = path.join(tmp, layout);
    const base = MIGRATIONS.slice(0, 2).reduce((all, [name, up, down], i) => ({ ...all, ...inDir(shape.files(i + 1, name, up, down)) }), {});
    writeTree(dir, { '.drift-guard.yml': `sql:\n  dir: db/migrations\n  layout: ${layout}\nproduction:\n  backup-dir: ../backups-${layout}\n`, ...base });
    const repo = prRepository(dir);
    const [name, up, down] = MIGRATIONS[2]!;
    repo.commit(inDir(shape.files(3, name, up, down)), 'tags');
    const { server } = shared;
    await server.withDatabase(async (dev) => {
      await server.withDatabase(async (production) => {
        const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { cwd: dir, env: cleanEnv({ DATABASE_URL: dev.url, DRIFT_GUARD_DATABASE_URL: server.adminUrl, ...extra }) });
        const said = (r: { stdout: string; stderr: string }): string => `${r.stdout}\n${r.stderr}`;

        const pending = await cli(['status']);
        expect(pending.code, said(pending)).toBe(0);
        expect(said(pending)).not.toMatch(/internal error/);
        expect(pending.stdout.match(/pending/g)?.length, said(pending)).toBeGreaterThanOrEqual(3);
        expect(pending.stdout).toContain('tags');

        const migrated = await cli(['migrate']);
        expect(migrated.code, said(migrated)).toBe(0);
        expect(await tables(dev.url)).toEqual(['orders', 'tags', 'users']);
        const applied = await cli(['status']);
        expect(applied.stdout.match(/applied/g)?.length, said(applied)).toBeGreaterThanOrEqual(3);

        const rolledBack = await cli(['rollback']);
        expect(rolledBack.code, said(rolledBack)).toBe(0);
        expect(await tables(dev.url)).toEqual(['orders', 'users']);

        const script = await cli(['script', '--from', shape.version(2)]);
        expect(script.code, said(script)).toBe(0);
        expect(script.stdout).toContain('CREATE TABLE tags');

        const created = await cli(['new', 'add_thing']);
        expect(created.code, said(created)).toBe(0);
        const newFiles = created.stdout.split('\n').filter((line) => line.includes('add_thing'));
        expect(newFiles.length, said(created)).toBeGreaterThan(0);
        for (const file of newFiles) {
          const relative = file.trim().replace(/^.*?(db\/migrations\/\S+).*$/, '$1');
          const top = path.join(dir, relative.split('/').slice(0, 3).join('/'));
          if (existsSync(top)) rmSync(top, { recursive: true, force: true });
        }

        const checked = await cli(['check', '--base', 'main', '--format', 'json']);
        expect(checked.code, said(checked)).toBe(0);
        const report = JSON.parse(checked.stdout) as { verdict: string; migrations: { added: string[] }; schemaChanges: { description: string }[] };
        expect(report.verdict).toBe('pass');
        expect(report.migrations.added).toHaveLength(1);
        expect(report.schemaChanges.map((c) => c.description)).toContain('create table public.tags');

        // Production: the base's two migrations applied, then deployed to the third.
        const prod = { DATABASE_URL: production.url, PROD_DATABASE_URL: production.url };
        const toBase = await cli(['migrate', '--to', shape.version(2)], prod);
        expect(toBase.code, said(toBase)).toBe(0);
        const drift = await cli(['drift', '--format', 'json'], prod);
        expect(drift.code, said(drift)).toBe(0);
        expect(said(drift)).not.toMatch(/internal error/);
        if (major !== undefined) {
          const deployed = await cli(['deploy', '--yes'], prod);
          expect(deployed.code, said(deployed)).toBe(0);
          expect(await tables(production.url)).toEqual(['orders', 'tags', 'users']);
        }
      });
    });
  }, 300_000);
});
