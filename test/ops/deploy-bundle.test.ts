// `drift-guard deploy --bundle ./efbundle`: the EF Core example deployed with a migration bundle
// built in this test (dotnet ef migrations bundle), to a "production" database on a real server of
// pg_dump's major: backup, apply via the bundle, verify, health checks; a failing health check
// gives the restore command. The password never reaches a command line.

import { execFile } from 'node:child_process';
import { cpSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionVariables } from '../../src/engines/efcore/dotnet-ef.js';
import { runBundle } from '../../src/engines/efcore/efbundle.js';
import { findInstallations } from '../../src/postgres/binaries.js';
import { findClientTools } from '../../src/postgres/client-tools.js';
import { withClient } from '../../src/postgres/client.js';
import type { ScratchDatabase } from '../../src/postgres/scratch.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, dotnetVersion, makeTempDir, removeDir, repoRoot, runCli, startSharedServer, type PostgresServerHandle } from '../helpers.js';

const env = cleanEnv();
const newest = (await findClientTools(env))[0];
const matching = newest === undefined ? undefined : (await findInstallations(env)).find((i) => i.major === newest.major);
const dotnet = dotnetVersion();
const skip = matching === undefined || dotnet === undefined;
if (skip) console.log('bundle deploy tests skipped: they need dotnet, pg_dump and a PostgreSQL server of the same major');

const tmp = makeTempDir('dg-efbundle-');
const dir = path.join(tmp, 'shop');
const bundle = path.join(tmp, 'efbundle');
let server: PostgresServerHandle;
let stop: (() => Promise<void>) | undefined;
let health: http.Server;
let healthPort = 0;
let healthStatus = 200;

beforeAll(async () => {
  if (skip) return;
  cpSync(path.join(repoRoot, 'examples', 'efcore'), dir, { recursive: true, filter: (src) => !/[/\\](bin|obj)$/.test(src) });
  writeFileSync(path.join(dir, '.drift-guard.yml'), 'engine: efcore\nefcore:\n  project: Shop.csproj\nproduction:\n  health-interval: 0.1\n  health-retries: 2\n');
  const started = performance.now();
  await promisify(execFile)('dotnet', ['tool', 'restore'], { cwd: dir, env });
  await promisify(execFile)('dotnet', ['build', 'Shop.csproj', '--nologo', '--verbosity', 'quiet'], { cwd: dir, env, maxBuffer: 16 * 1024 * 1024 });
  await promisify(execFile)('dotnet', ['ef', 'migrations', 'bundle', '--project', 'Shop.csproj', '--no-build', '--output', bundle, '--force'], { cwd: dir, env: { ...env, DOTNET_NOLOGO: '1' }, maxBuffer: 16 * 1024 * 1024 });
  console.log(`dotnet ef migrations bundle: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  ({ server, stop } = await startSharedServer({ version: matching!.major }));
  health = http.createServer((_req, res) => {
    res.writeHead(healthStatus);
    res.end('ok');
  });
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  healthPort = (health.address() as { port: number }).port;
}, 900_000);
afterAll(async () => {
  if (health !== undefined) await new Promise((resolve) => health.close(resolve));
  await stop?.();
  removeDir(tmp);
});

const ids = (): string[] => readdirSync(path.join(dir, 'Migrations')).filter((f) => /^\d{14}_\w+\.cs$/.test(f) && !f.includes('Designer')).map((f) => f.replace(/\.cs$/, '')).sort();

/** Production at AddOrders, put there by the bundle itself (with a target). */
async function productionAtAddOrders(db: ScratchDatabase): Promise<void> {
  const outcome = await runBundle({ bundle, cwd: dir, databaseUrl: db.url, connectionEnv: connectionVariables('ConnectionStrings__DefaultConnection'), env, reporter: new RecordingReporter(), target: ids()[1] });
  expect(outcome.results.map((r) => [r.migration, r.status])).toEqual([
    [ids()[0], 'applied'],
    [ids()[1], 'applied'],
  ]);
  await withClient(db.url, (client) => client.query(`INSERT INTO "Customers" ("Name", "Email") VALUES ('a', 'a@example.com')`));
}

const deploy = (db: ScratchDatabase, args: string[]) => runCli(['deploy', '--yes', '--json', '--bundle', bundle, ...args], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });

describe.skipIf(skip)('drift-guard deploy --bundle', () => {
  it(
    'backs up, applies with the bundle (no password on any command line), verifies and health-checks',
    async () => {
      await server.withDatabase(async (db) => {
        await productionAtAddOrders(db);
        const password = decodeURIComponent(new URL(db.url).password);
        let running = true;
        let sawBundle = false;
        const leaks: string[] = [];
        const watch = (async () => {
          while (running) {
            for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
              const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
              if (cmdline.includes(bundle)) sawBundle = true;
              if (cmdline.includes(password)) leaks.push(cmdline.replace(/\0/g, ' '));
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();
        healthStatus = 200;
        const result = await deploy(db, ['--health-url', `http://127.0.0.1:${healthPort}/healthz`]).finally(() => (running = false));
        await watch;
        expect(result.code, result.stderr + result.stdout).toBe(0);
        expect(sawBundle).toBe(true);
        expect(leaks).toEqual([]);
        const record = JSON.parse(result.stdout) as { outcome: string; applied: string[]; pending: string[]; timings: { phase: string }[]; backup: { file: string } };
        expect(record).toMatchObject({ outcome: 'deployed', pending: [ids()[2]], applied: [ids()[2]] });
        expect(record.timings.map((t) => t.phase)).toEqual([
          'pre-flight: history and schema drift',
          'backup (pg_dump -Fc, verified)',
          'apply 1 migration(s) with efbundle',
          'verify (nothing pending, schema equals the migrations)',
          'health check',
        ]);
        expect(existsSync(record.backup.file)).toBe(true);
        expect(result.stdout + result.stderr).not.toContain(password);
        const indexes = await withClient(db.url, async (c) => (await c.query<{ i: string }>("SELECT indexname AS i FROM pg_indexes WHERE indexname = 'IX_Customers_Email'")).rows);
        expect(indexes).toHaveLength(1);
      });
    },
    600_000,
  );

  it(
    'a failing health check after the bundle applied: exit 1 with the restore command',
    async () => {
      await server.withDatabase(async (db) => {
        await productionAtAddOrders(db);
        healthStatus = 503;
        const result = await deploy(db, ['--health-url', `http://127.0.0.1:${healthPort}/healthz`]);
        expect(result.code).toBe(1);
        const record = JSON.parse(result.stdout) as { outcome: string; applied: string[]; error: string; restoreCommand: string };
        expect(record.outcome).toBe('failed-after-apply');
        expect(record.applied).toEqual([ids()[2]]);
        expect(record.error).toMatch(/^health check failed: http:\/\/127\.0\.0\.1:\d+\/healthz: HTTP 503/);
        expect(record.restoreCommand).toMatch(/^drift-guard restore .*\.dump --production --yes$/);
      });
    },
    600_000,
  );

  it('refuses a bundle that does not exist before touching production (exit 2)', async () => {
    await server.withDatabase(async (db) => {
      const result = await runCli(['deploy', '--yes', '--bundle', path.join(tmp, 'nope')], { cwd: dir, env: cleanEnv({ PROD_DATABASE_URL: db.url }) });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--bundle .*nope: no such file \(build it with dotnet ef migrations bundle\)/);
    });
  });
});
