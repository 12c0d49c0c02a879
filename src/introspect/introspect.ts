// Reads a database's schema: the fixed set of catalog queries in one READ ONLY REPEATABLE READ
// transaction with an empty search_path (so every name comes back qualified), then the pure
// model builder in src/schema/rows-to-model.ts.

import type pg from 'pg';
import { withClient } from '../postgres/client.js';
import type { SchemaModel } from '../schema/model.js';
import { buildModel, type CatalogReader, type CatalogRows, type ModelOptions } from '../schema/rows-to-model.js';
import { CATALOG_QUERIES, catalogQueries, PRIVILEGE_QUERIES } from './catalog-queries.js';

export const DEFAULT_MODEL_OPTIONS: ModelOptions = { ignore: [], ignoreHistoryTables: true };

type Row = Record<string, unknown>;

export async function introspect(client: pg.Client, options: ModelOptions = DEFAULT_MODEL_OPTIONS): Promise<SchemaModel> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let last: Promise<unknown> = Promise.resolve();
  try {
    await client.query("SELECT pg_catalog.set_config('search_path', '', true)");
    const versionNum = Number((await client.query<{ version_num: number }>(CATALOG_QUERIES.version)).rows[0]?.version_num ?? 0);
    const queries: Partial<Record<Exclude<keyof CatalogRows, 'versionNum'>, string>> = {
      ...catalogQueries(versionNum),
      ...(options.privileges === true ? PRIVILEGE_QUERIES : {}),
    };
    // Each query is sent the moment the previous one's rows are in (one connection: the snapshot
    // is per transaction), so the server runs them back to back while the rows that have
    // arrived are being modelled.
    const pending = new Map<string, Promise<Row[]>>();
    for (const [kind, sql] of Object.entries(queries)) {
      const rows = last.then(() => client.query(sql)).then((result) => result.rows as Row[]);
      rows.catch(() => undefined); // awaited in order by buildModel; a failure surfaces there
      pending.set(kind, rows);
      last = rows;
    }
    const read: CatalogReader = (kind) => {
      const rows = pending.get(kind) ?? [];
      pending.delete(kind); // read once: the rows can go as soon as they are modelled
      return rows;
    };
    return await buildModel(read, versionNum, options);
  } finally {
    await last.catch(() => undefined); // no query of the chain may still be on its way
    await client.query('COMMIT').catch(() => undefined);
  }
}

/** `closeInBackground`: see ClientOptions (true only for databases that are not dropped afterwards). */
export function introspectUrl(url: string, options?: ModelOptions, connection: { closeInBackground?: boolean } = {}): Promise<SchemaModel> {
  return withClient(url, (client) => introspect(client, options), { applicationName: 'drift-guard inspect', ...connection });
}
