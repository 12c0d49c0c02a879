// The model builder's own rules, on hand-written catalog rows (no server): what is left out, how
// names and ids are formed, index definitions from parts, column order.

import { describe, expect, it } from 'vitest';
import type { ColumnDef, IndexDef, TableDef } from '../../src/schema/model.js';
import { checkDefinition, rowsToModel, type CatalogRows } from '../../src/schema/rows-to-model.js';
import { renderSnapshot } from '../../src/schema/snapshot.js';

const none = { schemas: [], extensions: [], types: [], sequences: [], relations: [], columns: [], constraints: [], indexes: [], functions: [], triggers: [], policies: [], dependencies: [], unsupported: [] };

const relation = (oid: number, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  oid,
  schema: 'public',
  name,
  qname: `public.${name.includes(' ') ? `"${name}"` : name}`,
  relkind: 'r',
  persistence: 'p',
  row_security: false,
  force_row_security: false,
  partition_by: null,
  partition_bound: null,
  parents: null,
  view_definition: null,
  options: null,
  typed: false,
  comment: null,
  ...extra,
});
const column = (table: number, position: number, name: string, type: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  table_oid: table,
  position,
  name,
  qname: null, // the catalog query sends it only when quoting changes the name
  type,
  not_null: false,
  identity: '',
  generated: '',
  default_expr: null,
  collation: null,
  comment: null,
  ...extra,
});
const index = (oid: number, table: number, name: string, parts: Record<string, unknown>): Record<string, unknown> => ({
  oid,
  table_oid: table,
  schema: 'public',
  name,
  qname: `public.${name}`,
  local_qname: name,
  method: 'btree',
  keys: '1',
  key_options: '0',
  key_count: 1,
  partitioned: false,
  nulls_not_distinct: false,
  predicate: null,
  definition: null,
  unique: false,
  comment: null,
  ...parts,
});

async function model(rows: Partial<CatalogRows>, ignore: string[] = [], privileges = false) {
  return rowsToModel({ versionNum: 160000, ...none, ...rows }, { ignore, ignoreHistoryTables: true, privileges });
}

