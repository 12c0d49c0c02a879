// The SQL engine's model check: the committed declarative schema file (sql.schema-file) against
// the schema the migrations produce, compared as schemas, not as text.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load-config.js';
import { isDriftGuardError } from '../errors.js';
import { introspectUrl } from '../introspect/introspect.js';
import type { Finding } from '../report/finding.js';
import { diffSchemas } from '../schema/diff.js';
import type { SchemaModel } from '../schema/model.js';
import { renderSnapshot } from '../schema/snapshot.js';
import { loadSqlFile, modelOptions } from '../schema/sources.js';

/**
 * sql.schema-file against what the migrations produce. The same text is quick; otherwise the file
 * is loaded into a scratch database and compared as a schema, so a hand-edited declarative file
 * that only differs in layout is not stale.
 */
export async function schemaFileFindings(loaded: LoadedConfig, root: string, headSchema: SchemaModel, scratch: { withDatabase<T>(fn: (db: { url: string }) => Promise<T>): Promise<T> }): Promise<Finding[]> {
  const configured = loaded.config.sql['schema-file'];
  if (configured === undefined) return [];
  const file = path.resolve(root, configured);
  const regenerate = `regenerate it with drift-guard inspect ${path.relative(root, path.resolve(root, loaded.config.sql.dir ?? '.')) || '.'} -o ${configured}`;
  if (!existsSync(file)) return [{ check: 'model', code: 'SCHEMA_FILE_STALE', severity: 'error', message: `${configured} does not exist; create it: ${regenerate.replace('regenerate it with ', '')}`, file: configured }];
  const committed = readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
  if (committed === renderSnapshot(headSchema)) return [];
  let fileSchema: SchemaModel;
  try {
    fileSchema = await scratch.withDatabase(async (db) => {
      await loadSqlFile(file, db.url, root);
      return introspectUrl(db.url, modelOptions(loaded));
    });
  } catch (error) {
    if (!isDriftGuardError(error)) throw error;
    return [{ check: 'model', code: 'SCHEMA_FILE_STALE', severity: 'error', message: `${error.message}; fix it or ${regenerate}`, file: configured }];
  }
  const differences = diffSchemas(headSchema, fileSchema).changes;
  if (differences.length === 0) return [];
  return [
    {
      check: 'model',
      code: 'SCHEMA_FILE_STALE',
      severity: 'error',
      message: `${configured} no longer matches what the migrations produce (${differences.slice(0, 3).map((c) => c.description).join('; ')}${differences.length > 3 ? `; ${differences.length - 3} more` : ''}); add a migration for it (drift-guard new NAME generates one) or ${regenerate}`,
      file: configured,
    },
  ];
}

