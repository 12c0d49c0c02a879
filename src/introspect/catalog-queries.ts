// The catalog queries behind introspection: one per object kind, whatever the number of tables,
// run with an empty search_path so that every name PostgreSQL prints comes schema-qualified.
// Rows go to the pure model builder (buildModel) in src/schema/rows-to-model.ts.

/** User namespaces: not pg_*, not information_schema. */
const USER_NS = `n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'`;
/** Not a member of an extension. */
const notExtension = (classId: string, oid: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '${classId}'::pg_catalog.regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
/**
 * An object's comment: an index probe per row (pg_description_o_c_o_index). A join looks cheaper,
 * but catalog statistics are often stale (a scratch database has never been analyzed) and the
 * planner then loops over every comment for every row: 18 of the 24 ms of the sequences query on
 * 1,000 tables.
 */
const comment = (classId: string, oid: string, sub = '0'): string =>
  `(SELECT dsc.description FROM pg_catalog.pg_description dsc WHERE dsc.objoid = ${oid} AND dsc.classoid = '${classId}'::pg_catalog.regclass AND dsc.objsubid = ${sub})`;
const collationName = (oid: string): string =>
  `(SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${oid})`;

export const CATALOG_QUERIES = {
  version: `SELECT pg_catalog.current_setting('server_version_num')::int AS version_num`,

  schemas: `
SELECT n.oid AS oid, n.nspname AS name, pg_catalog.quote_ident(n.nspname) AS qname, ${comment('pg_namespace', 'n.oid')} AS comment
FROM pg_catalog.pg_namespace n
WHERE ${USER_NS} AND ${notExtension('pg_namespace', 'n.oid')}`,

  extensions: `
SELECT x.extname AS name, pg_catalog.quote_ident(x.extname) AS qname, n.nspname AS schema, pg_catalog.quote_ident(n.nspname) AS qschema,
       x.extversion AS version, ${comment('pg_extension', 'x.oid')} AS comment
FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
WHERE x.extname <> 'plpgsql'`,

  types: `
SELECT t.oid AS oid, t.typtype AS typtype, t.typrelid AS rel_oid, n.nspname AS schema, t.typname AS name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname) AS qname,
       CASE WHEN t.typtype = 'e' THEN (SELECT pg_catalog.array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) END AS enum_values,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END AS base_type,
       t.typnotnull AS not_null,
       pg_catalog.pg_get_expr(t.typdefaultbin, 0) AS default_expr,
       CASE WHEN t.typtype = 'd' AND t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN ${collationName('t.typcollation')} END AS collation,
       CASE WHEN t.typtype = 'd' THEN (
         SELECT pg_catalog.json_agg(pg_catalog.json_build_object('name', pg_catalog.quote_ident(c.conname), 'definition', pg_catalog.pg_get_constraintdef(c.oid), 'validated', c.convalidated, 'oid', c.oid) ORDER BY c.conname)
         FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c') END AS checks,
       CASE WHEN t.typtype = 'c' THEN (
         SELECT pg_catalog.json_agg(pg_catalog.json_build_object('name', pg_catalog.quote_ident(a.attname), 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                'collation', CASE WHEN a.attcollation <> at.typcollation THEN ${collationName('a.attcollation')} END) ORDER BY a.attnum)
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
         WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS attributes,
       ${comment('pg_type', 't.oid')} AS comment
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_class tc ON tc.oid = t.typrelid
WHERE ${USER_NS} AND ${notExtension('pg_type', 't.oid')}
  AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND tc.relkind = 'c') OR (t.typtype = 'b' AND t.typelem = 0 AND t.typarray <> 0))`,

  sequences: `
SELECT c.oid AS oid, n.nspname AS schema, c.relname AS name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS qname,
       pg_catalog.format_type(s.seqtypid, NULL) AS type, s.seqstart::text AS start, s.seqincrement::text AS increment,
       s.seqmin::text AS min, s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle,
       dep.deptype AS owned_deptype, dep.refobjid AS owner_oid, dep.refobjsubid AS owner_attnum,
       ${comment('pg_class', 'c.oid')} AS comment
FROM pg_catalog.pg_sequence s
JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_class'::pg_catalog.regclass AND dep.objid = c.oid
     AND dep.refclassid = 'pg_class'::pg_catalog.regclass AND dep.deptype IN ('a', 'i')
WHERE ${USER_NS} AND ${notExtension('pg_class', 'c.oid')}`,

  relations: `
SELECT c.oid AS oid, n.nspname AS schema, c.relname AS name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS qname,
       c.relkind AS relkind, c.relpersistence AS persistence, c.relrowsecurity AS row_security, c.relforcerowsecurity AS force_row_security,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_by,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       (SELECT pg_catalog.array_agg(i.inhparent ORDER BY i.inhseqno) FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) AS parents,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS view_definition,
       c.reloptions AS options, c.reloftype <> 0 AS typed, c.reltype AS type_oid,
       ${comment('pg_class', 'c.oid')} AS comment
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_NS} AND ${notExtension('pg_class', 'c.oid')}`,

  columns: `
-- qname only where quoting changes the name (NULL otherwise): tens of thousands of strings fewer.
SELECT a.attrelid AS table_oid, a.attnum AS position, a.attname AS name, NULLIF(pg_catalog.quote_ident(a.attname), a.attname) AS qname,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, a.attidentity AS identity,
       a.attgenerated AS generated,
       -- Defaults cannot name columns, so they deparse without the table (which pg_get_expr would open per row); generated columns can.
       pg_catalog.pg_get_expr(ad.adbin, CASE WHEN a.attgenerated <> '' THEN ad.adrelid ELSE 0 END) AS default_expr,
       CASE WHEN a.attcollation <> t.typcollation THEN ${collationName('a.attcollation')} END AS collation
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND ${USER_NS}`,

  // Column comments on their own: joined to tens of thousands of columns, the plan depends on
  // catalog statistics, and once autovacuum has analyzed pg_attribute (but not the few comments)
  // the planner loops over every comment for every column (3x the columns query on 1,000 tables).
  // The builder attaches each to its column; comments on other relations' columns drop out there.
  columnComments: `
SELECT dsc.objoid AS table_oid, dsc.objsubid AS position, dsc.description AS comment
FROM pg_catalog.pg_description dsc
WHERE dsc.classoid = 'pg_class'::pg_catalog.regclass AND dsc.objsubid > 0`,

  constraints: `
SELECT co.oid AS oid, co.conrelid AS table_oid, co.conname AS name, NULLIF(pg_catalog.quote_ident(co.conname), co.conname) AS qname,
       co.contype AS type, pg_catalog.pg_get_constraintdef(co.oid) AS definition, co.convalidated AS validated,
       co.conislocal AS local, co.conparentid AS parent_oid, co.confrelid AS ref_oid, CASE WHEN co.contype <> 'f' THEN co.conindid END AS index_oid,
       ${comment('pg_constraint', 'co.oid')} AS comment
FROM pg_catalog.pg_constraint co
JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE co.contype IN ('p', 'u', 'c', 'f', 'x') AND ${USER_NS}`,

  // Indexes that back a primary key, unique or exclusion constraint are part of the constraint,
  // and partition indexes attached to a parent come with it: neither is deparsed. pg_get_indexdef
  // is a fifth of the server's work on a large schema (it looks up each key's default operator
  // class by scanning pg_opclass), so plain-column indexes come back as parts that
  // indexDefinition() in rows-to-model.ts assembles into the same text; anything else (expression
  // keys, operator classes, collations or options of its own, storage options, other access
  // methods, servers this code does not know) is deparsed by PostgreSQL.
  indexes: (versionNum: number): string => `
SELECT i.indexrelid AS oid, i.indrelid AS table_oid, n.nspname AS schema, ic.relname AS name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(ic.relname) AS qname,
       CASE WHEN s.plain THEN pg_catalog.quote_ident(ic.relname) END AS local_qname,
       CASE WHEN s.plain THEN am.amname END AS method,
       CASE WHEN s.plain THEN i.indkey END AS keys,
       CASE WHEN s.plain THEN i.indoption END AS key_options,
       i.indnkeyatts AS key_count, ic.relkind = 'I' AS partitioned,
       ${versionNum >= 150000 ? 'i.indnullsnotdistinct' : 'false'} AS nulls_not_distinct,
       CASE WHEN s.plain THEN pg_catalog.pg_get_expr(i.indpred, i.indrelid) END AS predicate,
       CASE WHEN NOT s.plain THEN pg_catalog.pg_get_indexdef(i.indexrelid) END AS definition,
       i.indisunique AS unique,
       ${comment('pg_class', 'i.indexrelid')} AS comment
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL (SELECT ${versionNum >= 140000 && versionNum < 180000 ? `
    am.amname IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin') AND tc.relkind IN ('r', 'p')
    AND i.indexprs IS NULL AND ic.reloptions IS NULL AND 0 < ALL (i.indkey::pg_catalog.int2[])
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute ia WHERE ia.attrelid = i.indexrelid AND ia.attoptions IS NOT NULL)
    -- Every key column (INCLUDE columns have no operator class) with the default class of its
    -- exact type and its own collation; the first key is written out (most indexes have one).
    AND (i.indclass[0], a0.atttypid) IN (SELECT oc.oid, oc.opcintype FROM pg_catalog.pg_opclass oc WHERE oc.opcdefault)
    AND (i.indcollation[0] = 0 OR i.indcollation[0] = a0.attcollation)
    AND (i.indnkeyatts = 1 OR NOT EXISTS (
      SELECT 1 FROM pg_catalog.generate_series(1, i.indnkeyatts - 1) AS k
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k]
      WHERE (i.indclass[k], a.atttypid) NOT IN (SELECT oc.oid, oc.opcintype FROM pg_catalog.pg_opclass oc WHERE oc.opcdefault)
         OR (i.indcollation[k] <> 0 AND i.indcollation[k] <> a.attcollation)))` : 'false'} AS plain
  FROM (SELECT) AS one LEFT JOIN pg_catalog.pg_attribute a0 ON a0.attrelid = i.indrelid AND a0.attnum = i.indkey[0]
  OFFSET 0) s -- computed once per index, not once per use
WHERE tc.relkind IN ('r', 'p', 'm') AND ${USER_NS}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = i.indexrelid)`,

  functions: `
SELECT p.oid AS oid, n.nspname AS schema, p.proname AS name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) AS qname,
       p.prokind AS prokind, pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_args,
       pg_catalog.oidvectortypes(p.proargtypes) AS arg_types,
       pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS returns,
       CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END AS definition,
       CASE WHEN p.prokind = 'a' THEN (
         SELECT pg_catalog.json_build_object('kind', ag.aggkind, 'sfunc', ag.aggtransfn::pg_catalog.regproc::text,
                'stype', pg_catalog.format_type(ag.aggtranstype, NULL), 'sspace', ag.aggtransspace, 'finalfunc', ag.aggfinalfn::pg_catalog.regproc::text,
                'combinefunc', ag.aggcombinefn::pg_catalog.regproc::text, 'initcond', ag.agginitval,
                'serialfunc', ag.aggserialfn::pg_catalog.regproc::text, 'deserialfunc', ag.aggdeserialfn::pg_catalog.regproc::text,
                'msfunc', ag.aggmtransfn::pg_catalog.regproc::text, 'minvfunc', ag.aggminvtransfn::pg_catalog.regproc::text,
                'mstype', CASE WHEN ag.aggmtranstype <> 0 THEN pg_catalog.format_type(ag.aggmtranstype, NULL) END, 'msspace', ag.aggmtransspace,
                'mfinalfunc', ag.aggmfinalfn::pg_catalog.regproc::text, 'mfinalextra', ag.aggmfinalextra, 'mfinalmodify', ag.aggmfinalmodify,
                'minitcond', ag.aggminitval, 'parallel', p.proparallel,
                'sortop', (SELECT 'OPERATOR(' || pg_catalog.quote_ident(opn.nspname) || '.' || o.oprname || ')'
                             FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace WHERE o.oid = ag.aggsortop),
                'finalextra', ag.aggfinalextra, 'finalmodify', ag.aggfinalmodify)
         FROM pg_catalog.pg_aggregate ag WHERE ag.aggfnoid = p.oid) END AS aggregate,
       ${comment('pg_proc', 'p.oid')} AS comment
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE ${USER_NS} AND ${notExtension('pg_proc', 'p.oid')}`,

  triggers: `
SELECT t.oid AS oid, t.tgrelid AS table_oid, t.tgname AS name, pg_catalog.quote_ident(t.tgname) AS qname,
       pg_catalog.pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled, t.tgparentid <> 0 AS cloned,
       ${comment('pg_trigger', 't.oid')} AS comment
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND ${USER_NS}`,

  policies: `
SELECT pol.oid AS oid, pol.polrelid AS table_oid, pol.polname AS name, pg_catalog.quote_ident(pol.polname) AS qname,
       pol.polcmd AS command, pol.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r.oid IS NULL THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END
             FROM pg_catalog.unnest(pol.polroles) AS role_oid LEFT JOIN pg_catalog.pg_roles r ON r.oid = role_oid ORDER BY 1) AS roles,
       pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) AS using_expr,
       pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) AS check_expr,
       ${comment('pg_policy', 'pol.oid')} AS comment
FROM pg_catalog.pg_policy pol
JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE ${USER_NS}`,

  // Dependencies between user objects (oid >= 16384), by catalog oid (CLASS_OIDS in rows-to-model).
  // A view's rule and a column default are reported as their view and their column. One pass over
  // pg_depend (OFFSET 0 keeps the planner from walking an index with statistics a fresh database
  // never gathered); rules and defaults are looked up only for their own rows.
  dependencies: `
SELECT CASE WHEN d.classid IN ('pg_rewrite'::pg_catalog.regclass, 'pg_attrdef'::pg_catalog.regclass) THEN 'pg_class'::pg_catalog.regclass::pg_catalog.oid ELSE d.classid END AS cls,
       CASE d.classid WHEN 'pg_rewrite'::pg_catalog.regclass THEN (SELECT r.ev_class FROM pg_catalog.pg_rewrite r WHERE r.oid = d.objid)
                      WHEN 'pg_attrdef'::pg_catalog.regclass THEN (SELECT ad.adrelid FROM pg_catalog.pg_attrdef ad WHERE ad.oid = d.objid)
                      ELSE d.objid END AS oid,
       CASE d.classid WHEN 'pg_rewrite'::pg_catalog.regclass THEN 0
                      WHEN 'pg_attrdef'::pg_catalog.regclass THEN (SELECT ad.adnum FROM pg_catalog.pg_attrdef ad WHERE ad.oid = d.objid)
                      ELSE d.objsubid END AS sub,
       d.refclassid AS ref_cls, d.refobjid AS ref_oid, d.refobjsubid AS ref_sub
FROM (SELECT * FROM pg_catalog.pg_depend OFFSET 0) d
WHERE d.deptype IN ('n', 'a') AND d.objid >= 16384 AND d.refobjid >= 16384
  -- Not needed and numerous: an index's or a serial sequence's automatic link to its columns, a
  -- default's link to its own column, and a constraint's links to its table's columns (a column's
  -- type change rebuilds both by itself).
  AND NOT (d.classid IN ('pg_class'::pg_catalog.regclass, 'pg_attrdef'::pg_catalog.regclass) AND d.deptype = 'a')
  AND NOT (d.classid = 'pg_constraint'::pg_catalog.regclass AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.refobjsubid > 0)`,

  // Things drift-guard does not model, so that they are reported instead of silently ignored.
  unsupported: `
SELECT 'rule' AS what, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || ' rule ' || pg_catalog.quote_ident(r.rulename) AS name
FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN' AND ${USER_NS}
UNION ALL
SELECT 'collation', pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(co.collname)
FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace WHERE ${USER_NS} AND ${notExtension('pg_collation', 'co.oid')}
UNION ALL
SELECT 'operator', pg_catalog.quote_ident(n.nspname) || '.' || o.oprname
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace WHERE ${USER_NS} AND ${notExtension('pg_operator', 'o.oid')}
UNION ALL
SELECT 'text search configuration', pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.cfgname)
FROM pg_catalog.pg_ts_config t JOIN pg_catalog.pg_namespace n ON n.oid = t.cfgnamespace WHERE ${USER_NS} AND ${notExtension('pg_ts_config', 't.oid')}`,
} as const;

