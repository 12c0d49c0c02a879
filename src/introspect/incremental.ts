// Reads a schema again after a migration, re-reading only the objects the migration may have
// changed. A full read of 1,000 tables costs about 0.3 s; after a PR's one migration most of its
// rows are the rows the previous read saw.
//
// What may have changed is read from the catalogs in one transaction:
//   - every catalog row written since the previous read (its xmin is at or after that read's
//     txid_snapshot_xmin: PostgreSQL writes a new row version for every change it logs);
//   - every object in a schema whose row changed (a rename prints differently everywhere);
//   - every object depending on one of those (pg_depend): an object prints the names of the
//     objects it depends on (a view its tables' columns, a default its sequence, a column its type);
//   - every object a previous row belonged to that no longer exists (a dropped index, constraint,
//     comment, trigger, inheritance or sequence ownership leaves no new row behind).
// Each is mapped to the key the catalog queries' rows are grouped by (a table's oid for its
// columns, constraints, indexes, triggers and policies; an object's own oid otherwise). The rows
// of those keys are read again, the others are the previous read's, and the model is built from
// the merged rows as a full read builds it. Where the catalogs cannot tell (a role renamed, an
// object added to or removed from an extension, another server version, privileges not read
// before) it is a full read. test/introspect/incremental.test.ts and the convergence fixtures
// hold every incremental read to the full read's model.

import type pg from 'pg';
import { diffSchemas } from '../schema/diff.js';
import type { SchemaModel } from '../schema/model.js';
import { modelToText } from '../schema/model-json.js';
import { buildModel, rowsToModel, type CatalogReader, type CatalogRows, type ModelOptions } from '../schema/rows-to-model.js';
import { catalogQueries, PRIVILEGE_QUERIES } from './catalog-queries.js';
import { connect } from '../postgres/client.js';
import { INSPECT, inReadTransaction, keeping, onDatabase, readCatalog, readingSchemaOf, snapshotOf, type CatalogKind, type CatalogSnapshot } from './introspect.js';

type Row = Record<string, unknown>;

/** Kinds read again in full every time: few rows, or rows no key can tell apart. */
const ALWAYS: ReadonlySet<CatalogKind> = new Set(['extensions', 'dependencies', 'unsupported', 'defaultPrivileges']);

/** The column a kind's rows are grouped by (the filter put on its query, and what a merge drops). */
const KEY: Partial<Record<CatalogKind, string>> = {
  schemas: 'oid',
  types: 'oid',
  sequences: 'oid',
  relations: 'oid',
  columns: 'table_oid',
  columnComments: 'table_oid',
  constraints: 'table_oid',
  indexes: 'table_oid',
  functions: 'oid',
  triggers: 'table_oid',
  policies: 'table_oid',
  privileges: 'oid',
  columnPrivileges: 'table_oid',
};

/** Whether a previous row belongs to a key read again (a composite type's also to its pg_class entry, its attributes). */
const readAgain = (kind: CatalogKind, keys: ReadonlySet<number>): ((row: Row) => boolean) => {
  if (kind === 'types') return (row) => keys.has(Number(row.oid)) || keys.has(Number(row.rel_oid));
  const key = KEY[kind]!;
  return (row) => keys.has(Number(row[key]));
};

const filtered = (kind: CatalogKind, sql: string): string =>
  `SELECT * FROM (${sql}\n) q WHERE ${kind === 'types' ? 'q.oid = ANY($1::pg_catalog.oid[]) OR q.rel_oid = ANY($1::pg_catalog.oid[])' : `q.${KEY[kind]!} = ANY($1::pg_catalog.oid[])`}`;

const NEW = (alias: string): string => `pg_catalog.age(${alias}.xmin) <= (SELECT pg_catalog.age(h.x) FROM h)`;

/**
 * The keys whose rows may differ from the previous read's. $1: the previous read's horizon as a
 * 32-bit xid; $2.. the previous rows' identities (see `identities`).
 */
