import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectLayout } from '../../../src/engines/sql/detect-layout.js';
import { compareFlywayVersions, flywayChecksum, javaStringHashCode, parseResourceName } from '../../../src/engines/sql/layouts/flyway.js';
import { numericComponent, parseGooseFile } from '../../../src/engines/sql/layouts/goose.js';
import { LAYOUTS } from '../../../src/engines/sql/project.js';
import { loadParser, parseScript } from '../../../src/engines/sql/sql-script.js';
import { DriftGuardError } from '../../../src/errors.js';
import { makeTempDir, removeDir, writeTree } from '../../helpers.js';

const tmp = makeTempDir('dg-rules-');
afterAll(() => removeDir(tmp));

describe('flyway rules', () => {
  it('parses names the way ResourceNameParser does', () => {
    expect(parseResourceName('V1_1__Add_table.sql')).toEqual({ prefix: 'V', version: '1.1', description: 'Add table' });
    expect(parseResourceName('V2__x.sql')).toEqual({ prefix: 'V', version: '2', description: 'x' });
    expect(parseResourceName('R__My_view.sql')).toEqual({ prefix: 'R', version: '', description: 'My view' });
    expect(parseResourceName('V1__add__users.sql')?.description).toBe('add  users');
    expect(parseResourceName('V001_2__x.sql')?.version).toBe('001.2');
    // Not migrations: lower-case prefix, single underscore, versioned repeatable, other suffix.
    for (const name of ['v1__x.sql', 'V1_add.sql', 'R1__x.sql', 'V1__x.txt', 'beforeMigrate.sql']) expect(parseResourceName(name), name).toBeUndefined();
  });

  it('orders versions numerically, ignoring trailing zero parts', () => {
    expect(compareFlywayVersions('1.10', '1.9')).toBe(1);
    expect(compareFlywayVersions('2', '1.999')).toBe(1);
    expect(compareFlywayVersions('1', '1.0.0')).toBe(0);
    expect(compareFlywayVersions('001', '1')).toBe(0);
  });

  it('computes the checksum like ChecksumCalculator (CRC32 of lines, signed)', () => {
    expect(flywayChecksum('CREATE TABLE t (id int);\n')).toBe(92137680);
    expect(flywayChecksum('\ufeffCREATE TABLE t (id int);\r\n')).toBe(92137680);
    expect(flywayChecksum('CREATE TABLE t (id int);')).toBe(92137680);
    expect(flywayChecksum('')).toBe(0);
    // Values past 2^31 come out negative, as Java's (int) cast makes them.
    expect([...Array(50).keys()].map((i) => flywayChecksum(`SELECT ${i};`)).some((c) => c < 0)).toBe(true);
  });

  it('uses the advisory lock key Flyway uses for "public"."flyway_schema_history"', () => {
    expect(77431708279161n + BigInt(javaStringHashCode('"public"."flyway_schema_history"'))).toBe(77433833903597n);
  });
});

