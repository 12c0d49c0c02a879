// Schema diff: what turns FROM into TO, as changes (each with its hazards) and as SQL in an order
// PostgreSQL accepts. Pure: two models in, a plan out.
//
// The plan has two halves. First every object that must go is dropped, dependents first: removed
// objects, objects replaced by a new definition, and whatever depends on them or on a column that
// changes type or disappears (views, policies, triggers, foreign keys...). Then everything is
// created and altered in dependency order: schemas, types, sequences, functions, tables and their
// columns, keys, foreign keys, indexes, views, triggers, policies, comments. Renames are never
// guessed: a table or column that disappears while a similar one appears is dropped and added,
// with a hint.

import { columnDefinition, columnGrantStatements, commentStatement, commentTarget, createStatements, dropStatement, grantStatements, literal, privilegeTarget, sequenceOptions } from './ddl.js';
import { hazard, isBinaryCoercible, isNarrowing, isVolatileDefault, timeZoneHazard, type Hazard } from './hazards.js';
import type { ColumnDef, CompositeDef, ConstraintDef, DefaultPrivilegesDef, DomainDef, EnumDef, FunctionDef, Grant, Privileges, SchemaModel, SchemaObject, SequenceDef, TableDef, TriggerDef } from './model.js';
import { CREATE_PHASE, orderSteps, ownerIndex, prerequisites, qualifierOf, type ColumnOwners, type Step } from './order.js';

export type ChangeAction = 'create' | 'drop' | 'alter' | 'replace';

export interface Change {
  /** The object (or column) the change is about. */
  readonly id: string;
  readonly action: ChangeAction;
  readonly kind: SchemaObject['kind'] | 'column';
  /** The table it belongs to (qualified), for grouping; the object itself for tables. */
  readonly table?: string;
  readonly description: string;
  readonly hazards: readonly Hazard[];
  readonly hints: readonly string[];
  /** A rename (or a move to another schema) read from catalog identities: what it was called (src/schema/renames.ts). */
  readonly renamedFrom?: string;
}

export interface SchemaDiff {
  readonly changes: readonly Change[];
  /** The SQL that turns FROM into TO, statement by statement, hazards as -- comment lines before their statements. */
  readonly statements: readonly string[];
  /** Objects that cannot be diffed; they make the diff incomplete and are reported, never skipped silently. */
  readonly unsupported: readonly string[];
}

interface Plan {
  readonly changes: Change[];
  readonly dropSteps: Step[];
  readonly createSteps: Step[];
  readonly unsupported: string[];
}

// Functions are dropped early (a leftover overload would make new calls ambiguous); the defaults
// that call them are dropped first. Types and sequences stay until the columns stop using them.
const LATE_DROP_KINDS = new Set<SchemaObject['kind']>(['enum', 'domain', 'composite', 'sequence', 'schema', 'extension']);

const DROP_PHASE = (object: SchemaObject): number => 100 - (object.kind === 'constraint' && object.type === 'f' ? 8 : CREATE_PHASE[object.kind]);