const CHANGES = `
WITH h AS (SELECT $1::text::pg_catalog.xid AS x),
fresh(cls, oid) AS (
  SELECT 'pg_class'::pg_catalog.regclass::pg_catalog.oid, c.oid FROM pg_catalog.pg_class c WHERE ${NEW('c')}
  UNION ALL SELECT 'pg_class'::pg_catalog.regclass, a.attrelid FROM pg_catalog.pg_attribute a WHERE ${NEW('a')}
  UNION ALL SELECT 'pg_class'::pg_catalog.regclass, ad.adrelid FROM pg_catalog.pg_attrdef ad WHERE ${NEW('ad')}
  UNION ALL SELECT 'pg_class'::pg_catalog.regclass, i.indexrelid FROM pg_catalog.pg_index i WHERE ${NEW('i')}
  UNION ALL SELECT 'pg_class'::pg_catalog.regclass, s.seqrelid FROM pg_catalog.pg_sequence s WHERE ${NEW('s')}
  UNION ALL SELECT 'pg_class'::pg_catalog.regclass, pt.partrelid FROM pg_catalog.pg_partitioned_table pt WHERE ${NEW('pt')}
  UNION ALL SELECT 'pg_class'::pg_catalog.regclass, inh.inhrelid FROM pg_catalog.pg_inherits inh WHERE ${NEW('inh')}
  UNION ALL SELECT 'pg_class'::pg_catalog.regclass, inh.inhparent FROM pg_catalog.pg_inherits inh WHERE ${NEW('inh')}
  UNION ALL SELECT 'pg_rewrite'::pg_catalog.regclass, r.oid FROM pg_catalog.pg_rewrite r WHERE ${NEW('r')}
  UNION ALL SELECT 'pg_constraint'::pg_catalog.regclass, co.oid FROM pg_catalog.pg_constraint co WHERE ${NEW('co')}
  UNION ALL SELECT 'pg_type'::pg_catalog.regclass, t.oid FROM pg_catalog.pg_type t WHERE ${NEW('t')}
  UNION ALL SELECT 'pg_type'::pg_catalog.regclass, e.enumtypid FROM pg_catalog.pg_enum e WHERE ${NEW('e')}
  UNION ALL SELECT 'pg_proc'::pg_catalog.regclass, p.oid FROM pg_catalog.pg_proc p WHERE ${NEW('p')}
  UNION ALL SELECT 'pg_proc'::pg_catalog.regclass, ag.aggfnoid FROM pg_catalog.pg_aggregate ag WHERE ${NEW('ag')}
  UNION ALL SELECT 'pg_trigger'::pg_catalog.regclass, tg.oid FROM pg_catalog.pg_trigger tg WHERE ${NEW('tg')}
  UNION ALL SELECT 'pg_policy'::pg_catalog.regclass, pol.oid FROM pg_catalog.pg_policy pol WHERE ${NEW('pol')}
  UNION ALL SELECT 'pg_namespace'::pg_catalog.regclass, n.oid FROM pg_catalog.pg_namespace n WHERE ${NEW('n')}
  UNION ALL SELECT dsc.classoid, dsc.objoid FROM pg_catalog.pg_description dsc WHERE ${NEW('dsc')}
  UNION ALL SELECT d.classid, d.objid FROM pg_catalog.pg_depend d WHERE ${NEW('d')}
  -- Objects other rows print by name.
  UNION ALL SELECT 'pg_collation'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_collation x WHERE ${NEW('x')}
  UNION ALL SELECT 'pg_opclass'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_opclass x WHERE ${NEW('x')}
  UNION ALL SELECT 'pg_opfamily'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_opfamily x WHERE ${NEW('x')}
  UNION ALL SELECT 'pg_operator'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_operator x WHERE ${NEW('x')}
  UNION ALL SELECT 'pg_language'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_language x WHERE ${NEW('x')}
  UNION ALL SELECT 'pg_am'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_am x WHERE ${NEW('x')}
  UNION ALL SELECT 'pg_ts_config'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_ts_config x WHERE ${NEW('x')}
  UNION ALL SELECT 'pg_ts_dict'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_ts_dict x WHERE ${NEW('x')}
),
renamed_schemas AS (SELECT f.oid FROM fresh f WHERE f.cls = 'pg_namespace'::pg_catalog.regclass),
direct(cls, oid) AS (
  SELECT cls, oid FROM fresh
  UNION SELECT 'pg_class'::pg_catalog.regclass, c.oid FROM pg_catalog.pg_class c WHERE c.relnamespace IN (SELECT oid FROM renamed_schemas)
  UNION SELECT 'pg_type'::pg_catalog.regclass, t.oid FROM pg_catalog.pg_type t WHERE t.typnamespace IN (SELECT oid FROM renamed_schemas)
  UNION SELECT 'pg_proc'::pg_catalog.regclass, p.oid FROM pg_catalog.pg_proc p WHERE p.pronamespace IN (SELECT oid FROM renamed_schemas)
  UNION SELECT 'pg_constraint'::pg_catalog.regclass, co.oid FROM pg_catalog.pg_constraint co WHERE co.connamespace IN (SELECT oid FROM renamed_schemas)
  UNION SELECT 'pg_collation'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_collation x WHERE x.collnamespace IN (SELECT oid FROM renamed_schemas)
  UNION SELECT 'pg_opclass'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_opclass x WHERE x.opcnamespace IN (SELECT oid FROM renamed_schemas)
  UNION SELECT 'pg_operator'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_operator x WHERE x.oprnamespace IN (SELECT oid FROM renamed_schemas)
  UNION SELECT 'pg_ts_config'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_ts_config x WHERE x.cfgnamespace IN (SELECT oid FROM renamed_schemas)
),
touched(cls, oid) AS (
  SELECT cls, oid FROM direct
  UNION SELECT d.classid, d.objid FROM pg_catalog.pg_depend d JOIN direct ON d.refclassid = direct.cls AND d.refobjid = direct.oid
),
gone(key) AS (
  SELECT x.k FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.oid[]), pg_catalog.unnest($3::pg_catalog.oid[])) AS x(o, k) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = x.o)
  UNION ALL SELECT x.k FROM ROWS FROM (pg_catalog.unnest($4::pg_catalog.oid[]), pg_catalog.unnest($5::pg_catalog.oid[])) AS x(o, k) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.oid = x.o)
  UNION ALL SELECT x.k FROM ROWS FROM (pg_catalog.unnest($6::pg_catalog.oid[]), pg_catalog.unnest($7::pg_catalog.oid[])) AS x(o, k) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.oid = x.o)
  UNION ALL SELECT x.k FROM ROWS FROM (pg_catalog.unnest($8::pg_catalog.oid[]), pg_catalog.unnest($9::pg_catalog.oid[])) AS x(o, k) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy pol WHERE pol.oid = x.o)
  UNION ALL SELECT x.o FROM pg_catalog.unnest($10::pg_catalog.oid[]) AS x(o) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = x.o)
  UNION ALL SELECT x.o FROM pg_catalog.unnest($11::pg_catalog.oid[]) AS x(o) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = x.o)
  UNION ALL SELECT x.o FROM pg_catalog.unnest($12::pg_catalog.oid[]) AS x(o) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.oid = x.o)
  UNION ALL SELECT x.k FROM ROWS FROM (pg_catalog.unnest($13::pg_catalog.oid[]), pg_catalog.unnest($14::pg_catalog.oid[]), pg_catalog.unnest($15::pg_catalog.int4[]), pg_catalog.unnest($16::pg_catalog.oid[])) AS x(c, o, s, k)
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_description dsc WHERE dsc.objoid = x.o AND dsc.classoid = x.c AND dsc.objsubid = x.s)
  UNION ALL SELECT x.c FROM ROWS FROM (pg_catalog.unnest($17::pg_catalog.oid[]), pg_catalog.unnest($18::pg_catalog.oid[])) AS x(c, p)
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = x.c AND inh.inhparent = x.p)
  UNION ALL SELECT x.s FROM ROWS FROM (pg_catalog.unnest($19::pg_catalog.oid[]), pg_catalog.unnest($20::pg_catalog.oid[]), pg_catalog.unnest($21::pg_catalog.int4[]), pg_catalog.unnest($22::text[])) AS x(s, o, a, t)
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = x.s
                        AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.refobjid = x.o AND d.refobjsubid = x.a AND d.deptype::text = x.t)
)
SELECT
  (SELECT pg_catalog.array_agg(DISTINCT k.key) FROM (
     SELECT t.oid AS key FROM touched t
     UNION ALL SELECT i.indrelid FROM touched t JOIN pg_catalog.pg_index i ON t.cls = 'pg_class'::pg_catalog.regclass AND i.indexrelid = t.oid
     UNION ALL SELECT co.conrelid FROM touched t JOIN pg_catalog.pg_constraint co ON t.cls = 'pg_constraint'::pg_catalog.regclass AND co.oid = t.oid WHERE co.conrelid <> 0
     UNION ALL SELECT co.contypid FROM touched t JOIN pg_catalog.pg_constraint co ON t.cls = 'pg_constraint'::pg_catalog.regclass AND co.oid = t.oid WHERE co.contypid <> 0
     UNION ALL SELECT r.ev_class FROM touched t JOIN pg_catalog.pg_rewrite r ON t.cls = 'pg_rewrite'::pg_catalog.regclass AND r.oid = t.oid
     UNION ALL SELECT ad.adrelid FROM touched t JOIN pg_catalog.pg_attrdef ad ON t.cls = 'pg_attrdef'::pg_catalog.regclass AND ad.oid = t.oid
     UNION ALL SELECT tg.tgrelid FROM touched t JOIN pg_catalog.pg_trigger tg ON t.cls = 'pg_trigger'::pg_catalog.regclass AND tg.oid = t.oid
     UNION ALL SELECT pol.polrelid FROM touched t JOIN pg_catalog.pg_policy pol ON t.cls = 'pg_policy'::pg_catalog.regclass AND pol.oid = t.oid
     UNION ALL SELECT ty.typrelid FROM touched t JOIN pg_catalog.pg_type ty ON t.cls = 'pg_type'::pg_catalog.regclass AND ty.oid = t.oid WHERE ty.typrelid <> 0
     UNION ALL SELECT g.key FROM gone g) k) AS keys,
  (SELECT pg_catalog.age(h.x) FROM h) AS horizon_age,
  EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.deptype = 'e' AND ${NEW('d')}) AS extension_changed`;

