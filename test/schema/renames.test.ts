// Renames recognised by catalog identity (src/schema/renames.ts): each case loads a schema, reads
// it, runs a migration, reads again, and checks what diffAcrossRenames says against what the
// migration did. What is left besides the renames must be what the same migration shows when the
// objects keep their names; a drop and create under the same names is never a rename.

import { describe, expect, it } from 'vitest';
import { introspectUrl, readCatalogUrl } from '../../src/introspect/introspect.js';
import { withClient } from '../../src/postgres/client.js';
import { diffSchemas } from '../../src/schema/diff.js';
import { modelFromText, modelToText } from '../../src/schema/model-json.js';
import { diffAcrossRenames } from '../../src/schema/renames.js';
import type { ModelOptions } from '../../src/schema/rows-to-model.js';
import { sharedServerSuite, TEST_PG_MAJOR } from '../helpers.js';

const suite = sharedServerSuite('dg-renames-', { version: TEST_PG_MAJOR });

const OPTIONS: ModelOptions = { ignore: [], ignoreHistoryTables: true };

const SCHEMA = `
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('sad', 'ok');
CREATE SEQUENCE shop.ticket_seq;
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TABLE shop.orders (id bigint PRIMARY KEY, total numeric NOT NULL CONSTRAINT total_positive CHECK (total > 0), note text, mood shop.mood, ticket bigint DEFAULT nextval('shop.ticket_seq'));
CREATE TABLE shop.items (id serial PRIMARY KEY, order_id bigint REFERENCES shop.orders (id), qty int);
CREATE INDEX items_qty_idx ON shop.items (qty);
CREATE INDEX orders_note_idx ON shop.orders (note) WHERE note IS NOT NULL;
CREATE TRIGGER orders_touch BEFORE UPDATE ON shop.orders FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE VIEW shop.big AS SELECT o.id, o.note, i.qty FROM shop.orders o JOIN shop.items i ON i.order_id = o.id WHERE o.total > 100;
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY cheap ON shop.orders USING (total < 1000 AND note IS NOT NULL);
ALTER TABLE shop.orders ADD COLUMN gross numeric GENERATED ALWAYS AS (total * 1.2) STORED;
ALTER TABLE shop.items ADD CONSTRAINT qty_positive CHECK (qty > 0);
CREATE TRIGGER items_touch BEFORE UPDATE ON shop.items FOR EACH ROW WHEN (OLD.qty IS DISTINCT FROM NEW.qty) EXECUTE FUNCTION shop.touch();
`;

interface Case {
  readonly name: string;
  readonly migration: string;
  /** The renames' descriptions, in order. */
  readonly renames: readonly string[];
  /** Descriptions of the other changes (empty: the renames are all there is). */
  readonly rest?: readonly string[];
  /** Replay the renames' SQL, then the rest's, on the old schema (false: the names collide half-way, or the rest creates what a rename needs). */
  readonly replay?: false;
  /** A second migration on top, read against the first's schema: only renames. */
  readonly then?: { readonly migration: string; readonly renames: readonly string[] };
}