export function diffSchemas(from: SchemaModel, to: SchemaModel): SchemaDiff {
  const plan: Plan = { changes: [], dropSteps: [], createSteps: [], unsupported: [] };
  const toOwners = ownerIndex(to);
  const fromOwners = ownerIndex(from);

  /** Objects dropped in the first half (removed, replaced, or dependents of those). */
  const drops = new Set<string>();
  /** Objects (re)created from TO in the second half. */
  const creates = new Set<string>();
  /** Columns whose type changes or which disappear: their views, policies and triggers must go first. */
  const disruptedColumns = new Set<string>();
  /** Columns that exist only in FROM. */
  const removedColumns = new Set<string>();
  /** Columns whose default must be dropped before and set again after (its function or type is replaced). */
  const resetDefaults = new Set<string>();
  /** TO's default privileges (createdPrivileges), collected on first use. */
  let toDefaults: DefaultPrivilegesDef[] | undefined;
  /** Domains whose checks call a replaced function: the checks are dropped before and added after. */
  const resetDomains = new Set<string>();
  /** Enums rebuilt under the same name: what uses the old type must be recreated. */
  const rebuiltTypes = new Set<string>();
  /** Columns converted by an enum rebuild, which also sets their defaults. */
  const rebuiltColumns = new Set<string>();
  const tableAlters = new Map<string, { before: string[]; statements: string[] }>();
  /** Hazards to print as comments before the statements of a step. */
  const notes = new Map<string, Hazard[]>();
  const note = (stepKey: string, hazards: readonly Hazard[]): void => {
    if (hazards.length > 0) notes.set(stepKey, [...(notes.get(stepKey) ?? []), ...hazards]);
  };
  const alterOf = (table: TableDef): { before: string[]; statements: string[] } => {
    let entry = tableAlters.get(table.id);
    if (entry === undefined) {
      entry = { before: [], statements: [] };
      tableAlters.set(table.id, entry);
    }
    return entry;
  };

  for (const unsupported of [...from.unsupported, ...to.unsupported]) plan.unsupported.push(unsupported.reason);

  // 1. Objects only in FROM or only in TO, and objects whose definition changed.
  for (const [id, after] of to.objects) {
    const before = from.objects.get(id);
    if (before === undefined) {
      creates.add(id);
      const change = createChange(after, from);
      plan.changes.push(change);
      note(id, change.hazards);
      continue;
    }
    diffObject(before, after);
  }
  diffPartitionColumns();
  let added: TableDef[] | undefined;
  const addedTables = (): TableDef[] => (added ??= [...to.objects.values()].filter((o): o is TableDef => o.kind === 'table' && !from.objects.has(o.id)));
  for (const [id, before] of from.objects) {
    if (to.objects.has(id)) continue;
    drops.add(id);
    const change = dropChange(before, addedTables, (sequence) => ownerDropped(sequence, to));
    plan.changes.push(change);
    note(`drop:${id}`, change.hazards);
  }

  // 2. Whatever depends on something that goes away (or changes type) must go first and come back.
  const dependents = reverse(from.dependencies, fromOwners);
  // Indexes, triggers, policies and constraints belong to their table or materialized view.
  for (const object of from.objects.values()) {
    if ('table' in object) {
      const set = dependents.get(object.table);
      if (set === undefined) dependents.set(object.table, new Set([object.id]));
      else set.add(object.id);
    }
  }
  const seeds = [...drops, ...disruptedColumns, ...rebuiltTypes];
  const seen = new Set<string>();
  while (seeds.length > 0) {
    const seed = seeds.pop()!;
    if (seen.has(seed)) continue;
    seen.add(seed);
    for (const dependent of dependents.get(seed) ?? []) {
      if (dependent.startsWith('column:')) {
        // A default that uses the replaced function or type: drop it first, set it again after.
        if (drops.has(seed) && !disruptedColumns.has(dependent)) resetDefaults.add(dependent);
        continue;
      }
      const object = from.objects.get(dependent);
      if (object === undefined || object.kind === 'table' || object.kind === 'sequence') continue;
      // A domain whose check calls a replaced function keeps its columns: only its checks go and come back.
      if (object.kind === 'domain' && seed.startsWith('function:') && to.objects.get(dependent)?.kind === 'domain' && !drops.has(dependent)) {
        resetDomains.add(dependent);
        continue;
      }
      // A column that changes type takes its indexes and constraints along by itself.
      if (seed.startsWith('column:') && !drops.has(seed) && (object.kind === 'index' || object.kind === 'constraint')) continue;
      if (!drops.has(dependent)) {
        drops.add(dependent);
        if (to.objects.has(dependent)) {
          creates.add(dependent);
          plan.changes.push({
            id: dependent,
            action: 'replace',
            kind: object.kind,
            ...tableOfObject(object),
            description: `recreate ${describe(object)} (it depends on ${describeId(seed)})`,
            hazards: [],
            hints: [],
          });
        }
      }
      seeds.push(dependent);
    }
  }
  for (const id of resetDomains) {
    const before = from.objects.get(id) as DomainDef;
    const after = to.objects.get(id) as DomainDef;
    const checksStep = plan.createSteps.findIndex((step) => step.key === `alter:${id}:checks`);
    if (checksStep >= 0) plan.createSteps.splice(checksStep, 1);
    plan.dropSteps.push({ key: `drop-checks:${id}`, phase: 50, after: [], sql: before.checks.map((c) => `ALTER DOMAIN ${before.qname} DROP CONSTRAINT ${c.name};`) });
    const checks = after.checks.map((c) => `ALTER DOMAIN ${after.qname} ADD CONSTRAINT ${c.name} ${c.definition}${c.validated ? '' : ' NOT VALID'};`);
    if (checks.length > 0) plan.createSteps.push({ key: `add-checks:${id}`, phase: 4.5, after: prerequisites(to, after, toOwners).flatMap((p) => [p, `alter:${p}`]), sql: checks });
    plan.changes.push({ id, action: 'alter', kind: 'domain', description: `recreate the checks of ${describe(after)} (a function they call is replaced)`, hazards: [], hints: [] });
  }
  for (const columnId of resetDefaults) {
    const tableId = fromOwners.get(columnId);
    const before = tableId === undefined ? undefined : findColumn(from, tableId, columnId);
    const after = tableId === undefined ? undefined : findColumn(to, tableId, columnId);
    const table = tableId === undefined ? undefined : (to.objects.get(tableId) as TableDef | undefined);
    if (before?.default === undefined || table === undefined || drops.has(table.id)) continue;
    plan.dropSteps.push({ key: `drop-default:${columnId}`, phase: 50, after: [], sql: [`ALTER TABLE ${table.qname} ALTER COLUMN ${before.qname} DROP DEFAULT;`] });
    if (after?.default !== undefined && !creates.has(table.id)) alterOf(table).statements.push(`ALTER TABLE ${table.qname} ALTER COLUMN ${after.qname} SET DEFAULT ${after.default};`);
  }

  // 3. Drop steps: dependents before what they depend on; objects that go with their table (or
  // with their owning column) are not dropped separately. Types, functions, sequences and schemas
  // that are only removed go last, once no column uses them any more.
  const lateSteps: Step[] = [];
  for (const id of drops) {
    const object = from.objects.get(id)!;
    const owner = 'table' in object ? object.table : undefined;
    if (owner !== undefined && drops.has(owner) && from.objects.get(owner)?.kind === 'table') continue;
    if (object.kind === 'sequence' && object.ownedBy !== undefined) {
      const ownerColumn = `column:${object.ownedBy}`;
      const ownerTable = fromOwners.get(ownerColumn);
      if (ownerTable !== undefined && (drops.has(ownerTable) || removedColumns.has(ownerColumn))) continue;
    }
    const before = [...(dependents.get(id) ?? [])].flatMap((d) => (drops.has(d) ? [`drop:${d}`] : resetDefaults.has(d) ? [`drop-default:${d}`] : resetDomains.has(d) ? [`drop-checks:${d}`] : []));
    const late = !creates.has(id) && LATE_DROP_KINDS.has(object.kind);
    (late ? lateSteps : plan.dropSteps).push({ key: `drop:${id}`, phase: DROP_PHASE(object), after: before, sql: [dropStatement(object)] });
  }

  // 4. Create steps for new and recreated objects, then the alters collected above.
  for (const id of creates) {
    const object = to.objects.get(id)!;
    const after = prerequisites(to, object, toOwners).flatMap((p) => [p, `alter-table:${p}`, `enum-columns:${p}`]);
    // Default privileges come first, so that the objects created below get TO's automatic grants
    // (createdPrivileges() then corrects each object to its own grants).
    const phase = object.kind === 'default_privileges' ? 0.5 : object.kind === 'constraint' && object.type === 'f' ? 8 : CREATE_PHASE[object.kind];
    plan.createSteps.push({ key: id, phase, after, sql: createStatements(object) });
    if (object.kind === 'sequence' && object.ownedBy !== undefined) {
      const table = toOwners.get(`column:${object.ownedBy}`);
      plan.createSteps.push({ key: `owned-by:${id}`, phase: 6, after: [id, ...(table === undefined ? [] : [table, `alter-table:${table}`])], sql: [`ALTER SEQUENCE ${object.qname} OWNED BY ${object.ownedBy};`] });
    }
    const comments = commentsOf(object, undefined);
    if (comments.length > 0) plan.createSteps.push({ key: `comment:${id}`, phase: 11, after: [id], sql: comments });
    const target = privilegeTarget(object);
    const grants = [...(target === undefined ? [] : createdPrivileges(target, object)), ...(object.kind === 'table' ? columnGrantStatements(object) : [])];
    if (grants.length > 0) plan.createSteps.push({ key: `privileges:${id}`, phase: 11.5, after: [id], sql: grants });
  }
  // Privileges of objects that stay: GRANT and REVOKE the difference.
  for (const [id, after] of to.objects) {
    const before = from.objects.get(id);
    if (before === undefined || creates.has(id)) continue;
    const tables = after.kind === 'table' && before.kind === 'table';
    // No grants on either side (always so without --privileges): nothing to compare but a table's column grants.
    const granted = before.privileges !== undefined || after.privileges !== undefined;
    if (!granted && !tables) continue;
    const target = privilegeTarget(after);
    if (target === undefined) continue;
    const sql = granted ? privilegeChanges(target, before.privileges, after.privileges) : [];
    if (tables) sql.push(...columnGrantStatements(after, before));
    if (sql.length === 0) continue;
    plan.createSteps.push({ key: `privileges:${id}`, phase: 11.5, after: [id, `alter-table:${id}`], sql });
    plan.changes.push({ id, action: 'alter', kind: after.kind, ...tableOfObject(after), description: `change the privileges on ${describe(after)}`, hazards: [], hints: [] });
  }
  for (const [tableId, alter] of tableAlters) {
    const table = to.objects.get(tableId) ?? from.objects.get(tableId)!;
    const after = prerequisites(to, table, toOwners).flatMap((p) => [p, `alter-table:${p}`]);
    plan.createSteps.push({ key: `alter-table:${tableId}`, phase: 5, after, sql: [...alter.before, ...alter.statements] });
  }

  const ordered = [...orderSteps(plan.dropSteps), ...orderSteps(plan.createSteps), ...orderSteps(lateSteps)];

  const statements: string[] = [];
  for (const step of ordered) {
    for (const h of notes.get(step.key) ?? []) statements.push(`-- hazard ${h.code}: ${h.message}${h.safeAlternative === undefined ? '' : ` Safer: ${h.safeAlternative}.`}`);
    statements.push(...step.sql);
  }
  return { changes: plan.changes, statements, unsupported: plan.unsupported };

  /**
   * The grants of an object the diff creates. It is created under TO's default privileges (they
   * are set first), which may grant (or, globally, revoke) more than the object has in TO, say
   * because TO's object is older than its default privileges: REVOKE and GRANT those back. A role
   * the default privileges are not for gets nothing automatically; the statements are no-ops then.
   */
  function createdPrivileges(target: string, object: SchemaObject): string[] {
    const own = object.privileges ?? { extra: [], missing: [] };
    const type = defaultPrivilegeType(object);
    const added: Grant[] = [];
    const removed: Grant[] = [];
    if (type !== undefined) {
      const schema = object.kind === 'schema' ? undefined : qualifierOf(object.qname);
      toDefaults ??= [...to.objects.values()].filter((o): o is DefaultPrivilegesDef => o.kind === 'default_privileges');
      for (const defaults of toDefaults) {
        if (defaults.objectType !== type) continue;
        if (defaults.inSchema !== undefined && defaults.inSchema !== schema) continue;
        added.push(...defaults.grants.extra);
        if (defaults.inSchema === undefined) removed.push(...defaults.grants.missing);
      }
    }
    const same = (g: Grant, h: Grant): boolean => g.grantee === h.grantee && g.privilege === h.privilege;
    const extra = [...own.extra, ...removed.filter((g) => !own.missing.some((h) => same(g, h)) && !own.extra.some((h) => same(g, h)))];
    const missing = [...own.missing, ...added.filter((g) => !own.extra.some((h) => same(g, h) && h.grantable === g.grantable) && !own.missing.some((h) => same(g, h)))];
    return extra.length + missing.length === 0 ? [] : grantStatements(target, { extra: dedupe(extra), missing: dedupe(missing) });
  }

  // ---- per-kind comparison -------------------------------------------------------------------

  function diffObject(before: SchemaObject, after: SchemaObject): void {
    if (before.kind === 'table' && after.kind === 'table') return diffTable(before, after);
    const same = sameDefinition(before, after);
    if (same) {
      if (before.comment !== after.comment) alterStep(after, 11, commentsOf(after, before), `change the comment on ${describe(after)}`, []);
      return;
    }
    switch (after.kind) {
      case 'function': {
        const old = before as FunctionDef;
        if (old.returns === after.returns && old.arguments === after.arguments && old.procedure === after.procedure) {
          alterStep(after, 4, [`${after.definition};`], `replace the body of ${describe(after)}`, []);
          if (before.comment !== after.comment) alterStep(after, 11, commentsOf(after, before), `change the comment on ${describe(after)}`, [], 'comment');
          return;
        }
        return replace(before, after, []);
      }
      case 'enum':
        return diffEnum(before as EnumDef, after);
      case 'sequence':
        return diffSequence(before as SequenceDef, after);
      case 'domain':
        return diffDomain(before as DomainDef, after);
      case 'composite':
        return diffComposite(before as CompositeDef, after);
      case 'constraint': {
        const old = before as ConstraintDef;
        if (old.definition === after.definition && old.type === after.type && !old.validated && after.validated) {
          alterStep(after, 7, [`ALTER TABLE ${after.tableQname} VALIDATE CONSTRAINT ${after.qname};`], `validate ${describe(after)}`, [
            hazard('VALIDATES_ROWS', `VALIDATE CONSTRAINT scans ${after.tableQname} (under SHARE UPDATE EXCLUSIVE: reads and writes go on).`),
          ]);
          return;
        }
        return replace(before, after, constraintHazards(after));
      }
      case 'trigger': {
        const old = before as TriggerDef;
        if (old.definition === after.definition) {
          const state = { O: 'ENABLE', D: 'DISABLE', R: 'ENABLE REPLICA', A: 'ENABLE ALWAYS' }[after.enabled];
          alterStep(after, 10, [`ALTER TABLE ${after.tableQname} ${state} TRIGGER ${after.qname};`], `${state.toLowerCase()} ${describe(after)}`, []);
          return;
        }
        return replace(before, after, []);
      }
      case 'index':
        return replace(before, after, indexHazards(after.qname, after.tableQname));
      case 'extension':
        return;
      default:
        return replace(before, after, before.kind === 'matview' ? [hazard('BLOCKS_WRITES', `recreating ${after.qname} recomputes it; it is unreadable meanwhile.`)] : []);
    }
  }

  function replace(before: SchemaObject, after: SchemaObject, hazards: Hazard[]): void {
    drops.add(before.id);
    creates.add(after.id);
    plan.changes.push({ id: after.id, action: 'replace', kind: after.kind, ...tableOfObject(after), description: `replace ${describe(after)}`, hazards, hints: [] });
    note(after.id, hazards);
  }

  function alterStep(object: SchemaObject, phase: number, sql: string[], description: string, hazards: Hazard[], suffix = ''): void {
    const key = `alter:${object.id}${suffix === '' ? '' : `:${suffix}`}`;
    const after = prerequisites(to, object, toOwners).flatMap((p) => [p, `alter-table:${p}`]);
    plan.createSteps.push({ key, phase, after, sql });
    plan.changes.push({ id: object.id, action: 'alter', kind: object.kind, ...tableOfObject(object), description, hazards, hints: [] });
    note(key, hazards);
  }

  function diffEnum(before: EnumDef, after: EnumDef): void {
    const kept = before.values.every((value) => after.values.includes(value));
    const sameOrder = kept && before.values.every((value, i) => i === 0 || after.values.indexOf(before.values[i - 1]!) < after.values.indexOf(value));
    if (kept && sameOrder) {
      // Only additions: ADD VALUE in place, each placed next to a value that already exists.
      const sql: string[] = [];
      const present = [...before.values];
      for (const [i, value] of after.values.entries()) {
        if (present.includes(value)) continue;
        const anchor = after.values.slice(0, i).reverse().find((v) => present.includes(v));
        const next = after.values.slice(i + 1).find((v) => present.includes(v));
        const position = anchor !== undefined ? ` AFTER ${literal(anchor)}` : next !== undefined ? ` BEFORE ${literal(next)}` : '';
        sql.push(`ALTER TYPE ${after.qname} ADD VALUE ${literal(value)}${position};`);
        present.push(value);
      }
      const key = `alter:${after.id}`;
      plan.createSteps.push({ key, phase: 2, after: [], sql });
      plan.changes.push({
        id: after.id,
        action: 'alter',
        kind: 'enum',
        description: `add ${sql.length} value(s) to ${describe(after)}`,
        hazards: [],
        hints: ['a new enum value cannot be used in the transaction that adds it; apply these statements on their own'],
      });
    } else {
      rebuildEnum(before, after);
    }
    if (before.comment !== after.comment) plan.createSteps.push({ key: `comment:${after.id}`, phase: 11, after: [], sql: commentsOf(after, before) });
  }

  /** Values removed or reordered: a new type under the old name, columns converted through text. */
  function rebuildEnum(before: EnumDef, after: EnumDef): void {
    const schemaPart = `${qualifierOf(after.qname)}.`;
    const oldName = `"${after.name}__drift_guard_old"`;
    const removed = before.values.filter((v) => !after.values.includes(v));
    plan.createSteps.push({
      key: `rebuild:${after.id}`,
      phase: 2,
      after: [],
      sql: [`ALTER TYPE ${after.qname} RENAME TO ${oldName};`, `CREATE TYPE ${after.qname} AS ENUM (${after.values.map(literal).join(', ')});`],
    });
    const columnSql: string[] = [];
    for (const table of from.objects.values()) {
      if (table.kind !== 'table' || drops.has(table.id) || !to.objects.has(table.id) || table.partitionOf !== undefined) continue;
      for (const column of table.columns) {
        const isArray = column.type === `${after.qname}[]`;
        if (column.type !== after.qname && !isArray) continue;
        const target = findColumn(to, table.id, column.id);
        if (target === undefined) continue;
        disruptedColumns.add(column.id);
        rebuiltColumns.add(column.id);
        if (column.default !== undefined) columnSql.push(`ALTER TABLE ${table.qname} ALTER COLUMN ${column.qname} DROP DEFAULT;`);
        columnSql.push(`ALTER TABLE ${table.qname} ALTER COLUMN ${column.qname} TYPE ${column.type} USING ${column.qname}::text${isArray ? '[]' : ''}::${column.type};`);
        if (target.default !== undefined) columnSql.push(`ALTER TABLE ${table.qname} ALTER COLUMN ${column.qname} SET DEFAULT ${target.default};`);
      }
    }
    columnSql.push(`DROP TYPE ${schemaPart}${oldName};`);
    plan.createSteps.push({ key: `enum-columns:${after.id}`, phase: 5.5, after: [`rebuild:${after.id}`], sql: columnSql });
    // Functions, views and constraints that use the type are recreated around the rebuild.
    rebuiltTypes.add(after.id);
    const rebuildHazards = [
        ...(removed.length > 0 ? [hazard('DELETES_DATA', `rows holding ${removed.map((v) => `'${v}'`).join(', ')} fail the conversion; update them first.`)] : []),
        hazard('TABLE_REWRITE', `every column of type ${after.qname} is rewritten under an ACCESS EXCLUSIVE lock.`),
    ];
    note(`rebuild:${after.id}`, rebuildHazards);
    plan.changes.push({
      id: after.id,
      action: 'replace',
      kind: 'enum',
      description: `rebuild ${describe(after)} (values ${removed.length > 0 ? `removed: ${removed.join(', ')}` : 'reordered'})`,
      hazards: [
        ...(removed.length > 0 ? [hazard('DELETES_DATA', `rows holding ${removed.map((v) => `'${v}'`).join(', ')} fail the conversion; update them first.`)] : []),
        hazard('TABLE_REWRITE', `every column of type ${after.qname} is rewritten under an ACCESS EXCLUSIVE lock.`),
      ],
      hints: [],
    });
  }

  function diffSequence(before: SequenceDef, after: SequenceDef): void {
    const sql: string[] = [];
    const optionsChanged = (['type', 'start', 'increment', 'min', 'max', 'cache', 'cycle'] as const).some((k) => before[k] !== after[k]);
    if (optionsChanged) sql.push(`ALTER SEQUENCE ${after.qname} AS ${after.type} ${sequenceOptions(after).replace('START WITH', 'START WITH')};`);
    if (before.ownedBy !== after.ownedBy) sql.push(`ALTER SEQUENCE ${after.qname} OWNED BY ${after.ownedBy ?? 'NONE'};`);
    if (sql.length > 0) alterStep(after, 6, sql, `alter ${describe(after)}`, []);
    if (before.comment !== after.comment) alterStep(after, 11, commentsOf(after, before), `change the comment on ${describe(after)}`, [], 'comment');
  }

  function diffDomain(before: DomainDef, after: DomainDef): void {
    if (before.baseType !== after.baseType || before.collation !== after.collation) {
      plan.unsupported.push(`domain ${after.qname} changes its base type or collation; recreate it by hand`);
      return;
    }
    const sql: string[] = [];
    const hazards: Hazard[] = [];
    if (before.default !== after.default) sql.push(after.default === undefined ? `ALTER DOMAIN ${after.qname} DROP DEFAULT;` : `ALTER DOMAIN ${after.qname} SET DEFAULT ${after.default};`);
    if (before.notNull !== after.notNull) {
      sql.push(`ALTER DOMAIN ${after.qname} ${after.notNull ? 'SET' : 'DROP'} NOT NULL;`);
      if (after.notNull) hazards.push(hazard('VALIDATES_ROWS', `SET NOT NULL checks every column of type ${after.qname}.`));
    }
    // Checks in a step of their own: resetDomainChecks() replaces it when a function they call is replaced.
    const checks: string[] = [];
    const checkHazards: Hazard[] = [];
    for (const check of before.checks) {
      const match = after.checks.find((c) => c.name === check.name);
      if (match === undefined || match.definition !== check.definition) checks.push(`ALTER DOMAIN ${after.qname} DROP CONSTRAINT ${check.name};`);
    }
    for (const check of after.checks) {
      const match = before.checks.find((c) => c.name === check.name);
      if (match === undefined || match.definition !== check.definition) {
        checks.push(`ALTER DOMAIN ${after.qname} ADD CONSTRAINT ${check.name} ${check.definition}${check.validated ? '' : ' NOT VALID'};`);
        if (check.validated) checkHazards.push(hazard('VALIDATES_ROWS', `the check ${check.name} is verified against every value of ${after.qname}.`, 'add it NOT VALID, then VALIDATE CONSTRAINT'));
      } else if (!match.validated && check.validated) {
        checks.push(`ALTER DOMAIN ${after.qname} VALIDATE CONSTRAINT ${check.name};`);
      }
    }
    if (sql.length > 0) alterStep(after, 2.5, sql, `alter ${describe(after)}`, hazards);
    if (checks.length > 0) alterStep(after, 2.5, checks, `change the checks of ${describe(after)}`, checkHazards, 'checks');
    if (before.comment !== after.comment) alterStep(after, 11, commentsOf(after, before), `change the comment on ${describe(after)}`, [], 'comment');
  }

  function diffComposite(before: CompositeDef, after: CompositeDef): void {
    const sql: string[] = [];
    for (const attribute of before.attributes) if (!after.attributes.some((a) => a.name === attribute.name)) sql.push(`ALTER TYPE ${after.qname} DROP ATTRIBUTE ${attribute.name};`);
    for (const attribute of after.attributes) {
      const old = before.attributes.find((a) => a.name === attribute.name);
      const collate = attribute.collation === undefined ? '' : ` COLLATE ${attribute.collation}`;
      if (old === undefined) sql.push(`ALTER TYPE ${after.qname} ADD ATTRIBUTE ${attribute.name} ${attribute.type}${collate};`);
      else if (old.type !== attribute.type || old.collation !== attribute.collation) sql.push(`ALTER TYPE ${after.qname} ALTER ATTRIBUTE ${attribute.name} TYPE ${attribute.type}${collate};`);
    }
    if (sql.length > 0) alterStep(after, 2.5, sql, `alter ${describe(after)}`, []);
    if (before.comment !== after.comment) alterStep(after, 11, commentsOf(after, before), `change the comment on ${describe(after)}`, [], 'comment');
  }

  function diffTable(before: TableDef, after: TableDef): void {
    if (before.partitionBy !== after.partitionBy || JSON.stringify(before.partitionOf) !== JSON.stringify(after.partitionOf)) {
      replace(before, after, [hazard('DELETES_DATA', `${after.qname} changes its partitioning, so it is dropped and created again: its rows are lost.`)]);
      // Its indexes, constraints, triggers and policies go with it and come back.
      for (const object of to.objects.values()) if ('table' in object && object.table === after.id && from.objects.has(object.id)) creates.add(object.id);
      return;
    }
    // Created on the first statement: most tables have none.
    let entry: { before: string[]; statements: string[] } | undefined;
    const alter = (): { before: string[]; statements: string[] } => (entry ??= alterOf(after));
    const q = after.qname;
    const hints: string[] = [];
    // Most tables keep their columns in place: pair them by position, by name otherwise.
    const aligned = before.columns.length === after.columns.length && before.columns.every((c, i) => c.name === after.columns[i]!.name);
    const beforeByName = aligned ? undefined : new Map(before.columns.map((c) => [c.name, c]));
    const oldColumn = (column: ColumnDef, i: number): ColumnDef | undefined => (beforeByName === undefined ? before.columns[i] : beforeByName.get(column.name));
    const afterNames = aligned ? undefined : new Set(after.columns.map((c) => c.name));
    const added = beforeByName === undefined ? [] : after.columns.filter((c) => !beforeByName.has(c.name));
    const removed = afterNames === undefined ? [] : before.columns.filter((c) => !afterNames.has(c.name));
    for (const column of removed) {
      disruptedColumns.add(column.id);
      removedColumns.add(column.id);
      const twin = added.find((a) => a.type === column.type);
      if (twin !== undefined) hints.push(`${q}.${column.qname} is dropped and ${twin.qname} added with the same type: if this is a rename, use ALTER TABLE ${q} RENAME COLUMN ${column.qname} TO ${twin.qname} instead and keep the data`);
      alter().statements.push(`ALTER TABLE ${q} DROP COLUMN ${column.qname};`);
      pushColumnChange(after, column, 'drop', `drop column ${q}.${column.qname}`, [hazard('DELETES_DATA', `dropping ${q}.${column.qname} deletes its data.`)]);
    }
    for (const column of added) {
      alter().statements.push(`ALTER TABLE ${q} ADD COLUMN ${columnDefinition(column)};`);
      pushColumnChange(after, column, 'create', `add column ${q}.${columnDefinition(column)}`, addColumnHazards(q, column));
    }
    for (let i = 0; i < after.columns.length; i++) {
      const column = after.columns[i]!;
      const old = oldColumn(column, i);
      if (old !== undefined) diffColumn(after, old, column, alter);
    }
    if (before.unlogged !== after.unlogged) {
      alter().statements.push(`ALTER TABLE ${q} SET ${after.unlogged ? 'UNLOGGED' : 'LOGGED'};`);
      pushColumnChange(after, undefined, 'alter', `make ${q} ${after.unlogged ? 'unlogged' : 'logged'}`, [hazard('TABLE_REWRITE', `SET ${after.unlogged ? 'UNLOGGED' : 'LOGGED'} rewrites ${q} under an ACCESS EXCLUSIVE lock.`)]);
    }
    if (JSON.stringify(before.options) !== JSON.stringify(after.options)) {
      const reset = (before.options ?? []).map((o) => o.split('=')[0]!).filter((k) => !(after.options ?? []).some((o) => o.startsWith(`${k}=`)));
      if (reset.length > 0) alter().statements.push(`ALTER TABLE ${q} RESET (${reset.join(', ')});`);
      if (after.options !== undefined) alter().statements.push(`ALTER TABLE ${q} SET (${after.options.join(', ')});`);
      pushColumnChange(after, undefined, 'alter', `change the storage options of ${q}`, []);
    }
    if (before.rowSecurity !== after.rowSecurity) {
      alter().statements.push(`ALTER TABLE ${q} ${after.rowSecurity ? 'ENABLE' : 'DISABLE'} ROW LEVEL SECURITY;`);
      pushColumnChange(after, undefined, 'alter', `${after.rowSecurity ? 'enable' : 'disable'} row-level security on ${q}`, []);
    }
    if (before.forceRowSecurity !== after.forceRowSecurity) {
      alter().statements.push(`ALTER TABLE ${q} ${after.forceRowSecurity ? 'FORCE' : 'NO FORCE'} ROW LEVEL SECURITY;`);
      pushColumnChange(after, undefined, 'alter', `${after.forceRowSecurity ? 'force' : 'stop forcing'} row-level security on ${q}`, []);
    }
    if (hints.length > 0) plan.changes.push({ id: after.id, action: 'alter', kind: 'table', table: q, description: `possible rename in ${q}`, hazards: [], hints });
    const comments: string[] = [];
    if (before.comment !== after.comment) comments.push(commentStatement(commentTarget(after), after.comment));
    for (let i = 0; i < after.columns.length; i++) {
      const column = after.columns[i]!;
      const old = oldColumn(column, i);
      if ((old?.comment ?? undefined) !== column.comment && !(old === undefined && column.comment === undefined)) comments.push(commentStatement(`COLUMN ${q}.${column.qname}`, column.comment));
    }
    if (comments.length > 0) plan.createSteps.push({ key: `comment:${after.id}`, phase: 11, after: [`alter-table:${after.id}`], sql: comments });
  }

  /**
   * A partition's own defaults and NOT NULL. A change on the parent's column reaches every
   * partition (ALTER TABLE recurses), overwriting what a partition overrides; so each partition
   * column is compared with what it holds after its parent's statements ran, parents first.
   */
  function diffPartitionColumns(): void {
    type State = { readonly default: string | undefined; readonly notNull: boolean };
    const effective = (model: SchemaModel, tableId: string, name: string): State | undefined => {
      const table = model.objects.get(tableId);
      if (table?.kind !== 'table') return undefined;
      if (table.partitionOf === undefined) {
        const column = table.columns.find((c) => c.name === name);
        return column === undefined ? undefined : { default: column.default, notNull: column.notNull };
      }
      const base = effective(model, table.partitionOf.parent, name);
      if (base === undefined) return undefined;
      const own = table.columnOverrides?.find((o) => o.name === name);
      return { default: own?.default ?? (own?.noDefault === true ? undefined : base.default), notNull: own?.notNull === true || base.notNull };
    };
    /** Whether a statement on this table's column (its own or a parent's, recursing) sets it: [default, NOT NULL]. */
    const touched = new Map<string, [boolean, boolean]>();
    const touchedOf = (tableId: string, name: string): [boolean, boolean] => {
      const key = `${tableId}\u0000${name}`;
      let result = touched.get(key);
      if (result !== undefined) return result;
      const before = from.objects.get(tableId);
      const after = to.objects.get(tableId);
      if (before?.kind !== 'table' || after?.kind !== 'table' || creates.has(tableId)) {
        result = [true, true];
      } else if (after.partitionOf === undefined) {
        const old = before.columns.find((c) => c.name === name);
        const now = after.columns.find((c) => c.name === name);
        result =
          old === undefined || now === undefined
            ? [true, true]
            : [old.default !== now.default || old.type !== now.type || old.collation !== now.collation || rebuiltColumns.has(old.id), old.notNull !== now.notNull];
      } else {
        const parent = after.partitionOf.parent;
        const [parentDefault, parentNotNull] = touchedOf(parent, name);
        const parentState = effective(to, parent, name);
        const own = effective(to, tableId, name);
        const was = effective(from, tableId, name);
        if (parentState === undefined || own === undefined) {
          result = [parentDefault, parentNotNull];
        } else {
          const holds = { default: parentDefault || was === undefined ? parentState.default : was.default, notNull: parentNotNull || was === undefined ? parentState.notNull : was.notNull };
          const sql: string[] = [];
          const q = after.qname;
          const c = after.columnOverrides?.find((o) => o.name === name)?.qname ?? (to.objects.get(parent) as TableDef).columns.find((x) => x.name === name)?.qname ?? name;
          if (holds.default !== own.default) sql.push(own.default === undefined ? `ALTER TABLE ${q} ALTER COLUMN ${c} DROP DEFAULT;` : `ALTER TABLE ${q} ALTER COLUMN ${c} SET DEFAULT ${own.default};`);
          if (holds.notNull !== own.notNull) sql.push(`ALTER TABLE ${q} ALTER COLUMN ${c} ${own.notNull ? 'SET' : 'DROP'} NOT NULL;`);
          if (sql.length > 0) {
            alterOf(after).statements.push(...sql);
            pushColumnChange(after, undefined, 'alter', `change the default or NOT NULL of ${q}.${c} (partition)`, []);
          }
          result = [parentDefault || holds.default !== own.default, parentNotNull || holds.notNull !== own.notNull];
        }
      }
      touched.set(key, result);
      return result;
    };
    for (const table of to.objects.values()) {
      if (table.kind !== 'table' || table.partitionOf === undefined || !from.objects.has(table.id) || creates.has(table.id)) continue;
      // Every column of the root table, by name (a partition has the same ones).
      let root: TableDef = table;
      while (root.partitionOf !== undefined) {
        const parent = to.objects.get(root.partitionOf.parent);
        if (parent?.kind !== 'table') break;
        root = parent;
      }
      for (const column of root.columns) touchedOf(table.id, column.name);
    }
  }

  function diffColumn(table: TableDef, before: ColumnDef, after: ColumnDef, alterTable: () => { before: string[]; statements: string[] }): void {
    if (
      before.type === after.type &&
      before.collation === after.collation &&
      before.default === after.default &&
      before.notNull === after.notNull &&
      before.generated === after.generated &&
      sameIdentity(before.identity, after.identity)
    ) {
      return;
    }
    const alter = alterTable();
    const q = table.qname;
    const c = after.qname;
    const at = `${q}.${c}`;
    if (before.generated !== after.generated) {
      // Before PostgreSQL 17 a generation expression cannot be altered: drop and add the column.
      disruptedColumns.add(before.id);
      alter.statements.push(`ALTER TABLE ${q} DROP COLUMN ${c};`, `ALTER TABLE ${q} ADD COLUMN ${columnDefinition(after)};`);
      pushColumnChange(table, after, 'replace', `recreate ${at} (its generation changes)`, [hazard('TABLE_REWRITE', `adding ${at} back computes it for every row under an ACCESS EXCLUSIVE lock.`)]);
      return;
    }
    // An identity column cannot take a default or lose NOT NULL: the identity goes first.
    const identityDropped = before.identity !== undefined && after.identity === undefined;
    if (identityDropped) alter.statements.push(`ALTER TABLE ${q} ALTER COLUMN ${c} DROP IDENTITY;`);
    const typeChanged = before.type !== after.type || before.collation !== after.collation;
    if (typeChanged) {
      disruptedColumns.add(before.id);
      if (before.default !== undefined) alter.statements.push(`ALTER TABLE ${q} ALTER COLUMN ${c} DROP DEFAULT;`);
      const collate = after.collation === undefined ? '' : ` COLLATE ${after.collation}`;
      alter.statements.push(`ALTER TABLE ${q} ALTER COLUMN ${c} TYPE ${after.type}${collate} USING ${c}::${after.type};`);
      if (after.default !== undefined) alter.statements.push(`ALTER TABLE ${q} ALTER COLUMN ${c} SET DEFAULT ${after.default};`);
      const hazards: Hazard[] = [];
      if (isNarrowing(before.type, after.type)) hazards.push(hazard('DELETES_DATA', `${at} changes from ${before.type} to ${after.type}: values that do not fit fail the change or lose precision.`));
      const zone = timeZoneHazard(before.type, after.type, at, q);
      if (zone !== undefined) hazards.push(zone);
      else if (!isBinaryCoercible(before.type, after.type) || before.collation !== after.collation) {
        hazards.push(hazard('TABLE_REWRITE', `${at} from ${before.type} to ${after.type} rewrites ${q} and rebuilds its indexes.`, 'add a new column, backfill it in batches, then switch over'));
      }
      hazards.push(hazard('ACCESS_EXCLUSIVE_LOCK', `ALTER COLUMN TYPE locks ${q} against reads and writes while it runs.`));
      pushColumnChange(table, after, 'alter', `change ${at} from ${before.type} to ${after.type}`, hazards);
    } else if (before.default !== after.default && !rebuiltColumns.has(before.id)) {
      alter.statements.push(after.default === undefined ? `ALTER TABLE ${q} ALTER COLUMN ${c} DROP DEFAULT;` : `ALTER TABLE ${q} ALTER COLUMN ${c} SET DEFAULT ${after.default};`);
      pushColumnChange(table, after, 'alter', after.default === undefined ? `drop the default of ${at}` : `set the default of ${at} to ${after.default}`, []);
    }
    if (before.notNull !== after.notNull) {
      alter.statements.push(`ALTER TABLE ${q} ALTER COLUMN ${c} ${after.notNull ? 'SET' : 'DROP'} NOT NULL;`);
      pushColumnChange(
        table,
        after,
        'alter',
        `${after.notNull ? 'make' : 'allow'} ${at} ${after.notNull ? 'NOT NULL' : 'NULL'}`,
        after.notNull
          ? [
              hazard(
                'VALIDATES_ROWS',
                `SET NOT NULL scans ${q} under an ACCESS EXCLUSIVE lock (and fails if a row holds NULL).`,
                `ALTER TABLE ${q} ADD CONSTRAINT ${after.name}_not_null CHECK (${c} IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT; then SET NOT NULL uses it and skips the scan`,
              ),
            ]
          : [],
      );
    }
    if (!sameIdentity(before.identity, after.identity)) {
      if (before.identity === undefined && after.identity !== undefined) {
        alter.statements.push(`ALTER TABLE ${q} ALTER COLUMN ${c} ADD GENERATED ${after.identity.kind} AS IDENTITY (${sequenceOptions(after.identity.sequence)});`);
      } else if (identityDropped) {
        // Dropped above, before the default and NOT NULL changes.
      } else if (before.identity !== undefined && after.identity !== undefined) {
        const set: string[] = [];
        if (before.identity.kind !== after.identity.kind) set.push(`SET GENERATED ${after.identity.kind}`);
        const s = after.identity.sequence;
        const o = before.identity.sequence;
        if (o.start !== s.start) set.push(`SET START WITH ${s.start}`);
        if (o.increment !== s.increment) set.push(`SET INCREMENT BY ${s.increment}`);
        if (o.min !== s.min) set.push(`SET MINVALUE ${s.min}`);
        if (o.max !== s.max) set.push(`SET MAXVALUE ${s.max}`);
        if (o.cache !== s.cache) set.push(`SET CACHE ${s.cache}`);
        if (o.cycle !== s.cycle) set.push(s.cycle ? 'SET CYCLE' : 'SET NO CYCLE');
        if (BigInt(s.min) > BigInt(o.min)) {
          // A higher MINVALUE is refused while the sequence's current value is below it: move it up
          // to the new minimum first (never down: a sequence already past it keeps its value).
          alter.statements.push(
            `SELECT pg_catalog.setval(s, ${s.min}, false) FROM pg_catalog.pg_get_serial_sequence(${literal(q)}, ${literal(after.name)}) AS s WHERE pg_catalog.pg_sequence_last_value(s::pg_catalog.regclass) IS NULL OR pg_catalog.pg_sequence_last_value(s::pg_catalog.regclass) < ${s.min};`,
          );
        }
        if (set.length > 0) alter.statements.push(`ALTER TABLE ${q} ALTER COLUMN ${c} ${set.join(' ')};`);
      }
      pushColumnChange(table, after, 'alter', `change the identity of ${at}`, []);
    }
  }

  function pushColumnChange(table: TableDef, column: ColumnDef | undefined, action: ChangeAction, description: string, hazards: Hazard[]): void {
    note(`alter-table:${table.id}`, hazards);
    plan.changes.push({ id: column?.id ?? table.id, action, kind: column === undefined ? 'table' : 'column', table: table.qname, description, hazards, hints: [] });
  }
}

