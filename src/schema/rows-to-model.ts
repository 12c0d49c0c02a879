// Catalog rows -> SchemaModel. Pure: no I/O, so the rules (what is skipped, what is reported as
// unsupported, how ids and dependencies are formed) are unit-testable with row builders.

import type {
  AggregateDef,
  DefaultPrivilegesDef,
  Grant,
  Privileges,
  ColumnDef,
  ColumnOverride,
  CompositeDef,
  ConstraintDef,
  DomainDef,
  EnumDef,
  ExtensionDef,
  FunctionDef,
  IndexDef,
  PolicyDef,
  SchemaModel,
  SchemaDef,
  SchemaObject,
  SequenceDef,
  SequenceOptions,
  TableDef,
  TriggerDef,
  Unsupported,
  ViewDef,
} from './model.js';

type Row = Record<string, unknown>;

const str = (value: unknown): string => String(value);

export interface CatalogRows {
  readonly versionNum: number;
  readonly schemas: readonly Row[];
  readonly extensions: readonly Row[];
  readonly types: readonly Row[];
  readonly sequences: readonly Row[];
  readonly relations: readonly Row[];
  readonly columns: readonly Row[];
  /** Column comments (table_oid, position, comment); a column row's own `comment` is used too. */
  readonly columnComments?: readonly Row[];
  readonly constraints: readonly Row[];
  readonly indexes: readonly Row[];
  readonly functions: readonly Row[];
  readonly triggers: readonly Row[];
  readonly policies: readonly Row[];
  readonly dependencies: readonly Row[];
  readonly unsupported: readonly Row[];
  /** Only with privileges enabled. */
  readonly privileges?: readonly Row[];
  readonly columnPrivileges?: readonly Row[];
  readonly defaultPrivileges?: readonly Row[];
}

export interface ModelOptions {
  /** Glob patterns on "schema.name" (or "schema" for schemas) of objects to leave out. */
  readonly ignore: readonly string[];
  /** Leave out the migration tools' history tables (default true). */
  readonly ignoreHistoryTables: boolean;
  /** Model GRANTs and default privileges. */
  readonly privileges?: boolean;
}

/** History tables of every supported tool; excluded from schemas by default. */
export const HISTORY_TABLES = ['flyway_schema_history', 'schema_migrations', 'goose_db_version', '__diesel_schema_migrations', 'drift_guard_migrations', '__EFMigrationsHistory'];

export const KIND_ORDER: Record<SchemaObject['kind'], number> = {
  schema: 0,
  extension: 1,
  enum: 2,
  domain: 3,
  composite: 4,
  sequence: 5,
  function: 6,
  aggregate: 7,
  table: 8,
  constraint: 9,
  index: 10,
  view: 11,
  matview: 12,
  trigger: 13,
  policy: 14,
  default_privileges: 15,
};

/** Catalog oids (fixed in PostgreSQL's headers) of the kinds of object dependencies are kept for. */
const CLASS_OIDS: Record<number, string> = { 1247: 'pg_type', 1255: 'pg_proc', 1259: 'pg_class', 2606: 'pg_constraint', 2620: 'pg_trigger', 3256: 'pg_policy' };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A column's key in numeric maps: table oid and attribute number (at most 1,600) in one number. */
const columnKey = (tableOid: number, attnum: number): number => tableOid * 2048 + attnum;

type CatalogKind = Exclude<keyof CatalogRows, 'versionNum'>;

/** The rows of the catalog queries, by query name (CatalogRows), delivered as they arrive. */
export interface CatalogReader {
  /** Calls `onRow` for every row of one query, in order; resolves after the last one. */
  each(kind: CatalogKind, onRow: (row: Row) => void): Promise<void>;
  /** All rows of one query. */
  all(kind: CatalogKind): Promise<Row[]>;
}

/** rowsToModel() over rows already in hand. */
export function rowsToModel(rows: CatalogRows, options: ModelOptions): Promise<SchemaModel> {
  const each = async (kind: CatalogKind, onRow: (row: Row) => void): Promise<void> => {
    for (const row of rows[kind] ?? []) onRow(row);
  };
  return buildModel({ each, all: async (kind) => [...(rows[kind] ?? [])] }, rows.versionNum, options);
}

/**
 * Catalog rows -> model, kind by kind in the order the catalog queries run, each row as it
 * arrives: modelling overlaps with PostgreSQL computing the rest, and a row is garbage the moment
 * it is modelled. Built for tens of thousands of rows: numeric keys, no per-row spreads or copies.
 */
