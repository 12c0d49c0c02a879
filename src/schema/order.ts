// Orders DDL steps so that everything exists before what uses it: a topological sort over the
// dependencies PostgreSQL records (pg_depend) plus the structural ones (a constraint needs its
// table), with each kind's phase deciding among steps that are ready. Deterministic: ties go by key.

import type { SchemaModel, SchemaObject } from './model.js';

export interface Step {
  /** Unique key, usually the object id. */
  readonly key: string;
  readonly phase: number;
  /** Keys of steps that must come first (unknown keys are ignored). */
  readonly after: readonly string[];
  readonly sql: readonly string[];
}

export const CREATE_PHASE: Record<SchemaObject['kind'], number> = {
  schema: 0,
  extension: 1,
  enum: 2,
  composite: 2,
  domain: 2,
  sequence: 3,
  function: 4,
  aggregate: 4,
  table: 5,
  constraint: 7,
  index: 7,
  view: 9,
  matview: 9,
  trigger: 10,
  policy: 10,
  default_privileges: 12,
};

/** Kahn's algorithm with a (phase, key) priority among ready steps; a cycle is broken at its lowest step. */
export function orderSteps(steps: readonly Step[]): Step[] {
  const byKey = new Map(steps.map((s) => [s.key, s]));
  const pending = new Map<string, Set<string>>();
  const dependents = new Map<string, string[]>();
  for (const step of steps) {
    const waits = new Set(step.after.filter((key) => key !== step.key && byKey.has(key)));
    pending.set(step.key, waits);
    for (const key of waits) {
      const list = dependents.get(key) ?? [];
      list.push(step.key);
      dependents.set(key, list);
    }
  }
  const compare = (a: Step, b: Step): number => a.phase - b.phase || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const ready = steps.filter((s) => pending.get(s.key)!.size === 0).sort(compare);
  const done = new Set<string>();
  const ordered: Step[] = [];
  while (ordered.length < steps.length) {
    let next = ready.shift();
    if (next === undefined) {
      // A cycle (or a dependency PostgreSQL resolves itself): take the lowest remaining step.
      next = steps.filter((s) => !done.has(s.key)).sort(compare)[0]!;
    }
    if (done.has(next.key)) continue;
    done.add(next.key);
    ordered.push(next);
    for (const dependent of dependents.get(next.key) ?? []) {
      const waits = pending.get(dependent)!;
      waits.delete(next.key);
      if (waits.size === 0 && !done.has(dependent)) insertSorted(ready, byKey.get(dependent)!, compare);
    }
  }
  return ordered;
}

function insertSorted(list: Step[], step: Step, compare: (a: Step, b: Step) => number): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compare(list[mid]!, step) < 0) low = mid + 1;
    else high = mid;
  }
  list.splice(low, 0, step);
}

/** Column id -> its table's id, so that "depends on a column" orders after the table. */
export interface ColumnOwners {
  get(id: string): string | undefined;
}

/** Reads a column's table off the column id (`column:<table qname>.<column qname>`): no index over every column. */
export function ownerIndex(model: SchemaModel): ColumnOwners {
  return {
    get(id) {
      if (!id.startsWith('column:')) return undefined;
      const qualified = id.slice('column:'.length);
      const table = `table:${qualifierOf(qualified)}`;
      return model.objects.get(table)?.kind === 'table' ? table : undefined;
    },
  };
}

/** What an object must be created after: its recorded dependencies and its structural ones. */
export function prerequisites(model: SchemaModel, object: SchemaObject, owners: ColumnOwners): string[] {
  const after = new Set<string>();
  const add = (dependency: string): void => {
    // A serial sequence's link to its owning column is OWNED BY, a separate step after the table.
    if (object.kind === 'sequence' && dependency.startsWith('column:')) return;
    after.add(owners.get(dependency) ?? dependency);
  };
  for (const dependency of model.dependencies.get(object.id) ?? []) add(dependency);
  // A table needs what its columns' defaults, generated expressions and types need.
  if (object.kind === 'table') for (const column of object.columns) for (const dependency of model.dependencies.get(column.id) ?? []) add(dependency);
  switch (object.kind) {
    case 'constraint':
      after.add(object.table);
      if (object.references !== undefined) {
        after.add(object.references);
        // A foreign key needs the referenced key: the other table's primary and unique constraints.
        for (const key of uniqueKeysOf(model).get(object.references) ?? []) after.add(key);
      }
      break;
    case 'index':
    case 'trigger':
    case 'policy':
      after.add(object.table);
      break;
    case 'table':
      if (object.partitionOf !== undefined) after.add(object.partitionOf.parent);
      break;
    case 'default_privileges':
      if (object.inSchema !== undefined) after.add(`schema:${object.inSchema}`);
      break;
    default:
      break;
  }
  // Schema-qualified objects need their schema (table-scoped ones get it through their table).
  if (['enum', 'domain', 'composite', 'sequence', 'table', 'index', 'view', 'matview', 'function', 'aggregate'].includes(object.kind)) {
    after.add(`schema:${qualifierOf(object.qname)}`);
  }
  after.delete(object.id);
  return [...after];
}

/** What qualifies a quoted qualified name: `public."t.1"` -> `public`, `public.t.c` -> `public.t` ('' when unqualified). */
export function qualifierOf(qname: string): string {
  const last = /(?:"(?:[^"]|"")*"|[^."]+)$/.exec(qname)?.[0] ?? qname;
  return qname.slice(0, Math.max(0, qname.length - last.length - 1));
}

const uniqueKeyCache = new WeakMap<SchemaModel, Map<string, string[]>>();

/** Table id -> ids of its primary key, unique constraints and unique indexes (computed once per model). */
function uniqueKeysOf(model: SchemaModel): Map<string, string[]> {
  let index = uniqueKeyCache.get(model);
  if (index === undefined) {
    index = new Map();
    for (const object of model.objects.values()) {
      const isKey = (object.kind === 'constraint' && (object.type === 'p' || object.type === 'u')) || (object.kind === 'index' && object.unique);
      if (!isKey) continue;
      const keys = index.get(object.table);
      if (keys === undefined) index.set(object.table, [object.id]);
      else keys.push(object.id);
    }
    uniqueKeyCache.set(model, index);
  }
  return index;
}
