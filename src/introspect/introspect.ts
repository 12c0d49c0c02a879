// Reads a database's schema: the fixed set of catalog queries in one READ ONLY REPEATABLE READ
// transaction with an empty search_path (so every name comes back qualified), then the pure
// model builder in src/schema/rows-to-model.ts.

import pg from 'pg';
import { describeError, DriftGuardError } from '../errors.js';
import { withClient } from '../postgres/client.js';
import { registerConnectionString } from '../util/secrets.js';
import type { SchemaModel } from '../schema/model.js';
import { buildModel, type CatalogReader, type CatalogRows, type ModelOptions } from '../schema/rows-to-model.js';
import { CATALOG_QUERIES, catalogQueries, PRIVILEGE_QUERIES } from './catalog-queries.js';

export const DEFAULT_MODEL_OPTIONS: ModelOptions = { ignore: [], ignoreHistoryTables: true };

type Row = Record<string, unknown>;

/**
 * `pipelined`: the client is in node-postgres's pipeline mode (ClientOptions.pipeline), so every
 * catalog query is sent at once and the server runs them back to back without waiting for Node.
 */
export async function introspect(client: pg.Client, options: ModelOptions = DEFAULT_MODEL_OPTIONS, { pipelined = false }: { pipelined?: boolean } = {}): Promise<SchemaModel> {
  return (await readCatalog(client, options, { pipelined, keep: false })).model;
}

/** A schema read that keeps its catalog rows, so that a later read can re-read only what changed. */
export interface CatalogRead {
  readonly model: SchemaModel;
  readonly snapshot: CatalogSnapshot;
}

/**
 * The catalog queries' rows as a read saw them, with what tells a later read which of them may
 * have changed since (src/introspect/incremental.ts).
 */
export interface CatalogSnapshot {
  readonly rows: CatalogRows;
  /** The privilege queries ran (ModelOptions.privileges). */
  readonly privileges: boolean;
  /** txid_snapshot_xmin of the read (64-bit, as text): a catalog row written later has an xmin at or after it. */
  readonly horizon: string;
  /** The roles (oid:name) when read: a rename changes policies and grants without touching them. */
  readonly roles: string;
  /** Rows of pg_depend that make objects members of extensions. */
  readonly extensionMembers: number;
}

/** What one read transaction runs: its queries by kind (with their parameters) and how rows become the model. */
export interface ReadPlan<T> {
  /** May query the client first (in the transaction, before the plan's queries are sent). */
  readonly queries: (versionNum: number) => CatalogQueries | Promise<CatalogQueries>;
  readonly build: (read: CatalogReader, versionNum: number) => Promise<T>;
}

export type CatalogKind = Exclude<keyof CatalogRows, 'versionNum'>;

type CatalogQueries = Partial<Record<CatalogKind, { readonly sql: string; readonly params?: readonly unknown[] }>>;

/** The state a snapshot keeps besides rows, read in the same transaction as they are. */
export const SNAPSHOT_STATE = `
SELECT pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot())::text AS horizon,
       (SELECT pg_catalog.string_agg(r.oid::text || ':' || r.rolname, ',' ORDER BY r.oid) FROM pg_catalog.pg_roles r) AS roles,
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_depend d WHERE d.deptype = 'e')::int AS extension_members`;

/** The full read: every catalog query; with `keep`, its rows and state as a CatalogSnapshot too. */
export async function readCatalog(client: pg.Client, options: ModelOptions, { pipelined, keep }: { pipelined: boolean; keep: boolean }): Promise<{ model: SchemaModel; snapshot?: CatalogSnapshot }> {
  const kept: Partial<Record<CatalogKind, Row[]>> = {};
  let state: Row | undefined;
  let versionNum = 0;
  const model = await inReadTransaction(client, pipelined, {
    queries: (version) => {
      versionNum = version;
      const all: Record<string, string> = { ...catalogQueries(version), ...(options.privileges === true ? PRIVILEGE_QUERIES : {}) };
      return Object.fromEntries(Object.entries(all).map(([kind, sql]) => [kind, { sql }]));
    },
    build: (read, version) => buildModel(keep ? keeping(read, kept) : read, version, options),
  }, keep ? (row) => (state = row) : undefined);
  if (!keep) return { model };
  return { model, snapshot: snapshotOf({ versionNum, ...kept } as unknown as CatalogRows, options.privileges === true, state!) };
}