describe('rowsToModel', () => {
  it('assembles index definitions from parts: ordering options, INCLUDE, NULLS NOT DISTINCT, ONLY, predicates', async () => {
    const { objects } = await model({
      relations: [relation(10, 'orders')],
      columns: [column(10, 1, 'id', 'bigint'), column(10, 2, 'placed_at', 'timestamp with time zone'), column(10, 3, 'Note', 'text', { qname: '"Note"' })],
      indexes: [
        index(20, 10, 'by_time', { keys: '2 1', key_options: '3 1', key_count: 2 }),
        index(21, 10, 'covering', { keys: '1 3', key_options: '2', key_count: 1, unique: true, nulls_not_distinct: true }),
        index(22, 10, 'partial', { keys: '2', key_options: '1', predicate: '(id > 0)', partitioned: true }),
        index(23, 10, 'hashed', { method: 'hash', keys: '3', key_options: '0' }),
        index(24, 10, 'deparsed', { definition: 'CREATE INDEX deparsed ON public.orders USING btree (lower("Note"))' }),
      ],
    });
    const definition = (name: string): string => (objects.get(`index:public.${name}`) as IndexDef).definition;
    expect(definition('by_time')).toBe('CREATE INDEX by_time ON public.orders USING btree (placed_at DESC, id DESC NULLS LAST)');
    expect(definition('covering')).toBe('CREATE UNIQUE INDEX covering ON public.orders USING btree (id NULLS FIRST) INCLUDE ("Note") NULLS NOT DISTINCT');
    expect(definition('partial')).toBe('CREATE INDEX partial ON ONLY public.orders USING btree (placed_at DESC NULLS LAST) WHERE (id > 0)');
    expect(definition('hashed')).toBe('CREATE INDEX hashed ON public.orders USING hash ("Note")');
    expect(definition('deparsed')).toBe('CREATE INDEX deparsed ON public.orders USING btree (lower("Note"))');
  });

  it('orders columns by position whatever order the rows come in, and quotes only where the catalog says so', async () => {
    const { objects } = await model({
      relations: [relation(10, 'Order Lines')],
      columns: [column(10, 3, 'c', 'text'), column(10, 1, 'a', 'int'), column(10, 2, 'User', 'text', { qname: '"User"' })],
    });
    const table = objects.get('table:public."Order Lines"') as TableDef;
    expect(table.columns.map((c: ColumnDef) => [c.position, c.qname, c.id])).toEqual([
      [1, 'a', 'column:public."Order Lines".a'],
      [2, '"User"', 'column:public."Order Lines"."User"'],
      [3, 'c', 'column:public."Order Lines".c'],
    ]);
  });

  it('leaves out ignored objects and history tables, and what depends only on them', async () => {
    const { objects, dependencies } = await model(
      {
        relations: [relation(10, 'orders'), relation(11, 'audit_log'), relation(12, 'flyway_schema_history')],
        columns: [column(10, 1, 'id', 'int'), column(11, 1, 'id', 'int'), column(12, 1, 'version', 'text')],
        // orders.id depends on audit_log (ignored): the dependency drops out with it.
        dependencies: [{ cls: 1259, oid: 10, sub: 1, ref_cls: 1259, ref_oid: 11, ref_sub: 0 }],
      },
      ['public.audit_*'],
    );
    expect([...objects.keys()]).toEqual(['table:public.orders']);
    expect(dependencies.size).toBe(0);
  });

  it('resolves dependencies on row types, composite attributes, domain checks and key indexes to their objects', async () => {
    const { dependencies } = await model({
      types: [
        { oid: 30, typtype: 'd', rel_oid: 0, schema: 'public', name: 'word', qname: 'public.word', base_type: 'text', not_null: false, default_expr: null, collation: null, checks: [{ name: 'ok', definition: 'CHECK (valid(VALUE))', validated: true, oid: 31 }], attributes: null, comment: null },
        { oid: 32, typtype: 'c', rel_oid: 33, schema: 'public', name: 'pair', qname: 'public.pair', checks: null, attributes: [{ name: 'l', type: 'public.item', collation: null }], comment: null },
      ],
      relations: [relation(10, 'item', { type_oid: 11 }), relation(12, 'parent', { type_oid: 13 }), relation(14, 'child', { type_oid: 15 })],
      columns: [column(10, 1, 'id', 'int'), column(12, 1, 'id', 'int'), column(14, 1, 'parent_id', 'int')],
      constraints: [
        { oid: 40, table_oid: 12, name: 'parent_key', qname: null, type: 'u', definition: 'UNIQUE (id)', validated: true, local: true, parent_oid: 0, ref_oid: null, index_oid: 41, comment: null },
        { oid: 42, table_oid: 14, name: 'child_fk', qname: null, type: 'f', definition: 'FOREIGN KEY (parent_id) REFERENCES public.parent(id)', validated: true, local: true, parent_oid: 0, ref_oid: 12, index_oid: null, comment: null },
      ],
      functions: [{ oid: 50, schema: 'public', name: 'valid', qname: 'public.valid', prokind: 'f', identity_args: 'x text', arg_types: 'text', arguments: 'x text', returns: 'boolean', definition: 'CREATE FUNCTION ...', aggregate: null, comment: null }],
      dependencies: [
        { cls: 2606, oid: 31, sub: 0, ref_cls: 1255, ref_oid: 50, ref_sub: 0 }, // domain check -> function
        { cls: 1259, oid: 33, sub: 1, ref_cls: 1247, ref_oid: 11, ref_sub: 0 }, // composite attribute -> table row type
        { cls: 2606, oid: 42, sub: 0, ref_cls: 1259, ref_oid: 41, ref_sub: 0 }, // foreign key -> unique constraint's index
      ],
    });
    expect(Object.fromEntries(dependencies)).toEqual({
      'constraint:public.child.child_fk': ['constraint:public.parent.parent_key'],
      'type:public.pair': ['table:public.item'],
      'type:public.word': ['function:public.valid(text)'],
    });
  });

  it('records what a partition overrides of its parent\'s columns (default, no default, NOT NULL), a sub-partition against its own parent', async () => {
    const { objects } = await model({
      relations: [
        relation(10, 'm', { relkind: 'p', partition_by: 'LIST (region)' }),
        relation(11, 'm_eu', { relkind: 'p', parents: [10], partition_bound: "FOR VALUES IN ('eu')", partition_by: 'RANGE (id)' }),
        relation(12, 'm_eu_low', { parents: [11], partition_bound: 'FOR VALUES FROM (0) TO (100)' }),
      ],
      columns: [
        column(10, 1, 'id', 'int'),
        column(10, 2, 'note', 'text', { default_expr: "'root'::text" }),
        column(11, 1, 'id', 'int', { not_null: true }),
        column(11, 2, 'note', 'text', { default_expr: "'eu'::text" }),
        column(12, 1, 'id', 'int', { not_null: true }),
        column(12, 2, 'note', 'text'),
      ],
    });
    expect((objects.get('table:public.m_eu') as TableDef).columnOverrides).toEqual([
      { name: 'id', qname: 'id', notNull: true },
      { name: 'note', qname: 'note', default: "'eu'::text" },
    ]);
    expect((objects.get('table:public.m_eu_low') as TableDef).columnOverrides).toEqual([{ name: 'note', qname: 'note', noDefault: true }]);
    expect((objects.get('table:public.m_eu_low') as TableDef).columns).toEqual([]);
  });

  it('attaches column grants to their columns and prints them in the snapshot', async () => {
    const built = await model(
      {
        relations: [relation(10, 'notes')],
        columns: [column(10, 1, 'id', 'int'), column(10, 2, 'Body', 'text', { qname: '"Body"' })],
        columnPrivileges: [{ table_oid: 10, position: 2, extra: [{ grantee: 'writer', privilege: 'UPDATE', grantable: true }, { grantee: 'writer', privilege: 'SELECT', grantable: true }] }],
      },
      [],
      true,
    );
    const table = built.objects.get('table:public.notes') as TableDef;
    expect(table.columns.map((c) => c.privileges)).toEqual([undefined, [{ grantee: 'writer', privilege: 'UPDATE', grantable: true }, { grantee: 'writer', privilege: 'SELECT', grantable: true }]]);
    expect(renderSnapshot(built)).toContain('GRANT SELECT ("Body"), UPDATE ("Body") ON TABLE public.notes TO writer WITH GRANT OPTION;');
  });
});

describe('checkDefinition', () => {
  it("gives a varchar IN list and the same list written as text one spelling, and keeps a cast with a length", () => {
    expect(checkDefinition("CHECK (((platform)::text = ANY ((ARRAY['ios'::character varying, 'it''s'::character varying])::text[])))")).toBe("CHECK (((platform)::text = ANY (ARRAY['ios'::text, 'it''s'::text])))");
    expect(checkDefinition("CHECK ((((a)::text = ANY ((ARRAY['x, y'::character varying])::text[])) AND ((b)::text = ANY ((ARRAY['z'::character varying])::text[]))))")).toBe("CHECK ((((a)::text = ANY (ARRAY['x, y'::text])) AND ((b)::text = ANY (ARRAY['z'::text]))))");
    const withLength = "CHECK (((a)::text = ANY ((ARRAY['ios'::character varying(2), 'x'::character varying])::text[])))";
    expect(checkDefinition(withLength)).toBe(withLength);
  });
});
