// Reads a database's schema: the fixed set of catalog queries in one READ ONLY REPEATABLE READ
// transaction with an empty search_path (so every name comes back qualified), then the pure
// rowsToModel().

import type pg from 'pg';
import { withClient } from '../postgres/client.js';
import type { SchemaModel } from '../schema/model.js';
import { rowsToModel, type CatalogRows, type ModelOptions } from '../schema/rows-to-model.js';
import { CATALOG_QUERIES, PRIVILEGE_QUERIES } from './catalog-queries.js';

export const DEFAULT_MODEL_OPTIONS: ModelOptions = { ignore: [], ignoreHistoryTables: true };

export async function introspect(client: pg.Client, options: ModelOptions = DEFAULT_MODEL_OPTIONS): Promise<SchemaModel> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await client.query("SELECT pg_catalog.set_config('search_path', '', true)");
    const run = async (sql: string): Promise<Record<string, unknown>[]> => (await client.query(sql)).rows as Record<string, unknown>[];
    const q = CATALOG_QUERIES;
    // Sequential on one connection: the snapshot is per transaction, and the server is the bottleneck.
    const rows: CatalogRows = {
      versionNum: Number((await run(q.version))[0]?.version_num ?? 0),
      schemas: await run(q.schemas),
      extensions: await run(q.extensions),
      types: await run(q.types),
      sequences: await run(q.sequences),
      relations: await run(q.relations),
      columns: await run(q.columns),
      constraints: await run(q.constraints),
      indexes: await run(q.indexes),
      functions: await run(q.functions),
      triggers: await run(q.triggers),
      policies: await run(q.policies),
      dependencies: await run(q.dependencies),
      unsupported: await run(q.unsupported),
      ...(options.privileges === true ? { privileges: await run(PRIVILEGE_QUERIES.privileges), defaultPrivileges: await run(PRIVILEGE_QUERIES.defaultPrivileges) } : {}),
    };
    return rowsToModel(rows, options);
  } finally {
    await client.query('COMMIT').catch(() => undefined);
  }
}

export function introspectUrl(url: string, options?: ModelOptions): Promise<SchemaModel> {
  return withClient(url, (client) => introspect(client, options), { applicationName: 'drift-guard inspect' });
}