export function snapshotOf(rows: CatalogRows, privileges: boolean, state: Row): CatalogSnapshot {
  return { rows, privileges, horizon: String(state.horizon), roles: String(state.roles ?? ''), extensionMembers: Number(state.extension_members) };
}

/** A reader that also keeps every row it hands over, by kind. */
export function keeping(read: CatalogReader, kept: Partial<Record<CatalogKind, Row[]>>): CatalogReader {
  const into = (kind: CatalogKind): Row[] => (kept[kind] ??= []);
  return {
    each: (kind, onRow) => {
      const rows = into(kind);
      return read.each(kind, (row) => {
        rows.push(row);
        onRow(row);
      });
    },
    all: async (kind) => {
      const rows = await read.all(kind);
      into(kind).push(...rows);
      return rows;
    },
  };
}

/**
 * Runs a read plan in one READ ONLY REPEATABLE READ transaction with an empty search_path.
 * `onState`: the snapshot state (SNAPSHOT_STATE) is read in the same transaction, after the
 * queries, and handed over.
 */
export async function inReadTransaction<T>(client: pg.Client, pipelined: boolean, plan: ReadPlan<T>, onState?: (row: Row) => void): Promise<T> {
  const begin = client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  begin.catch(() => undefined); // awaited below; a failure surfaces there
  if (!pipelined) await begin;
  let last: Promise<unknown> = Promise.resolve();
  try {
    // No JIT: a catalog query's cost estimate can pass jit_above_cost once autovacuum has
    // analyzed the catalogs, and compiling then costs more than the query (20 ms of 28 for the
    // dependencies on 1,000 tables).
    const searchPath = client.query("SELECT pg_catalog.set_config('search_path', '', true), pg_catalog.set_config('jit', 'off', true)");
    searchPath.catch(() => undefined);
    if (!pipelined) await searchPath;
    const versionQuery = client.query<{ version_num: number }>(CATALOG_QUERIES.version);
    versionQuery.catch(() => undefined);
    // The first failure is the one to report: after it, the server answers every later query of
    // the transaction with "current transaction is aborted".
    await Promise.allSettled([begin, searchPath, versionQuery]);
    await begin;
    await searchPath;
    const version = await versionQuery;
    const versionNum = Number(version.rows[0]?.version_num ?? 0);
    // One connection (the snapshot is per transaction). Pipelined, every query is sent now;
    // otherwise each the moment the previous one has finished. Either way the server runs them
    // back to back, and every row is handed to the model builder as it arrives.
    const streams = new Map<string, RowStream>();
    for (const [kind, query] of Object.entries(await plan.queries(versionNum))) {
      const stream = new RowStream();
      stream.done = pipelined ? stream.run(client, query.sql, query.params) : last.then(() => stream.run(client, query.sql, query.params));
      stream.done.catch(() => undefined); // awaited in order by the builder; a failure surfaces there
      streams.set(kind, stream);
      last = pipelined ? Promise.allSettled([last, stream.done]) : stream.done;
    }
    let stateQuery: Promise<pg.QueryResult> | undefined;
    if (onState !== undefined) {
      const previous = last;
      stateQuery = pipelined ? client.query(SNAPSHOT_STATE) : previous.then(() => client.query(SNAPSHOT_STATE));
      stateQuery.catch(() => undefined);
      last = Promise.allSettled([previous, stateQuery]);
    }
    const streamOf = (kind: string): RowStream => streams.get(kind) ?? RowStream.empty;
    const read: CatalogReader = {
      each: (kind, onRow) => streamOf(kind).drain(onRow),
      all: async (kind) => {
        const rows: Row[] = [];
        await streamOf(kind).drain((row) => rows.push(row));
        return rows;
      },
    };
    const built = await plan.build(read, versionNum);
    if (stateQuery !== undefined) onState!((await stateQuery).rows[0]!);
    return built;
  } finally {
    await last.catch(() => undefined); // no query of the chain may still be on its way
    await client.query('COMMIT').catch(() => undefined);
  }
}

