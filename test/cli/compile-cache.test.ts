// The launcher's V8 code cache: written once per command, reused, never trusted blindly, never in
// the way of the command itself.

import { execFileSync } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeDir, runCli } from '../helpers.js';

const tmp = makeTempDir('dg-compile-cache-');
afterAll(() => removeDir(tmp));

let next = 0;
function cacheHome(): { home: string; dir: string; env: NodeJS.ProcessEnv } {
  const home = path.join(tmp, `home-${next++}`);
  mkdirSync(home);
  return { home, dir: path.join(home, 'drift-guard', 'v8'), env: cleanEnv({ XDG_CACHE_HOME: home }) };
}
const caches = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.v8cache')).sort() : []);

describe('compile cache', () => {
  it('is written on a command first run, one file per command, and reused as is afterwards', async () => {
    const { dir, env } = cacheHome();
    expect((await runCli(['--version'], { env })).code).toBe(0);
    const [first] = caches(dir);
    expect(first).toMatch(/^cli-[0-9a-f]{16}-none\.v8cache$/);
    const file = path.join(dir, first!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const written = statSync(file).mtimeMs;

    expect((await runCli(['config', '--schema'], { env })).code).toBe(0);
    expect(caches(dir)).toEqual([first, first!.replace('-none.', '-config.')].sort());

    const again = await runCli(['--version'], { env });
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('');
    // V8 accepted the cache, so it was not written again.
    expect(statSync(file).mtimeMs).toBe(written);
  });

  it('replaces a corrupt cache and removes the caches of other builds not written for a day', async () => {
    const { dir, env } = cacheHome();
    await runCli(['--version'], { env });
    const [name] = caches(dir);
    const file = path.join(dir, name!);
    writeFileSync(file, 'not a code cache');
    const stale = path.join(dir, 'cli-0123456789abcdef-none.v8cache');
    writeFileSync(stale, 'from an older drift-guard');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    utimesSync(stale, twoDaysAgo, twoDaysAgo);
    // Another build in use (a benchmark's "before" build): kept, or the two would delete each other's cache on every run.
    const recent = path.join(dir, 'cli-fedcba9876543210-none.v8cache');
    writeFileSync(recent, 'from another build used an hour ago');
    const result = await runCli(['--version'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(result.stderr).toBe('');
    expect(readFileSync(file, 'utf8')).not.toBe('not a code cache');
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(recent)).toBe(true);
  });

  it('never gives an edited bundle the cache of the one before, even at the same size and mtime', () => {
    // The bundle's key is its file's size, times and number, not a hash of its content: V8 checks
    // only the source's length, so a stale cache would run the old code.
    const { env } = cacheHome();
    const copy = path.join(tmp, `dist-${next++}`);
    mkdirSync(copy);
    const dist = path.resolve(__dirname, '../../dist');
    for (const name of ['cli.js', 'cli-app.cjs']) copyFileSync(path.join(dist, name), path.join(copy, name));
    const bundle = path.join(copy, 'cli-app.cjs');
    const fixed = new Date('2025-01-02T03:04:05Z');
    utimesSync(bundle, fixed, fixed);
    const version = (): string => execFileSync(process.execPath, [path.join(copy, 'cli.js'), '--version'], { env, encoding: 'utf8' }).trim();
    const real = version();
    expect(real).toMatch(/^\d+\.\d+\.\d+/);
    expect(version()).toBe(real); // the cache written by the first run, accepted
    const before = statSync(bundle);
    const fake = `9${real.slice(1)}`;
    const text = readFileSync(bundle, 'utf8');
    expect(text.includes(JSON.stringify(real))).toBe(true);
    writeFileSync(bundle, text.split(JSON.stringify(real)).join(JSON.stringify(fake)));
    utimesSync(bundle, fixed, fixed);
    expect(statSync(bundle).size).toBe(before.size);
    expect(statSync(bundle).mtimeMs).toBe(before.mtimeMs);
    expect(version()).toBe(fake);
  });

  it('is off with DRIFT_GUARD_NO_COMPILE_CACHE=1, and an unusable cache directory changes nothing', async () => {
    const off = cacheHome();
    const result = await runCli(['--version'], { env: { ...off.env, DRIFT_GUARD_NO_COMPILE_CACHE: '1' } });
    expect(result.code).toBe(0);
    expect(existsSync(off.dir)).toBe(false);

    const blocked = cacheHome();
    mkdirSync(path.dirname(blocked.dir));
    writeFileSync(blocked.dir, 'a file where the cache directory would go');
    const still = await runCli(['--version'], { env: blocked.env });
    expect(still.code).toBe(0);
    expect(still.stderr).toBe('');
  });

  it("never reads a cache file another user owns", async (context) => {
    if (process.getuid?.() !== 0) {
      console.log('skipped: changing a file owner needs root');
      context.skip();
      return;
    }
    const { dir, env } = cacheHome();
    await runCli(['--version'], { env });
    const file = path.join(dir, caches(dir)[0]!);
    chownSync(file, 65534, 65534); // nobody
    expect((await runCli(['--version'], { env })).code).toBe(0);
    // Not used, so written anew: by this user, replacing the foreign file.
    expect(statSync(file).uid).toBe(0);
  });
});
