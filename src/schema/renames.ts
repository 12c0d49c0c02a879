// Renames, as PostgreSQL recorded them. Two reads of one database (the PR gate's base and head: the
// head is the base's database with the PR's migrations applied) give every object and column a
// catalog identity (SchemaModel.identities: an oid, a table oid and attribute number). ALTER ...
// RENAME and SET SCHEMA keep it; DROP and CREATE make a new one. So an object whose identity is on
// both sides under another name was renamed, whatever the migration's text says, and nothing is
// guessed from similar names (the plain diff never guesses: it drops and creates, with a hint).
//
// diffAcrossRenames() first gives the FROM model the names TO has (ids, names, the tables that
// table-scoped objects hang on, dependencies), and takes TO's text for every definition that
// differs from FROM's only by renamed names, token by token (an index on a renamed table, a view
// over a renamed column, a foreign key to a renamed table). The plain diff of that against TO then
// holds only what changed besides the names, and each rename is one change of its own: a rename
// keeps the rows, so it carries no DELETES_DATA. The other way round, a table, column or sequence
// with the same name on both sides but a new identity was dropped and created again: that is a
// change with DELETES_DATA, which the diff by name cannot see. Models from different databases (a
// rewritten history applied from scratch, `diff` between two servers) must be diffed with
// diffSchemas.

import { diffSchemas, type Change, type SchemaDiff } from './diff.js';
import { hazard } from './hazards.js';
import type { ColumnDef, SchemaModel, SchemaObject, TableDef } from './model.js';
import { KIND_ORDER } from './rows-to-model.js';

export interface Rename {
  readonly kind: SchemaObject['kind'] | 'column';
  /** Its qualified name before (quoted). */
  readonly fromName: string;
  /** Ids before and after. */
  readonly from: string;
  readonly to: string;
  /** The table it belongs to after the rename (qualified, quoted), for table-scoped objects and columns. */
  readonly table?: string;
  /** e.g. "rename table shop.items to line_items", "move table shop.items to schema store". */
  readonly description: string;
  /** The statement that does it on its own (FROM's names; a swap of two names needs a third). */
  readonly sql: string;
}

export interface RenamedDiff extends SchemaDiff {
  readonly renames: readonly Rename[];
  /** FROM with TO's names: what the changes besides the renames are relative to, and what `statements` turn into TO. */
  readonly from: SchemaModel;
}

