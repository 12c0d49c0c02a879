// SQL for creating, dropping and commenting on each kind of object. Pure string building from the
// model; every name is already quoted by the server (quote_ident), every value goes through literal().

import type { ColumnDef, ColumnOverride, DefaultPrivilegesDef, Grant, Privileges, SchemaObject, SequenceOptions, TableDef } from './model.js';

export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function sequenceOptions(options: SequenceOptions): string {
  return `START WITH ${options.start} INCREMENT BY ${options.increment} MINVALUE ${options.min} MAXVALUE ${options.max} CACHE ${options.cache}${options.cycle ? ' CYCLE' : ' NO CYCLE'}`;
}

export function columnDefinition(column: ColumnDef): string {
  let sql = `${column.qname} ${column.type}`;
  if (column.collation !== undefined) sql += ` COLLATE ${column.collation}`;
  if (column.identity !== undefined) sql += ` GENERATED ${column.identity.kind} AS IDENTITY (${sequenceOptions(column.identity.sequence)})`;
  if (column.generated !== undefined) sql += ` GENERATED ALWAYS AS (${column.generated}) STORED`;
  if (column.default !== undefined) sql += ` DEFAULT ${column.default}`;
  if (column.notNull) sql += ' NOT NULL';
  return sql;
}

export function createTable(table: TableDef): string {
  const persistence = table.unlogged ? 'UNLOGGED ' : '';
  let sql: string;
  if (table.partitionOf !== undefined) {
    sql = `CREATE ${persistence}TABLE ${table.qname} PARTITION OF ${table.partitionOf.parentQname} ${table.partitionOf.bound}`;
  } else {
    const columns = [...table.columns].sort((a, b) => a.position - b.position).map((c) => `    ${columnDefinition(c)}`);
    sql = `CREATE ${persistence}TABLE ${table.qname} (${columns.length === 0 ? '' : `\n${columns.join(',\n')}\n`})`;
  }
  if (table.partitionBy !== undefined) sql += ` PARTITION BY ${table.partitionBy}`;
  if (table.options !== undefined) sql += ` WITH (${table.options.join(', ')})`;
  return `${sql};`;
}

/** What makes a partition's column differ from its parent's (it starts out as the parent's). */
export function overrideStatements(table: string, override: ColumnOverride): string[] {
  const sql: string[] = [];
  if (override.default !== undefined) sql.push(`ALTER TABLE ${table} ALTER COLUMN ${override.qname} SET DEFAULT ${override.default};`);
  if (override.noDefault === true) sql.push(`ALTER TABLE ${table} ALTER COLUMN ${override.qname} DROP DEFAULT;`);
  if (override.notNull === true) sql.push(`ALTER TABLE ${table} ALTER COLUMN ${override.qname} SET NOT NULL;`);
  return sql;
}

/** The statements that create an object (a table's RLS switches included). */
export function createStatements(object: SchemaObject): string[] {
  switch (object.kind) {
    case 'schema':
      return [`CREATE SCHEMA ${object.qname};`];
    case 'extension':
      return [`CREATE EXTENSION IF NOT EXISTS ${object.qname} WITH SCHEMA ${object.schemaQname};`];
    case 'enum':
      return [`CREATE TYPE ${object.qname} AS ENUM (${object.values.map(literal).join(', ')});`];
    case 'domain': {
      let sql = `CREATE DOMAIN ${object.qname} AS ${object.baseType}`;
      if (object.collation !== undefined) sql += ` COLLATE ${object.collation}`;
      if (object.default !== undefined) sql += ` DEFAULT ${object.default}`;
      if (object.notNull) sql += ' NOT NULL';
      return [`${sql};`, ...object.checks.map((c) => `ALTER DOMAIN ${object.qname} ADD CONSTRAINT ${c.name} ${c.definition}${c.validated ? '' : ' NOT VALID'};`)];
    }
    case 'composite':
      return [
        `CREATE TYPE ${object.qname} AS (${object.attributes.map((a) => `${a.name} ${a.type}${a.collation === undefined ? '' : ` COLLATE ${a.collation}`}`).join(', ')});`,
      ];
    case 'sequence':
      return [`CREATE SEQUENCE ${object.qname} AS ${object.type} ${sequenceOptions(object)};`];
    case 'table': {
      const statements = [createTable(object), ...(object.columnOverrides ?? []).flatMap((o) => overrideStatements(object.qname, o))];
      if (object.rowSecurity) statements.push(`ALTER TABLE ${object.qname} ENABLE ROW LEVEL SECURITY;`);
      if (object.forceRowSecurity) statements.push(`ALTER TABLE ${object.qname} FORCE ROW LEVEL SECURITY;`);
      return statements;
    }
    case 'constraint':
      return [`ALTER TABLE ${object.tableQname} ADD CONSTRAINT ${object.qname} ${object.definition}${object.validated ? '' : ' NOT VALID'};`];
    case 'index':
      // A partitioned table's index is printed ON ONLY; without ONLY it is built on every partition too.
      return [`${object.definition.replace(/ ON ONLY /, ' ON ')};`];
    case 'view':
    case 'matview':
      return [
        `CREATE ${object.kind === 'view' ? 'VIEW' : 'MATERIALIZED VIEW'} ${object.qname}${object.options === undefined ? '' : ` WITH (${object.options.join(', ')})`} AS\n${object.definition};`,
      ];
    case 'function':
    case 'aggregate':
      return [`${object.definition};`];
    case 'trigger': {
      const statements = [`${object.definition};`];
      const state = { O: undefined, D: 'DISABLE', R: 'ENABLE REPLICA', A: 'ENABLE ALWAYS' }[object.enabled];
      if (state !== undefined) statements.push(`ALTER TABLE ${object.tableQname} ${state} TRIGGER ${object.qname};`);
      return statements;
    }
    case 'policy': {
      let sql = `CREATE POLICY ${object.qname} ON ${object.tableQname} AS ${object.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${object.command} TO ${object.roles.join(', ')}`;
      if (object.using !== undefined) sql += ` USING (${object.using})`;
      if (object.withCheck !== undefined) sql += ` WITH CHECK (${object.withCheck})`;
      return [`${sql};`];
    }
    case 'default_privileges':
      return defaultPrivilegeStatements(object, object.grants);
  }
}

