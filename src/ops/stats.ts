// Production's table sizes from the catalog alone, for weighing hazards ("rewrites public.orders
// (48.1 M rows, 12 GB in production): about 3-4 min"). The reading side runs a fixed set of
// catalog queries in a READ ONLY transaction with a short statement timeout: pg_class.reltuples,
// pg_total_relation_size and pg_stats.null_frac / n_distinct, never a table's rows (nor pg_stats'
// value samples). The file side reads and validates a committed statistics file (`drift-guard
// stats -o FILE` writes it) for CI that must not reach production. The estimate is pure.

import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { describeError, DriftGuardError } from '../errors.js';
import { withClient } from '../postgres/client.js';
import { registerConnectionString } from '../util/secrets.js';

export const STATS_FILE_VERSION = 1;

export interface ColumnStats {
  /** Share of NULLs (pg_stats.null_frac), 0..1. */
  readonly nullFrac: number;
  /** Estimated distinct values (pg_stats.n_distinct; a negative share already multiplied by the row count). */
  readonly nDistinct: number;
}

export interface TableStats {
  /** schema.name, unquoted. */
  readonly table: string;
  /** pg_class.reltuples (summed over partitions); null when the table was never analyzed. */
  readonly rows: number | null;
  /** pg_total_relation_size (summed over partitions): heap, indexes, TOAST. */
  readonly bytes: number;
  readonly columns: Readonly<Record<string, ColumnStats>>;
}

export interface StatsFile {
  readonly version: typeof STATS_FILE_VERSION;
  /** SHOW server_version of the database the numbers come from. */
  readonly serverVersion: string;
  /** ISO 8601 time the numbers were read. */
  readonly takenAt: string;
  readonly tables: readonly TableStats[];
}

const STATS_QUERIES = {
  tables: `
SELECT n.nspname || '.' || c.relname AS "table",
  CASE WHEN c.relkind = 'p'
    THEN (SELECT sum(greatest(l.reltuples, 0)) FROM pg_catalog.pg_partition_tree(c.oid) t JOIN pg_catalog.pg_class l ON l.oid = t.relid WHERE t.isleaf)
    ELSE nullif(c.reltuples, -1) END::float8 AS rows,
  CASE WHEN c.relkind = 'p'
    THEN (SELECT coalesce(sum(pg_catalog.pg_total_relation_size(t.relid)), 0) FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf)
    ELSE pg_catalog.pg_total_relation_size(c.oid) END::float8 AS bytes
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY 1`,
  // Only the two numbers: pg_stats also holds sampled values (most_common_vals, histogram_bounds),
  // which are row data and never read.
  columns: `
SELECT s.schemaname || '.' || s.tablename AS "table", s.attname::text AS "column", s.null_frac::float8 AS null_frac, s.n_distinct::float8 AS n_distinct
FROM pg_catalog.pg_stats s
JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND s.inherited = (c.relkind = 'p')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY 1, 2`,
} as const;

/** Reads production's table statistics from the catalog in a read-only session (5 s per statement). */
export async function readProductionStats(url: string, now: () => Date = () => new Date()): Promise<StatsFile> {
  try {
    return await withClient(
      url,
      async (client) => {
        await client.query('BEGIN READ ONLY');
        try {
          await client.query("SET LOCAL statement_timeout = '5s'");
          // A migration holding ACCESS EXCLUSIVE on a table must not make this wait (sizes take ACCESS SHARE).
          await client.query("SET LOCAL lock_timeout = '2s'");
          const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '';
          const tables = (await client.query<{ table: string; rows: number | null; bytes: number }>(STATS_QUERIES.tables)).rows;
          const columns = (await client.query<{ table: string; column: string; null_frac: number; n_distinct: number }>(STATS_QUERIES.columns)).rows;
          return statsFromRows(version, now().toISOString(), tables, columns);
        } finally {
          await client.query('COMMIT').catch(() => undefined);
        }
      },
      { applicationName: 'drift-guard stats' },
    );
  } catch (error) {
    const sqlstate = (error as { code?: unknown }).code;
    if (error instanceof DriftGuardError || typeof sqlstate !== 'string') throw error;
    throw new DriftGuardError(sqlstate === '42501' ? 'DATABASE_PERMISSION' : 'DATABASE_ERROR', `reading table statistics from ${registerConnectionString(url)} failed: ${describeError(error)} (SQLSTATE ${sqlstate})`, {
      cause: error,
    });
  }
}