/** The previous rows' identities, as CHANGES's parameters $2..$22. */
function identities(rows: CatalogRows): unknown[] {
  const pairs = (list: readonly Row[] | undefined, own: string, key: string): [number[], number[]] => [(list ?? []).map((r) => Number(r[own])), (list ?? []).map((r) => Number(r[key]))];
  const own = (list: readonly Row[] | undefined): number[] => (list ?? []).map((r) => Number(r.oid));
  // pg_class: relations and sequences are their own keys, an index is its table's.
  const classes = pairs([...rows.relations, ...rows.sequences], 'oid', 'oid');
  const [indexOids, indexKeys] = pairs(rows.indexes, 'oid', 'table_oid');
  classes[0].push(...indexOids);
  classes[1].push(...indexKeys);
  const constraints = pairs(rows.constraints, 'oid', 'table_oid');
  // A domain's checks are pg_constraint rows of the domain's type.
  for (const type of rows.types) {
    for (const check of (type.checks as { oid: number }[] | null) ?? []) {
      constraints[0].push(Number(check.oid));
      constraints[1].push(Number(type.oid));
    }
  }
  // Comments: (catalog, object, column, key) of every row that has one.
  const comments: [number[], number[], number[], number[]] = [[], [], [], []];
  const commented = (list: readonly Row[] | undefined, cls: number, own: string, key: string): void => {
    for (const row of list ?? []) {
      if (row.comment === null || row.comment === undefined) continue;
      comments[0].push(cls);
      comments[1].push(Number(row[own]));
      comments[2].push(0);
      comments[3].push(Number(row[key]));
    }
  };
  commented(rows.schemas, PG_NAMESPACE, 'oid', 'oid');
  commented(rows.types, PG_TYPE, 'oid', 'oid');
  commented(rows.sequences, PG_CLASS, 'oid', 'oid');
  commented(rows.relations, PG_CLASS, 'oid', 'oid');
  commented(rows.constraints, PG_CONSTRAINT, 'oid', 'table_oid');
  commented(rows.indexes, PG_CLASS, 'oid', 'table_oid');
  commented(rows.functions, PG_PROC, 'oid', 'oid');
  commented(rows.triggers, PG_TRIGGER, 'oid', 'table_oid');
  commented(rows.policies, PG_POLICY, 'oid', 'table_oid');
  for (const row of rows.columnComments ?? []) {
    comments[0].push(PG_CLASS);
    comments[1].push(Number(row.table_oid));
    comments[2].push(Number(row.position));
    comments[3].push(Number(row.table_oid));
  }
  // Inheritance: (child, parent).
  const inherits: [number[], number[]] = [[], []];
  for (const row of rows.relations) {
    for (const parent of (row.parents as unknown[] | null) ?? []) {
      inherits[0].push(Number(row.oid));
      inherits[1].push(Number(parent));
    }
  }
  // A sequence's owner (serial: 'a', identity: 'i').
  const owned: [number[], number[], number[], string[]] = [[], [], [], []];
  for (const row of rows.sequences) {
    if (row.owned_deptype === null || row.owned_deptype === undefined) continue;
    owned[0].push(Number(row.oid));
    owned[1].push(Number(row.owner_oid));
    owned[2].push(Number(row.owner_attnum));
    owned[3].push(String(row.owned_deptype));
  }
  return [
    ...classes,
    ...constraints,
    ...pairs(rows.triggers, 'oid', 'table_oid'),
    ...pairs(rows.policies, 'oid', 'table_oid'),
    own(rows.functions),
    own(rows.types),
    own(rows.schemas),
    ...comments,
    ...inherits,
    ...owned,
  ];
}

