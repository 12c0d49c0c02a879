// What the row generator needs to know about a database, read with a fixed set of catalog queries
// (never one query per table) and turned by a pure function into one FillTable per user table.
// Partitions are not tables here: rows go into the partitioned root and PostgreSQL routes them.

import type pg from 'pg';

export interface FillType {
  readonly oid: number;
  /** format_type(oid, NULL): the type's name as SQL. */
  readonly sql: string;
  readonly name: string;
  /** pg_type.typtype: b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  readonly typtype: string;
  readonly category: string;
  /** pg_type.typlen: bytes for a fixed-width type, -1 / -2 for variable-width ones. */
  readonly length: number;
  readonly baseType: number;
  readonly typmod: number;
  readonly notNull: boolean;
  readonly elem: number;
  readonly subtype: number;
  readonly labels: readonly string[];
  /** Domain CHECK expressions over VALUE (without the CHECK keyword). */
  readonly checks: readonly string[];
}

export interface FillColumn {
  readonly name: string;
  readonly notNull: boolean;
  /** '' | 'a' (ALWAYS) | 'd' (BY DEFAULT). */
  readonly identity: string;
  /** '' | 's' (STORED). */
  readonly generated: string;
  readonly type: number;
  readonly typmod: number;
  /** format_type(type, typmod). */
  readonly typeSql: string;
  readonly default?: string;
}

export interface FillForeignKey {
  readonly name: string;
  readonly columns: readonly string[];
  readonly parent: number;
  readonly parentColumns: readonly string[];
  readonly deferrable: boolean;
  /** pg_get_constraintdef: what re-creates it (the fill drops some foreign keys while it inserts). */
  readonly definition: string;
  readonly comment?: string;
}

export interface FillPartitioning {
  /** pg_get_partition_constraintdef of every leaf partition: a row is accepted when one holds. */
  readonly leafQuals: readonly string[];
  /** Constant values taken from the partition bounds, per key column (SQL literals). */
  readonly boundValues: ReadonlyMap<string, readonly string[]>;
}

export interface FillTable {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** Quoted, qualified name for SQL. */
  readonly qname: string;
  /** schema.name, unquoted: what reports and `skip` globs use. */
  readonly display: string;
  readonly columns: readonly FillColumn[];
  /** Table CHECKs with the columns they mention (pg_constraint.conkey). */
  readonly checks: readonly { readonly name: string; readonly expression: string; readonly columns: readonly string[] }[];
  readonly foreignKeys: readonly FillForeignKey[];
  /** Column sets of unique constraints and unique indexes (expression columns left out). */
  readonly uniqueKeys: readonly (readonly string[])[];
  readonly partitioning?: FillPartitioning;
}

export interface FillCatalog {
  readonly tables: readonly FillTable[];
  readonly types: ReadonlyMap<number, FillType>;
}

const USER_RELATION = `n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e')`;

