import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
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

/** A data directory's shape: initdb's databases (base/1, base/5), two of its own (base/16384, base/16390), relcache init files. */
function cluster(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(path.join(dir, 'global'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'PG_VERSION'), '16\n');
  writeFileSync(path.join(dir, 'global', 'pg_internal.init'), 'stale');
  for (const db of ['1', '5', '16384', '16390']) {
    mkdirSync(path.join(dir, 'base', db), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dir, 'base', db, 'PG_VERSION'), '16\n');
    writeFileSync(path.join(dir, 'base', db, 'pg_internal.init'), 'stale');
    for (let file = 0; file < 40; file++) writeFileSync(path.join(dir, 'base', db, String(2600 + file)), `${name} ${db} ${file} `.repeat(file * 50));
  }
  return dir;
}

/** Every file under `dir` (relative) with its contents. */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (sub: string): void => {
    for (const entry of readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else files[rel] = readFileSync(path.join(dir, rel), 'utf8');
    }
  };
  walk('.');
  return files;
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
    expect(readdirSync(entry).sort()).toEqual(['base-1.tar', 'base-2.tar', 'cluster.tar', 'entry.json', 'password']);
    const target = path.join(tmp, 'loaded');
    const loaded = await loadBaseEntry(key, installation, undefined, target, env);
    expect(loaded).toMatchObject({ ok: true, password: 'secret', record: { database: 'db1', role: 'r1', version: '16.4', directories: ['base/1', 'base/16384', 'base/16390', 'base/5'] } });
    expect(loaded.ok && (await loaded.databases)).toBeUndefined();
    // Every file back, but the relation cache's init files (the server removes them at start).
    const stored = Object.fromEntries(Object.entries(tree(path.join(tmp, 'one'))).filter(([file]) => !file.endsWith('pg_internal.init')));
    expect(Object.keys(stored).length).toBe(1 + 4 * 41);
    expect(tree(target)).toEqual(stored);
    for (const dir of ['.', 'base', 'base/1', 'base/16384', 'base/16390']) expect(statSync(path.join(target, dir)).mode & 0o777).toBe(0o700);

    const other = await loadBaseEntry(key, { ...installation, version: '16.5' }, undefined, path.join(tmp, 'loaded-2'), env);
    expect(other).toEqual({ ok: false, reason: 'the entry was built on PostgreSQL 16.4, this server is 16.5' });
    expect(existsSync(entry)).toBe(false);
    expect(await loadBaseEntry(key, installation, undefined, path.join(tmp, 'loaded-3'), env)).toEqual({ ok: false, reason: 'no entry for this base yet' });
  });

  it('splits the databases\' files in two halves of about the same size; the cluster archive holds none of them', async () => {
    const key = baseCacheKey(['halves'], installation, undefined);
    await storeBaseEntry(key, installation, cluster('halves'), { database: 'db', role: undefined, password: 'pw' }, env, new RecordingReporter());
    const entry = path.join(baseCacheDir(env), key);
    const list = (archive: string): string[] => execFileSync('tar', ['-t', '-f', path.join(entry, archive)], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const [clusterList, one, two] = [list('cluster.tar'), list('base-1.tar'), list('base-2.tar')];
    expect(clusterList.some((name) => (name.startsWith('./base/') && name !== './base/') || name.endsWith('pg_internal.init'))).toBe(false);
    expect(clusterList).toContain('./PG_VERSION');
    expect([...one, ...two].sort()).toEqual(['1', '16384', '16390', '5'].flatMap((db) => ['PG_VERSION', ...Array.from({ length: 40 }, (_, f) => String(2600 + f))].map((file) => `./base/${db}/${file}`)).sort());
    const size = (archive: string): number => statSync(path.join(entry, archive)).size;
    expect(Math.abs(size('base-1.tar') - size('base-2.tar'))).toBeLessThan(0.1 * size('base-1.tar'));
    rmSync(entry, { recursive: true });
  });

  it('a missing or damaged part is a miss, and the entry is removed', async () => {
    const key = baseCacheKey(['parts'], installation, undefined);
    const entry = path.join(baseCacheDir(env), key);
    await storeBaseEntry(key, installation, cluster('parts'), { database: 'db', role: undefined, password: 'pw' }, env, new RecordingReporter());
    rmSync(path.join(entry, 'base-2.tar'));
    expect(await loadBaseEntry(key, installation, undefined, path.join(tmp, 'parts-1'), env)).toEqual({ ok: false, reason: 'the entry could not be read (base-2.tar is missing)' });
    expect(existsSync(entry)).toBe(false);
    expect(existsSync(path.join(tmp, 'parts-1'))).toBe(false);

    // A half damaged: the cluster is out (the server may start), the databases are not: a miss.
    await storeBaseEntry(key, installation, cluster('parts'), { database: 'db', role: undefined, password: 'pw' }, env, new RecordingReporter());
    writeFileSync(path.join(entry, 'base-1.tar'), 'not a tar archive '.repeat(100));
    const cut = await loadBaseEntry(key, installation, undefined, path.join(tmp, 'parts-2'), env);
    expect(cut.ok).toBe(true);
    expect(cut.ok && (await cut.databases)).toMatch(/^tar -x failed/);
    expect(existsSync(entry)).toBe(false);

    // The cluster archive damaged: a miss at once.
    await storeBaseEntry(key, installation, cluster('parts'), { database: 'db', role: undefined, password: 'pw' }, env, new RecordingReporter());
    writeFileSync(path.join(entry, 'cluster.tar'), 'not a tar archive '.repeat(100));
    expect(await loadBaseEntry(key, installation, undefined, path.join(tmp, 'parts-3'), env)).toMatchObject({ ok: false, reason: expect.stringMatching(/^the entry could not be copied \(tar -x failed/) });
    expect(existsSync(entry)).toBe(false);
    expect(existsSync(path.join(tmp, 'parts-3'))).toBe(false);
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
