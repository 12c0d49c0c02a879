import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gateMigrationsCache, gateMigrationsKey } from '../../../src/engines/sql/gate-migrations.js';
import { cleanEnv, makeTempDir, removeDir } from '../../helpers.js';

// What the gate read of a base commit, kept by the commit's listing: keys, what is never kept,
// and entries that are not one.

const tmp = makeTempDir('dg-gate-migrations-');
afterAll(() => removeDir(tmp));
const repo = path.join(tmp, 'repo');
mkdirSync(path.join(repo, '.git'), { recursive: true });
const env = cleanEnv({ DRIFT_GUARD_CACHE_DIR: path.join(tmp, 'cache') });
const listing = '100644 blob 1111111111111111111111111111111111111111\tdb/migrations/1_a.sql\n100755 blob 2222222222222222222222222222222222222222\tdb/migrations/2_b.sql\n';
const migration = { id: '1', label: '1_a.sql', file: 'db/migrations/1_a.sql', text: 'CREATE TABLE a ();\u0000', upText: 'CREATE TABLE a ();', hasDown: false };

describe('gate migrations cache', () => {
  it('keys by the listing and every setting; listings git archive may not reproduce are never kept', () => {
    const key = gateMigrationsKey(listing, ['plain', '{}'], repo);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(gateMigrationsKey(listing, ['plain', '{}'], repo)).toBe(key);
    expect(gateMigrationsKey(listing.replace('2222', '3333'), ['plain', '{}'], repo)).not.toBe(key);
    expect(gateMigrationsKey(listing.replace('2_b.sql', '3_b.sql'), ['plain', '{}'], repo)).not.toBe(key);
    expect(gateMigrationsKey(listing, ['flyway', '{}'], repo)).not.toBe(key);
    expect(gateMigrationsKey(listing, ['plain{', '}'], repo)).not.toBe(key);
    expect(gateMigrationsKey(`${listing}120000 blob 4444444444444444444444444444444444444444\tdb/migrations/3_link.sql\n`, ['plain'], repo)).toBeUndefined();
    expect(gateMigrationsKey(`${listing}160000 commit 5555555555555555555555555555555555555555\tdb/migrations/sub\n`, ['plain'], repo)).toBeUndefined();
    expect(gateMigrationsKey(`100644 blob 6666666666666666666666666666666666666666\t.gitattributes\n${listing}`, ['plain'], repo)).toBeUndefined();
    expect(gateMigrationsKey(`${listing}100644 blob 6666666666666666666666666666666666666666\tdb/migrations/.gitattributes\n`, ['plain'], repo)).toBeUndefined();
    const attributes = path.join(tmp, 'with-attributes');
    mkdirSync(path.join(attributes, '.git', 'info'), { recursive: true });
    writeFileSync(path.join(attributes, '.git', 'info', 'attributes'), '*.sql export-ignore\n');
    expect(gateMigrationsKey(listing, ['plain'], attributes)).toBeUndefined();
  });

  it('reads back what was written; an entry that is not one is ignored', () => {
    const cache = gateMigrationsCache(env);
    const key = gateMigrationsKey(listing, ['plain'], repo)!;
    expect(cache.read(key)).toBeUndefined();
    cache.write(key, [migration, { ...migration, id: '2', downFile: 'db/migrations/2.down.sql', hasDown: true }]);
    expect(cache.read(key)).toEqual([migration, { ...migration, id: '2', downFile: 'db/migrations/2.down.sql', hasDown: true }]);
    const file = path.join(tmp, 'cache', 'gate-migrations', `${key}.json`);
    writeFileSync(file, '{ cut');
    expect(cache.read(key)).toBeUndefined();
    writeFileSync(file, JSON.stringify({ format: 'drift-guard gate migrations 1', key, migrations: [{ ...migration, text: 7 }] }));
    expect(cache.read(key)).toBeUndefined();
    writeFileSync(file, JSON.stringify({ format: 'drift-guard gate migrations 1', key: '0'.repeat(64), migrations: [migration] }));
    expect(cache.read(key)).toBeUndefined();
    cache.write(key, [migration]);
    expect(cache.read(key)).toEqual([migration]);
    expect(readdirSync(path.join(tmp, 'cache', 'gate-migrations')).filter((name) => name.startsWith('.partial'))).toEqual([]);
  });
});
