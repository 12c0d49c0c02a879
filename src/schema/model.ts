// The normalized schema model: what introspection produces, what `inspect` prints and what `diff`
// compares. Pure data: readonly, a `kind` on every object, names both raw (for sorting and
// `ignore:` patterns) and quoted as PostgreSQL's quote_ident would (for DDL), optional fields
// omitted rather than undefined.

export type ObjectKind =
  | 'schema'
  | 'extension'
  | 'enum'
  | 'domain'
  | 'composite'
  | 'sequence'
  | 'table'
  | 'constraint'
  | 'index'
  | 'view'
  | 'matview'
  | 'function'
  | 'aggregate'
  | 'trigger'
  | 'policy'
  | 'default_privileges';

interface Named {
  /** Stable identity across databases, e.g. `table:public.users`, `function:public.f(integer)`. */
  readonly id: string;
  readonly schema: string;
  readonly name: string;
  /** quote_ident(schema).quote_ident(name), or for table-scoped objects quote_ident(name). */
  readonly qname: string;
  readonly comment?: string;
  /** With --privileges: grants beyond PostgreSQL's defaults, and default grants revoked (owners left out). */
  readonly privileges?: Privileges;
}

export interface Grant {
  /** quote_ident(role) or PUBLIC. */
  readonly grantee: string;
  readonly privilege: string;
  readonly grantable: boolean;
}

export interface Privileges {
  readonly extra: readonly Grant[];
  readonly missing: readonly Grant[];
}

/** ALTER DEFAULT PRIVILEGES FOR ROLE role [IN SCHEMA schema] ... ON objtype. */
export interface DefaultPrivilegesDef extends Named {
  readonly kind: 'default_privileges';
  readonly role: string;
  readonly inSchema?: string;
  readonly objectType: 'TABLES' | 'SEQUENCES' | 'FUNCTIONS' | 'TYPES' | 'SCHEMAS';
  readonly grants: Privileges;
}

export interface SchemaDef extends Named {
  readonly kind: 'schema';
}

export interface ExtensionDef extends Named {
  readonly kind: 'extension';
  readonly version: string;
  /** quote_ident of the schema the extension's objects live in. */
  readonly schemaQname: string;
}

export interface EnumDef extends Named {
  readonly kind: 'enum';
  readonly values: readonly string[];
}

export interface DomainDef extends Named {
  readonly kind: 'domain';
  readonly baseType: string;
  readonly notNull: boolean;
  readonly default?: string;
  readonly collation?: string;
  readonly checks: readonly { readonly name: string; readonly definition: string; readonly validated: boolean }[];
}

export interface CompositeDef extends Named {
  readonly kind: 'composite';
  readonly attributes: readonly { readonly name: string; readonly type: string; readonly collation?: string }[];
}

export interface SequenceOptions {
  readonly type: string;
  readonly start: string;
  readonly increment: string;
  readonly min: string;
  readonly max: string;
  readonly cache: string;
  readonly cycle: boolean;
}

export interface SequenceDef extends Named, SequenceOptions {
  readonly kind: 'sequence';
  /** `table.column` (quoted, qualified) for serial-style ownership. */
  readonly ownedBy?: string;
}

export interface ColumnDef {
  readonly id: string;
  /** quote_ident(name). */
  readonly qname: string;
  readonly name: string;
  readonly position: number;
  readonly type: string;
  readonly collation?: string;
  readonly notNull: boolean;
  readonly default?: string;
  readonly identity?: { readonly kind: 'ALWAYS' | 'BY DEFAULT'; readonly sequence: SequenceOptions };
  /** Expression of a GENERATED ALWAYS AS (...) STORED column. */
  readonly generated?: string;
  readonly comment?: string;
  /** With --privileges: column grants (GRANT UPDATE (col) ...), owners left out. */
  readonly privileges?: readonly Grant[];
}

export interface TableDef extends Named {
  readonly kind: 'table';
  readonly unlogged: boolean;
  readonly columns: readonly ColumnDef[];
  /** PARTITION BY clause of a partitioned table (pg_get_partkeydef). */
  readonly partitionBy?: string;
  /** For a partition: the parent's id and its bound (pg_get_expr(relpartbound)). */
  readonly partitionOf?: { readonly parent: string; readonly parentQname: string; readonly bound: string };
  readonly rowSecurity: boolean;
  readonly forceRowSecurity: boolean;
  readonly options?: readonly string[];
  /** For a partition: columns whose default or NOT NULL differ from its parent's, by name. */
  readonly columnOverrides?: readonly ColumnOverride[];
}

