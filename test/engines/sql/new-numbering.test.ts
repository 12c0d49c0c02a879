// `new` follows the numbering a project already uses: sequential numbers keep counting with the
// same zero-padded width, timestamps stay timestamps, for every layout.

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayoutName } from '../../../src/engines/sql/layout.js';
import { LAYOUTS } from '../../../src/engines/sql/project.js';
import { loadParser } from '../../../src/engines/sql/sql-script.js';
import { cleanEnv, makeTempDir, removeDir, runCli } from '../../helpers.js';

const tmp = makeTempDir();
beforeAll(() => loadParser()); // diesel's discover parses up.sql
afterAll(() => removeDir(tmp));

const NOW = new Date('2026-12-02T17:57:39Z');
let counter = 0;

/** A migrations folder holding one migration per version, written the way `layout` names them. */
function project(layout: LayoutName, versions: readonly string[]): string {
  const dir = path.join(tmp, `${layout}-${counter++}`);
  mkdirSync(dir, { recursive: true });
  versions.forEach((version, i) => {
    const name = `step_${i + 1}`;
    const sql = `CREATE TABLE t${i} (id int);\n`;
    switch (layout) {
      case 'golang-migrate':
        writeFileSync(path.join(dir, `${version}_${name}.up.sql`), sql);
        writeFileSync(path.join(dir, `${version}_${name}.down.sql`), `DROP TABLE t${i};\n`);
        break;
      case 'goose':
        writeFileSync(path.join(dir, `${version}_${name}.sql`), `-- +goose Up\n${sql}-- +goose Down\nDROP TABLE t${i};\n`);
        break;
      case 'dbmate':
        writeFileSync(path.join(dir, `${version}_${name}.sql`), `-- migrate:up\n${sql}\n-- migrate:down\nDROP TABLE t${i};\n`);
        break;
      case 'flyway':
        writeFileSync(path.join(dir, `V${version}__${name}.sql`), sql);
        break;
      case 'diesel':
        mkdirSync(path.join(dir, `${version}_${name}`));
        writeFileSync(path.join(dir, `${version}_${name}`, 'up.sql'), sql);
        writeFileSync(path.join(dir, `${version}_${name}`, 'down.sql'), `DROP TABLE t${i};\n`);
        break;
      case 'plain':
        writeFileSync(path.join(dir, `${version}_${name}.sql`), sql);
        break;
    }
  });
  return dir;
}

/** The first file (or folder) name `new` would create, relative to the migrations folder. */
function next(layout: LayoutName, versions: readonly string[]): string {
  const dir = project(layout, versions);
  const existing = LAYOUTS[layout].discover(dir, dir).migrations;
  expect(existing).toHaveLength(versions.length);
  const files = LAYOUTS[layout].newMigration(dir, 'add foo', existing, NOW);
  return path.relative(dir, files[0]!.path);
}

describe('new: sequential projects count on with the same width', () => {
  it.each([
    ['golang-migrate', ['000001', '000002', '000003', '000004', '000005'], '000006_add_foo.up.sql'],
    ['golang-migrate', ['1', '2', '9'], '10_add_foo.up.sql'],
    ['goose', ['001', '002', '003', '004', '005', '006'], '007_add_foo.sql'],
    ['goose', ['00001', '00002'], '00003_add_foo.sql'],
    ['dbmate', ['0001', '0002'], '0003_add_foo.sql'],
    ['flyway', ['1', '2', '3'], 'V4__add_foo.sql'],
    ['flyway', ['001', '002'], 'V003__add_foo.sql'],
    ['flyway', ['1', '1.1', '2'], 'V3__add_foo.sql'],
    ['diesel', ['0001', '0002'], path.join('0003_add_foo', 'up.sql')],
  ] as const)('%s %j -> %s', (layout, versions, expected) => {
    expect(next(layout, versions)).toBe(expected);
  });
});

describe('new: timestamp projects get the clock, in the tool format', () => {
  it.each([
    ['golang-migrate', ['20260101000000', '20260102000000'], '20261202175739_add_foo.up.sql'],
    ['golang-migrate', ['1767225600', '1767312000'], `${Math.floor(NOW.getTime() / 1000)}_add_foo.up.sql`],
    ['goose', ['20260101000000'], '20261202175739_add_foo.sql'],
    ['dbmate', ['20260101000000', '20260102000000'], '20261202175739_add_foo.sql'],
    ['flyway', ['20260101000000'], 'V20261202175739__add_foo.sql'],
    ['diesel', ['2026-01-01-000000', '2026-01-02-000000'], path.join('2026-12-02-175739_add_foo', 'up.sql')],
    ['diesel', ['00000000000000', '2026-01-02-000000'], path.join('2026-12-02-175739_add_foo', 'up.sql')],
    ['plain', ['20260101000000', '20260102000000'], '20261202175739_add_foo.sql'],
  ] as const)('%s %j -> %s', (layout, versions, expected) => {
    expect(next(layout, versions)).toBe(expected);
  });

  it.each(['golang-migrate', 'goose', 'dbmate', 'flyway', 'diesel', 'plain'] as const)('%s without migrations: the clock', (layout) => {
    expect(next(layout, [])).toMatch(/^(V)?2026-?12-?02-?175739_/);
  });
});

describe('drift-guard new on sequential projects', () => {
  it('writes 000006 after 000001..000005 (golang-migrate)', async () => {
    const dir = project('golang-migrate', ['000001', '000002', '000003', '000004', '000005']);
    const created = await runCli(['new', 'add foo', '--dir', dir], { cwd: tmp, env: cleanEnv() });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('000006_add_foo.up.sql');
    expect(readdirSync(dir).filter((f) => f.startsWith('000006_'))).toEqual(['000006_add_foo.down.sql', '000006_add_foo.up.sql']);
  });

  it('writes 0003_add_foo/ after 0001, 0002 (diesel)', async () => {
    const dir = project('diesel', ['0001', '0002']);
    const created = await runCli(['new', 'add foo', '--dir', dir, '--layout', 'diesel'], { cwd: tmp, env: cleanEnv() });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(readdirSync(dir)).toContain('0003_add_foo');
  });
});