// Catalog oids, fixed in PostgreSQL's headers.
const PG_CLASS = 1259;
const PG_TYPE = 1247;
const PG_PROC = 1255;
const PG_CONSTRAINT = 2606;
const PG_TRIGGER = 2620;
const PG_POLICY = 3256;
const PG_NAMESPACE = 2615;

/** How a read after `since` was made: incremental, or in full and why. */
export interface ChangedRead {
  readonly model: SchemaModel;
  readonly snapshot: CatalogSnapshot;
  /** The number of keys (tables and other objects) read again; undefined: a full read. */
  readonly reread?: number;
  /** Why it was a full read. */
  readonly full?: string;
}

/**
 * Reads the schema after `since` (a read of the same database, before a migration), re-reading
 * only what may have changed. Same transaction, same rules and same model as a full read.
 */
export async function readChanged(
  client: pg.Client,
  since: CatalogSnapshot,
  options: ModelOptions,
  { pipelined, verify = process.env.DRIFT_GUARD_VERIFY_INCREMENTAL === '1' }: { pipelined: boolean; verify?: boolean },
): Promise<ChangedRead> {
  const privileges = options.privileges === true;
  const fullBecause = (reason: string): Promise<ChangedRead> => readCatalog(client, options, { pipelined, keep: true }).then((read) => ({ model: read.model, snapshot: read.snapshot!, full: reason }));
  if (privileges && !since.privileges) return fullBecause('the previous read had no privileges');
  // 0-2 are not transaction ids (invalid, bootstrap, frozen): the counter wrapped around just there.
  if (horizonXid(since) < 3n) return fullBecause('the transaction counter wrapped around');

  let reason: string | undefined;
  let keys: Set<number> | undefined;
  let state: Row | undefined;
  const merged: Partial<Record<CatalogKind, Row[]>> = {};
  const model = await inReadTransaction(
    client,
    pipelined,
    {
      queries: async (versionNum) => {
        if (versionNum !== since.rows.versionNum) {
          reason = 'another server version';
          return {};
        }
        const changes = await changesSince(client, since);
        if (changes.horizon_age > 2 ** 30) reason = 'the previous read is too old';
        else if (changes.extension_changed) reason = 'an extension gained or lost a member';
        if (reason !== undefined) return {};
        keys = new Set((changes.keys ?? []).map(Number));
        const list = [...keys];
        const all: Record<string, string> = { ...catalogQueries(versionNum), ...(privileges ? PRIVILEGE_QUERIES : {}) };
        return Object.fromEntries(
          Object.entries(all).map(([kind, sql]) => [kind, ALWAYS.has(kind as CatalogKind) ? { sql } : { sql: filtered(kind as CatalogKind, sql), params: [arrayLiteral(list)] }]),
        );
      },
      build: async (read, versionNum) => {
        if (reason !== undefined) return undefined;
        const mergedRead: CatalogReader = {
          each: async (kind, onRow) => {
            if (!ALWAYS.has(kind)) {
              const stale = readAgain(kind, keys!);
              for (const row of since.rows[kind] ?? []) if (!stale(row)) onRow(row);
            }
            await read.each(kind, onRow);
          },
          all: async (kind) => {
            const rows: Row[] = [];
            await mergedRead.each(kind, (row) => rows.push(row));
            return rows;
          },
        };
        return buildModel(keeping(mergedRead, merged), versionNum, options);
      },
    },
    (row) => (state = row),
  );
  if (model === undefined) return fullBecause(reason!);
  const snapshot = snapshotOf({ versionNum: since.rows.versionNum, ...merged } as unknown as CatalogRows, privileges, state!);
  // A role renamed or dropped prints differently in policies and grants, and is in no row of this
  // database. A new role is named only by rows written since (a grant, a policy).
  const roles = new Set(snapshot.roles.split(','));
  if (since.roles.split(',').some((role) => role !== '' && !roles.has(role))) return fullBecause('a role was renamed or dropped');
  if (snapshot.extensionMembers !== since.extensionMembers) return fullBecause('an extension gained or lost a member');
  if (verify) await verifyAgainstFull(client, model, options, pipelined);
  return { model, snapshot, reread: keys!.size };
}

