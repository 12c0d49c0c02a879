// Hazards weighed by production's size: the time a statement took on the generated rows, scaled to
// the rows production holds (catalog statistics only: `drift-guard stats` or a read-only look at
// production), and the rows a destructive change would lose there. Pure: findings and numbers in,
// findings out.

import { splitQuoted } from '../util/split-quoted.js';
import type { Finding } from '../report/finding.js';
import { estimateRewrite, formatRows, formatTableSize, tableStats, type StatsFile } from '../ops/stats.js';

/** One statement of a migration as it ran on the generated rows. */
export interface DataStatement {
  readonly line: number;
  readonly ms: number;
  /** Rows a data statement reported (INSERT, UPDATE, DELETE). */
  readonly rows?: number;
  /** Tables whose storage it replaced. */
  readonly rewrites: readonly string[];
  /** Rows it read per table of the base: a validating scan, an index build, a rewrite's copy. */
  readonly read?: readonly { readonly table: string; readonly rows: number }[];
}

/** Whether a statement's time grows with the rows: it rewrote, read or changed rows of the base. */
export function worksPerRow(statement: Pick<DataStatement, 'rows' | 'rewrites' | 'read'>): boolean {
  return (statement.rewrites?.length ?? 0) > 0 || (statement.rows ?? 0) > 0 || (statement.read?.length ?? 0) > 0;
}

export interface ProductionSize {
  readonly stats: StatsFile;
  /** Per migration id: each statement as it ran on the generated rows. */
  readonly onData: DataTimes;
  /** Migrations that run in one transaction: a lock taken early is held through the later statements. */
  readonly transactions?: ReadonlyMap<string, boolean>;
  /** Generated rows per table, when the data-aware gate ran. */
  readonly perTable: number | undefined;
  readonly thresholdSeconds: number;
  /** Tables the PR renamed: name in the findings -> the name production has (the base's). */
  readonly baseNames?: ReadonlyMap<string, string>;
}

/** "public.orders" from `public.orders` or `"Sales"."Orders"` (statistics name tables unquoted). */
export function unquoted(qname: string): string {
  return splitQualified(qname).join('.');
}

/** The unquoted parts of a quoted, qualified name: `"Sales"."Orders"` gives Sales and Orders. */
export function splitQualified(qname: string): string[] {
  return splitQuoted(qname, '.');
}


export type DataTimes = ReadonlyMap<string, { readonly statements?: readonly DataStatement[] }>;

/**
 * What a rewrite, a backfill or a lock over a scan measured on the generated rows, said in its
 * finding: the time its statement took there and the rows it touched or read, whether or not
 * production's size is known.
 */
export function withDataTimes(findings: readonly Finding[], onData: DataTimes, perTable: number | undefined): Finding[] {
  if (perTable === undefined) return [...findings];
  return findings.map((finding) => {
    if (finding.code !== 'TABLE_REWRITE' && finding.code !== 'LOCKING_CHANGE') return finding;
    const details = (finding.details ?? {}) as { backfill?: unknown; tables?: unknown };
    const measured = finding.migration === undefined ? undefined : onData.get(finding.migration)?.statements?.find((s) => s.line === finding.line);
    if (measured === undefined) return finding;
    if (finding.code === 'TABLE_REWRITE' || details.backfill === true) {
      const rows = measured.rows === undefined ? '' : ` for ${measured.rows} row(s)`;
      return { ...finding, message: `${finding.message} On the generated rows (${perTable} per table) it took ${Math.round(measured.ms)} ms${rows}.` };
    }
    // A lock over a scan (SET NOT NULL, a CHECK or foreign key validated, an index built): the
    // rows it read under the lock are what makes it last on production.
    const locked = Array.isArray(details.tables) ? new Set(details.tables as string[]) : new Set<string>();
    const read = (measured.read ?? []).filter((r) => locked.has(r.table));
    if (read.length === 0) return finding;
    const what = read.map((r) => `${r.rows} row(s) of ${r.table}`).join(' and ');
    return { ...finding, message: `${finding.message} On the generated rows (${perTable} per table) it read ${what} under that lock in ${Math.round(measured.ms)} ms; the time grows with the table.` };
  });
}

export function weighByProduction(findings: readonly Finding[], size: ProductionSize): Finding[] {
  const production = (name: string): string => unquoted(size.baseNames?.get(name) ?? name);
  return findings.map((finding) => {
    const details = (finding.details ?? {}) as { tables?: unknown; table?: unknown; column?: unknown; backfill?: unknown };
    if (finding.code === 'DESTRUCTIVE_CHANGE' && typeof details.table === 'string') {
      const table = tableStats(size.stats, production(details.table));
      if (table === undefined || table.rows === null) return finding;
      const column = typeof details.column === 'string' ? table.columns[details.column] : undefined;
      const held = column === undefined ? `${formatRows(table.rows)}` : `about ${formatRows(Math.round(table.rows * (1 - column.nullFrac)))} non-null value(s) in it`;
      return { ...finding, message: `${finding.message} In production ${formatTableSize(table)} holds ${held}.` };
    }
    if ((finding.code !== 'TABLE_REWRITE' && finding.code !== 'LOCKING_CHANGE') || !Array.isArray(details.tables)) return finding;
    const all = finding.migration === undefined ? undefined : size.onData.get(finding.migration)?.statements;
    const own = all?.find((s) => s.line === finding.line);
    // What a lock costs is how long it is held: only statements that work row by row (a rewrite,
    // DML that touched rows) take longer on production's rows; an ADD COLUMN without a default is
    // as quick on 3 M rows as on 200. In one transaction the lock is held through the later ones.
    let measured: { ms: number } | undefined = own;
    if (finding.code === 'LOCKING_CHANGE' && details.backfill !== true && own !== undefined && all !== undefined) {
      const held = size.transactions?.get(finding.migration!) === true ? all.filter((s) => s.line >= own.line) : [own];
      const perRow = held.filter(worksPerRow);
      measured = perRow.length === 0 ? undefined : { ms: perRow.reduce((sum, s) => sum + s.ms, 0) };
    }
    const estimates: string[] = [];
    let worst = 0;
    for (const name of details.tables as string[]) {
      const table = tableStats(size.stats, production(name));
      if (table === undefined) continue;
      const estimate = measured === undefined || size.perTable === undefined ? undefined : estimateRewrite(table, { rows: size.perTable, ms: measured.ms });
      if (estimate === undefined) estimates.push(formatTableSize(table));
      else {
        estimates.push(estimate.text);
        worst = Math.max(worst, estimate.seconds[1]);
      }
    }
    if (estimates.length === 0) return finding;
    // Over the threshold: a rewrite, or a lock that makes writes (or reads too) wait that long.
    const blocks = finding.code === 'TABLE_REWRITE' || (details.backfill !== true && /\b(ACCESS EXCLUSIVE|EXCLUSIVE|SHARE ROW EXCLUSIVE|SHARE) \((reads and writes|writes) wait\)/.test(finding.message));
    const over = blocks && worst > size.thresholdSeconds;
    return {
      ...finding,
      ...(over ? { severity: 'error' as const } : {}),
      message: `${finding.message} In production: ${estimates.join('; ')}${measured === undefined ? '' : ' (scaled from the time it took on the generated rows)'}${over ? `, over check.thresholds.rewrite-seconds (${size.thresholdSeconds} s)` : ''}.`,
    };
  });
}