export type CatalogQuery = keyof typeof CATALOG_QUERIES;

/** The catalog queries for a server version (server_version_num): each as SQL text. */
export function catalogQueries(versionNum: number): Record<Exclude<CatalogQuery, 'version'>, string> {
  const { version: _version, ...queries } = CATALOG_QUERIES;
  return Object.fromEntries(Object.entries(queries).map(([name, query]) => [name, typeof query === 'function' ? query(versionNum) : query])) as Record<Exclude<CatalogQuery, 'version'>, string>;
}

const grantee = (oid: string): string => `CASE WHEN ${oid} = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(${oid})) END`;

/**
 * Privileges (with --privileges): for each object, the grants it has beyond PostgreSQL's
 * built-in defaults and the default grants it lacks, owners left out. Objects are named by
 * catalog and oid, as the dependency query names them.
 */
const aclQuery = (cls: string, alias: string, acl: string, kind: string, owner: string, from: string, where: string): string => `
SELECT '${cls}' AS cls, ${alias}.oid AS oid, d.extra, d.missing
FROM ${from}
CROSS JOIN LATERAL (
  SELECT
    (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('a.grantee')}, 'privilege', a.privilege_type, 'grantable', a.is_grantable) ORDER BY 1)
       FROM pg_catalog.aclexplode(COALESCE(${acl}, pg_catalog.acldefault(${kind}, ${owner}))) a
      WHERE a.grantee <> ${owner} AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(pg_catalog.acldefault(${kind}, ${owner})) b
                                                 WHERE b.grantee = a.grantee AND b.privilege_type = a.privilege_type AND b.is_grantable = a.is_grantable)) AS extra,
    (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('b.grantee')}, 'privilege', b.privilege_type, 'grantable', b.is_grantable) ORDER BY 1)
       FROM pg_catalog.aclexplode(pg_catalog.acldefault(${kind}, ${owner})) b
      WHERE b.grantee <> ${owner} AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(COALESCE(${acl}, pg_catalog.acldefault(${kind}, ${owner}))) a
                                                 WHERE a.grantee = b.grantee AND a.privilege_type = b.privilege_type)) AS missing
) d
WHERE ${acl} IS NOT NULL AND ${where} AND (d.extra IS NOT NULL OR d.missing IS NOT NULL)`;