export const FILL_QUERIES = {
  columns: `
SELECT c.oid::int8 AS relid, c.relkind::text AS relkind, n.nspname AS schema, c.relname AS name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname,
  a.attname, a.attnotnull, a.attidentity::text AS identity, a.attgenerated::text AS generated,
  a.atttypid::int8 AS typid, a.atttypmod AS typmod, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_sql,
  pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default_expr
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${USER_RELATION}
ORDER BY n.nspname, c.relname, a.attnum`,
  // Only the types user tables' columns use, and what those are built on (domain bases, array
  // elements, range subtypes).
  types: `
WITH RECURSIVE used(oid) AS (
  SELECT a.atttypid FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped AND ${USER_RELATION}
  UNION
  SELECT v.x FROM used u
  JOIN pg_catalog.pg_type t ON t.oid = u.oid
  LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
  CROSS JOIN LATERAL (VALUES (t.typbasetype), (t.typelem), (r.rngsubtype)) AS v(x)
  WHERE v.x IS NOT NULL AND v.x <> 0
)
SELECT t.oid::int8 AS oid, pg_catalog.format_type(t.oid, NULL) AS sql, t.typname AS name, t.typtype::text AS typtype,
  t.typcategory::text AS category, t.typlen::int AS length, t.typbasetype::int8 AS base, t.typtypmod AS typmod, t.typnotnull AS not_null,
  t.typelem::int8 AS elem, r.rngsubtype::int8 AS subtype,
  (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) AS labels,
  (SELECT array_agg(pg_catalog.pg_get_constraintdef(k.oid) ORDER BY k.conname) FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c') AS checks
FROM pg_catalog.pg_type t
JOIN used ON used.oid = t.oid
LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
WHERE t.typtype <> 'c' AND t.typtype <> 'p'`,
  constraints: `
SELECT k.conrelid::int8 AS relid, k.conname, k.contype::text AS contype, k.confrelid::int8 AS parent, k.condeferrable AS deferrable,
  pg_catalog.pg_get_constraintdef(k.oid) AS def, pg_catalog.obj_description(k.oid, 'pg_constraint') AS comment,
  (SELECT array_agg(a.attname::text ORDER BY x.ord) FROM unnest(k.conkey) WITH ORDINALITY x(attnum, ord) JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.attnum) AS columns,
  (SELECT array_agg(a.attname::text ORDER BY x.ord) FROM unnest(k.confkey) WITH ORDINALITY x(attnum, ord) JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.attnum) AS parent_columns
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype IN ('c', 'f', 'u', 'p') AND k.conparentid = 0 AND NOT c.relispartition AND ${USER_RELATION}
ORDER BY k.conrelid, k.conname`,
  uniqueIndexes: `
SELECT i.indrelid::int8 AS relid,
  (SELECT array_agg(a.attname::text ORDER BY x.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY x(attnum, ord) JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.attnum) AS columns
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.indisunique AND NOT c.relispartition AND ${USER_RELATION}
ORDER BY i.indrelid, i.indexrelid`,
  partitions: `
SELECT c.oid::int8 AS root, p.isleaf AS leaf,
  pg_catalog.pg_get_expr(pc.relpartbound, pc.oid) AS bound,
  CASE WHEN p.isleaf THEN pg_catalog.pg_get_partition_constraintdef(p.relid) END AS qual,
  (SELECT array_agg(coalesce(a.attname::text, '') ORDER BY x.ord)
     FROM pg_catalog.pg_partitioned_table pt
     CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) WITH ORDINALITY x(attnum, ord)
     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = x.attnum
    WHERE pt.partrelid = p.parentrelid) AS parent_key
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL pg_catalog.pg_partition_tree(c.oid) p
JOIN pg_catalog.pg_class pc ON pc.oid = p.relid
WHERE c.relkind = 'p' AND NOT c.relispartition AND ${USER_RELATION} AND p.level > 0
ORDER BY c.oid, p.level, pc.relname`,
} as const;

type Row = Record<string, unknown>;
export type FillCatalogRows = { readonly [K in keyof typeof FILL_QUERIES]: readonly Row[] };

/** Runs the catalog queries on `client`, in one READ ONLY REPEATABLE READ transaction. */
export async function readFillCatalog(client: pg.Client): Promise<FillCatalog> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const rows: Partial<Record<keyof typeof FILL_QUERIES, Row[]>> = {};
    for (const [kind, sql] of Object.entries(FILL_QUERIES) as [keyof typeof FILL_QUERIES, string][]) {
      rows[kind] = (await client.query(sql)).rows as Row[];
    }
    return rowsToFillCatalog(rows as FillCatalogRows);
  } finally {
    await client.query('COMMIT').catch(() => undefined);
  }
}

const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map((v) => text(v)) : []);

/** Strips `CHECK (` ... `)` and trailing NOT VALID / NO INHERIT from pg_get_constraintdef. */
export function checkExpression(definition: string): string {
  return definition
    .replace(/\s+NOT VALID$/i, '')
    .replace(/\s+NO INHERIT$/i, '')
    .replace(/^CHECK\s*/i, '');
}