/**
 * The test suite's check (DRIFT_GUARD_VERIFY_INCREMENTAL=1): a full read of the same database
 * must give the same model. A difference is a bug here, thrown with what differs.
 */
async function verifyAgainstFull(client: pg.Client, model: SchemaModel, options: ModelOptions, pipelined: boolean): Promise<void> {
  const full = (await readCatalog(client, options, { pipelined, keep: false })).model;
  const [got, expected] = [modelToText(model, options), modelToText(full, options)];
  if (got === expected) return;
  const differences = diffSchemas(full, model).changes.map((c) => c.description);
  throw new Error(`the incremental schema read differs from a full read: ${differences.slice(0, 5).join('; ') || 'in the serialized model'}`);
}

/** The previous read's horizon as a 32-bit transaction id (what xmin holds). */
const horizonXid = (since: CatalogSnapshot): bigint => BigInt(since.horizon) % 4294967296n;

/** An array of numbers or of plain words (deptype letters) as PostgreSQL's array literal. */
const arrayLiteral = (values: unknown): string => `{${(values as (number | string)[]).join(',')}}`;

/** CHANGES's parameters for a snapshot: computed once per snapshot (thousands of oids). */
const parametersOf = new WeakMap<CatalogSnapshot, unknown[]>();

/** Runs CHANGES (in the caller's transaction). */
async function changesSince(client: pg.Client, since: CatalogSnapshot): Promise<{ keys: number[] | null; horizon_age: number; extension_changed: boolean }> {
  let parameters = parametersOf.get(since);
  // Arrays as array literals: node-postgres would quote and escape each of thousands of numbers.
  if (parameters === undefined) parametersOf.set(since, (parameters = [horizonXid(since).toString(), ...identities(since.rows).map(arrayLiteral)]));
  // Index probes, not hashes of whole catalogs: CHANGES joins a few dozen rows against catalogs of
  // thousands (the planner, misled by CTE estimates, hashes all of pg_class for 30 lookups).
  await client.query("SELECT pg_catalog.set_config('enable_hashjoin', 'off', true), pg_catalog.set_config('enable_mergejoin', 'off', true)");
  const { rows } = await client.query<{ keys: number[] | null; horizon_age: number; extension_changed: boolean }>(CHANGES, parameters);
  await client.query("SELECT pg_catalog.set_config('enable_hashjoin', 'on', true), pg_catalog.set_config('enable_mergejoin', 'on', true)");
  return rows[0]!;
}