describe('goose rules', () => {
  it('takes the version before the first underscore, as a positive int64', () => {
    expect(numericComponent('00001_init.sql')).toBe('1');
    expect(numericComponent('20230201093158_add_users.sql')).toBe('20230201093158');
    expect(numericComponent('0_zero.sql')).toEqual({ error: 'migration version must be greater than zero' });
    expect(numericComponent('init.sql')).toEqual({ error: "no filename separator '_' found" });
  });

  it('splits sections and honours annotations case-insensitively', () => {
    const text = '-- +goose up\n-- +goose statementbegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n\n-- +goose Down\nDROP FUNCTION f();\n';
    const parsed = parseGooseFile(text, 'x.sql');
    expect('error' in parsed).toBe(false);
    if ('error' in parsed) return;
    expect(parsed.up.sql).toContain('CREATE FUNCTION');
    expect(parsed.up.sql).not.toContain('DROP FUNCTION');
    expect(parsed.down?.sql).toContain('DROP FUNCTION');
    expect(parsed.up.transaction).toBe(true);
  });

  it('reports what goose reports', () => {
    expect(parseGooseFile('-- only a comment\n', 'x.sql')).toMatchObject({ error: expect.stringContaining("must start with '-- +goose Up'") });
    expect(parseGooseFile('CREATE TABLE t (id int);\n-- +goose Up\n', 'x.sql')).toMatchObject({ error: expect.stringContaining('unexpected state 0'), line: 1 });
    expect(parseGooseFile('-- +goose Up\nSELECT 1\n', 'x.sql')).toMatchObject({ error: expect.stringContaining('missing semicolon') });
    expect(parseGooseFile('-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n', 'x.sql')).toMatchObject({ error: "missing '-- +goose StatementEnd' annotation", line: 2 });
    expect(parseGooseFile(' -- +goose Up\nSELECT 1;\n', 'x.sql')).toMatchObject({ error: expect.stringContaining('leading whitespace'), line: 1 });
    expect(parseGooseFile('-- +goose Up\n-- +goose Up\n', 'x.sql')).toMatchObject({ error: "duplicate '-- +goose Up' annotations", line: 2 });
  });

  it('applies NO TRANSACTION to both directions wherever it appears', () => {
    const parsed = parseGooseFile('-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose NO TRANSACTION\nSELECT 2;\n', 'x.sql');
    if ('error' in parsed) throw new Error(parsed.error);
    expect(parsed.up.transaction).toBe(false);
    expect(parsed.down?.transaction).toBe(false);
  });
});

describe('statement splitting', () => {
  it('keeps dollar-quoted bodies whole and finds statements that refuse transactions', async () => {
    await loadParser();
    const parsed = parseScript("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nVACUUM;\nDROP INDEX CONCURRENTLY i;\nBEGIN;\nSELECT 'é;';\n");
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.statements.map((s) => [s.kind, s.nonTransactional ?? null, s.transactionControl])).toEqual([
      ['CreateFunctionStmt', null, false],
      ['VacuumStmt', 'VACUUM', false],
      ['DropStmt', 'DROP INDEX CONCURRENTLY', false],
      ['TransactionStmt', null, true],
      ['SelectStmt', null, false],
    ]);
    expect(parsed.statements[4]!.text).toBe("SELECT 'é;'");
  });
});

describe('layout detection', () => {
  const detect = (name: string, files: Record<string, string>) => {
    const dir = path.join(tmp, name);
    writeTree(dir, files);
    return detectLayout(dir, LAYOUTS, name);
  };

  it('recognises each tool from its files', () => {
    expect(detect('fw', { 'V1__a.sql': '' }).name).toBe('flyway');
    expect(detect('gm', { '1_a.up.sql': '', '1_a.down.sql': '' }).name).toBe('golang-migrate');
    expect(detect('go', { '1_a.sql': '-- +goose Up\nSELECT 1;\n' }).name).toBe('goose');
    expect(detect('db', { '20240101000000_a.sql': '-- migrate:up\nSELECT 1;\n-- migrate:down\n' }).name).toBe('dbmate');
    expect(detect('ds', { '2024-01-01-000000_a/up.sql': 'SELECT 1;' }).name).toBe('diesel');
    expect(detect('pl', { '20240101000000_a.sql': 'SELECT 1;' }).name).toBe('plain');
  });

  it('refuses empty and mixed directories with a clear message', () => {
    expect(() => detect('empty', { 'README.md': '' })).toThrow(/no migrations recognised in empty; set sql.layout/);
    expect(() => detect('mixed', { 'V1__a.sql': '', '2_b.up.sql': '' })).toThrow(/mixes migration layouts: flyway \(V1__a.sql\), golang-migrate \(2_b.up.sql\)/);
    try {
      detect('mixed2', { 'V1__a.sql': '', '2_b.up.sql': '' });
    } catch (error) {
      expect((error as DriftGuardError).exitCode).toBe(2);
    }
  });
});