/** A partition's own default (or lack of one) and NOT NULL on a column it takes from its parent. */
export interface ColumnOverride {
  readonly name: string;
  readonly qname: string;
  /** Its own default (set when it differs from the parent's). */
  readonly default?: string;
  /** The parent has a default and the partition has none. */
  readonly noDefault?: true;
  /** NOT NULL although the parent's column allows NULL. */
  readonly notNull?: true;
}

export interface ConstraintDef extends Named {
  readonly kind: 'constraint';
  readonly table: string;
  readonly tableQname: string;
  readonly type: 'p' | 'u' | 'c' | 'f' | 'x';
  /** pg_get_constraintdef, without NOT VALID. */
  readonly definition: string;
  readonly validated: boolean;
  /** Referenced table id for foreign keys. */
  readonly references?: string;
}

export interface IndexDef extends Named {
  readonly kind: 'index';
  readonly table: string;
  readonly tableQname: string;
  /** pg_get_indexdef. */
  readonly definition: string;
  readonly unique: boolean;
}

export interface ViewDef extends Named {
  readonly kind: 'view' | 'matview';
  /** pg_get_viewdef, normalized (no trailing semicolon). */
  readonly definition: string;
  readonly options?: readonly string[];
}

export interface FunctionDef extends Named {
  readonly kind: 'function';
  /** pg_get_function_identity_arguments. */
  readonly identityArgs: string;
  readonly procedure: boolean;
  readonly returns: string;
  /** pg_get_functiondef (CREATE OR REPLACE ...). */
  readonly definition: string;
  /** Argument names and defaults (pg_get_function_arguments): a change needs DROP + CREATE. */
  readonly arguments: string;
}

export interface AggregateDef extends Named {
  readonly kind: 'aggregate';
  readonly identityArgs: string;
  /** Reconstructed CREATE AGGREGATE. */
  readonly definition: string;
}

export interface TriggerDef extends Named {
  readonly kind: 'trigger';
  readonly table: string;
  readonly tableQname: string;
  /** pg_get_triggerdef. */
  readonly definition: string;
  /** 'O' origin (enabled), 'D' disabled, 'R' replica, 'A' always. */
  readonly enabled: 'O' | 'D' | 'R' | 'A';
}

export interface PolicyDef extends Named {
  readonly kind: 'policy';
  readonly table: string;
  readonly tableQname: string;
  readonly permissive: boolean;
  readonly command: 'ALL' | 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';
  readonly roles: readonly string[];
  readonly using?: string;
  readonly withCheck?: string;
}

export type SchemaObject =
  | SchemaDef
  | ExtensionDef
  | EnumDef
  | DomainDef
  | CompositeDef
  | SequenceDef
  | TableDef
  | ConstraintDef
  | IndexDef
  | ViewDef
  | FunctionDef
  | AggregateDef
  | TriggerDef
  | PolicyDef
  | DefaultPrivilegesDef;

export interface Unsupported {
  readonly id: string;
  readonly reason: string;
}

export interface SchemaModel {
  /** Every object by id, in a deterministic order. */
  readonly objects: ReadonlyMap<string, SchemaObject>;
  /** Object or column id -> ids it depends on (from pg_depend), among modelled objects. */
  readonly dependencies: ReadonlyMap<string, readonly string[]>;
  readonly unsupported: readonly Unsupported[];
  /** server_version_num of the database it came from. */
  readonly serverVersionNum: number;
  /**
   * Where the model was read from a database: each object's and column's catalog identity (an
   * object's oid with its catalog, a column's table oid and attribute number, as one number:
   * objectIdentity() and columnIdentity() in rows-to-model.ts), which a rename
   * keeps and a drop and create does not. Only comparable between reads of one database (or copies
   * of it): src/schema/renames.ts. Never serialized.
   */
  readonly identities?: ReadonlyMap<string, number>;
}

export function tableOf(model: SchemaModel, id: string): TableDef | undefined {
  const object = model.objects.get(id);
  return object?.kind === 'table' ? object : undefined;
}