export function dropStatement(object: SchemaObject): string {
  switch (object.kind) {
    case 'schema':
      return `DROP SCHEMA ${object.qname};`;
    case 'extension':
      return `DROP EXTENSION ${object.qname};`;
    case 'enum':
    case 'composite':
      return `DROP TYPE ${object.qname};`;
    case 'domain':
      return `DROP DOMAIN ${object.qname};`;
    case 'sequence':
      return `DROP SEQUENCE ${object.qname};`;
    case 'table':
      return `DROP TABLE ${object.qname};`;
    case 'constraint':
      return `ALTER TABLE ${object.tableQname} DROP CONSTRAINT ${object.qname};`;
    case 'index':
      return `DROP INDEX ${object.qname};`;
    case 'view':
      return `DROP VIEW ${object.qname};`;
    case 'matview':
      return `DROP MATERIALIZED VIEW ${object.qname};`;
    case 'function':
      return `DROP ${object.procedure ? 'PROCEDURE' : 'FUNCTION'} ${object.qname}(${object.identityArgs});`;
    case 'aggregate':
      return `DROP AGGREGATE ${object.qname}(${object.identityArgs === '' ? '*' : object.identityArgs});`;
    case 'trigger':
      return `DROP TRIGGER ${object.qname} ON ${object.tableQname};`;
    case 'policy':
      return `DROP POLICY ${object.qname} ON ${object.tableQname};`;
    case 'default_privileges':
      // Back to PostgreSQL's defaults: take the extra grants away, give the revoked ones back.
      return defaultPrivilegeStatements(object, { extra: object.grants.missing, missing: object.grants.extra }).join('\n');
  }
}

/** The COMMENT ON target for an object, e.g. "TABLE public.users". */
export function commentTarget(object: SchemaObject): string {
  switch (object.kind) {
    case 'schema':
      return `SCHEMA ${object.qname}`;
    case 'extension':
      return `EXTENSION ${object.qname}`;
    case 'enum':
    case 'composite':
      return `TYPE ${object.qname}`;
    case 'domain':
      return `DOMAIN ${object.qname}`;
    case 'sequence':
      return `SEQUENCE ${object.qname}`;
    case 'table':
      return `TABLE ${object.qname}`;
    case 'constraint':
      return `CONSTRAINT ${object.qname} ON ${object.tableQname}`;
    case 'index':
      return `INDEX ${object.qname}`;
    case 'view':
      return `VIEW ${object.qname}`;
    case 'matview':
      return `MATERIALIZED VIEW ${object.qname}`;
    case 'function':
      return `${object.procedure ? 'PROCEDURE' : 'FUNCTION'} ${object.qname}(${object.identityArgs})`;
    case 'aggregate':
      return `AGGREGATE ${object.qname}(${object.identityArgs === '' ? '*' : object.identityArgs})`;
    case 'trigger':
      return `TRIGGER ${object.qname} ON ${object.tableQname}`;
    case 'policy':
      return `POLICY ${object.qname} ON ${object.tableQname}`;
    case 'default_privileges':
      return '';
  }
}