/** The objects and columns renamed (or moved to another schema) between two reads of one database. */
export function renamesBetween(from: SchemaModel, to: SchemaModel, ids: ReadonlyMap<string, string> = renamedIds(from, to)): Rename[] {
  if (ids.size === 0) return [];
  const renamedSchemas = new Set<string>();
  for (const [before, after] of ids) {
    const a = from.objects.get(before);
    const b = to.objects.get(after);
    if (a?.kind === 'schema' && b?.kind === 'schema') renamedSchemas.add(`${a.name}\0${b.name}`);
  }
  const renames: Rename[] = [];
  for (const [before, after] of ids) {
    if (before.startsWith('column:')) {
      const column = columnOf(from, before);
      const now = columnOf(to, after);
      if (column === undefined || now === undefined || column.column.name === now.column.name) continue;
      renames.push({
        kind: 'column',
        fromName: `${column.table.qname}.${column.column.qname}`,
        from: before,
        to: after,
        table: now.table.qname,
        description: `rename column ${column.table.qname}.${column.column.qname} to ${now.column.qname}`,
        sql: `ALTER TABLE ${now.table.qname} RENAME COLUMN ${column.column.qname} TO ${now.column.qname};`,
      });
      continue;
    }
    const object = from.objects.get(before);
    const now = to.objects.get(after);
    if (object === undefined || now === undefined || object.kind !== now.kind) continue;
    const renamed = object.name !== now.name;
    const moved = object.kind !== 'schema' && object.schema !== now.schema && !renamedSchemas.has(`${object.schema}\0${now.schema}`) && !tableScoped(object);
    if (!renamed && !moved) continue;
    const table = 'tableQname' in now ? now.tableQname : object.kind === 'table' ? now.qname : undefined;
    const name = now.qname.slice(now.qname.lastIndexOf('.') + 1);
    const what = kindLabel(object);
    const parts: string[] = [];
    if (moved) parts.push(`move ${what} ${object.qname} to schema ${schemaQname(now)}`);
    if (renamed) parts.push(`rename ${what} ${moved ? schemaQname(now) + '.' + object.qname.slice(object.qname.lastIndexOf('.') + 1) : object.qname} to ${name}`);
    renames.push({ kind: object.kind, fromName: object.qname, from: before, to: after, ...(table === undefined ? {} : { table }), description: parts.join(', then '), sql: renameSql(object, now, moved, renamed) });
  }
  // An owned sequence moves with its table (SET SCHEMA): the table's move says it.
  const movedTables = new Set(renames.filter((r) => r.kind === 'table' && r.description.startsWith('move ')).map((r) => (to.objects.get(r.to) as TableDef).qname));
  const alongside = (r: Rename): boolean => r.kind === 'sequence' && ownedByOneOf(to.objects.get(r.to), movedTables) && !r.description.includes('rename');
  return renames.filter((r) => !alongside(r)).sort((a, b) => KIND_RANK(a.kind) - KIND_RANK(b.kind) || (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
}

/** The diff of two reads of one database, renames recognised by catalog identity (see the header). */
export function diffAcrossRenames(from: SchemaModel, to: SchemaModel, options: { readonly recreated?: boolean } = {}): RenamedDiff {
  const ids = renamedIds(from, to);
  // `recreated: false`: where objects are expected to be created again (a rollback's down and up).
  const recreated = options.recreated === false ? [] : recreatedUnderSameName(from, to, ids);
  // What the diff by name says of an object created again (a type change of a column dropped and
  // added, the columns and keys of a table dropped and created) is the new object's definition,
  // not a change made to the old one: the single "drop and create again" says it.
  const recreatedColumns = new Set(recreated.filter((c) => c.kind === 'column').map((c) => c.id));
  const recreatedTables = new Set(recreated.filter((c) => c.kind === 'table').map((c) => c.table));
  const besides = (changes: readonly Change[]): Change[] => changes.filter((c) => !recreatedColumns.has(c.id) && !(c.table !== undefined && recreatedTables.has(c.table)));
  if (ids.size === 0) {
    const plain = diffSchemas(from, to);
    return { ...plain, changes: [...recreated, ...besides(plain.changes)], renames: [], from };
  }
  const renames = renamesBetween(from, to, ids);
  const renamedFrom = withNames(from, to, ids);
  const plain = diffSchemas(renamedFrom, to);
  const changes: Change[] = renames.map((r) => ({
    id: r.to,
    action: 'alter',
    kind: r.kind,
    ...(r.table === undefined ? {} : { table: r.table }),
    description: r.description,
    renamedFrom: r.fromName,
    hazards: [],
    hints: [`a rename keeps the data, but code still using the old name fails once it runs: ship code that no longer uses the old name first (or keep the old name as a view or a generated column until it does)`],
  }));
  return { changes: [...changes, ...recreated, ...besides(plain.changes)], statements: plain.statements, unsupported: plain.unsupported, renames, from: renamedFrom };
}

/**
 * Tables, columns and sequences that have the same name on both sides but not the same identity:
 * dropped and created again, so what they held is gone unless the migration copied it back. The
 * diff by name sees nothing there (or only a type change). A column of a table created again is
 * the table's change.
 */
function recreatedUnderSameName(from: SchemaModel, to: SchemaModel, ids: ReadonlyMap<string, string>): Change[] {
  if (from.identities === undefined || to.identities === undefined) return [];
  const targets = new Set(ids.values());
  const changes: Change[] = [];
  const tables = new Set<string>();
  // Tables before their columns (identitiesOf's order, kept by identityChanges).
  for (const { id, now } of identityChanges(from, to)) {
    if (now === undefined || ids.has(id) || targets.has(id)) continue;
    const object = to.objects.get(id);
    if (object?.kind === 'table') {
      tables.add(object.qname);
      changes.push({ id, action: 'replace', kind: 'table', table: object.qname, description: `drop and create table ${object.qname} again`, hazards: [hazard('DELETES_DATA', `${object.qname} is dropped and a new table is created under its name: its rows are lost unless the migration copies them back.`)], hints: [] });
    } else if (object?.kind === 'sequence') {
      changes.push({ id, action: 'replace', kind: 'sequence', description: `drop and create sequence ${object.qname} again`, hazards: [hazard('DELETES_DATA', `${object.qname} is dropped and created again: it starts over from its first value.`)], hints: [] });
    } else if (id.startsWith('column:')) {
      const column = columnOf(to, id);
      if (column === undefined || tables.has(column.table.qname) || recreatedTable(from, to, column.table.id)) continue;
      const at = `${column.table.qname}.${column.column.qname}`;
      changes.push({ id, action: 'replace', kind: 'column', table: column.table.qname, description: `drop and add column ${at} again`, hazards: [hazard('DELETES_DATA', `${at} is dropped and a new column is added under its name: its values are lost unless the migration copies them back.`)], hints: [] });
    }
  }
  // A serial column's sequence goes with its table.
  return changes.filter((c) => !(c.kind === 'sequence' && ownedByOneOf(to.objects.get(c.id), tables))).sort((a, b) => KIND_RANK(a.kind) - KIND_RANK(b.kind) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function recreatedTable(from: SchemaModel, to: SchemaModel, tableId: string): boolean {
  const before = from.identities?.get(tableId);
  const after = to.identities?.get(tableId);
  return before !== undefined && after !== undefined && before !== after;
}

/** FROM id -> TO id of every object and column whose identity is on both sides under another id. */
function renamedIds(from: SchemaModel, to: SchemaModel): Map<string, string> {
  const renamed = new Map<string, string>();
  const differing = identityChanges(from, to);
  if (differing.length === 0 || to.identities === undefined) return renamed;
  // Most ids keep their identity: only the others are looked up by identity.
  const byIdentity = new Map<number, string>();
  for (const [other, value] of to.identities) byIdentity.set(value, other);
  for (const { id, identity } of differing) {
    const now = byIdentity.get(identity);
    if (now !== undefined && now !== id && kindOfId(now) === kindOfId(id)) renamed.set(id, now);
  }
  return renamed;
}

/** FROM's ids whose identity TO does not give them (gone, or another object's now), computed once per pair of models. */
const identityChangesOf = new WeakMap<SchemaModel, WeakMap<SchemaModel, readonly { id: string; identity: number; now: number | undefined }[]>>();
function identityChanges(from: SchemaModel, to: SchemaModel): readonly { id: string; identity: number; now: number | undefined }[] {
  if (from.identities === undefined || to.identities === undefined) return [];
  let byTo = identityChangesOf.get(from);
  const known = byTo?.get(to);
  if (known !== undefined) return known;
  const differing: { id: string; identity: number; now: number | undefined }[] = [];
  for (const [id, identity] of from.identities) {
    const now = to.identities.get(id);
    if (now !== identity) differing.push({ id, identity, now });
  }
  if (byTo === undefined) identityChangesOf.set(from, (byTo = new WeakMap()));
  byTo.set(to, differing);
  return differing;
}

/**
 * FROM under TO's names: ids, dependencies, and every text that differs from its counterpart's in
 * TO only by renamed identifiers (TO's is taken). Objects are matched by identity, else by id;
 * a table's columns by identity, else by name.
 */
function withNames(from: SchemaModel, to: SchemaModel, ids: ReadonlyMap<string, string>): SchemaModel {
  const pairs = tokenPairs(from, to, ids);
  const rename = (id: string): string => ids.get(id) ?? id;
  // What an object TO no longer has is still named after renamed schemas and tables (it goes
  // after they are renamed): its schema, and its table for table-scoped ones.
  const schemas = new Map<string, { name: string; qname: string; old: string }>();
  const tables = new Map<string, { id: string; qname: string; old: string }>();
  for (const [before, after] of ids) {
    const a = from.objects.get(before);
    const b = to.objects.get(after);
    if (a?.kind === 'schema' && b?.kind === 'schema') schemas.set(a.name, { name: b.name, qname: b.qname, old: a.qname });
    if (a?.kind === 'table' && b?.kind === 'table') tables.set(a.id, { id: b.id, qname: b.qname, old: a.qname });
  }
  const carried = (object: SchemaObject): SchemaObject => {
    let out = object;
    const schema = schemas.get(object.schema);
    if (schema !== undefined && object.kind !== 'schema') {
      const qname = object.qname.startsWith(`${schema.old}.`) ? `${schema.qname}${object.qname.slice(schema.old.length)}` : object.qname;
      out = { ...out, schema: schema.name, qname, id: out.id.replace(`:${schema.old}.`, `:${schema.qname}.`) } as SchemaObject;
    }
    if ('table' in out && 'tableQname' in out && typeof out.table === 'string') {
      const table = tables.get(out.table);
      if (table !== undefined) out = { ...out, table: table.id, tableQname: table.qname, id: out.id.replace(`:${table.old}.`, `:${table.qname}.`) } as SchemaObject;
    }
    return out;
  };
  const objects: SchemaObject[] = [];
  for (const [id, object] of from.objects) {
    const counterpart = to.objects.get(rename(id));
    if (counterpart === undefined || counterpart.kind !== object.kind) {
      objects.push(carried(object));
      continue;
    }
    let named = align(object, counterpart, pairs) as SchemaObject;
    if (object.kind === 'table' && counterpart.kind === 'table') {
      const columns = object.columns.map((column) => {
        const other = counterpart.columns.find((c) => c.id === rename(column.id));
        return other === undefined ? column : (align(column, other, pairs) as ColumnDef);
      });
      named = { ...(named as TableDef), columns };
    }
    objects.push(named);
  }
  // Ids that changed: renamed objects and columns, and what was carried along with them.
  const moved = new Map(ids);
  [...from.objects.values()].forEach((object, i) => {
    if (!ids.has(object.id) && objects[i]!.id !== object.id) moved.set(object.id, objects[i]!.id);
  });
  const renameAny = (id: string): string => moved.get(id) ?? id;
  objects.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const dependencies = new Map<string, readonly string[]>();
  for (const [id, on] of from.dependencies) dependencies.set(renameAny(id), on.map(renameAny));
  const identities = new Map<string, number>();
  for (const [id, identity] of from.identities ?? []) identities.set(renameAny(id), identity);
  return { objects: new Map(objects.map((o) => [o.id, o])), dependencies, unsupported: from.unsupported, serverVersionNum: from.serverVersionNum, identities };
}

/**
 * `value` with every string that differs from the same place in `other` only by renamed
 * identifiers replaced by other's; arrays place by place, objects key by key. Table columns are
 * aligned by the caller (by identity): they are left as they are here.
 */
function align(value: unknown, other: unknown, pairs: ReadonlySet<string>): unknown {
  if (typeof value === 'string') return typeof other === 'string' && value !== other && sameButRenamed(value, other, pairs) ? other : value;
  if (Array.isArray(value)) {
    if (!Array.isArray(other)) return value;
    let changed = false;
    const out = value.map((item, i) => {
      const aligned = i < other.length ? align(item, other[i], pairs) : item;
      if (aligned !== item) changed = true;
      return aligned;
    });
    return changed ? out : value;
  }
  if (value !== null && typeof value === 'object' && other !== null && typeof other === 'object' && !Array.isArray(other)) {
    let out: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(value)) {
      if (key === 'columns') continue;
      const aligned = align(item, (other as Record<string, unknown>)[key], pairs);
      if (aligned !== item) (out ??= { ...(value as Record<string, unknown>) })[key] = aligned;
    }
    return out ?? value;
  }
  return value;
}

/**
 * Identifier pairs (old, new) that renames make: each part of a renamed object's qualified name
 * and of a renamed column's name, as they are printed (quoted where PostgreSQL quotes them).
 */
function tokenPairs(from: SchemaModel, to: SchemaModel, ids: ReadonlyMap<string, string>): Set<string> {
  const pairs = new Set<string>();
  const add = (before: string, after: string): void => {
    const a = tokens(before).filter(isIdentifier);
    const b = tokens(after).filter(isIdentifier);
    if (a.length !== b.length) return;
    a.forEach((token, i) => {
      if (token !== b[i]) pairs.add(`${token}\0${b[i]!}`);
    });
  };
  // Raw names too (a `name` or `schema` field, a column's name), whole: "LastSeen" is a token
  // only inside SQL, and "Order Items" is no single token at all.
  const raw = (x: string, y: string): void => {
    if (x !== y) pairs.add(`${x}\0${y}`);
  };
  for (const [before, after] of ids) {
    if (before.startsWith('column:')) {
      const a = columnOf(from, before);
      const b = columnOf(to, after);
      if (a !== undefined && b !== undefined) (add(a.column.qname, b.column.qname), raw(a.column.name, b.column.name));
      continue;
    }
    const a = from.objects.get(before);
    const b = to.objects.get(after);
    if (a === undefined || b === undefined) continue;
    raw(a.name, b.name);
    raw(a.schema, b.schema);
    if (a.kind === 'schema') add(a.qname, b.qname);
    else if (tableScoped(a)) add(a.qname.slice(a.qname.lastIndexOf('.') + 1), b.qname.slice(b.qname.lastIndexOf('.') + 1));
    else add(a.qname, b.qname);
  }
  return pairs;
}

/** Whether `a` becomes `b` by renaming identifiers only: the same tokens, each identifier the same or a renamed pair. */
function sameButRenamed(a: string, b: string, pairs: ReadonlySet<string>): boolean {
  if (pairs.has(`${a}\0${b}`)) return true;
  const x = tokens(a);
  const y = tokens(b);
  let j = 0;
  for (let i = 0; i < x.length; i++, j++) {
    const p = x[i]!;
    const q = y[j];
    if (q === undefined) return false;
    if (p === q) continue;
    // A name inside a literal: nextval('shop.seq'::regclass), a regclass or regtype constant.
    if (p.startsWith("'") && q.startsWith("'") && sameButRenamed(p.slice(1, -1), q.slice(1, -1), pairs)) continue;
    if (!isIdentifier(p) || !isIdentifier(q) || !pairs.has(`${p}\0${q}`)) return false;
    // A view's output column keeps its name when the column it shows is renamed: "o.remark AS note" for "o.note".
    if (y[j + 1] === ' ' && y[j + 2]?.toUpperCase() === 'AS' && y[j + 3] === ' ' && y[j + 4] === p && x[i + 1] !== ' ') j += 4;
  }
  return j === y.length;
}

/** SQL (or an id, a qualified name) as tokens: quoted identifiers, string literals, words, and every other character. */
function tokens(text: string): string[] {
  return text.match(/"(?:[^"]|"")*"|'(?:[^']|'')*'|[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*|\s+|./gs) ?? [];
}

const isIdentifier = (token: string): boolean => token.startsWith('"') || /^[A-Za-z_\u0080-\uffff]/.test(token);

function columnOf(model: SchemaModel, id: string): { table: TableDef; column: ColumnDef } | undefined {
  for (const object of model.objects.values()) {
    if (object.kind !== 'table' || !id.startsWith(`column:${object.qname}.`)) continue;
    const column = object.columns.find((c) => c.id === id);
    if (column !== undefined) return { table: object, column };
  }
  return undefined;
}

/** Whether `object` is a serial-style sequence owned by a column of one of `tables` (qualified names). */
function ownedByOneOf(object: SchemaObject | undefined, tables: ReadonlySet<string>): boolean {
  if (object?.kind !== 'sequence' || object.ownedBy === undefined) return false;
  const owner = object.ownedBy;
  return [...tables].some((t) => owner.startsWith(`${t}.`));
}

const kindOfId = (id: string): string => id.slice(0, id.indexOf(':'));
const tableScoped = (object: SchemaObject): boolean => 'tableQname' in object;
const schemaQname = (object: SchemaObject): string => (object.qname.includes('.') ? object.qname.slice(0, object.qname.lastIndexOf('.')) : object.schema);
const KIND_RANK = (kind: Rename['kind']): number => (kind === 'column' ? KIND_ORDER.table + 0.5 : KIND_ORDER[kind]);

function kindLabel(object: SchemaObject): string {
  if (object.kind === 'matview') return 'materialized view';
  if (object.kind === 'enum' || object.kind === 'composite') return 'type';
  return object.kind;
}

/** ALTER ... RENAME / SET SCHEMA for what PostgreSQL renames with a statement of its own. */
function renameSql(before: SchemaObject, after: SchemaObject, moved: boolean, renamed: boolean): string {
  const name = after.qname.slice(after.qname.lastIndexOf('.') + 1);
  const statements: string[] = [];
  const keyword: Partial<Record<SchemaObject['kind'], string>> = { schema: 'SCHEMA', table: 'TABLE', view: 'VIEW', matview: 'MATERIALIZED VIEW', sequence: 'SEQUENCE', index: 'INDEX', enum: 'TYPE', composite: 'TYPE', domain: 'DOMAIN' };
  if ((before.kind === 'constraint' || before.kind === 'trigger' || before.kind === 'policy') && 'tableQname' in after) {
    const oldName = before.qname.slice(before.qname.lastIndexOf('.') + 1);
    return before.kind === 'constraint' ? `ALTER TABLE ${after.tableQname} RENAME CONSTRAINT ${oldName} TO ${name};` : `ALTER ${before.kind.toUpperCase()} ${oldName} ON ${after.tableQname} RENAME TO ${name};`;
  }
  if (before.kind === 'function' || before.kind === 'aggregate') {
    const word = before.kind === 'aggregate' ? 'AGGREGATE' : before.procedure ? 'PROCEDURE' : 'FUNCTION';
    if (moved) statements.push(`ALTER ${word} ${before.qname}(${before.identityArgs}) SET SCHEMA ${schemaQname(after)};`);
    if (renamed) statements.push(`ALTER ${word} ${moved ? `${schemaQname(after)}.${before.qname.slice(before.qname.lastIndexOf('.') + 1)}` : before.qname}(${before.identityArgs}) RENAME TO ${name};`);
    return statements.join('\n');
  }
  const word = keyword[before.kind] ?? before.kind.toUpperCase();
  if (moved) statements.push(`ALTER ${word} ${before.qname} SET SCHEMA ${schemaQname(after)};`);
  if (renamed) statements.push(`ALTER ${word} ${moved ? `${schemaQname(after)}.${before.qname.slice(before.qname.lastIndexOf('.') + 1)}` : before.qname} RENAME TO ${name};`);
  return statements.join('\n');
}