// ---- helpers -------------------------------------------------------------------------------------

/** Same definition, comments and privileges aside (they are compared on their own). */
function sameDefinition(a: SchemaObject, b: SchemaObject): boolean {
  if (a.kind === 'extension') return true;
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  for (const key in left) {
    if (key === 'comment' || key === 'privileges') continue;
    const x = left[key];
    const y = right[key];
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null || JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  for (const key in right) if (key !== 'comment' && key !== 'privileges' && !(key in left)) return false;
  return true;
}

function sameIdentity(a: ColumnDef['identity'], b: ColumnDef['identity']): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = a.sequence;
  const y = b.sequence;
  return a.kind === b.kind && x.type === y.type && x.start === y.start && x.increment === y.increment && x.min === y.min && x.max === y.max && x.cache === y.cache && x.cycle === y.cycle;
}

/** GRANT/REVOKE statements that take an object's privileges from `before` to `after`. */
function privilegeChanges(target: string, before: Privileges | undefined, after: Privileges | undefined): string[] {
  const none: Privileges = { extra: [], missing: [] };
  const b = before ?? none;
  const a = after ?? none;
  const key = (g: Grant): string => `${g.grantee}|${g.privilege}|${String(g.grantable)}`;
  const minus = (x: readonly Grant[], y: readonly Grant[]): Grant[] => x.filter((g) => !y.some((h) => key(h) === key(g)));
  // Extra grants: add the new ones, take away the old ones. Missing defaults: the reverse.
  return grantStatements(target, { extra: [...minus(a.extra, b.extra), ...minus(b.missing, a.missing)], missing: [...minus(b.extra, a.extra), ...minus(a.missing, b.missing)] });
}