/** The GRANT/REVOKE target of an object, or undefined for kinds that have no privileges. */
export function privilegeTarget(object: SchemaObject): string | undefined {
  switch (object.kind) {
    case 'schema':
      return `SCHEMA ${object.qname}`;
    case 'table':
    case 'view':
    case 'matview':
      return `TABLE ${object.qname}`;
    case 'sequence':
      return `SEQUENCE ${object.qname}`;
    case 'function':
      return `${object.procedure ? 'PROCEDURE' : 'FUNCTION'} ${object.qname}(${object.identityArgs})`;
    case 'aggregate':
      return `FUNCTION ${object.qname}(${object.identityArgs === '' ? '*' : object.identityArgs})`;
    case 'enum':
    case 'composite':
      return `TYPE ${object.qname}`;
    case 'domain':
      return `DOMAIN ${object.qname}`;
    default:
      return undefined;
  }
}

/** A column grant as a privilege of its table: `UPDATE ("Note")`. */
const onColumn = (column: ColumnDef) => (grant: Grant): Grant => ({ ...grant, privilege: `${grant.privilege} (${column.qname})` });

/**
 * GRANT/REVOKE statements for column grants, from `before` (undefined: a new table, or nothing
 * granted yet) to `after`; columns only `before` has are gone and take their grants along.
 */
export function columnGrantStatements(after: TableDef, before?: TableDef): string[] {
  // Most tables have no column grants on either side: no work for them (a diff visits every table).
  const granted = (table: TableDef | undefined): boolean => table !== undefined && table.columns.some((c) => c.privileges !== undefined);
  if (!granted(after) && !granted(before)) return [];
  const key = (g: Grant): string => `${g.grantee}|${g.privilege}|${String(g.grantable)}`;
  const extra: Grant[] = [];
  const missing: Grant[] = [];
  const old = new Map(before?.columns.map((c) => [c.name, c]) ?? []);
  for (const column of after.columns) {
    const now = (column.privileges ?? []).map(onColumn(column));
    const then = (old.get(column.name)?.privileges ?? []).map(onColumn(column));
    extra.push(...now.filter((g) => !then.some((h) => key(h) === key(g))));
    missing.push(...then.filter((g) => !now.some((h) => key(h) === key(g))));
  }
  return extra.length + missing.length === 0 ? [] : grantStatements(`TABLE ${after.qname}`, { extra, missing });
}

/** REVOKE what is missing, then GRANT what is extra (so that a changed grant option ends up right); one statement per grantee. */
export function grantStatements(target: string, privileges: Privileges): string[] {
  return [
    ...grouped(privileges.missing).map(({ grantee, list }) => `REVOKE ${list} ON ${target} FROM ${grantee};`),
    ...grouped(privileges.extra).map(({ grantee, list, grantable }) => `GRANT ${list} ON ${target} TO ${grantee}${grantable ? ' WITH GRANT OPTION' : ''};`),
  ];
}

function defaultPrivilegeStatements(object: DefaultPrivilegesDef, grants: Privileges): string[] {
  const scope = `ALTER DEFAULT PRIVILEGES FOR ROLE ${object.role}${object.inSchema === undefined ? '' : ` IN SCHEMA ${object.inSchema}`}`;
  return [
    ...grouped(grants.extra).map(({ grantee, list, grantable }) => `${scope} GRANT ${list} ON ${object.objectType} TO ${grantee}${grantable ? ' WITH GRANT OPTION' : ''};`),
    ...grouped(grants.missing).map(({ grantee, list }) => `${scope} REVOKE ${list} ON ${object.objectType} FROM ${grantee};`),
  ];
}

function grouped(grants: readonly Grant[]): { grantee: string; list: string; grantable: boolean }[] {
  const groups = new Map<string, string[]>();
  for (const grant of grants) {
    const key = `${grant.grantee}\u0000${String(grant.grantable)}`;
    groups.set(key, [...(groups.get(key) ?? []), grant.privilege]);
  }
  return [...groups.entries()]
    .map(([key, list]) => {
      const [grantee, grantable] = key.split('\u0000') as [string, string];
      return { grantee, list: [...list].sort().join(', '), grantable: grantable === 'true' };
    })
    .sort((a, b) => (a.grantee < b.grantee ? -1 : a.grantee > b.grantee ? 1 : Number(a.grantable) - Number(b.grantable)));
}

export function commentStatement(target: string, comment: string | undefined): string {
  return `COMMENT ON ${target} IS ${comment === undefined ? 'NULL' : literal(comment)};`;
}
