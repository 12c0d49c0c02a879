// The row generator's plan, pure: which tables to fill in which order (foreign keys first; in a
// cycle or a self-reference the nullable side is inserted as NULL and updated afterwards, except a
// self-reference to a sequenced key, which the INSERT sets), and the one
// INSERT ... SELECT ... FROM generate_series per table that makes the rows.
//
// A table's statement generates more candidate rows than it needs, keeps the ones that pass every
// CHECK (table and domain: `IS NOT FALSE`, as PostgreSQL judges them), every NOT NULL and the
// partition bounds of some leaf partition, takes the first `rows` of them in row-number order and
// leaves duplicates of a unique key to ON CONFLICT DO NOTHING.

import type { FillCatalog, FillColumn, FillForeignKey, FillTable } from './fill-catalog.js';
import { hashSql, literal, resolveDomain, substituteValue, valueSql, variantSql, type TypeLookup, type ValueContext } from './value-sql.js';

/**
 * A default that is a constant as pg_get_expr prints it: a literal with its casts ('0'::xid8,
 * 'open'::text, '{}'::text[]), a number, possibly negative and cast ((-1), 0.5, 30), true, false.
 * Not a call (now(), nextval(...)), which may fail or mean something else in a scratch database.
 */
const TYPE_NAME = '(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$ ]*)(?:\\.(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*))?(?:\\(\\d+(?:,\\d+)?\\))?(?:\\[\\])*';
const CONSTANT_DEFAULT = new RegExp(`^(?:'(?:[^']|'')*'|\\(?-?\\d+(?:\\.\\d+)?\\)?|true|false)(?:::${TYPE_NAME})*$`);

export interface PlannedTable {
  readonly table: FillTable;
  /** Foreign keys left NULL by the INSERT and set by `updates` once every table has rows. */
  readonly deferred: readonly FillForeignKey[];
}

export function quoteIdent(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** `*` and `?` globs over `schema.table`; a pattern without a dot matches the table name in any schema. */
export function matchesSkip(table: { schema: string; name: string }, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return pattern.includes('.') ? regex.test(`${table.schema}.${table.name}`) : regex.test(table.name);
  });
}

/** Tables in an order where every parent comes before its children, cycles broken at nullable foreign keys. */
export function fillOrder(tables: readonly FillTable[]): PlannedTable[] {
  const inSet = new Set(tables.map((t) => t.oid));
  const done = new Set<number>();
  const deferred = new Map<number, FillForeignKey[]>();
  const remaining = [...tables];
  const order: PlannedTable[] = [];
  const nullable = (table: FillTable, fk: FillForeignKey): boolean =>
    fk.columns.every((name) => table.columns.find((c) => c.name === name)?.notNull === false);
  const unresolved = (table: FillTable): FillForeignKey[] =>
    table.foreignKeys.filter((fk) => fk.parent !== table.oid && inSet.has(fk.parent) && !done.has(fk.parent));
  while (remaining.length > 0) {
    let index = remaining.findIndex((table) => unresolved(table).length === 0);
    if (index < 0) {
      index = remaining.findIndex((table) => unresolved(table).every((fk) => nullable(table, fk)));
      if (index < 0) index = 0;
      const table = remaining[index]!;
      deferred.set(table.oid, [...(deferred.get(table.oid) ?? []), ...unresolved(table)]);
    }
    const table = remaining.splice(index, 1)[0]!;
    const selfReferences = table.foreignKeys.filter((fk) => fk.parent === table.oid);
    order.push({ table, deferred: [...(deferred.get(table.oid) ?? []), ...selfReferences] });
    done.add(table.oid);
  }
  return order;
}

/**
 * How many tables filling one of them takes, on average: the table and every table it references,
 * transitively. Near half the tables for a long chain of foreign keys (each table referencing the
 * one before), a few where tables reference a few others.
 */