/**
 * Reads the schema of the database at `url`. A query the server refuses (a statement timeout, a
 * permission) is an environment error naming the database, not a crash. `closeInBackground`:
 * see ClientOptions (true only for databases that are not dropped afterwards).
 */
export async function introspectUrl(url: string, options?: ModelOptions, connection: { closeInBackground?: boolean } = {}): Promise<SchemaModel> {
  return onDatabase(url, (client) => introspect(client, options, { pipelined: true }), connection);
}

/** introspectUrl() that keeps the catalog rows (CatalogSnapshot) for a later readChangedUrl(). */
export async function readCatalogUrl(url: string, options: ModelOptions): Promise<CatalogRead> {
  return onDatabase(url, async (client) => {
    const read = await readCatalog(client, options, { pipelined: true, keep: true });
    return { model: read.model, snapshot: read.snapshot! };
  });
}

/**
 * Runs a read on its own pipelined connection. A query the server refuses (a statement timeout,
 * a permission) is an environment error naming the database, not a crash.
 */
export async function onDatabase<T>(url: string, read: (client: pg.Client) => Promise<T>, connection: { closeInBackground?: boolean } = {}): Promise<T> {
  return readingSchemaOf(url, () => withClient(url, read, { applicationName: INSPECT, pipeline: true, ...connection }));
}

/** The application name of a schema-reading session. */
export const INSPECT = 'drift-guard inspect';

/** Runs a read of `url`'s schema: a query the server refuses becomes an environment error naming the database. */
export async function readingSchemaOf<T>(url: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const sqlstate = (error as { code?: unknown }).code;
    if (error instanceof DriftGuardError || typeof sqlstate !== 'string' || !/^[0-9A-Z]{5}$/.test(sqlstate)) throw error;
    const code = sqlstate === '42501' ? 'DATABASE_PERMISSION' : 'DATABASE_ERROR';
    throw new DriftGuardError(code, `reading the schema of ${registerConnectionString(url)} failed: ${describeError(error)} (SQLSTATE ${sqlstate})`, { cause: error });
  }
}

/**
 * One query's rows, streamed: pg hands each row over as it is parsed and keeps none. Rows that
 * arrive before the consumer is there wait in a buffer; an exception in the consumer is kept and
 * rethrown when the query is over (pg's message handling must not see it).
 */
class RowStream {
  /** A query that was not sent (privileges when they are off): no rows. */
  static readonly empty = new RowStream();
  done: Promise<void> = Promise.resolve();
  private buffered: Row[] = [];
  private consumer: ((row: Row) => void) | undefined;
  private failure: unknown;

  run(client: pg.Client, sql: string, params?: readonly unknown[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const query = new pg.Query(sql, params as unknown[] | undefined);
      query.on('row', (row: Row) => {
        if (this.consumer === undefined) this.buffered.push(row);
        else this.deliver(row);
      });
      query.on('error', reject);
      query.on('end', () => resolve());
      void client.query(query);
    });
  }

  async drain(onRow: (row: Row) => void): Promise<void> {
    this.consumer = onRow;
    const early = this.buffered;
    this.buffered = [];
    for (const row of early) this.deliver(row);
    await this.done;
    if (this.failure !== undefined) throw this.failure;
  }

  private deliver(row: Row): void {
    if (this.failure !== undefined) return;
    try {
      this.consumer!(row);
    } catch (error) {
      this.failure = error;
    }
  }
}
