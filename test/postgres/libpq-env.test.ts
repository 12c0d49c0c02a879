import { describe, expect, it } from 'vitest';
import { libpqEnvironment } from '../../src/postgres/libpq-env.js';

describe('libpqEnvironment', () => {
  it('splits a URL into PG* variables, decoding what the URL encodes', () => {
    expect(libpqEnvironment('postgresql://app%40corp:p%40ss%2Fw@db.internal:6543/my%20db?sslmode=require')).toEqual({
      PGHOST: 'db.internal',
      PGPORT: '6543',
      PGUSER: 'app@corp',
      PGPASSWORD: 'p@ss/w',
      PGDATABASE: 'my db',
      PGSSLMODE: 'require',
    });
  });

  it('takes the host and port from the query (a Unix socket) and unbrackets IPv6 hosts', () => {
    expect(libpqEnvironment('postgres://me@localhost/shop?host=/var/run/postgresql&port=5433')).toEqual({ PGHOST: '/var/run/postgresql', PGPORT: '5433', PGUSER: 'me', PGDATABASE: 'shop' });
    expect(libpqEnvironment('postgres://me:pw@[::1]/shop').PGHOST).toBe('::1');
    expect(libpqEnvironment('postgres://me:pw@[::1]/shop').PGPORT).toBe('5432');
  });

  it('sets no PGPASSWORD when the URL has none, so a password from the environment or ~/.pgpass still applies', () => {
    expect(libpqEnvironment('postgres://me@localhost/shop')).not.toHaveProperty('PGPASSWORD');
  });
});