/**
 * A session on one database for the reads after each of a series of migrations. A new session
 * fills its catalog caches on its first queries (about 0.1 s on 1,000 tables): `warm` does that
 * while the caller runs a migration on another connection.
 */
export interface CatalogSession {
  /** Runs the change query once against `since`, for nothing but the caches; never fails. */
  warm(since: CatalogSnapshot): Promise<void>;
  read(since: CatalogSnapshot, options: ModelOptions): Promise<ChangedRead>;
  close(): Promise<void>;
}

export async function openCatalogSession(url: string): Promise<CatalogSession> {
  const client = await connect(url, { applicationName: INSPECT, pipeline: true });
  // One thing at a time on the connection.
  let busy: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = busy.then(fn, fn);
    busy = next.catch(() => undefined);
    return next;
  };
  return {
    warm: (since) =>
      serial(async () => {
        if (horizonXid(since) < 3n) return;
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        try {
          await client.query("SELECT pg_catalog.set_config('search_path', '', true), pg_catalog.set_config('jit', 'off', true)");
          await changesSince(client, since);
        } finally {
          await client.query('COMMIT');
        }
      }).catch(() => undefined),
    read: (since, options) => serial(() => readingSchemaOf(url, () => readChanged(client, since, options, { pipelined: true }))),
    close: async () => {
      await busy;
      await client.end().catch(() => undefined);
    },
  };
}