export async function buildModel(read: CatalogReader, versionNum: number, options: ModelOptions): Promise<SchemaModel> {
  const byId = new Map<string, SchemaObject>();
  /** Ids by kind (KIND_ORDER), sorted at the end: kind first, then id. */
  const idsByKind: string[][] = Object.values(KIND_ORDER).map(() => []);
  const push = (object: SchemaObject): void => {
    idsByKind[KIND_ORDER[object.kind]]!.push(object.id);
    byId.set(object.id, object);
  };
  const unsupported: Unsupported[] = [];
  /** Object ids by catalog name, then oid. */
  const byClass = new Map<string, Map<number, string>>(Object.values(CLASS_OIDS).map((name) => [name, new Map()]));
  const register = (cls: string, oid: unknown, id: string): void => void byClass.get(cls)!.set(Number(oid), id);
  const tables = new Map<number, TableDef & { columns: ColumnDef[] }>();
  const ignored = ignoreMatcher(options);
  /** Sets an optional field (as text) when the catalog has a value for it. */
  const setText = <T extends object>(target: T, key: keyof T & string, value: unknown): void => {
    if (value !== null && value !== undefined) (target as Record<string, unknown>)[key] = String(value);
  };

  /** Schema ids by oid (identities). */
  const schemaIds = new Map<number, string>();
  await read.each('schemas', (row) => {
    const name = str(row.name);
    if (name === 'public' || ignored(name)) return;
    const object: Mutable<SchemaDef> = { kind: 'schema', id: `schema:${str(row.qname)}`, schema: name, name, qname: str(row.qname) };
    schemaIds.set(Number(row.oid), object.id);
    setText(object, 'comment', row.comment);
    push(object);
  });

  await read.each('extensions', (row) => {
    const name = str(row.name);
    const object: Mutable<ExtensionDef> = { kind: 'extension', id: `extension:${str(row.qname)}`, schema: str(row.schema), name, qname: str(row.qname), version: str(row.version), schemaQname: str(row.qschema) };
    setText(object, 'comment', row.comment);
    push(object);
  });

  await read.each('types', (row) => {
    const schema = str(row.schema);
    const name = str(row.name);
    const qname = str(row.qname);
    if (ignored(`${schema}.${name}`)) return;
    const id = `type:${qname}`;
    let object: Mutable<EnumDef | DomainDef | CompositeDef>;
    switch (row.typtype) {
      case 'e':
        object = { kind: 'enum', id, schema, name, qname, values: (row.enum_values as string[] | null) ?? [] };
        break;
      case 'd':
        object = {
          kind: 'domain',
          id,
          schema,
          name,
          qname,
          baseType: str(row.base_type),
          notNull: row.not_null === true,
          checks: ((row.checks as { name: string; definition: string; validated: boolean; oid: number }[] | null) ?? []).map((c) => {
            // A check that calls a function makes the domain depend on it (pg_depend names the constraint).
            register('pg_constraint', c.oid, id);
            return { name: c.name, definition: checkDefinition(c.definition.replace(/ NOT VALID$/, '')), validated: c.validated };
          }),
        };
        setText(object, 'default', row.default_expr);
        setText(object, 'collation', row.collation);
        break;
      case 'c':
        object = {
          kind: 'composite',
          id,
          schema,
          name,
          qname,
          attributes: ((row.attributes as { name: string; type: string; collation: string | null }[] | null) ?? []).map((a) =>
            a.collation === null ? { name: a.name, type: a.type } : { name: a.name, type: a.type, collation: a.collation },
          ),
        };
        break;
      default:
        unsupported.push({ id, reason: `${row.typtype === 'r' ? 'range' : 'base'} type ${qname} is not modelled` });
        return;
    }
    setText(object, 'comment', row.comment);
    push(object);
    register('pg_type', row.oid, id);
    // A composite type's attributes are columns of its pg_class row: their types are its dependencies.
    if (row.typtype === 'c') register('pg_class', row.rel_oid, id);
  });

  // Identity sequences belong to their column; serial sequences are objects owned by a column.
  const identityOptions = new Map<number, SequenceOptions>();
  const sequenceRows: { row: Row; options: SequenceOptions }[] = [];
  await read.each('sequences', (row) => {
    const options: SequenceOptions = {
      type: str(row.type),
      start: str(row.start),
      increment: str(row.increment),
      min: str(row.min),
      max: str(row.max),
      cache: str(row.cache),
      cycle: row.cycle === true,
    };
    if (row.owned_deptype === 'i') identityOptions.set(columnKey(Number(row.owner_oid), Number(row.owner_attnum)), options);
    else sequenceRows.push({ row, options });
  });

  // Partitions need their parent's row, which may come later: all relations first.
  const relations = await read.all('relations');
  const relationsByOid = new Map(relations.map((r) => [Number(r.oid), r]));
  const matviews = new Map<number, ViewDef>();
  for (const row of relations) {
    const schema = str(row.schema);
    const name = str(row.name);
    const qname = str(row.qname);
    if (ignored(`${schema}.${name}`) || (options.ignoreHistoryTables && HISTORY_TABLES.includes(name) && row.relkind === 'r')) continue;
    const parents = (row.parents as unknown[] | null) ?? [];
    const relkind = str(row.relkind);
    if (relkind === 'f') {
      unsupported.push({ id: `table:${qname}`, reason: `foreign table ${qname} is not modelled` });
      continue;
    }
    if (row.typed === true) unsupported.push({ id: `table:${qname}`, reason: `typed table ${qname} (OF type) is modelled as a plain table` });
    const storageOptions = Array.isArray(row.options) && row.options.length > 0 ? [...(row.options as string[])].sort() : undefined;
    if (relkind === 'v' || relkind === 'm') {
      const kind = relkind === 'v' ? 'view' : 'matview';
      const object: Mutable<ViewDef> = { kind, id: `${kind}:${qname}`, schema, name, qname, definition: normalizeViewDefinition(str(row.view_definition)) };
      if (storageOptions !== undefined) object.options = storageOptions;
      setText(object, 'comment', row.comment);
      push(object);
      register('pg_class', row.oid, object.id);
      // Its row type: a function that takes or returns it depends on the view.
      register('pg_type', row.type_oid, object.id);
      if (relkind === 'm') matviews.set(Number(row.oid), object);
      continue;
    }
    const bound = row.partition_bound as string | null;
    let partitionOf: TableDef['partitionOf'];
    if (bound !== null && parents.length === 1) {
      const parent = relationsByOid.get(Number(parents[0]));
      if (parent !== undefined) partitionOf = { parent: `table:${str(parent.qname)}`, parentQname: str(parent.qname), bound };
    } else if (parents.length > 0) {
      unsupported.push({ id: `table:${qname}`, reason: `table inheritance (${qname} INHERITS another table) is not modelled` });
    }
    // Assigned in the model's field order, optional fields only when present.
    const table = { kind: 'table', id: `table:${qname}`, schema, name, qname, unlogged: row.persistence === 'u', columns: [] } as unknown as Mutable<TableDef> & { columns: ColumnDef[] };
    setText(table, 'partitionBy', row.partition_by);
    if (partitionOf !== undefined) table.partitionOf = partitionOf;
    table.rowSecurity = row.row_security === true;
    table.forceRowSecurity = row.force_row_security === true;
    if (storageOptions !== undefined) table.options = storageOptions;
    setText(table, 'comment', row.comment);
    tables.set(Number(row.oid), table);
    push(table);
    register('pg_class', row.oid, table.id);
    // Its row type: a function signature or another table's column that uses it depends on the table.
    register('pg_type', row.type_oid, table.id);
  }

  const partitionColumns: { table: Mutable<TableDef>; name: string; qname: string; default: string | undefined; notNull: boolean }[] = [];
  /**
   * Ids and quote_ident(attname) (for index definitions) of the columns of every modelled table
   * or partition: by table oid, then by attribute number. Two arrays per table rather than two
   * map entries per column (a map insert per column was a fifth of the columns' modelling).
   */
  const columnNames = new Map<number, { ids: string[]; qnames: string[] }>();
  const columnId = (tableOid: number, attnum: number): string | undefined => columnNames.get(tableOid)?.ids[attnum];
  // pg_attribute comes back table by table: the last table's entries are reused.
  let lastOid = -1;
  let lastTable: (TableDef & { columns: ColumnDef[] }) | undefined;
  let lastNames: { ids: string[]; qnames: string[] } | undefined;
  await read.each('columns', (row) => {
    const tableOid = Number(row.table_oid);
    if (tableOid !== lastOid) {
      lastOid = tableOid;
      lastTable = tables.get(tableOid);
      lastNames = columnNames.get(tableOid);
      if (lastTable !== undefined && lastNames === undefined) columnNames.set(tableOid, (lastNames = { ids: [], qnames: [] }));
    }
    const table = lastTable;
    if (table === undefined) return;
    const position = Number(row.position);
    const qname = str(row.qname ?? row.name); // NULL when quoting changes nothing
    const id = `column:${table.qname}.${qname}`;
    const key = columnKey(tableOid, position);
    lastNames!.ids[position] = id;
    lastNames!.qnames[position] = qname;
    // A partition's columns come from its parent; only the parent's are modelled, and what the
    // partition overrides (default, NOT NULL) once every column is in.
    if (table.partitionOf !== undefined) {
      partitionColumns.push({ table, name: str(row.name), qname, default: row.generated === 's' ? undefined : (row.default_expr as string | null) ?? undefined, notNull: row.not_null === true });
      return;
    }
    const column = { id, qname, name: str(row.name), position, type: str(row.type) } as Mutable<ColumnDef>;
    setText(column, 'collation', row.collation);
    column.notNull = row.not_null === true;
    if (row.generated === 's') column.generated = str(row.default_expr);
    else setText(column, 'default', row.default_expr);
    if (row.identity === 'a' || row.identity === 'd') {
      const sequence = identityOptions.get(key);
      if (sequence !== undefined) column.identity = { kind: row.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT', sequence };
    }
    setText(column, 'comment', row.comment);
    table.columns.push(column);
  });
  await read.each('columnComments', (row) => {
    const column = tables.get(Number(row.table_oid))?.columns.find((c) => c.position === Number(row.position)) as Mutable<ColumnDef> | undefined;
    if (column !== undefined) setText(column, 'comment', row.comment);
  });
  // pg_attribute comes back in attribute order almost always; sort the rare table that does not.
  for (const table of tables.values()) {
    const columns = table.columns;
    for (let i = 1; i < columns.length; i++) {
      if (columns[i - 1]!.position > columns[i]!.position) {
        columns.sort((a, b) => a.position - b.position);
        break;
      }
    }
  }

  // A partition's column against its parent's (which, for a sub-partition, is the parent's own state).
  const partitionState = new Map(partitionColumns.map((c) => [`${c.table.id}\u0000${c.name}`, c]));
  for (const column of partitionColumns) {
    const parentId = column.table.partitionOf!.parent;
    const parent = partitionState.get(`${parentId}\u0000${column.name}`) ?? (byId.get(parentId) as TableDef | undefined)?.columns.find((c) => c.name === column.name);
    if (parent === undefined || (parent.default === column.default && parent.notNull === column.notNull)) continue;
    const override: Mutable<ColumnOverride> = { name: column.name, qname: column.qname };
    if (column.default !== parent.default) {
      if (column.default === undefined) override.noDefault = true;
      else override.default = column.default;
    }
    if (column.notNull && !parent.notNull) override.notNull = true;
    if (override.default === undefined && override.noDefault === undefined && override.notNull === undefined) continue;
    column.table.columnOverrides = [...(column.table.columnOverrides ?? []), override].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  for (const { row, options: sequence } of sequenceRows) {
    const schema = str(row.schema);
    const name = str(row.name);
    if (ignored(`${schema}.${name}`)) continue;
    const ownerColumn = row.owned_deptype === 'a' ? columnId(Number(row.owner_oid), Number(row.owner_attnum)) : undefined;
    const object: Mutable<SequenceDef> = { kind: 'sequence', id: `sequence:${str(row.qname)}`, schema, name, qname: str(row.qname), ...sequence };
    if (ownerColumn !== undefined) object.ownedBy = ownerColumn.slice('column:'.length);
    setText(object, 'comment', row.comment);
    push(object);
    register('pg_class', row.oid, object.id);
  }

  await read.each('constraints', (row) => {
    const table = tables.get(Number(row.table_oid));
    if (table === undefined || row.local !== true || Number(row.parent_oid) !== 0) return;
    const definition = str(row.definition);
    const referenced = row.ref_oid === null ? undefined : tables.get(Number(row.ref_oid));
    const qname = str(row.qname ?? row.name); // NULL when quoting changes nothing
    const object: Mutable<ConstraintDef> = {
      kind: 'constraint',
      id: `constraint:${table.qname}.${qname}`,
      schema: table.schema,
      name: str(row.name),
      qname,
      table: table.id,
      tableQname: table.qname,
      type: str(row.type) as ConstraintDef['type'],
      definition: checkDefinition(definition.endsWith(' NOT VALID') ? definition.slice(0, -' NOT VALID'.length) : definition),
      validated: row.validated === true,
    };
    if (referenced !== undefined) object.references = referenced.id;
    setText(object, 'comment', row.comment);
    push(object);
    register('pg_constraint', row.oid, object.id);
    // A foreign key depends on the index behind the key it references: that is this constraint.
    if (row.index_oid !== null && row.index_oid !== undefined && Number(row.index_oid) !== 0) register('pg_class', row.index_oid, object.id);
  });

  await read.each('indexes', (row) => {
    const tableOid = Number(row.table_oid);
    const owner = tables.get(tableOid) ?? matviews.get(tableOid);
    if (owner === undefined) return;
    const definition = row.definition ?? indexDefinition(row, owner.qname, (attnum) => columnNames.get(tableOid)?.qnames[attnum]);
    const object: Mutable<IndexDef> = {
      kind: 'index',
      id: `index:${str(row.qname)}`,
      schema: str(row.schema),
      name: str(row.name),
      qname: str(row.qname),
      table: owner.id,
      tableQname: owner.qname,
      definition: checkDefinition(str(definition)),
      unique: row.unique === true,
    };
    setText(object, 'comment', row.comment);
    push(object);
    register('pg_class', row.oid, object.id);
  });

  await read.each('functions', (row) => {
    const schema = str(row.schema);
    const name = str(row.name);
    if (ignored(`${schema}.${name}`)) return;
    const qname = str(row.qname);
    const identityArgs = str(row.identity_args);
    // Identity is the argument types (what PostgreSQL tells overloads apart by), not their names.
    const id = `function:${qname}(${str(row.arg_types)})`;
    let object: Mutable<AggregateDef | FunctionDef>;
    if (row.prokind === 'a') {
      const aggregate = row.aggregate as Record<string, unknown> | null;
      const definition = aggregate === null ? undefined : aggregateDefinition(qname, identityArgs, aggregate);
      if (definition === undefined) {
        unsupported.push({ id, reason: `aggregate ${qname}(${identityArgs}) is of a kind drift-guard does not model` });
        return;
      }
      object = { kind: 'aggregate', id, schema, name, qname, identityArgs, definition };
    } else {
      object = {
        kind: 'function',
        id,
        schema,
        name,
        qname,
        identityArgs,
        procedure: row.prokind === 'p',
        returns: str(row.returns ?? ''),
        definition: str(row.definition).trim(),
        arguments: str(row.arguments),
      };
    }
    setText(object, 'comment', row.comment);
    push(object);
    register('pg_proc', row.oid, id);
  });

  await read.each('triggers', (row) => {
    if (row.cloned === true) return;
    const tableOid = Number(row.table_oid);
    const owner = tables.get(tableOid) ?? byId.get(byClass.get('pg_class')!.get(tableOid) ?? '');
    if (owner === undefined) return;
    const qname = str(row.qname);
    const object: Mutable<TriggerDef> = {
      kind: 'trigger',
      id: `trigger:${owner.qname}.${qname}`,
      schema: owner.schema,
      name: str(row.name),
      qname,
      table: owner.id,
      tableQname: owner.qname,
      definition: str(row.definition),
      enabled: str(row.enabled) as TriggerDef['enabled'],
    };
    setText(object, 'comment', row.comment);
    push(object);
    register('pg_trigger', row.oid, object.id);
  });

  const commands: Record<string, PolicyDef['command']> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };
  await read.each('policies', (row) => {
    const table = tables.get(Number(row.table_oid));
    if (table === undefined) return;
    const qname = str(row.qname);
    const object: Mutable<PolicyDef> = {
      kind: 'policy',
      id: `policy:${table.qname}.${qname}`,
      schema: table.schema,
      name: str(row.name),
      qname,
      table: table.id,
      tableQname: table.qname,
      permissive: row.permissive === true,
      command: commands[str(row.command)] ?? 'ALL',
      roles: (row.roles as string[]) ?? [],
    };
    setText(object, 'using', row.using_expr);
    setText(object, 'withCheck', row.check_expr);
    setText(object, 'comment', row.comment);
    push(object);
    register('pg_policy', row.oid, object.id);
  });

  await read.each('unsupported', (row) => void unsupported.push({ id: `${str(row.what)}:${str(row.name)}`, reason: `${str(row.what)} ${str(row.name)} is not modelled` }));

  // Dependencies, translated to ids; anything outside the model (system objects, ignored ones) drops out.
  const relationIds = byClass.get('pg_class')!;
  const resolve = (cls: unknown, oidValue: unknown, subValue: unknown): string | undefined => {
    const name = CLASS_OIDS[Number(cls)];
    if (name === undefined) return undefined;
    const oid = Number(oidValue);
    const sub = Number(subValue);
    if (name === 'pg_class' && sub > 0) return columnId(oid, sub) ?? relationIds.get(oid);
    return byClass.get(name)!.get(oid);
  };
  const dependencies = new Map<string, Set<string>>();
  await read.each('dependencies', (row) => {
    const from = resolve(row.cls, row.oid, row.sub);
    if (from === undefined) return;
    const to = resolve(row.ref_cls, row.ref_oid, row.ref_sub);
    if (to === undefined || from === to) return;
    // A view's own columns are not dependencies of the view.
    if (to.startsWith('column:') && from.startsWith('view:') && to.startsWith(`column:${from.slice(from.indexOf(':') + 1)}.`)) return;
    let set = dependencies.get(from);
    if (set === undefined) dependencies.set(from, (set = new Set()));
    set.add(to);
  });

  // Privileges: attached to the objects they are on; default privileges are objects of their own.
  const privileges = new Map<string, Privileges>();
  for (const row of options.privileges === true ? await read.all('privileges') : []) {
    const id = byClass.get(str(row.cls))?.get(Number(row.oid));
    if (id !== undefined) privileges.set(id, { extra: (row.extra as Grant[] | null) ?? [], missing: (row.missing as Grant[] | null) ?? [] });
  }
  for (const row of options.privileges === true ? await read.all('columnPrivileges') : []) {
    const grants = (row.extra as Grant[] | null) ?? [];
    const column = tables.get(Number(row.table_oid))?.columns.find((c) => c.position === Number(row.position)) as Mutable<ColumnDef> | undefined;
    if (column !== undefined && grants.length > 0) column.privileges = grants;
  }
  const objectTypes: Record<string, DefaultPrivilegesDef['objectType']> = { r: 'TABLES', S: 'SEQUENCES', f: 'FUNCTIONS', T: 'TYPES', n: 'SCHEMAS' };
  for (const row of options.privileges === true ? await read.all('defaultPrivileges') : []) {
    const objectType = objectTypes[str(row.objtype)];
    const grants = { extra: (row.extra as Grant[] | null) ?? [], missing: (row.missing as Grant[] | null) ?? [] };
    if (objectType === undefined || (grants.extra.length === 0 && grants.missing.length === 0)) continue;
    const inSchema = row.schema === null ? undefined : str(row.schema);
    const object: Mutable<DefaultPrivilegesDef> = {
      kind: 'default_privileges',
      id: `default_privileges:${str(row.role)}:${inSchema ?? ''}:${objectType}`,
      schema: inSchema ?? '',
      name: objectType,
      qname: str(row.role),
      role: str(row.role),
      objectType,
      grants,
    };
    if (inSchema !== undefined) object.inSchema = inSchema;
    push(object);
  }

  const byIdSorted = new Map<string, SchemaObject>();
  for (const ids of idsByKind) {
    // The default sort: UTF-16 code unit order, without a comparator call per comparison.
    for (const id of ids.sort()) {
      const object = byId.get(id)!;
      const granted = privileges.get(id);
      byIdSorted.set(id, granted === undefined ? object : ({ ...object, privileges: granted } as SchemaObject));
    }
  }
  const sortedDependencies = new Map<string, string[]>();
  for (const id of [...dependencies.keys()].sort()) {
    const set = dependencies.get(id)!;
    sortedDependencies.set(id, set.size === 1 ? [...set] : [...set].sort());
  }
  // Made when first asked for: the PR gate's diffs use them, `diff` and `inspect` never do.
  let identities: Map<string, number> | undefined;
  return {
    objects: byIdSorted,
    dependencies: sortedDependencies,
    unsupported: unsupported.sort((a, b) => (a.id < b.id ? -1 : 1)),
    serverVersionNum: versionNum,
    get identities(): Map<string, number> {
      return (identities ??= identitiesOf(byClass, schemaIds, columnNames));
    },
  };
}

/**
 * Each object's catalog identity (SchemaModel.identities): its first registration in the order of
 * IDENTITY_CLASSES (a table's pg_class row before its row type, a domain's pg_type row before its
 * checks' constraints), a column's table oid and attribute number. Numbers, not text: a model of
 * 1,000 tables has some 14,000 of them, made on every read.
 */
function identitiesOf(byClass: ReadonlyMap<string, ReadonlyMap<number, string>>, schemaIds: ReadonlyMap<number, string>, columnNames: ReadonlyMap<number, { ids: string[] }>): Map<string, number> {
  const identities = new Map<string, number>();
  for (const [oid, id] of schemaIds) identities.set(id, objectIdentity(IDENTITY_CLASSES.length, oid));
  IDENTITY_CLASSES.forEach((cls, index) => {
    for (const [oid, id] of byClass.get(cls)!) if (!identities.has(id)) identities.set(id, objectIdentity(index, oid));
  });
  for (const [tableOid, { ids }] of columnNames) {
    for (let attnum = 1; attnum < ids.length; attnum++) {
      const id = ids[attnum];
      if (id !== undefined) identities.set(id, columnIdentity(tableOid, attnum));
    }
  }
  return identities;
}

const IDENTITY_CLASSES = ['pg_class', 'pg_proc', 'pg_trigger', 'pg_policy', 'pg_type', 'pg_constraint'] as const;

/** An object's identity: its catalog (an index into IDENTITY_CLASSES, or pg_namespace after them) and oid (below 2^32), as one positive number. */
export const objectIdentity = (catalog: number, oid: number): number => catalog * 2 ** 32 + oid;
/** A column's identity: its table's oid and attribute number (at most 1,600), as one negative number. */
export const columnIdentity = (tableOid: number, attnum: number): number => -(tableOid * 2048 + attnum);
/** The pg_class oid of an identity made by objectIdentity(0, oid), else undefined. */
export const relationOid = (identity: number | undefined): number | undefined => (identity !== undefined && identity >= 0 && identity < 2 ** 32 ? identity : undefined);

/**
 * pg_get_indexdef's text for an index of plain columns with their default operator classes and
 * collations (the catalog query sends the parts only for those): CREATE [UNIQUE] INDEX name ON
 * [ONLY] schema.table USING method (keys [DESC] [NULLS FIRST|LAST]) [INCLUDE (...)] [NULLS NOT
 * DISTINCT] [WHERE predicate]. test/schema/index-definition.test.ts holds it to PostgreSQL's.
 */
export function indexDefinition(row: Row, tableQname: string, columnQname: (attnum: number) => string | undefined): string {
  const attnums = str(row.keys).split(' ').map(Number);
  const options = str(row.key_options).split(' ').map(Number);
  const keyCount = Number(row.key_count);
  const ordered = row.method === 'btree';
  const names = attnums.map((attnum) => {
    const name = columnQname(attnum);
    if (name === undefined) throw new Error(`index ${str(row.qname)}: column ${attnum} of ${tableQname} is not in the catalog rows`);
    return name;
  });
  const keys = names.slice(0, keyCount).map((name, i) => {
    if (!ordered) return name;
    const option = options[i] ?? 0;
    // INDOPTION_DESC = 1, INDOPTION_NULLS_FIRST = 2; NULLS FIRST is the default with DESC.
    if ((option & 1) !== 0) return (option & 2) !== 0 ? `${name} DESC` : `${name} DESC NULLS LAST`;
    return (option & 2) !== 0 ? `${name} NULLS FIRST` : name;
  });
  const include = names.length > keyCount ? `) INCLUDE (${names.slice(keyCount).join(', ')}` : '';
  const predicate = row.predicate === null || row.predicate === undefined ? '' : ` WHERE ${str(row.predicate)}`;
  return `CREATE ${row.unique === true ? 'UNIQUE ' : ''}INDEX ${str(row.local_qname)} ON ${row.partitioned === true ? 'ONLY ' : ''}${tableQname} USING ${str(row.method)} (${keys.join(', ')}${include})${row.nulls_not_distinct === true ? ' NULLS NOT DISTINCT' : ''}${predicate}`;
}

/** A string literal as PostgreSQL deparses it, cast to varchar without a length. */
const VARCHAR_LITERAL = "'(?:[^']|'')*'::character varying";
const VARCHAR_ARRAY_AS_TEXT = new RegExp(`\\(ARRAY\\[(${VARCHAR_LITERAL}(?:, ${VARCHAR_LITERAL})*)\\]\\)::text\\[\\]`, 'g');

/**
 * A constraint's definition, one spelling for what PostgreSQL stores two ways: `col IN ('a', 'b')`
 * on a varchar column deparses as `(ARRAY['a'::character varying, ...])::text[]`, the same check
 * written `col::text = ANY (ARRAY['a', 'b'])` (as down migrations often restore it) as
 * `ARRAY['a'::text, ...]`. Casting a literal to varchar without a length and then to text changes no
 * value, so both are the second; a length (`::character varying(5)`, which truncates) is kept.
 */
export function checkDefinition(definition: string): string {
  if (!definition.includes('::character varying')) return definition;
  return definition.replace(VARCHAR_ARRAY_AS_TEXT, (_match, list: string) => `ARRAY[${list.replace(/('(?:[^']|'')*')::character varying/g, '$1::text')}]`);
}

function normalizeViewDefinition(definition: string): string {
  return definition.trim().replace(/;$/, '');
}

/**
 * CREATE AGGREGATE from pg_aggregate: every option that differs from what PostgreSQL assumes when
 * it is left out (FINALFUNC_MODIFY defaults to READ_ONLY, READ_WRITE for ordered-set aggregates).
 */
function aggregateDefinition(qname: string, args: string, aggregate: Record<string, unknown>): string | undefined {
  const text = (key: string): string => String(aggregate[key]);
  const set = (key: string): boolean => aggregate[key] !== null && aggregate[key] !== undefined && aggregate[key] !== '-';
  const quoted = (value: string): string => `'${value.replace(/'/g, "''")}'`;
  const modify: Record<string, string> = { r: 'READ_ONLY', s: 'SHAREABLE', w: 'READ_WRITE' };
  const kind = text('kind');
  if (kind !== 'n' && kind !== 'o' && kind !== 'h') return undefined;
  const defaultModify = kind === 'n' ? 'r' : 'w';
  const parts = [`SFUNC = ${text('sfunc')}`, `STYPE = ${text('stype')}`];
  if (Number(aggregate.sspace ?? 0) !== 0) parts.push(`SSPACE = ${Number(aggregate.sspace)}`);
  if (set('finalfunc')) {
    parts.push(`FINALFUNC = ${text('finalfunc')}`);
    if (aggregate.finalextra === true) parts.push('FINALFUNC_EXTRA');
    if (set('finalmodify') && aggregate.finalmodify !== defaultModify) parts.push(`FINALFUNC_MODIFY = ${modify[text('finalmodify')] ?? 'READ_ONLY'}`);
  }
  if (set('combinefunc')) parts.push(`COMBINEFUNC = ${text('combinefunc')}`);
  if (set('serialfunc')) parts.push(`SERIALFUNC = ${text('serialfunc')}`);
  if (set('deserialfunc')) parts.push(`DESERIALFUNC = ${text('deserialfunc')}`);
  if (set('initcond')) parts.push(`INITCOND = ${quoted(text('initcond'))}`);
  if (set('msfunc')) {
    parts.push(`MSFUNC = ${text('msfunc')}`, `MINVFUNC = ${text('minvfunc')}`, `MSTYPE = ${text('mstype')}`);
    if (Number(aggregate.msspace ?? 0) !== 0) parts.push(`MSSPACE = ${Number(aggregate.msspace)}`);
    if (set('mfinalfunc')) {
      parts.push(`MFINALFUNC = ${text('mfinalfunc')}`);
      if (aggregate.mfinalextra === true) parts.push('MFINALFUNC_EXTRA');
      if (set('mfinalmodify') && aggregate.mfinalmodify !== defaultModify) parts.push(`MFINALFUNC_MODIFY = ${modify[text('mfinalmodify')] ?? 'READ_ONLY'}`);
    }
    if (set('minitcond')) parts.push(`MINITCOND = ${quoted(text('minitcond'))}`);
  }
  if (set('sortop')) parts.push(`SORTOP = ${text('sortop')}`);
  if (aggregate.parallel === 's') parts.push('PARALLEL = SAFE');
  if (aggregate.parallel === 'r') parts.push('PARALLEL = RESTRICTED');
  if (kind === 'h') parts.push('HYPOTHETICAL');
  return `CREATE AGGREGATE ${qname}(${args === '' ? '*' : args}) (\n    ${parts.join(',\n    ')}\n)`;
}

function ignoreMatcher(options: ModelOptions): (name: string) => boolean {
  const patterns = options.ignore.map((pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`));
  return (name) => patterns.some((pattern) => pattern.test(name) || pattern.test(name.split('.')[0]!));
}
