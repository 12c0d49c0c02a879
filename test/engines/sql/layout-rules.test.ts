import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectLayout } from '../../../src/engines/sql/detect-layout.js';
import { compareFlywayVersions, flywayChecksum, javaStringHashCode, parseResourceName } from '../../../src/engines/sql/layouts/flyway.js';
import { numericComponent, parseGooseFile } from '../../../src/engines/sql/layouts/goose.js';
import { LAYOUTS } from '../../../src/engines/sql/project.js';
import { needsParsing } from '../../../src/engines/sql/execute.js';
import { discover } from '../../../src/engines/sql/migrator.js';
import { loadParser, parseScript, topLevelText } from '../../../src/engines/sql/sql-script.js';
import { crc32 } from '../../../src/util/crc32.js';
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

  it('computes in one pass what ChecksumCalculator computes line by line', () => {
    const perLine = (text: string) => text.split(/\r\n|\r|\n/).reduce((crc, line) => crc32(Buffer.from(line, 'utf8'), crc), 0) | 0;
    for (const text of ['CREATE TABLE t (id int);\r\nCOMMENT ON TABLE t IS \'é ü\';\rSELECT 1;\n\n', 'a\nb', '\n\n\n', 'x'.repeat(5000)]) {
      expect(flywayChecksum(text), text.slice(0, 20)).toBe(perLine(text));
    }
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

describe('which scripts are sent without being parsed', () => {
  const script = (sql: string) => ({ file: 'x.sql', fileText: sql, sql, sqlOffset: 0, transaction: true });
  it('blanks comments, literals, quoted names and dollar-quoted bodies, and gives up where it cannot follow', () => {
    expect(topLevelText("SELECT 'begin' -- commit\n, \"end\" /* a /* nested */ vacuum */ FROM t")).toBe('SELECT    \n,     FROM t');
    expect(topLevelText('DO $$ BEGIN NULL; END $$; CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1 $body$ LANGUAGE sql')).toBe('DO  ; CREATE FUNCTION f() RETURNS int AS   LANGUAGE sql');
    expect(topLevelText('SELECT a$b$, $1 FROM t')).toBe('SELECT a$b$, $1 FROM t'); // a "$" inside a name, a parameter
    expect(topLevelText("SELECT 'it''s', E'\\n'")).toBeUndefined(); // a backslash: the string's kind decides
    for (const open of ["SELECT 'x", 'SELECT "x', 'SELECT $$ x', 'SELECT 1 /* x']) expect(topLevelText(open), open).toBeUndefined();
  });

  it('parses exactly the scripts that may hold a statement refusing a transaction or controlling one', async () => {
    await loadParser();
    const cases = [
      ['CREATE TABLE t (id int);', false],
      ["CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN NEW;\nEND;\n$$;", false],
      ['DO $$ BEGIN PERFORM 1; END $$;', false],
      ["COMMENT ON TABLE t IS 'start the database system';", false],
      ['-- commit first\nCREATE TABLE t (id int);', false],
      ['CREATE INDEX CONCURRENTLY i ON t (id);', true],
      ['CREATE TABLE t (id int);\nCOMMIT;', true],
      ['BEGIN;\nCREATE TABLE t (id int);\nEND;', true],
      ['VACUUM t;', true],
      ["SELECT E'\\'' ; COMMIT;", true],
      ['SELECT CASE WHEN true THEN 1 END;', true], // a top-level END: parsed, harmlessly
    ] as const;
    for (const [sql, expected] of cases) {
      expect([sql, needsParsing(script(sql))]).toEqual([sql, expected]);
      const parsed = parseScript(sql);
      const refuses = parsed.ok && parsed.statements.some((st) => st.nonTransactional !== undefined || st.transactionControl);
      if (!expected) expect([sql, refuses]).toEqual([sql, false]);
    }
    expect(needsParsing({ ...script('CREATE TABLE t (id int);'), transaction: false })).toBe(true);
  });
});

describe('files the layout does not read', () => {
  it('names a migration-shaped folder the layout does not read, and not the folders it reads', () => {
    const diesel = path.join(tmp, 'diesel-read');
    writeTree(diesel, {
      '2024-01-01-000001_one/up.sql': 'CREATE TABLE one (id int);\n',
      '2024-01-01-000001_one/down.sql': 'DROP TABLE one;\n',
      '2024-01-01-000002_two/up.sql': 'CREATE TABLE two (id int);\n',
    });
    const read = discover({ dir: diesel, root: tmp, layout: LAYOUTS.diesel });
    expect(read.migrations.map((m) => m.label)).toEqual(['2024-01-01-000001_one', '2024-01-01-000002_two']);
    expect(read.problems).toEqual([]);
    const plain = path.join(tmp, 'plain-shaped');
    writeTree(plain, { '20240101000001_one.sql': 'CREATE TABLE one (id int);\n', 'extra/up.sql': 'CREATE TABLE two (id int);\n' });
    const found = discover({ dir: plain, root: tmp, layout: LAYOUTS.plain });
    expect(found.problems).toEqual([expect.objectContaining({ code: 'UNRECOGNIZED_MIGRATION_FILE', file: path.join('plain-shaped', 'extra') })]);
    expect(found.problems[0]!.message).toContain('a migration-shaped folder (it holds up.sql)');
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