export function meanAncestry(tables: readonly FillTable[]): number {
  if (tables.length === 0) return 0;
  const byOid = new Map(tables.map((t) => [t.oid, t]));
  let total = 0;
  for (const table of tables) {
    const seen = new Set([table.oid]);
    const queue = [table];
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      for (const fk of next.foreignKeys) {
        const parent = byOid.get(fk.parent);
        if (parent !== undefined && !seen.has(parent.oid)) seen.add(parent.oid), queue.push(parent);
      }
    }
    total += seen.size;
  }
  return total / tables.length;
}

export type InsertPlan =
  /**
   * `filtered`: candidates may be rejected (CHECKs, partitions, NOT NULL foreign keys), so generate
   * more than wanted. Duplicates of a unique key (ON CONFLICT) are rare; the next round makes up for them.
   */
  | {
      readonly kind: 'insert';
      readonly sql: string;
      readonly filtered: boolean;
      /** A self-reference this statement set itself (its rows need no UPDATE for it). */
      readonly inlined?: FillForeignKey;
    }
  | { readonly kind: 'impossible'; readonly reason: string };

interface InsertOptions {
  /** Rows wanted from this statement. */
  readonly rows: number;
  /** Candidate row numbers: generate_series(from, to). */
  readonly from: number;
  readonly to: number;
  readonly seed: number;
  readonly tame: boolean;
  /** The table's position in the fill order: part of every column's salt. */
  readonly tableIndex: number;
  /**
   * Append ON CONFLICT DO NOTHING (default true). Speculative insertion costs about a sixth of the
   * insert; the filler first tries without it and only repeats a statement that hit a duplicate.
   */
  readonly onConflict?: boolean;
}

const ROW = '"dg$i"';

function saltOf(tableIndex: number, columnIndex: number): number {
  return tableIndex * 977 + columnIndex * 31 + 7;
}

/** A type whose values have a fixed width (resolved past domains): an array of them is indexed by offset. */
function fixedWidth(types: TypeLookup, oid: number | undefined): boolean {
  if (oid === undefined) return false;
  const resolved = resolveDomain(types, oid, -1);
  return resolved !== undefined && resolved.type.length > 0;
}