/** Pure: catalog rows to a statistics file. */
export function statsFromRows(
  serverVersion: string,
  takenAt: string,
  tables: readonly { table: string; rows: number | null; bytes: number }[],
  columns: readonly { table: string; column: string; null_frac: number; n_distinct: number }[],
): StatsFile {
  const byTable = new Map<string, Record<string, ColumnStats>>();
  const rowsOf = new Map(tables.map((t) => [t.table, t.rows === null ? null : Number(t.rows)]));
  for (const column of columns) {
    const rows = rowsOf.get(column.table);
    if (rows === undefined) continue;
    const record = byTable.get(column.table) ?? {};
    const distinct = Number(column.n_distinct);
    record[column.column] = {
      nullFrac: Number(column.null_frac),
      nDistinct: distinct >= 0 ? distinct : Math.round(-distinct * (rows ?? 0)),
    };
    byTable.set(column.table, record);
  }
  return {
    version: STATS_FILE_VERSION,
    serverVersion,
    takenAt,
    tables: tables.map((t) => ({
      table: t.table,
      rows: t.rows === null ? null : Math.round(Number(t.rows)),
      bytes: Math.round(Number(t.bytes)),
      columns: byTable.get(t.table) ?? {},
    })),
  };
}

const statsFileSchema = z.strictObject({
  version: z.literal(STATS_FILE_VERSION),
  serverVersion: z.string(),
  takenAt: z.string().refine((value) => !Number.isNaN(Date.parse(value)), { error: 'must be an ISO 8601 time' }),
  tables: z.array(
    z.strictObject({
      table: z.string().min(1),
      rows: z.number().min(0).nullable(),
      bytes: z.number().min(0),
      columns: z.record(z.string(), z.strictObject({ nullFrac: z.number().min(0).max(1), nDistinct: z.number().min(0) })),
    }),
  ),
});

/** Validates a statistics file's text; a bad file is a one-line usage error (exit 2) naming the file and the first problem. */
export function parseStatsFile(text: string, file: string): StatsFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DriftGuardError('USAGE', `${file}: not a statistics file (${describeError(error)}); write it with drift-guard stats -o ${file}`);
  }
  const result = statsFileSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new DriftGuardError('USAGE', `${file}: ${where}: ${issue.message}; write the file again with drift-guard stats -o ${file}`);
  }
  return result.data as StatsFile;
}

export function loadStatsFile(file: string): StatsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new DriftGuardError('USAGE', `${file}: ${code === 'ENOENT' ? 'no such file' : describeError(error)}; check check.stats-file, or write it with drift-guard stats -o ${file}`);
  }
  return parseStatsFile(text, file);
}

/** The statistics of `table` (schema.name, unquoted; a bare name means public.name). */
export function tableStats(stats: StatsFile | undefined, table: string): TableStats | undefined {
  const qualified = table.includes('.') ? table : `public.${table}`;
  return stats?.tables.find((t) => t.table === qualified);
}

function compact(value: number): string {
  return value < 10 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value).toString();
}

export function formatRows(rows: number): string {
  if (rows < 1_000) return `${Math.round(rows)} rows`;
  if (rows < 1_000_000) return `${(rows / 1_000).toFixed(1).replace(/\.0$/, '')} k rows`;
  if (rows < 1_000_000_000) return `${(rows / 1_000_000).toFixed(1).replace(/\.0$/, '')} M rows`;
  return `${(rows / 1_000_000_000).toFixed(1).replace(/\.0$/, '')} G rows`;
}

/** Binary units as pg_size_pretty prints them (kB, MB, GB, TB). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} bytes` : `${compact(value)} ${units[unit]}`;
}

/** "public.orders (48.1 M rows, 12 GB in production)". */
export function formatTableSize(stats: TableStats): string {
  const rows = stats.rows === null ? 'never analyzed' : formatRows(stats.rows);
  return `${stats.table} (${rows}, ${formatBytes(stats.bytes)} in production)`;
}

/** "about 3-4 min", "about 20-40 s", "under 1 s". */
export function formatSecondsRange([low, high]: readonly [number, number]): string {
  if (high < 1) return 'under 1 s';
  const span = (a: number, b: number, unit: string): string => {
    const lo = Math.max(1, Math.floor(a));
    const hi = Math.max(lo, Math.ceil(b));
    return lo === hi ? `about ${lo} ${unit}` : `about ${lo}-${hi} ${unit}`;
  };
  if (high < 90) return span(low, high, 's');
  if (high < 90 * 60) return span(low / 60, high / 60, 'min');
  return span(low / 3600, high / 3600, 'h');
}

/**
 * How long an operation measured on the generated rows (`measured`: rows it touched, ms it took)
 * would take on production's table: the measured time per row times production's row count,
 * as a range (production's rows are wider, its indexes bigger, its disks busier than a scratch
 * server's; a rate measured on few rows overstates the per-row cost). Undefined without
 * statistics, for a table never analyzed, or without a usable measurement.
 */
export function estimateRewrite(stats: TableStats | undefined, measured: { rows: number; ms: number }): { seconds: [number, number]; text: string } | undefined {
  if (stats === undefined || stats.rows === null || measured.rows <= 0 || !(measured.ms >= 0)) return undefined;
  const perRow = measured.ms / 1000 / measured.rows;
  const estimate = perRow * stats.rows;
  const seconds: [number, number] = [estimate * 0.8, estimate * 1.25];
  return { seconds, text: `${formatTableSize(stats)}: ${formatSecondsRange(seconds)}` };
}
