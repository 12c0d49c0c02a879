import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../src/postgres/client.js';
import { reapStaleRuns } from '../../src/postgres/providers/embedded-provider.js';
import { withPostgresServer, type PostgresServer } from '../../src/postgres/scratch.js';
import { cleanEnv, collect, makeTempDir, pgOptions, processesMentioning, removeDir, resourcesStillThere, runCli, runDirsIn, serverResources, startCli, waitForStderr, waitUntil } from '../helpers.js';

// Each CLI run gets TMPDIR=<private dir>, so its server's data directory, and so its processes'
// command lines, are recognisable: after the run neither may remain.
const hang = ['node', '-e', "console.error('child-ready pid=' + process.pid + ' db=' + process.env.PGDATABASE); setInterval(() => {}, 1000)"];

function isolated(): { tmp: string; env: NodeJS.ProcessEnv; cwd: string } {
  const tmp = makeTempDir('dg-signal-');
  // storage: disk puts the run directory under TMPDIR, where this test looks for leftovers.
  writeFileSync(path.join(tmp, '.drift-guard.yml'), 'postgres:\n  storage: disk\n');
  return { tmp, env: cleanEnv({ TMPDIR: tmp }), cwd: tmp };
}

describe('cleanup on signals (embedded provider, through the CLI)', () => {
  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`stops the server, the command and removes the run directory on ${signal}`, async () => {
      const { tmp, env, cwd } = isolated();
      try {
        const child = startCli(['scratch', '--', ...hang], { env, cwd });
        const result = collect(child);
        const seen = await waitForStderr(child, /child-ready pid=(\d+)/);
        const commandPid = Number(/child-ready pid=(\d+)/.exec(seen)![1]);
        expect(runDirsIn(tmp)).toHaveLength(1);
        // This run's server (its data directory is under the private TMPDIR) and its shared memory.
        const held = serverResources(tmp);
        expect(held.pids.length).toBeGreaterThan(0);
        expect(held.sysvSegments.length).toBeGreaterThan(0);
        child.kill(signal);
        const { code: exitCode, stderr } = await result;
        expect(exitCode).toBe(code);
        expect(stderr).toContain(`${signal} received, cleaning up`);
        expect(runDirsIn(tmp)).toEqual([]);
        expect(await waitUntil(() => processesMentioning(tmp).length === 0, 20_000)).toBe(true);
        expect(await waitUntil(() => !isRunning(commandPid), 20_000)).toBe(true);
        expect(resourcesStillThere(held)).toEqual({ pids: [], sysvSegments: [], shmFiles: [] });
      } finally {
        removeDir(tmp);
      }
    });
  }

  it('passes the command exit code through and leaves nothing on a normal exit', async () => {
    const { tmp, env, cwd } = isolated();
    try {
      const result = await runCli(['scratch', '--', 'node', '-e', 'process.exit(process.env.DATABASE_URL.includes(process.env.PGDATABASE) ? 7 : 1)'], { env, cwd });
      expect(result.code).toBe(7);
      expect(result.stderr).toMatch(/scratch database postgresql:\/\/\w+:\*\*\*@127\.0\.0\.1:\d+\/drift_guard_/);
      expect(runDirsIn(tmp)).toEqual([]);
      expect(processesMentioning(tmp)).toEqual([]);
    } finally {
      removeDir(tmp);
    }
  });

  it('reaps the server and directory of a run that was killed with SIGKILL', async () => {
    const { tmp, env, cwd } = isolated();
    try {
      const child = startCli(['scratch', '--', ...hang], { env, cwd });
      const seen = await waitForStderr(child, /child-ready pid=(\d+)/);
      const commandPid = Number(/child-ready pid=(\d+)/.exec(seen)![1]);
      const held = serverResources(tmp);
      expect(held.sysvSegments.length).toBeGreaterThan(0);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('exit', resolve));
      process.kill(commandPid, 'SIGKILL');
      // Nothing can clean up after SIGKILL: the server and its directory are still there...
      expect(runDirsIn(tmp)).toHaveLength(1);
      expect(processesMentioning(tmp).length).toBeGreaterThan(0);
      // ...until the next start reaps them.
      expect(await reapStaleRuns(tmp)).toBe(1);
      expect(runDirsIn(tmp)).toEqual([]);
      expect(await waitUntil(() => processesMentioning(tmp).length === 0, 20_000)).toBe(true);
      // The reaper shuts the server down in order, so its shared memory goes too.
      expect(resourcesStillThere(held)).toEqual({ pids: [], sysvSegments: [], shmFiles: [] });
    } finally {
      removeDir(tmp);
    }
  });
});

describe('cleanup on signals (url provider, through the CLI)', () => {
  const tmp = makeTempDir('dg-signal-url-');
  const previousTmp = process.env.TMPDIR;
  let server: PostgresServer;
  let release: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));

  beforeAll(async () => {
    process.env.TMPDIR = tmp;
    await new Promise<void>((ready, fail) => {
      withPostgresServer(pgOptions(), async (s) => {
        server = s;
        ready();
        await done;
      }).catch(fail);
    });
  });
  afterAll(async () => {
    release();
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.env.TMPDIR = previousTmp;
    removeDir(tmp);
  });

  it('drops the scratch database on SIGTERM', async () => {
    const env = cleanEnv({ DRIFT_GUARD_DATABASE_URL: server.adminUrl });
    const child = startCli(['scratch', '--', ...hang], { env });
    const result = collect(child);
    const seen = await waitForStderr(child, /child-ready pid=\d+ db=(\w+)/);
    const database = /db=(\w+)/.exec(seen)![1]!;
    const exists = (): Promise<boolean> =>
      withClient(server.adminUrl, async (client) => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1);
    expect(await exists()).toBe(true);
    child.kill('SIGTERM');
    const { code, stderr } = await result;
    expect(code).toBe(143);
    expect(await exists()).toBe(false);
    expect(stderr).not.toContain(new URL(server.adminUrl).password);
  });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
