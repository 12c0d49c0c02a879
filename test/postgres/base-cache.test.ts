import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BASE_CACHE_KEEP, baseCacheDir, baseCacheKey, loadBaseEntry, storeBaseEntry, trimWal } from '../../src/postgres/base-cache.js';
import type { PostgresInstallation } from '../../src/postgres/binaries.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, makeTempDir, removeDir } from '../helpers.js';

// The cache's bookkeeping on plain directories (test/gate/base-cache.test.ts runs it with real
// clusters and gates): keys, what an entry holds, pruning, WAL trimming.

const tmp = makeTempDir('dg-base-cache-unit-');
afterAll(() => removeDir(tmp));
const env = cleanEnv({ DRIFT_GUARD_CACHE_DIR: path.join(tmp, 'cache') });
const installation: PostgresInstallation = { source: 'system', origin: 'test', binDir: '/bin', postgres: '/bin/sh', initdb: '/bin/true', version: '16.4', major: 16 };

function cluster(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(path.join(dir, 'base'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'PG_VERSION'), '16\n');
  writeFileSync(path.join(dir, 'base', 'file'), name);
  return dir;
}

describe('base cache entries', () => {
  it('keys differ by every part, the server version included', () => {
    const key = baseCacheKey(['a', 'b'], installation, undefined);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(baseCacheKey(['a', 'b'], installation, undefined)).toBe(key);
    expect(baseCacheKey(['ab'], installation, undefined)).not.toBe(key);
    expect(baseCacheKey(['a', 'c'], installation, undefined)).not.toBe(key);
    expect(baseCacheKey(['a', 'b'], { ...installation, version: '16.5' }, undefined)).not.toBe(key);
    expect(baseCacheKey(['a', 'b'], installation, { user: 'postgres', uid: 1, gid: 1 })).not.toBe(key);
  });

  it('stores a cluster owner-only and loads it back; another version misses and is removed', async () => {
    const key = baseCacheKey(['stored'], installation, undefined);
    expect(await storeBaseEntry(key, installation, cluster('one'), { database: 'db1', role: 'r1', password: 'secret' }, env, new RecordingReporter())).toBe(true);
    const entry = path.join(baseCacheDir(env), key);
    expect(statSync(entry).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(entry)) expect(statSync(path.join(entry, file)).mode & 0o777).toBe(0o600);
    const target = path.join(tmp, 'loaded');
    const loaded = await loadBaseEntry(key, installation, undefined, target, env);
    expect(loaded).toMatchObject({ ok: true, password: 'secret', record: { database: 'db1', role: 'r1', version: '16.4' } });
    expect(readFileSync(path.join(target, 'base', 'file'), 'utf8')).toBe('one');
    expect(statSync(target).mode & 0o777).toBe(0o700);

    const other = await loadBaseEntry(key, { ...installation, version: '16.5' }, undefined, path.join(tmp, 'loaded-2'), env);
    expect(other).toEqual({ ok: false, reason: 'the entry was built on PostgreSQL 16.4, this server is 16.5' });
    expect(existsSync(entry)).toBe(false);
    expect(await loadBaseEntry(key, installation, undefined, path.join(tmp, 'loaded-3'), env)).toEqual({ ok: false, reason: 'no entry for this base yet' });
  });

  it(`keeps the ${BASE_CACHE_KEEP} entries used most recently`, async () => {
    const keys = ['p0', 'p1', 'p2'].map((part) => baseCacheKey([part], installation, undefined));
    const dir = baseCacheDir(env);
    for (const [index, key] of keys.entries()) {
      await storeBaseEntry(key, installation, cluster(`prune-${index}`), { database: 'db', role: undefined, password: 'pw' }, env, new RecordingReporter());
      // Stored a minute apart...
      const when = new Date(Date.now() - (keys.length - index) * 60_000);
      utimesSync(path.join(dir, key, 'entry.json'), when, when);
    }
    // ... and the first one used last.
    const now = new Date();
    utimesSync(path.join(dir, keys[0]!, 'entry.json'), now, now);
    const newest = baseCacheKey(['p3'], installation, undefined);
    await storeBaseEntry(newest, installation, cluster('prune-3'), { database: 'db', role: undefined, password: 'pw' }, env, new RecordingReporter());
    const left = readdirSync(dir).filter((name) => /^[0-9a-f]{64}$/.test(name));
    expect(left).toHaveLength(BASE_CACHE_KEEP);
    expect(left.sort()).toEqual([keys[0]!, keys[2]!, newest].sort());
  });

  it('a cache that cannot be written is a warning, not an error', async () => {
    const blocked = cleanEnv({ DRIFT_GUARD_CACHE_DIR: path.join(tmp, 'a-file') });
    writeFileSync(path.join(tmp, 'a-file'), '');
    const reporter = new RecordingReporter();
    expect(await storeBaseEntry(baseCacheKey(['x'], installation, undefined), installation, cluster('blocked'), { database: 'db', role: undefined, password: 'pw' }, blocked, reporter)).toBe(false);
    expect(reporter.lines).toEqual([expect.stringMatching(/^warn: could not keep the base schema in the cache/)]);
    expect(reporter.lines.join()).not.toContain('pw');
  });

  it('trims WAL to the segment of the shutdown checkpoint and the next one', () => {
    const data = path.join(tmp, 'wal');
    mkdirSync(path.join(data, 'pg_wal', 'archive_status'), { recursive: true });
    const names = ['000000010000000000000FFE', '000000010000000000000FFF', '000000010000000100000000', '000000010000000100000001'];
    for (const name of names) writeFileSync(path.join(data, 'pg_wal', name), '');
    trimWal(data, '000000010000000000000FFF', 1024 * 1024);
    expect(readdirSync(path.join(data, 'pg_wal')).sort()).toEqual(['000000010000000000000FFF', '000000010000000100000000', 'archive_status']);
  });
});
