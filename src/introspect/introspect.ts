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
    const queries: Partial<Record<Exclude<keyof CatalogRows, 'versionNum'>, string>> = {
      ...catalogQueries(versionNum),
      ...(options.privileges === true ? PRIVILEGE_QUERIES : {}),
    };
    // One connection (the snapshot is per transaction). Pipelined, every query is sent now;
    // otherwise each the moment the previous one has finished. Either way the server runs them
    // back to back, and every row is handed to the model builder as it arrives.
    const streams = new Map<string, RowStream>();
    for (const [kind, sql] of Object.entries(queries)) {
      const stream = new RowStream();
      stream.done = pipelined ? stream.run(client, sql) : last.then(() => stream.run(client, sql));
      stream.done.catch(() => undefined); // awaited in order by buildModel; a failure surfaces there
      streams.set(kind, stream);
      last = pipelined ? Promise.allSettled([last, stream.done]) : stream.done;
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
    return await buildModel(read, versionNum, options);
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
  try {
    return await withClient(url, (client) => introspect(client, options, { pipelined: true }), { applicationName: 'drift-guard inspect', pipeline: true, ...connection });
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

  run(client: pg.Client, sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const query = new pg.Query(sql);
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
