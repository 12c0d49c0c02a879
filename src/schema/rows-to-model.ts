// Catalog rows -> SchemaModel. Pure: no I/O, so the rules (what is skipped, what is reported as
// unsupported, how ids and dependencies are formed) are unit-testable with row builders.

import type {
  AggregateDef,
  DefaultPrivilegesDef,
  Grant,
  Privileges,
  ColumnDef,
  CompositeDef,
  ConstraintDef,
  DomainDef,
  EnumDef,
  FunctionDef,
  IndexDef,
  PolicyDef,
  SchemaModel,
  SchemaObject,
  SequenceDef,
  SequenceOptions,
  TableDef,
  TriggerDef,
  Unsupported,
  ViewDef,
} from './model.js';

type Oid = string;
type Row = Record<string, unknown>;

export interface CatalogRows {
  readonly versionNum: number;
  readonly schemas: readonly Row[];
  readonly extensions: readonly Row[];
  readonly types: readonly Row[];
  readonly sequences: readonly Row[];
  readonly relations: readonly Row[];
  readonly columns: readonly Row[];
  readonly constraints: readonly Row[];
  readonly indexes: readonly Row[];
  readonly functions: readonly Row[];
  readonly triggers: readonly Row[];
  readonly policies: readonly Row[];
  readonly dependencies: readonly Row[];
  readonly unsupported: readonly Row[];
  /** Only with privileges enabled. */
  readonly privileges?: readonly Row[];
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

const KIND_ORDER: Record<SchemaObject['kind'], number> = {
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

export function rowsToModel(rows: CatalogRows, options: ModelOptions): SchemaModel {
  const objects: SchemaObject[] = [];
  const byId = new Map<string, SchemaObject>();
  const push = (object: SchemaObject): void => {
    objects.push(object);
    byId.set(object.id, object);
  };
  const unsupported: Unsupported[] = [];
  const byClassOid = new Map<string, string>(); // "cls:oid" -> id
  const tables = new Map<Oid, TableDef & { columns: ColumnDef[] }>();
  const ignored = ignoreMatcher(options);
  const str = (value: unknown): string => String(value);
  const opt = <K extends string>(key: K, value: unknown): Partial<Record<K, string>> =>
    value === null || value === undefined ? {} : ({ [key]: String(value) } as Record<K, string>);

  for (const row of rows.schemas) {
    const name = str(row.name);
    if (name === 'public' || ignored(name)) continue;
    push({ kind: 'schema', id: `schema:${str(row.qname)}`, schema: name, name, qname: str(row.qname), ...opt('comment', row.comment) });
  }

  for (const row of rows.extensions) {
    const name = str(row.name);
    push({ kind: 'extension', id: `extension:${str(row.qname)}`, schema: str(row.schema), name, qname: str(row.qname), version: str(row.version), schemaQname: str(row.qschema), ...opt('comment', row.comment) });
  }

  for (const row of rows.types) {
    const schema = str(row.schema);
    const name = str(row.name);
    const qname = str(row.qname);
    if (ignored(`${schema}.${name}`)) continue;
    const base = { schema, name, qname, ...opt('comment', row.comment) };
    switch (row.typtype) {
      case 'e': {
        const object: EnumDef = { kind: 'enum', id: `type:${qname}`, ...base, values: (row.enum_values as string[] | null) ?? [] };
        push(object);
        byClassOid.set(`pg_type:${str(row.oid)}`, object.id);
        break;
      }
      case 'd': {
        const object: DomainDef = {
          kind: 'domain',
          id: `type:${qname}`,
          ...base,
          baseType: str(row.base_type),
          notNull: row.not_null === true,
          ...opt('default', row.default_expr),
          ...opt('collation', row.collation),
          checks: ((row.checks as { name: string; definition: string; validated: boolean }[] | null) ?? []).map((c) => ({
            name: c.name,
            definition: c.definition.replace(/ NOT VALID$/, ''),
            validated: c.validated,
          })),
        };
        push(object);
        byClassOid.set(`pg_type:${str(row.oid)}`, object.id);
        break;
      }
      case 'c': {
        const attributes = ((row.attributes as { name: string; type: string; collation: string | null }[] | null) ?? []).map((a) => ({
          name: a.name,
          type: a.type,
          ...(a.collation === null ? {} : { collation: a.collation }),
        }));
        const object: CompositeDef = { kind: 'composite', id: `type:${qname}`, ...base, attributes };
        push(object);
        byClassOid.set(`pg_type:${str(row.oid)}`, object.id);
        break;
      }
      default:
        unsupported.push({ id: `type:${qname}`, reason: `${row.typtype === 'r' ? 'range' : 'base'} type ${qname} is not modelled` });
    }
  }

  // Identity sequences belong to their column; serial sequences are objects owned by a column.
  const identityOptions = new Map<string, SequenceOptions>();
  const sequenceRows: Row[] = [];
  for (const row of rows.sequences) {
    const options: SequenceOptions = {
      type: str(row.type),
      start: str(row.start),
      increment: str(row.increment),
      min: str(row.min),
      max: str(row.max),
      cache: str(row.cache),
      cycle: row.cycle === true,
    };
    if (row.owned_deptype === 'i') identityOptions.set(`${str(row.owner_oid)}:${str(row.owner_attnum)}`, options);
    else sequenceRows.push({ ...row, options });
  }

  const relationsByOid = new Map(rows.relations.map((r) => [str(r.oid), r]));
  for (const row of rows.relations) {
    const schema = str(row.schema);
    const name = str(row.name);
    const qname = str(row.qname);
    if (ignored(`${schema}.${name}`) || (options.ignoreHistoryTables && HISTORY_TABLES.includes(name) && row.relkind === 'r')) continue;
    const parents = (row.parents as string[] | null) ?? [];
    const relkind = str(row.relkind);
    if (relkind === 'f') {
      unsupported.push({ id: `table:${qname}`, reason: `foreign table ${qname} is not modelled` });
      continue;
    }
    if (row.typed === true) unsupported.push({ id: `table:${qname}`, reason: `typed table ${qname} (OF type) is modelled as a plain table` });
    if (relkind === 'v' || relkind === 'm') {
      const object: ViewDef = {
        kind: relkind === 'v' ? 'view' : 'matview',
        id: `${relkind === 'v' ? 'view' : 'matview'}:${qname}`,
        schema,
        name,
        qname,
        definition: normalizeViewDefinition(str(row.view_definition)),
        ...(Array.isArray(row.options) && row.options.length > 0 ? { options: [...(row.options as string[])].sort() } : {}),
        ...opt('comment', row.comment),
      };
      push(object);
      byClassOid.set(`pg_class:${str(row.oid)}`, object.id);
      continue;
    }
    const bound = row.partition_bound as string | null;
    let partitionOf: TableDef['partitionOf'];
    if (bound !== null && parents.length === 1) {
      const parent = relationsByOid.get(String(parents[0]));
      if (parent !== undefined) partitionOf = { parent: `table:${str(parent.qname)}`, parentQname: str(parent.qname), bound };
    } else if (parents.length > 0) {
      unsupported.push({ id: `table:${qname}`, reason: `table inheritance (${qname} INHERITS another table) is not modelled` });
    }
    const table: TableDef & { columns: ColumnDef[] } = {
      kind: 'table',
      id: `table:${qname}`,
      schema,
      name,
      qname,
      unlogged: row.persistence === 'u',
      columns: [],
      ...opt('partitionBy', row.partition_by),
      ...(partitionOf === undefined ? {} : { partitionOf }),
      rowSecurity: row.row_security === true,
      forceRowSecurity: row.force_row_security === true,
      ...(Array.isArray(row.options) && row.options.length > 0 ? { options: [...(row.options as string[])].sort() } : {}),
      ...opt('comment', row.comment),
    };
    tables.set(str(row.oid), table);
    push(table);
    byClassOid.set(`pg_class:${str(row.oid)}`, table.id);
  }

  const columnIds = new Map<string, string>(); // "tableOid:attnum" -> column id
  for (const row of [...rows.columns].sort((a, b) => Number(a.position) - Number(b.position))) {
    const table = tables.get(str(row.table_oid));
    if (table === undefined) continue;
    const id = `column:${table.qname}.${str(row.qname)}`;
    columnIds.set(`${str(row.table_oid)}:${str(row.position)}`, id);
    // A partition's columns come from its parent; only the parent's are modelled.
    if (table.partitionOf !== undefined) continue;
    const identityKind = row.identity === 'a' ? 'ALWAYS' : row.identity === 'd' ? 'BY DEFAULT' : undefined;
    const sequence = identityOptions.get(`${str(row.table_oid)}:${str(row.position)}`);
    const generated = row.generated === 's' ? (row.default_expr as string) : undefined;
    table.columns.push({
      id,
      qname: str(row.qname),
      name: str(row.name),
      position: Number(row.position),
      type: str(row.type),
      ...opt('collation', row.collation),
      notNull: row.not_null === true,
      ...(generated === undefined ? opt('default', row.default_expr) : { generated }),
      ...(identityKind !== undefined && sequence !== undefined ? { identity: { kind: identityKind, sequence } } : {}),
      ...opt('comment', row.comment),
    });
  }

  for (const row of sequenceRows) {
    const schema = str(row.schema);
    const name = str(row.name);
    if (ignored(`${schema}.${name}`)) continue;
    const ownerColumn = row.owned_deptype === 'a' ? columnIds.get(`${str(row.owner_oid)}:${str(row.owner_attnum)}`) : undefined;
    const object: SequenceDef = {
      kind: 'sequence',
      id: `sequence:${str(row.qname)}`,
      schema,
      name,
      qname: str(row.qname),
      ...(row.options as SequenceOptions),
      ...(ownerColumn === undefined ? {} : { ownedBy: ownerColumn.slice('column:'.length) }),
      ...opt('comment', row.comment),
    };
    push(object);
    byClassOid.set(`pg_class:${str(row.oid)}`, object.id);
  }

  for (const row of rows.constraints) {
    const table = tables.get(str(row.table_oid));
    if (table === undefined || row.local !== true || str(row.parent_oid) !== '0') continue;
    const definition = str(row.definition);
    const referenced = row.ref_oid === null || str(row.ref_oid) === '0' ? undefined : tables.get(str(row.ref_oid));
    const object: ConstraintDef = {
      kind: 'constraint',
      id: `constraint:${table.qname}.${str(row.qname)}`,
      schema: table.schema,
      name: str(row.name),
      qname: str(row.qname),
      table: table.id,
      tableQname: table.qname,
      type: str(row.type) as ConstraintDef['type'],
      definition: definition.replace(/ NOT VALID$/, ''),
      validated: row.validated === true,
      ...(referenced === undefined ? {} : { references: referenced.id }),
      ...opt('comment', row.comment),
    };
    push(object);
    byClassOid.set(`pg_constraint:${str(row.oid)}`, object.id);
  }

  const matviewOids = new Set(rows.relations.filter((r) => r.relkind === 'm').map((r) => str(r.oid)));
  for (const row of rows.indexes) {
    if (row.backs_constraint === true || row.attached_to_parent === true) continue;
    const table = tables.get(str(row.table_oid));
    const matview = matviewOids.has(str(row.table_oid)) ? byClassOid.get(`pg_class:${str(row.table_oid)}`) : undefined;
    if (table === undefined && matview === undefined) continue;
    const owner = table ?? (byId.get(matview!) as ViewDef);
    const object: IndexDef = {
      kind: 'index',
      id: `index:${str(row.qname)}`,
      schema: str(row.schema),
      name: str(row.name),
      qname: str(row.qname),
      table: owner.id,
      tableQname: owner.qname,
      definition: str(row.definition),
      unique: row.unique === true,
      ...opt('comment', row.comment),
    };
    push(object);
    byClassOid.set(`pg_class:${str(row.oid)}`, object.id);
  }

  for (const row of rows.functions) {
    const schema = str(row.schema);
    const name = str(row.name);
    if (ignored(`${schema}.${name}`)) continue;
    const qname = str(row.qname);
    const identityArgs = str(row.identity_args);
    // Identity is the argument types (what PostgreSQL tells overloads apart by), not their names.
    const id = `function:${qname}(${str(row.arg_types)})`;
    if (row.prokind === 'a') {
      const aggregate = row.aggregate as Record<string, unknown> | null;
      const definition = aggregate === null ? undefined : aggregateDefinition(qname, identityArgs, aggregate);
      if (definition === undefined) {
        unsupported.push({ id, reason: `aggregate ${qname}(${identityArgs}) uses options drift-guard does not model (ordered-set, moving or parallel)` });
        continue;
      }
      const object: AggregateDef = { kind: 'aggregate', id, schema, name, qname, identityArgs, definition, ...opt('comment', row.comment) };
      push(object);
      byClassOid.set(`pg_proc:${str(row.oid)}`, id);
      continue;
    }
    const object: FunctionDef = {
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
      ...opt('comment', row.comment),
    };
    push(object);
    byClassOid.set(`pg_proc:${str(row.oid)}`, id);
  }

  for (const row of rows.triggers) {
    if (row.cloned === true) continue;
    const owner = tables.get(str(row.table_oid)) ?? byId.get(byClassOid.get(`pg_class:${str(row.table_oid)}`) ?? '');
    if (owner === undefined) continue;
    const object: TriggerDef = {
      kind: 'trigger',
      id: `trigger:${owner.qname}.${str(row.qname)}`,
      schema: owner.schema,
      name: str(row.name),
      qname: str(row.qname),
      table: owner.id,
      tableQname: owner.qname,
      definition: str(row.definition),
      enabled: str(row.enabled) as TriggerDef['enabled'],
      ...opt('comment', row.comment),
    };
    push(object);
    byClassOid.set(`pg_trigger:${str(row.oid)}`, object.id);
  }

  const commands: Record<string, PolicyDef['command']> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };
  for (const row of rows.policies) {
    const table = tables.get(str(row.table_oid));
    if (table === undefined) continue;
    const object: PolicyDef = {
      kind: 'policy',
      id: `policy:${table.qname}.${str(row.qname)}`,
      schema: table.schema,
      name: str(row.name),
      qname: str(row.qname),
      table: table.id,
      tableQname: table.qname,
      permissive: row.permissive === true,
      command: commands[str(row.command)] ?? 'ALL',
      roles: (row.roles as string[]) ?? [],
      ...opt('using', row.using_expr),
      ...opt('withCheck', row.check_expr),
      ...opt('comment', row.comment),
    };
    push(object);
    byClassOid.set(`pg_policy:${str(row.oid)}`, object.id);
  }

  for (const row of rows.unsupported) unsupported.push({ id: `${str(row.what)}:${str(row.name)}`, reason: `${str(row.what)} ${str(row.name)} is not modelled` });

  // Dependencies, translated to ids; anything outside the model (system objects, ignored ones) drops out.
  const resolve = (cls: string, oid: string, sub: number): string | undefined => {
    if (cls === 'pg_class' && sub > 0) return columnIds.get(`${oid}:${sub}`) ?? byClassOid.get(`pg_class:${oid}`);
    return byClassOid.get(`${cls}:${oid}`);
  };
  const dependencies = new Map<string, Set<string>>();
  for (const row of rows.dependencies) {
    const from = resolve(str(row.cls), str(row.oid), Number(row.sub));
    const to = resolve(str(row.ref_cls), str(row.ref_oid), Number(row.ref_sub));
    if (from === undefined || to === undefined || from === to) continue;
    // A view's own columns are not dependencies of the view.
    if (to.startsWith('column:') && from.startsWith('view:') && to.startsWith(`column:${from.slice(from.indexOf(':') + 1)}.`)) continue;
    const set = dependencies.get(from) ?? new Set<string>();
    set.add(to);
    dependencies.set(from, set);
  }

  // Privileges: attached to the objects they are on; default privileges are objects of their own.
  const privileges = new Map<string, Privileges>();
  for (const row of rows.privileges ?? []) {
    const id = byClassOid.get(`${str(row.cls)}:${str(row.oid)}`);
    if (id !== undefined) privileges.set(id, { extra: (row.extra as Grant[] | null) ?? [], missing: (row.missing as Grant[] | null) ?? [] });
  }
  const objectTypes: Record<string, DefaultPrivilegesDef['objectType']> = { r: 'TABLES', S: 'SEQUENCES', f: 'FUNCTIONS', T: 'TYPES', n: 'SCHEMAS' };
  for (const row of rows.defaultPrivileges ?? []) {
    const objectType = objectTypes[str(row.objtype)];
    const grants = { extra: (row.extra as Grant[] | null) ?? [], missing: (row.missing as Grant[] | null) ?? [] };
    if (objectType === undefined || (grants.extra.length === 0 && grants.missing.length === 0)) continue;
    const inSchema = row.schema === null ? undefined : str(row.schema);
    push({
      kind: 'default_privileges',
      id: `default_privileges:${str(row.role)}:${inSchema ?? ''}:${objectType}`,
      schema: inSchema ?? '',
      name: objectType,
      qname: str(row.role),
      role: str(row.role),
      ...(inSchema === undefined ? {} : { inSchema }),
      objectType,
      grants,
    });
  }

  objects.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    objects: new Map(objects.map((o) => [o.id, privileges.has(o.id) ? ({ ...o, privileges: privileges.get(o.id)! } as SchemaObject) : o])),
    dependencies: new Map([...dependencies].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, set]) => [id, [...set].sort()])),
    unsupported: unsupported.sort((a, b) => (a.id < b.id ? -1 : 1)),
    serverVersionNum: rows.versionNum,
  };
}