/** The ALTER DEFAULT PRIVILEGES object class that applies to an object created of this kind. */
function defaultPrivilegeType(object: SchemaObject): DefaultPrivilegesDef['objectType'] | undefined {
  switch (object.kind) {
    case 'table':
    case 'view':
    case 'matview':
      return 'TABLES';
    case 'sequence':
      return 'SEQUENCES';
    case 'function':
    case 'aggregate':
      return 'FUNCTIONS';
    case 'enum':
    case 'domain':
    case 'composite':
      return 'TYPES';
    case 'schema':
      return 'SCHEMAS';
    default:
      return undefined;
  }
}

function dedupe(grants: readonly Grant[]): Grant[] {
  const seen = new Set<string>();
  return grants.filter((g) => {
    const key = `${g.grantee}|${g.privilege}|${String(g.grantable)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function reverse(dependencies: ReadonlyMap<string, readonly string[]>, owners: ColumnOwners): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (target: string, dependent: string): void => {
    const set = out.get(target);
    if (set === undefined) out.set(target, new Set([dependent]));
    else set.add(dependent);
  };
  for (const [id, deps] of dependencies) {
    for (const dep of deps) {
      add(dep, id);
      // Something that depends on a column depends on its table too (a dropped table takes it along).
      const owner = owners.get(dep);
      if (owner !== undefined) add(owner, id);
    }
  }
  return out;
}

function findColumn(model: SchemaModel, tableId: string, columnId: string): ColumnDef | undefined {
  const table = model.objects.get(tableId);
  return table?.kind === 'table' ? table.columns.find((c) => c.id === columnId) : undefined;
}

function commentsOf(object: SchemaObject, before: SchemaObject | undefined): string[] {
  const sql: string[] = [];
  if (object.comment !== undefined || (before?.comment !== undefined && before.comment !== object.comment)) sql.push(commentStatement(commentTarget(object), object.comment));
  if (object.kind === 'table' && before === undefined) {
    for (const column of object.columns) if (column.comment !== undefined) sql.push(commentStatement(`COLUMN ${object.qname}.${column.qname}`, column.comment));
  }
  return sql;
}

function createChange(object: SchemaObject, from: SchemaModel): Change {
  const hazards: Hazard[] = [];
  // Building an index or checking a key on a table created in the same change locks nobody out.
  const onExistingTable = 'table' in object && from.objects.has(object.table);
  if (object.kind === 'index' && onExistingTable) hazards.push(...indexHazards(object.qname, object.tableQname));
  if (object.kind === 'constraint' && onExistingTable) hazards.push(...constraintHazards(object));
  return { id: object.id, action: 'create', kind: object.kind, ...tableOfObject(object), description: `create ${describe(object)}`, hazards, hints: [] };
}

/** `addedTables`: the tables only TO has, for rename hints. */
/**
 * Whether a serial-style sequence's owning column is gone too (with its table or on its own): the
 * sequence goes with it, and the column's drop already says what is lost.
 */
function ownerDropped(sequence: SequenceDef, to: SchemaModel): boolean {
  if (sequence.ownedBy === undefined) return false;
  for (const object of to.objects.values()) {
    if (object.kind !== 'table' || !sequence.ownedBy.startsWith(`${object.qname}.`)) continue;
    if (object.columns.some((c) => `${object.qname}.${c.qname}` === sequence.ownedBy)) return false;
  }
  return true;
}

function dropChange(object: SchemaObject, addedTables: () => readonly TableDef[], ownerGone: (sequence: SequenceDef) => boolean): Change {
  const hazards: Hazard[] = [];
  const hints: string[] = [];
  if (object.kind === 'table') {
    hazards.push(hazard('DELETES_DATA', `dropping ${object.qname} deletes all of its rows.`));
    const columns = columnSignature(object);
    for (const candidate of addedTables()) {
      if (columnSignature(candidate) === columns) {
        hints.push(`${object.qname} is dropped and ${candidate.qname} created with the same columns: if this is a rename, use ALTER TABLE ${object.qname} RENAME TO ${candidate.name} and keep the data`);
      }
    }
  }
  if (object.kind === 'matview') hazards.push(hazard('DELETES_DATA', `dropping ${object.qname} discards its materialized rows.`));
  if (object.kind === 'index') hazards.push(hazard('ACCESS_EXCLUSIVE_LOCK', `DROP INDEX locks ${object.tableQname} while it runs.`, `DROP INDEX CONCURRENTLY ${object.qname} (outside a transaction)`));
  if (object.kind === 'sequence' && !ownerGone(object)) hazards.push(hazard('DELETES_DATA', `dropping ${object.qname} loses its current value.`));
  return { id: object.id, action: 'drop', kind: object.kind, ...tableOfObject(object), description: `drop ${describe(object)}`, hazards, hints };
}

const columnSignature = (table: TableDef): string => table.columns.map((c) => `${c.name}:${c.type}`).sort().join(',');

function indexHazards(qname: string, table: string): Hazard[] {
  return [hazard('BLOCKS_WRITES', `building ${qname} blocks writes to ${table} until it finishes.`, 'CREATE INDEX CONCURRENTLY (outside a transaction)')];
}

function constraintHazards(object: ConstraintDef): Hazard[] {
  if (!object.validated) return [];
  switch (object.type) {
    case 'c':
      return [hazard('VALIDATES_ROWS', `the check ${object.qname} scans ${object.tableQname} under an ACCESS EXCLUSIVE lock.`, 'add it NOT VALID, then VALIDATE CONSTRAINT in a later step')];
    case 'f':
      return [hazard('VALIDATES_ROWS', `the foreign key ${object.qname} scans ${object.tableQname} and locks both tables against writes.`, 'add it NOT VALID, then VALIDATE CONSTRAINT in a later step')];
    case 'p':
    case 'u':
      return [
        hazard(
          'ACCESS_EXCLUSIVE_LOCK',
          `${object.qname} builds its index under an ACCESS EXCLUSIVE lock on ${object.tableQname}: reads and writes wait until it finishes.`,
          `CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... ${object.type === 'p' ? 'PRIMARY KEY' : 'UNIQUE'} USING INDEX`,
        ),
      ];
    case 'x':
      // No USING INDEX form exists for exclusion constraints: there is no online way to add one.
      return [hazard('ACCESS_EXCLUSIVE_LOCK', `the exclusion constraint ${object.qname} builds its index under an ACCESS EXCLUSIVE lock on ${object.tableQname}: reads and writes wait until it finishes.`)];
  }
}

function addColumnHazards(table: string, column: ColumnDef): Hazard[] {
  const hazards: Hazard[] = [];
  if (column.generated !== undefined || column.identity !== undefined || (column.default !== undefined && isVolatileDefault(column.default))) {
    hazards.push(hazard('TABLE_REWRITE', `adding ${table}.${column.qname} computes a value for every row, rewriting ${table} under an ACCESS EXCLUSIVE lock.`));
  }
  if (column.notNull && column.default === undefined && column.generated === undefined && column.identity === undefined) {
    hazards.push(hazard('VALIDATES_ROWS', `${table}.${column.qname} is NOT NULL without a default: the change fails if ${table} has rows.`, 'add it nullable, backfill, then SET NOT NULL'));
  }
  return hazards;
}

function tableOfObject(object: SchemaObject): { table?: string } {
  if ('tableQname' in object) return { table: object.tableQname };
  if (object.kind === 'table') return { table: object.qname };
  return {};
}

export function describe(object: SchemaObject): string {
  switch (object.kind) {
    case 'constraint':
      return `${{ p: 'primary key', u: 'unique constraint', c: 'check', f: 'foreign key', x: 'exclusion constraint' }[object.type]} ${object.qname} on ${object.tableQname}`;
    case 'trigger':
    case 'policy':
      return `${object.kind} ${object.qname} on ${object.tableQname}`;
    case 'function':
      return `${object.procedure ? 'procedure' : 'function'} ${object.qname}(${object.identityArgs})`;
    case 'aggregate':
      return `aggregate ${object.qname}(${object.identityArgs})`;
    case 'matview':
      return `materialized view ${object.qname}`;
    case 'enum':
      return `enum ${object.qname}`;
    case 'composite':
      return `type ${object.qname}`;
    case 'default_privileges':
      return `default privileges of ${object.role} on ${object.objectType}${object.inSchema === undefined ? '' : ` in schema ${object.inSchema}`}`;
    default:
      return `${object.kind} ${object.qname}`;
  }
}

function describeId(id: string): string {
  return id.replace(/^[a-z]+:/, '');
}