export function rowsToFillCatalog(rows: FillCatalogRows): FillCatalog {
  const types = new Map<number, FillType>();
  for (const row of rows.types) {
    types.set(Number(row.oid), {
      oid: Number(row.oid),
      sql: text(row.sql),
      name: text(row.name),
      typtype: text(row.typtype),
      category: text(row.category),
      length: Number(row.length ?? -1),
      baseType: Number(row.base ?? 0),
      typmod: Number(row.typmod ?? -1),
      notNull: row.not_null === true,
      elem: Number(row.elem ?? 0),
      subtype: Number(row.subtype ?? 0),
      labels: strings(row.labels),
      checks: strings(row.checks).map(checkExpression),
    });
  }

  interface Building {
    oid: number;
    schema: string;
    name: string;
    qname: string;
    columns: FillColumn[];
    checks: { name: string; expression: string; columns: readonly string[] }[];
    foreignKeys: FillForeignKey[];
    uniqueKeys: string[][];
    leafQuals: string[];
    boundValues: Map<string, string[]>;
    partitioned: boolean;
  }
  const tables = new Map<number, Building>();
  for (const row of rows.columns) {
    const oid = Number(row.relid);
    let table = tables.get(oid);
    if (table === undefined) {
      table = {
        oid,
        schema: text(row.schema),
        name: text(row.name),
        qname: text(row.qname),
        columns: [],
        checks: [],
        foreignKeys: [],
        uniqueKeys: [],
        leafQuals: [],
        boundValues: new Map(),
        partitioned: row.relkind === 'p',
      };
      tables.set(oid, table);
    }
    const column: FillColumn = {
      name: text(row.attname),
      notNull: row.attnotnull === true,
      identity: text(row.identity),
      generated: text(row.generated),
      type: Number(row.typid),
      typmod: Number(row.typmod),
      typeSql: text(row.type_sql),
      ...(row.default_expr === null || row.default_expr === undefined ? {} : { default: text(row.default_expr) }),
    };
    table.columns.push(column);
  }
  for (const row of rows.constraints) {
    const table = tables.get(Number(row.relid));
    if (table === undefined) continue;
    const columns = strings(row.columns);
    switch (text(row.contype)) {
      case 'c':
        table.checks.push({ name: text(row.conname), expression: checkExpression(text(row.def)), columns });
        break;
      case 'f':
        table.foreignKeys.push({
          name: text(row.conname),
          columns,
          parent: Number(row.parent),
          parentColumns: strings(row.parent_columns),
          deferrable: row.deferrable === true,
          definition: text(row.def),
          ...(row.comment === null || row.comment === undefined ? {} : { comment: text(row.comment) }),
        });
        break;
      default:
        table.uniqueKeys.push(columns);
    }
  }
  for (const row of rows.uniqueIndexes) {
    const table = tables.get(Number(row.relid));
    const columns = strings(row.columns);
    if (table === undefined || columns.length === 0) continue;
    if (!table.uniqueKeys.some((key) => key.length === columns.length && key.every((c, i) => c === columns[i]))) table.uniqueKeys.push(columns);
  }
  for (const row of rows.partitions) {
    const table = tables.get(Number(row.root));
    if (table === undefined) continue;
    table.partitioned = true;
    if (row.leaf === true && row.qual !== null && row.qual !== undefined) table.leafQuals.push(text(row.qual));
    const key = strings(row.parent_key);
    const values = boundLiterals(text(row.bound));
    for (const [index, literals] of values.entries()) {
      const column = values.length === 1 && key.length === 1 ? key[0] : key[index];
      if (column === undefined || column === '') continue;
      const list = table.boundValues.get(column) ?? [];
      for (const literal of literals) if (!list.includes(literal)) list.push(literal);
      table.boundValues.set(column, list);
    }
  }

  const result: FillTable[] = [];
  for (const table of tables.values()) {
    result.push({
      oid: table.oid,
      schema: table.schema,
      name: table.name,
      qname: table.qname,
      display: `${table.schema}.${table.name}`,
      columns: table.columns,
      checks: table.checks,
      foreignKeys: table.foreignKeys,
      uniqueKeys: table.uniqueKeys,
      ...(table.partitioned ? { partitioning: { leafQuals: table.leafQuals, boundValues: table.boundValues } } : {}),
    });
  }
  return { tables: result, types };
}

/**
 * Constants of a partition bound, per key position: `FOR VALUES FROM ('a', 1) TO ('b', 2)` gives
 * [["'a'"], ["1"]] (lower bounds are inclusive), `FOR VALUES IN (1, 2)` gives [["1", "2"]].
 * MINVALUE, MAXVALUE and NULL are left out; hash and default bounds give nothing.
 */
export function boundLiterals(bound: string): string[][] {
  const match = /FOR VALUES (FROM|IN) \(/i.exec(bound);
  if (match === null) return [];
  const start = match.index + match[0].length;
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (let i = start; i < bound.length; i++) {
    const ch = bound[i]!;
    if (quoted) {
      current += ch;
      if (ch === "'") {
        if (bound[i + 1] === "'") {
          current += "'";
          i++;
        } else quoted = false;
      }
      continue;
    }
    if (ch === "'") {
      quoted = true;
      current += ch;
    } else if (ch === '(') {
      depth++;
      current += ch;
    } else if (ch === ')') {
      if (depth === 0) {
        items.push(current.trim());
        break;
      }
      depth--;
      current += ch;
    } else if (ch === ',' && depth === 0) {
      items.push(current.trim());
      current = '';
    } else current += ch;
  }
  const usable = (item: string): boolean => !/^(MINVALUE|MAXVALUE|NULL)$/i.test(item) && item !== '';
  if (match[1]!.toUpperCase() === 'IN') return [items.filter(usable)];
  return items.map((item) => (usable(item) ? [item] : []));
}