function normalizeViewDefinition(definition: string): string {
  return definition.trim().replace(/;$/, '');
}

function aggregateDefinition(qname: string, args: string, aggregate: Record<string, unknown>): string | undefined {
  if (aggregate.kind !== 'n' || aggregate.moving === true || aggregate.sortop === true || aggregate.serial === true) return undefined;
  const parts = [`SFUNC = ${String(aggregate.sfunc)}`, `STYPE = ${String(aggregate.stype)}`];
  if (aggregate.finalfunc !== '-') parts.push(`FINALFUNC = ${String(aggregate.finalfunc)}`);
  if (aggregate.finalextra === true) parts.push('FINALFUNC_EXTRA');
  if (aggregate.combinefunc !== '-') parts.push(`COMBINEFUNC = ${String(aggregate.combinefunc)}`);
  if (aggregate.initcond !== null) parts.push(`INITCOND = '${String(aggregate.initcond).replace(/'/g, "''")}'`);
  return `CREATE AGGREGATE ${qname}(${args === '' ? '*' : args}) (\n    ${parts.join(',\n    ')}\n)`;
}

function ignoreMatcher(options: ModelOptions): (name: string) => boolean {
  const patterns = options.ignore.map((pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`));
  return (name) => patterns.some((pattern) => pattern.test(name) || pattern.test(name.split('.')[0]!));
}