const CASES: readonly Case[] = [
  { name: 'a table renamed', migration: 'ALTER TABLE shop.items RENAME TO line_items', renames: ['rename table shop.items to line_items'] },
  { name: 'a column renamed that an index, a view and a policy use', migration: 'ALTER TABLE shop.orders RENAME COLUMN note TO remark', renames: ['rename column shop.orders.note to remark'] },
  { name: 'a schema renamed', migration: 'ALTER SCHEMA shop RENAME TO store', renames: ['rename schema shop to store'] },
  {
    name: 'a schema renamed, with a view and an index in it dropped',
    migration: 'ALTER SCHEMA shop RENAME TO store; DROP VIEW store.big; DROP INDEX store.items_qty_idx',
    renames: ['rename schema shop to store'],
    rest: ['drop view store.big', 'drop index store.items_qty_idx'],
  },
  { name: 'a table moved to another schema', migration: 'CREATE SCHEMA archive; ALTER TABLE shop.items SET SCHEMA archive', renames: ['move table shop.items to schema archive'], rest: ['create schema archive'], replay: false },
  { name: 'an index and a constraint renamed', migration: 'ALTER INDEX shop.items_qty_idx RENAME TO items_by_qty; ALTER TABLE shop.orders RENAME CONSTRAINT total_positive TO total_above_zero', renames: ['rename constraint total_positive to total_above_zero', 'rename index shop.items_qty_idx to items_by_qty'] },
  { name: 'a type, a sequence and a function renamed', migration: 'ALTER TYPE shop.mood RENAME TO feeling; ALTER SEQUENCE shop.ticket_seq RENAME TO ticket_numbers; ALTER FUNCTION shop.touch() RENAME TO stamp', renames: ['rename type shop.mood to feeling', 'rename sequence shop.ticket_seq to ticket_numbers', 'rename function shop.touch to stamp'] },
  { name: 'two tables swapping names', migration: 'ALTER TABLE shop.items RENAME TO tmp; ALTER TABLE shop.orders RENAME TO items; ALTER TABLE shop.tmp RENAME TO orders', renames: ['rename table shop.items to orders', 'rename table shop.orders to items'], replay: false },
  {
    name: 'a column renamed that a check, a foreign key, a generated column and a trigger condition use',
    migration: 'ALTER TABLE shop.orders RENAME COLUMN total TO amount; ALTER TABLE shop.orders RENAME COLUMN id TO order_id; ALTER TABLE shop.items RENAME COLUMN qty TO quantity',
    renames: ['rename column shop.items.qty to quantity', 'rename column shop.orders.id to order_id', 'rename column shop.orders.total to amount'],
  },
  { name: 'a column renamed and another added under its old name', migration: 'ALTER TABLE shop.orders RENAME COLUMN note TO remark; ALTER TABLE shop.orders ADD COLUMN note varchar(10)', renames: ['rename column shop.orders.note to remark'], rest: ['add column shop.orders.note character varying(10)'] },
  { name: 'a table renamed to a name that needs quotes', migration: 'ALTER TABLE shop.items RENAME TO "Order Items"', renames: ['rename table shop.items to "Order Items"'] },
  {
    // EF Core's names: every one quoted.
    name: 'quoted names renamed as EF Core does: a column, a table and its index',
    migration: `CREATE TABLE shop."Links" ("Id" int PRIMARY KEY, "UserId" int, "OldNote" varchar(20));
      CREATE INDEX "IX_Links_UserId" ON shop."Links" ("UserId");
      CREATE VIEW shop."LinkNotes" AS SELECT "Id", "OldNote" FROM shop."Links";`,
    renames: [],
    rest: ['create table shop."Links"', 'create primary key "Links_pkey" on shop."Links"', 'create index shop."IX_Links_UserId"', 'create view shop."LinkNotes"'],
    then: {
      migration: 'ALTER TABLE shop."Links" RENAME COLUMN "OldNote" TO "NewNote"; ALTER TABLE shop."Links" RENAME TO "UserLinks"; ALTER INDEX shop."IX_Links_UserId" RENAME TO "IX_UserLinks_UserId"',
      renames: ['rename table shop."Links" to "UserLinks"', 'rename column shop."Links"."OldNote" to "NewNote"', 'rename index shop."IX_Links_UserId" to "IX_UserLinks_UserId"'],
    },
  },
  {
    name: 'a view over a renamed column also redefined: the new definition is a change',
    migration: "ALTER TABLE shop.orders RENAME COLUMN note TO remark; CREATE OR REPLACE VIEW shop.big AS SELECT o.id, o.remark AS note, i.qty FROM shop.orders o JOIN shop.items i ON i.order_id = o.id WHERE o.total > 500",
    renames: ['rename column shop.orders.note to remark'],
    rest: ['replace view shop.big'],
  },
  {
    name: 'a table renamed and changed',
    migration: 'ALTER TABLE shop.items RENAME TO line_items; ALTER TABLE shop.line_items ADD COLUMN price numeric; ALTER TABLE shop.line_items DROP COLUMN qty CASCADE',
    renames: ['rename table shop.items to line_items'],
    rest: ['drop view shop.big', 'drop index shop.items_qty_idx', 'drop check qty_positive on shop.line_items', 'drop trigger items_touch on shop.line_items', 'drop column shop.line_items.qty', 'add column shop.line_items.price numeric'],
  },
];

async function run(url: string, sql: string): Promise<void> {
  await withClient(url, (client) => client.query(sql));
}