export function insertPlan(catalog: FillCatalog, planned: PlannedTable, options: InsertOptions): InsertPlan {
  const { table } = planned;
  const types: TypeLookup = (oid) => catalog.types.get(oid);
  const tables = new Map(catalog.tables.map((t) => [t.oid, t]));
  const sequenced = (column: FillColumn): boolean => column.identity !== '' || /\bnextval\(/i.test(column.default ?? '');
  // A self-reference to a sequenced key is set by the INSERT itself: the kept rows take their
  // keys from the sequence in row order (as the default would) and point at earlier rows of the
  // same statement, so that no UPDATE has to move every row afterwards. Not with ON CONFLICT,
  // which may skip a row that a later one points at.
  const selfKey = (fk: FillForeignKey): FillColumn | undefined => {
    if (fk.parent !== table.oid || fk.columns.length !== 1 || fk.parentColumns.length !== 1 || table.partitioning !== undefined) return undefined;
    const key = table.columns.find((c) => c.name === fk.parentColumns[0]);
    const column = table.columns.find((c) => c.name === fk.columns[0]);
    // The candidates are filtered before the reference is set: a CHECK on it, or another foreign
    // key over the same column, could not be kept.
    const checked =
      table.checks.some((check) => check.columns.includes(fk.columns[0]!)) ||
      (column !== undefined && (resolveDomain(types, column.type, column.typmod)?.checks.length ?? 0) > 0) ||
      table.foreignKeys.some((other) => other !== fk && other.columns.includes(fk.columns[0]!));
    return key !== undefined && key.generated === '' && sequenced(key) && fk.columns[0] !== key.name && !checked ? key : undefined;
  };
  const inlined = options.onConflict === false ? planned.deferred.find((fk) => selfKey(fk) !== undefined) : undefined;
  const inlinedKey = inlined === undefined ? undefined : selfKey(inlined);
  const deferredColumns = new Set(planned.deferred.filter((fk) => fk !== inlined).flatMap((fk) => fk.columns));
  for (const fk of planned.deferred) {
    const notNull = fk.columns.find((name) => table.columns.find((c) => c.name === name)?.notNull === true);
    if (notNull !== undefined) {
      return { kind: 'impossible', reason: `foreign key ${fk.name} is part of a reference cycle (or a self-reference) through NOT NULL column ${notNull}; the generator inserts such keys as NULL first` };
    }
  }

  // Foreign keys filled from the parent's existing rows, each through one numbered CTE.
  const ctes: string[] = [];
  const joins: string[] = [];
  const fkValue = new Map<string, string>();
  const uniqueOf = (columns: readonly string[]): boolean =>
    table.uniqueKeys.some((key) => key.length > 0 && key.every((c) => columns.includes(c)));
  table.foreignKeys.forEach((fk, index) => {
    if (planned.deferred.includes(fk) || fk.columns.some((c) => fkValue.has(c))) return;
    const parent = tables.get(fk.parent);
    if (parent === undefined) return; // a parent outside the user schemas: left to the columns' own values
    const alias = `f${index}`;
    const present = fk.parentColumns.map((name) => `${quoteIdent(name)} IS NOT NULL`).join(' AND ');
    const ctx: ValueContext = { seed: options.seed, salt: saltOf(options.tableIndex, 500 + index), nullable: false, unique: false, tame: options.tame };
    const allNullable = fk.columns.every((name) => table.columns.find((c) => c.name === name)?.notNull === false);
    const keys: string[] = [];
    if (fk.parentColumns.every((name) => fixedWidth(types, parent.columns.find((c) => c.name === name)?.type))) {
      // The parent's keys as arrays in physical order, read once: a fixed-width element is found
      // by its offset, cheaper than a join (a variable-width one would be searched for).
      ctes.push(`${alias} AS (SELECT ${fk.parentColumns.map((name, j) => `array_agg(${quoteIdent(name)} ORDER BY tableoid, ctid) AS a${j}`).join(', ')}, count(*) AS n FROM ${parent.qname} WHERE ${present})`);
      const pick = uniqueOf(fk.columns) ? 'g.i' : `1 + (${hashSql(ctx)} % NULLIF((SELECT n FROM ${alias}), 0))`;
      fk.parentColumns.forEach((_, j) => keys.push(`((SELECT a${j} FROM ${alias}))[${pick}]`));
    } else {
      const columns = fk.parentColumns.map((name, j) => `${quoteIdent(name)} AS k${j}`).join(', ');
      ctes.push(`${alias} AS (SELECT row_number() OVER (ORDER BY tableoid, ctid) AS rn, ${columns} FROM ${parent.qname} WHERE ${present})`);
      ctes.push(`${alias}n AS (SELECT count(*) AS n FROM ${alias})`);
      const pick = uniqueOf(fk.columns) ? 'g.i' : `1 + (${hashSql(ctx)} % NULLIF((SELECT n FROM ${alias}n), 0))`;
      joins.push(`LEFT JOIN ${alias} ON ${alias}.rn = ${pick}`);
      fk.parentColumns.forEach((_, j) => keys.push(`${alias}.k${j}`));
    }
    fk.columns.forEach((name, j) => {
      fkValue.set(name, allNullable ? `(CASE WHEN ${variantSql(ctx)} = 0 THEN NULL ELSE ${keys[j]} END)` : keys[j]!);
    });
  });

  // Columns that must differ between rows: one per unique key that nothing else keeps unique.
  const uniqueColumns = new Set<string>();
  for (const key of table.uniqueKeys) {
    const served = key.some((name) => {
      const column = table.columns.find((c) => c.name === name);
      return uniqueColumns.has(name) || (column !== undefined && sequenced(column));
    });
    if (served) continue;
    if (table.foreignKeys.some((fk) => fkValue.has(fk.columns[0]!) && uniqueOf(fk.columns) && fk.columns.every((c) => key.includes(c)))) continue;
    const candidate = [...key].reverse().find((name) => !fkValue.has(name) && !deferredColumns.has(name) && name !== inlined?.columns[0]);
    if (candidate !== undefined) uniqueColumns.add(candidate);
  }

  const selectList: string[] = [];
  const insertColumns: string[] = [];
  // Inserted columns whose value is computed only for the rows that pass the filters: nothing
  // filters on them and they come from no join, so they need not exist for the rejected candidates.
  const late = new Map<string, string>();
  const checked = new Set(table.checks.flatMap((check) => check.columns));
  const everythingEarly = table.partitioning !== undefined || table.columns.some((c) => c.generated !== '');
  const generatedList: string[] = [];
  const filters: string[] = [];
  let filtered = false;
  for (const [index, column] of table.columns.entries()) {
    const name = quoteIdent(column.name);
    const resolved = resolveDomain(types, column.type, column.typmod);
    const baseSql = resolved?.type.sql ?? 'text';
    if (column.generated !== '') {
      if (column.default !== undefined) generatedList.push(`(${column.default}) AS ${name}`);
      continue;
    }
    const notNull = column.notNull || resolved?.notNull === true;
    const omitted = (): void => {
      selectList.push(`NULL::${baseSql} AS ${name}`);
    };
    if (sequenced(column) || deferredColumns.has(column.name) || column.name === inlined?.columns[0]) {
      omitted();
      continue;
    }
    let value = fkValue.get(column.name);
    let pooled = false;
    if (value === undefined) {
      const ctx: ValueContext = { seed: options.seed, salt: saltOf(options.tableIndex, index), nullable: !notNull, unique: uniqueColumns.has(column.name), tame: options.tame };
      value = valueSql(types, column.type, column.typmod, ctx);
      // A column with CHECKs of its own (domain CHECKs, table CHECKs on it alone) draws from a pool
      // of values that already pass them, so that the row-level filter rejects rows only for CHECKs
      // over several columns: otherwise every such column multiplies the rejected share.
      const ownChecks = [
        ...(resolved?.checks ?? []).map((check) => substituteValue(check, name)),
        ...table.checks.filter((check) => check.columns.length === 1 && check.columns[0] === column.name).map((check) => check.expression),
      ];
      if (value !== undefined && ownChecks.length > 0 && !ctx.unique) {
        // The pool's non-NULL values as an array, read once; NULL (where allowed) is drawn apart,
        // so that the array has no NULLs and a fixed-width value is found by its offset (a
        // variable-width one is searched for from the start). A few hundred candidates keep every
        // edge case the column's generator makes, and values repeat anyway.
        const alias = `p${index}`;
        const poolSize = 256;
        ctes.push(
          `${alias} AS (SELECT array_agg(x.${name} ORDER BY x.${ROW}) AS a, count(*) AS n FROM (SELECT g.i AS ${ROW}, ${value} AS ${name} FROM generate_series(1, ${poolSize}) AS g(i) OFFSET 0) AS x WHERE x.${name} IS NOT NULL AND ${ownChecks.map((c) => `(${c}) IS NOT FALSE`).join(' AND ')})`,
        );
        const drawn = `((SELECT a FROM ${alias}))[1 + (${hashSql(ctx, 6)} % NULLIF((SELECT n FROM ${alias}), 0))]`;
        value = ctx.nullable ? `(CASE WHEN ${hashSql(ctx, 7)} % 10 = 0 THEN NULL ELSE ${drawn} END)` : drawn;
        pooled = true;
      }
      // A tenth of the rows hold the column's default where that is a constant: what rows an
      // application inserted without the column hold, and what a backfill `WHERE c = <default>`
      // (or a check against it) is written for.
      if (value !== undefined && !ctx.unique && column.default !== undefined && CONSTANT_DEFAULT.test(column.default)) {
        value = `(CASE WHEN ${hashSql(ctx, 8)} % 10 = 0 THEN (${column.default})::${baseSql} ELSE ${value} END)`;
      }
      const bounds = table.partitioning?.boundValues.get(column.name);
      if (value !== undefined && bounds !== undefined && bounds.length > 0 && !ctx.unique) {
        const array = `(ARRAY[${bounds.map((b) => `${b}::${baseSql}`).join(', ')}])`;
        value = `(CASE WHEN ${hashSql(ctx, 4)} % 4 <> 0 THEN ${array}[1 + (${hashSql(ctx, 3)} % ${bounds.length})] ELSE ${value} END)`;
      }
    }
    if (value === undefined) {
      if (notNull && column.default === undefined) {
        return { kind: 'impossible', reason: `column ${column.name} is NOT NULL without a default and of type ${column.typeSql}, which the generator cannot produce` };
      }
      omitted();
      continue;
    }
    insertColumns.push(name);
    const joined = fkValue.has(column.name) || pooled;
    if (!everythingEarly && !joined && !checked.has(column.name) && (resolved?.checks ?? []).length === 0) {
      // Values the generator makes for a NOT NULL column are never NULL (no NULL arm), so the
      // filter below would only matter for joined values.
      late.set(name, value);
      continue;
    }
    selectList.push(`${value} AS ${name}`);
    if (notNull) {
      filters.push(`${name} IS NOT NULL`);
      if (fkValue.has(column.name)) filtered = true;
    }
    for (const check of resolved?.checks ?? []) {
      filters.push(`(${substituteValue(check, name)}) IS NOT FALSE`);
      filtered = true;
    }
  }
  for (const check of table.checks) {
    filters.push(`(${check.expression}) IS NOT FALSE`);
    filtered = true;
  }
  if (table.partitioning !== undefined) {
    if (table.partitioning.leafQuals.length === 0) return { kind: 'impossible', reason: 'the partitioned table has no partitions, so no row can be inserted' };
    filters.push(`(${table.partitioning.leafQuals.map((q) => `(${q})`).join(' OR ')}) IS TRUE`);
    filtered = true;
  }
  const onConflict = options.onConflict === false ? '' : 'ON CONFLICT DO NOTHING';
  if (insertColumns.length === 0) {
    return { kind: 'insert', filtered: false, sql: `INSERT INTO ${table.qname} SELECT FROM generate_series(1, ${options.rows}) ${onConflict}`.trimEnd() };
  }
  // OFFSET 0 keeps the planner from pulling the value expressions up into the filter, where every
  // expression would be computed once per CHECK that mentions it and once more for the insert.
  const inner = `SELECT ${[...selectList, `g.i AS ${ROW}`].join(', ')} FROM generate_series(${options.from}, ${options.to}) AS g(i)${joins.length > 0 ? ` ${joins.join(' ')}` : ''} OFFSET 0`;
  const middle = generatedList.length > 0 ? `SELECT s0.*, ${generatedList.join(', ')} FROM (${inner}) AS s0` : inner;
  // The kept candidates are renamed g(i, "dg$c0", ...), so that the late columns' expressions,
  // written over generate_series's g.i, read the kept row numbers instead.
  const early = insertColumns.filter((name) => !late.has(name));
  const kept = [
    `SELECT ${[`s.${ROW} AS i`, ...early.map((name, k) => `s.${name} AS "dg$c${k}"`)].join(', ')} FROM (${middle}) AS s`,
    filters.length > 0 ? `WHERE ${filters.join(' AND ')}` : '',
    `ORDER BY s.${ROW} LIMIT ${options.rows}`,
  ]
    .filter((part) => part !== '')
    .join('\n');
  const outputs = insertColumns.map((name) => late.get(name) ?? `g."dg$c${early.indexOf(name)}"`);
  let source = `(${kept}) AS g`;
  let overriding = '';
  if (inlined !== undefined && inlinedKey !== undefined) {
    const sequence =
      inlinedKey.identity !== ''
        ? `pg_catalog.nextval((SELECT pg_catalog.pg_get_serial_sequence(${literal(table.qname)}, ${literal(inlinedKey.name)})::regclass))`
        : `(${inlinedKey.default})`;
    if (inlinedKey.identity === 'a') overriding = ' OVERRIDING SYSTEM VALUE';
    ctes.push(`"dg$k" AS MATERIALIZED (SELECT g.*, row_number() OVER (ORDER BY g.i) AS "dg$rn", ${sequence} AS "dg$key" FROM ${source})`);
    source = '"dg$k" AS g';
    const ctx: ValueContext = { seed: options.seed, salt: saltOf(options.tableIndex, 900), nullable: true, unique: false, tame: options.tame };
    const unique = table.uniqueKeys.some((key) => key.length === 1 && key[0] === inlined.columns[0]);
    const earlier = unique ? 'g."dg$rn" - 1' : `1 + (${hashSql(ctx)} % (g."dg$rn" - 1))`;
    insertColumns.push(quoteIdent(inlinedKey.name), quoteIdent(inlined.columns[0]!));
    outputs.push('g."dg$key"', `(CASE WHEN g."dg$rn" = 1 OR ${variantSql(ctx)} = 0 THEN NULL ELSE ((SELECT array_agg(k."dg$key" ORDER BY k."dg$rn") FROM "dg$k" AS k))[${earlier}] END)`);
  }
  const sql = [
    ctes.length > 0 ? `WITH ${ctes.join(', ')}` : '',
    `INSERT INTO ${table.qname} (${insertColumns.join(', ')})${overriding}`,
    `SELECT ${outputs.join(', ')} FROM ${source}`,
    onConflict,
  ]
    .filter((part) => part !== '')
    .join('\n');
  return { kind: 'insert', filtered, sql, ...(inlined === undefined ? {} : { inlined }) };
}

/**
 * The UPDATE that sets a deferred foreign key once its parent has rows: nine rows in ten get a
 * parent row (several children per parent; a self-reference never points a row at itself), the
 * tenth stays NULL.
 */
export function deferredUpdateSql(catalog: FillCatalog, table: FillTable, fk: FillForeignKey, seed: number, tableIndex: number): string | undefined {
  const parent = catalog.tables.find((t) => t.oid === fk.parent);
  if (parent === undefined) return undefined;
  const salt = saltOf(tableIndex, 900);
  const keys = fk.parentColumns.map((name, j) => `${quoteIdent(name)} AS k${j}`).join(', ');
  const present = fk.parentColumns.map((name) => `${quoteIdent(name)} IS NOT NULL`).join(' AND ');
  const unique = table.uniqueKeys.some((key) => key.length > 0 && key.every((c) => fk.columns.includes(c)));
  const self = parent.oid === table.oid;
  const pick = unique ? `p.rn = kids.rn % (SELECT n FROM pn) + 1` : `p.rn = 1 + ((pg_catalog.hashint8extended(kids.rn, ${(seed * 7919 + salt) % 2147483647}) & 2147483647) % NULLIF((SELECT n FROM pn), 0))`;
  return [
    `WITH kids AS (SELECT tableoid AS toid, ctid AS tid, row_number() OVER (ORDER BY tableoid, ctid) AS rn FROM ${table.qname}),`,
    `p AS (SELECT tableoid AS toid, ctid AS tid, row_number() OVER (ORDER BY tableoid, ctid) AS rn, ${keys} FROM ${parent.qname} WHERE ${present}),`,
    `pn AS (SELECT count(*) AS n FROM p),`,
    `pairs AS (SELECT kids.toid, kids.tid, ${fk.parentColumns.map((_, j) => `p.k${j}`).join(', ')} FROM kids JOIN p ON ${pick}`,
    `  WHERE (kids.rn + ${salt % 10}) % 10 <> 0${self ? ' AND NOT (p.toid = kids.toid AND p.tid = kids.tid)' : ''})`,
    `UPDATE ${table.qname} AS t SET ${fk.columns.map((name, j) => `${quoteIdent(name)} = pairs.k${j}`).join(', ')}`,
    `FROM pairs WHERE t.tableoid = pairs.toid AND t.ctid = pairs.tid`,
  ].join('\n');
}

export { literal };

export interface UncheckedForeignKey {
  readonly table: FillTable;
  readonly fk: FillForeignKey;
}

/**
 * Foreign keys the filler may drop while it inserts and add back afterwards: one set-based
 * validation each instead of a trigger call (and a row lock on the parent) per generated row.
 * Only keys whose values the generator itself takes from the parent's rows qualify: parent and
 * child filled here (or the parent skipped, and so empty), neither partitioned (a partition's
 * clone of the key has a name of its own), no column shared with another foreign key.
 */
export function uncheckedForeignKeys(catalog: FillCatalog, order: readonly PlannedTable[]): UncheckedForeignKey[] {
  const tables = new Map(catalog.tables.map((t) => [t.oid, t]));
  const result: UncheckedForeignKey[] = [];
  for (const { table } of order) {
    if (table.partitioning !== undefined) continue;
    for (const fk of table.foreignKeys) {
      const parent = tables.get(fk.parent);
      if (parent === undefined || parent.partitioning !== undefined) continue;
      if (table.foreignKeys.some((other) => other !== fk && other.columns.some((c) => fk.columns.includes(c)))) continue;
      result.push({ table, fk });
    }
  }
  return result;
}

export function dropForeignKeysSql(keys: readonly UncheckedForeignKey[]): string {
  return byTable(keys, (table, fks) => `ALTER TABLE ${table.qname} ${fks.map((fk) => `DROP CONSTRAINT ${quoteIdent(fk.name)}`).join(', ')}`);
}

/** ADD CONSTRAINT with the original definition (NOT VALID stays NOT VALID), and its comment. */
export function addForeignKeysSql(keys: readonly UncheckedForeignKey[]): string {
  return byTable(keys, (table, fks) =>
    [
      `ALTER TABLE ${table.qname} ${fks.map((fk) => `ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`).join(', ')}`,
      ...fks.flatMap((fk) => (fk.comment === undefined ? [] : [`COMMENT ON CONSTRAINT ${quoteIdent(fk.name)} ON ${table.qname} IS ${literal(fk.comment)}`])),
    ].join(';\n'),
  );
}

/** Deletes the rows that would break `fk` (MATCH SIMPLE: every key column set, no parent row). */
export function deleteOrphansSql(catalog: FillCatalog, key: UncheckedForeignKey): string | undefined {
  const parent = catalog.tables.find((t) => t.oid === key.fk.parent);
  if (parent === undefined) return undefined;
  const set = key.fk.columns.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
  const match = key.fk.columns.map((c, j) => `p.${quoteIdent(key.fk.parentColumns[j]!)} = c.${quoteIdent(c)}`).join(' AND ');
  return `DELETE FROM ONLY ${key.table.qname} AS c WHERE ${set} AND NOT EXISTS (SELECT 1 FROM ONLY ${parent.qname} AS p WHERE ${match})`;
}

function byTable(keys: readonly UncheckedForeignKey[], statement: (table: FillTable, fks: FillForeignKey[]) => string): string {
  const grouped = new Map<number, { table: FillTable; fks: FillForeignKey[] }>();
  for (const { table, fk } of keys) {
    const entry = grouped.get(table.oid) ?? { table, fks: [] };
    entry.fks.push(fk);
    grouped.set(table.oid, entry);
  }
  return [...grouped.values()].map(({ table, fks }) => statement(table, fks)).join(';\n');
}