/**
 * readChanged() on its own connection to `url`. `verify: false`: no full read to compare with,
 * even under DRIFT_GUARD_VERIFY_INCREMENTAL (for a caller that compares it itself).
 */
export function readChangedUrl(url: string, since: CatalogSnapshot, options: ModelOptions, { verify }: { verify?: boolean } = {}): Promise<ChangedRead> {
  return onDatabase(url, (client) => readChanged(client, since, options, { pipelined: true, ...(verify === undefined ? {} : { verify }) }));
}

/** Bumped when a snapshot's rows or fields change meaning: older texts are then not read. */
const SNAPSHOT_FORMAT = 1;

/** A snapshot as text (kept with a cached base). */
export function snapshotToText(snapshot: CatalogSnapshot): string {
  return JSON.stringify({ format: SNAPSHOT_FORMAT, ...snapshot });
}

/**
 * The model and snapshot kept as text by snapshotToText(); undefined when the text is not one
 * (another format, damaged) or lacks what `options` need (privileges).
 */
export async function readFromText(text: string, options: ModelOptions): Promise<{ model: SchemaModel; snapshot: CatalogSnapshot } | undefined> {
  try {
    const { format, ...snapshot } = JSON.parse(text) as CatalogSnapshot & { format: unknown };
    if (format !== SNAPSHOT_FORMAT || typeof snapshot.horizon !== 'string' || typeof snapshot.rows?.versionNum !== 'number' || !Array.isArray(snapshot.rows.relations)) return undefined;
    if (options.privileges === true && !snapshot.privileges) return undefined;
    return { model: await rowsToModel(snapshot.rows, options), snapshot };
  } catch {
    return undefined;
  }
}