export const PRIVILEGE_QUERIES = {
  privileges: [
    aclQuery('pg_class', 'c', 'c.relacl', "CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\"", 'c.relowner',
      'pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace', `c.relkind IN ('r', 'p', 'v', 'm', 'S') AND ${USER_NS}`),
    aclQuery('pg_proc', 'p', 'p.proacl', "'f'::\"char\"", 'p.proowner', 'pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace', USER_NS),
    aclQuery('pg_namespace', 'n', 'n.nspacl', "'n'::\"char\"", 'n.nspowner', 'pg_catalog.pg_namespace n', USER_NS),
    aclQuery('pg_type', 't', 't.typacl', "'T'::\"char\"", 't.typowner', 'pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace', USER_NS),
  ].join('\nUNION ALL\n'),

  // Column grants (GRANT UPDATE (col) ...): a column has no built-in privileges, so every entry is extra.
  columnPrivileges: `
SELECT a.attrelid AS table_oid, a.attnum AS position,
       (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('x.grantee')}, 'privilege', x.privilege_type, 'grantable', x.is_grantable) ORDER BY 1)
          FROM pg_catalog.aclexplode(a.attacl) x WHERE x.grantee <> c.relowner) AS extra
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND ${USER_NS}`,

  defaultPrivileges: `
SELECT pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole)) AS role,
       CASE WHEN d.defaclnamespace = 0 THEN NULL ELSE pg_catalog.quote_ident(n.nspname) END AS schema,
       d.defaclobjtype AS objtype,
       (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('a.grantee')}, 'privilege', a.privilege_type, 'grantable', a.is_grantable) ORDER BY 1)
          FROM pg_catalog.aclexplode(d.defaclacl) a
         WHERE a.grantee <> d.defaclrole AND (d.defaclnamespace <> 0 OR NOT EXISTS (
               SELECT 1 FROM pg_catalog.aclexplode(pg_catalog.acldefault(d.defaclobjtype, d.defaclrole)) b
                WHERE b.grantee = a.grantee AND b.privilege_type = a.privilege_type AND b.is_grantable = a.is_grantable))) AS extra,
       CASE WHEN d.defaclnamespace = 0 THEN (
         SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', ${grantee('b.grantee')}, 'privilege', b.privilege_type, 'grantable', b.is_grantable) ORDER BY 1)
           FROM pg_catalog.aclexplode(pg_catalog.acldefault(d.defaclobjtype, d.defaclrole)) b
          WHERE b.grantee <> d.defaclrole AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(d.defaclacl) a WHERE a.grantee = b.grantee AND a.privilege_type = b.privilege_type)) END AS missing
FROM pg_catalog.pg_default_acl d
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace`,
} as const;
