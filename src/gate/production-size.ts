// Hazards weighed by production's size: the time a statement took on the generated rows, scaled to
// the rows production holds (catalog statistics only: `drift-guard stats` or a read-only look at
// production), and the rows a destructive change would lose there. Pure: findings and numbers in,
// findings out.

import type { Finding } from '../report/finding.js';
import { estimateRewrite, formatRows, formatTableSize, tableStats, type StatsFile } from '../ops/stats.js';

export interface ProductionSize {
  readonly stats: StatsFile;
  /** Per migration id: each statement's line and time on the generated rows (rows: what DML touched; rewrites: tables rewritten). */
  readonly onData: ReadonlyMap<string, { readonly statements?: readonly { readonly line: number; readonly ms: number; readonly rows?: number; readonly rewrites?: readonly string[] }[] }>;
  /** Migrations that run in one transaction: a lock taken early is held through the later statements. */
  readonly transactions?: ReadonlyMap<string, boolean>;
  /** Generated rows per table, when the data-aware gate ran. */
  readonly perTable: number | undefined;
  readonly thresholdSeconds: number;
}

/** "public.orders" from `public.orders` or `"Sales"."Orders"` (statistics name tables unquoted). */
export function unquoted(qname: string): string {
  return splitQualified(qname).join('.');
}

/** The unquoted parts of a quoted, qualified name: `"Sales"."Orders"` gives Sales and Orders. */
export function splitQualified(qname: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < qname.length; i++) {
    const c = qname[i]!;
    if (c === '"') {
      if (quoted && qname[i + 1] === '"') (current += '"'), (i += 1);
      else quoted = !quoted;
    } else if (c === '.' && !quoted) (parts.push(current), (current = ''));
    else current += c;
  }
  parts.push(current);
  return parts;
}

export type DataTimes = ReadonlyMap<string, { readonly statements?: readonly { readonly line: number; readonly ms: number; readonly rows?: number }[] }>;

/**
 * What a rewrite or a backfill measured on the generated rows, said in its finding: the time its
 * statement took there (and the rows it touched), whether or not production's size is known.
 */
export function withDataTimes(findings: readonly Finding[], onData: DataTimes, perTable: number | undefined): Finding[] {
  if (perTable === undefined) return [...findings];
  return findings.map((finding) => {
    const details = (finding.details ?? {}) as { backfill?: unknown };
    if (finding.code !== 'TABLE_REWRITE' && !(finding.code === 'LOCKING_CHANGE' && details.backfill === true)) return finding;
    const measured = finding.migration === undefined ? undefined : onData.get(finding.migration)?.statements?.find((s) => s.line === finding.line);
    if (measured === undefined) return finding;
    const rows = measured.rows === undefined ? '' : ` for ${measured.rows} row(s)`;
    return { ...finding, message: `${finding.message} On the generated rows (${perTable} per table) it took ${Math.round(measured.ms)} ms${rows}.` };
  });
}

export function weighByProduction(findings: readonly Finding[], size: ProductionSize): Finding[] {
  return findings.map((finding) => {
    const details = (finding.details ?? {}) as { tables?: unknown; table?: unknown; column?: unknown; backfill?: unknown };
    if (finding.code === 'DESTRUCTIVE_CHANGE' && typeof details.table === 'string') {
      const table = tableStats(size.stats, unquoted(details.table));
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
      const perRow = held.filter((s) => (s.rewrites?.length ?? 0) > 0 || (s.rows ?? 0) > 0);
      measured = perRow.length === 0 ? undefined : { ms: perRow.reduce((sum, s) => sum + s.ms, 0) };
    }
    const estimates: string[] = [];
    let worst = 0;
    for (const name of details.tables as string[]) {
      const table = tableStats(size.stats, unquoted(name));
      if (table === undefined) continue;
      const estimate = measured === undefined || size.perTable === undefined ? undefined : estimateRewrite(table, { rows: size.perTable, ms: measured.ms });
      if (estimate === undefined) estimates.push(formatTableSize(table));
      else {
        estimates.push(estimate.text);
        worst = Math.max(worst, estimate.seconds[1]);
      }
    }
    if (estimates.length === 0) return finding;
    const over = finding.code === 'TABLE_REWRITE' || /ACCESS EXCLUSIVE/.test(finding.message) ? worst > size.thresholdSeconds : false;
    return {
      ...finding,
      ...(over ? { severity: 'error' as const } : {}),
      message: `${finding.message} In production: ${estimates.join('; ')}${measured === undefined ? '' : ' (scaled from the time it took on the generated rows)'}${over ? `, over check.thresholds.rewrite-seconds (${size.thresholdSeconds} s)` : ''}.`,
    };
  });
}
