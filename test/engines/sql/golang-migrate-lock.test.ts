import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../src/util/crc32.js';

import { generateAdvisoryLockId as lockId } from '../../../src/engines/sql/layouts/golang-migrate.js';

// golang-migrate's database/util_test.go vectors for GenerateAdvisoryLockId.

describe('crc32 and the golang-migrate lock id', () => {
  it('matches zlib on a known vector', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('reproduces golang-migrate util_test.go', () => {
    // What the migrate CLI locks for postgres://.../mydb: schema, table, then the URL path.
    expect(lockId('/mydb', 'public', 'schema_migrations')).toBe(616192132);
    expect(lockId('database_name')).toBe(1764327054);
    expect(lockId('database_name', 'schema_name_1')).toBe(2453313553);
    expect(lockId('database_name', 'schema_name_2')).toBe(235207038);
    expect(lockId('database_name', 'schema_name_1', 'schema_name_2')).toBe(3743845847);
  });
});