describe('renames between two reads of one database', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    await suite.server().withDatabase(async (db) => {
      await run(db.adminUrl, SCHEMA);
      const before = (await readCatalogUrl(db.adminUrl, OPTIONS)).model;
      await run(db.adminUrl, testCase.migration);
      const after = await introspectUrl(db.adminUrl, OPTIONS);
      const diff = diffAcrossRenames(before, after);
      expect(diff.renames.map((r) => r.description)).toEqual(testCase.renames);
      const rest = diff.changes.slice(diff.renames.length);
      expect(rest.map((c) => c.description).sort()).toEqual([...(testCase.rest ?? [])].sort());
      // A rename keeps the rows: nothing says otherwise.
      expect(diff.changes.filter((c) => diff.renames.some((r) => r.to === c.id)).flatMap((c) => c.hazards)).toEqual([]);
      // What the plain diff (names only) says about the same pair: drops with DELETES_DATA where a table or column was renamed.
      if (testCase.renames.some((r) => /^rename (table|column)/.test(r))) expect(diffSchemas(before, after).changes.some((c) => c.hazards.some((h) => h.code === 'DELETES_DATA'))).toBe(true);
      if (testCase.then !== undefined) {
        await run(db.adminUrl, testCase.then.migration);
        const next = diffAcrossRenames(after, await introspectUrl(db.adminUrl, OPTIONS));
        expect(next.changes.map((c) => c.description)).toEqual(testCase.then.renames);
        return;
      }
      // The renaming SQL plus the rest turns the old schema into the new one.
      if (testCase.replay === false) return;
      await run(db.adminUrl, `DROP SCHEMA IF EXISTS shop, store, archive CASCADE; DROP TABLE IF EXISTS public.anything`);
      await run(db.adminUrl, SCHEMA);
      for (const statement of [...diff.renames.map((r) => r.sql), ...diff.statements]) await run(db.adminUrl, statement);
      const replayed = await introspectUrl(db.adminUrl, OPTIONS);
      expect(diffSchemas(after, replayed).changes.map((c) => c.description)).toEqual([]);
    });
  });

  it('a table or a column dropped and created again under the same name is no rename: its data is gone, which the diff by name cannot see', async () => {
    await suite.server().withDatabase(async (db) => {
      await run(db.adminUrl, SCHEMA);
      const before = (await readCatalogUrl(db.adminUrl, OPTIONS)).model;
      await run(db.adminUrl, 'DROP TABLE shop.items CASCADE; CREATE TABLE shop.items (id serial PRIMARY KEY, order_id bigint REFERENCES shop.orders (id), qty int); ALTER TABLE shop.orders DROP COLUMN note CASCADE; ALTER TABLE shop.orders ADD COLUMN note varchar(10); DROP SEQUENCE shop.ticket_seq CASCADE; CREATE SEQUENCE shop.ticket_seq');
      const after = await introspectUrl(db.adminUrl, OPTIONS);
      const diff = diffAcrossRenames(before, after);
      expect(diff.renames).toEqual([]);
      const recreated = diff.changes.filter((c) => c.action === 'replace' && c.hazards.some((h) => h.code === 'DELETES_DATA'));
      expect(recreated.map((c) => c.description)).toEqual(['drop and create sequence shop.ticket_seq again', 'drop and create table shop.items again', 'drop and add column shop.orders.note again']);
      // By name, none of the three is dropped; the column seems to change its type (and to lose data by narrowing).
      const byName = diffSchemas(before, after).changes;
      expect(byName.filter((c) => c.kind === 'table' && c.action === 'drop')).toEqual([]);
      expect(byName.map((c) => c.description)).toContain('change shop.orders.note from text to character varying(10)');
      // Here the new column's type is its own, and the new table's keys and columns are its own: the rest
      // is what the diff by name says of everything else.
      const rest = diff.changes.slice(recreated.length).map((c) => c.description);
      expect(rest).toEqual(byName.filter((c) => c.id !== 'column:shop.orders.note' && c.table !== 'shop.items').map((c) => c.description));
      expect(rest.some((d) => d.includes('shop.orders.note') || d.includes(' on shop.items'))).toBe(false);
    });
  });

  it('a table dropped and another created with its shape is a drop and a create, not a rename', async () => {
    await suite.server().withDatabase(async (db) => {
      await run(db.adminUrl, SCHEMA);
      const before = (await readCatalogUrl(db.adminUrl, OPTIONS)).model;
      await run(db.adminUrl, 'DROP TABLE shop.items CASCADE; CREATE TABLE shop.line_items (id serial PRIMARY KEY, order_id bigint REFERENCES shop.orders (id), qty int)');
      const diff = diffAcrossRenames(before, await introspectUrl(db.adminUrl, OPTIONS));
      expect(diff.renames).toEqual([]);
      expect(diff.changes.find((c) => c.id === 'table:shop.items')?.hazards.map((h) => h.code)).toContain('DELETES_DATA');
    });
  });

  it('models without catalog identities (read from text, or from two databases) are diffed by name', async () => {
    await suite.server().withDatabase(async (db) => {
      await run(db.adminUrl, SCHEMA);
      const before = (await readCatalogUrl(db.adminUrl, OPTIONS)).model;
      await run(db.adminUrl, 'ALTER TABLE shop.items RENAME TO line_items');
      const after = await introspectUrl(db.adminUrl, OPTIONS);
      const fromText = modelFromText(modelToText(before, OPTIONS), OPTIONS)!;
      expect(fromText.identities).toBeUndefined();
      const diff = diffAcrossRenames(fromText, after);
      expect(diff.renames).toEqual([]);
      expect(diff.changes.map((c) => c.description)).toContain('drop table shop.items');
    });
  });
});
