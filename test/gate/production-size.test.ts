import { describe, expect, it } from 'vitest';
import type { StatsFile } from '../../src/ops/stats.js';
import { weighByProduction, withDataTimes } from '../../src/gate/production-size.js';
import type { Finding } from '../../src/report/finding.js';

// Weighing hazards by production's size, on hand-made findings and measurements: only work done
// row by row scales with production's rows, and a lock is held until its transaction ends.

const stats: StatsFile = { version: 1, serverVersion: '16.4', takenAt: '2026-01-01T00:00:00.000Z', tables: [{ table: 'public.orders', rows: 3_000_000, bytes: 200 * 1024 ** 2, columns: {} }] };
const lock = (line: number): Finding => ({
  check: 'schema',
  code: 'LOCKING_CHANGE',
  severity: 'notice',
  message: `"ALTER TABLE orders ADD COLUMN status text" takes ACCESS EXCLUSIVE (reads and writes wait) on public.orders.`,
  migration: 'm1',
  line,
  details: { tables: ['public.orders'] },
});
const backfill: Finding = { check: 'schema', code: 'LOCKING_CHANGE', severity: 'notice', message: 'UPDATE updates every row of public.orders.', migration: 'm1', line: 2, details: { tables: ['public.orders'], backfill: true } };
// Line 1: ADD COLUMN (no rows, no rewrite, 30 ms of fixed cost); line 2: the backfill (200 rows).
const onData = new Map([['m1', { statements: [{ line: 1, ms: 30, rewrites: [] }, { line: 2, ms: 8, rows: 200, rewrites: [] }] }]]);
const weigh = (findings: Finding[], transaction: boolean): Finding[] =>
  weighByProduction(findings, { stats, onData, transactions: new Map([['m1', transaction]]), perTable: 200, thresholdSeconds: 5 });

describe('weighByProduction', () => {
  it('does not scale a lock taken by a statement that does no row-by-row work', () => {
    const [weighed] = weigh([lock(1)], false);
    expect(weighed!.severity).toBe('notice');
    expect(weighed!.message).toMatch(/In production: public\.orders \(3 M rows, 200 MB in production\)\.$/);
  });

  it('in one transaction, the lock is held through the later backfill: that time is scaled and can cross the threshold', () => {
    const [weighed] = weigh([lock(1)], true);
    // 8 ms for 200 rows: 40 µs a row, about 2 min for 3 M rows.
    expect(weighed!.severity).toBe('error');
    expect(weighed!.message).toMatch(/public\.orders \(3 M rows, 200 MB in production\): about 1-3 min \(scaled from the time it took on the generated rows\), over check\.thresholds\.rewrite-seconds \(5 s\)\.$/);
  });

  it('a backfill is scaled by its own time and stays a notice (it holds row locks, not ACCESS EXCLUSIVE)', () => {
    const [weighed] = weigh(withDataTimes([backfill], onData, 200), true);
    expect(weighed!.severity).toBe('notice');
    expect(weighed!.message).toMatch(/On the generated rows \(200 per table\) it took 8 ms for 200 row\(s\)\. In production: public\.orders .*: about 1-3 min \(scaled/);
  });

  it('a validating scan or an index build outside a transaction is scaled by the rows it read, and a lock that makes writes wait can cross the threshold', () => {
    const scans = new Map([['m2', { statements: [{ line: 1, ms: 6, rewrites: [], read: [{ table: 'public.orders', rows: 200 }] }, { line: 2, ms: 5, rewrites: [], read: [{ table: 'public.orders', rows: 200 }] }] }]]);
    const notNull: Finding = { ...lock(1), migration: 'm2', message: '"ALTER TABLE orders ALTER COLUMN status SET NOT NULL" takes ACCESS EXCLUSIVE (reads and writes wait) on public.orders.' };
    const index: Finding = { ...lock(2), migration: 'm2', message: '"CREATE INDEX orders_status ON orders (status)" takes SHARE (writes wait) on public.orders.' };
    const [a, b] = weighByProduction(withDataTimes([notNull, index], scans, 200), { stats, onData: scans, transactions: new Map([['m2', false]]), perTable: 200, thresholdSeconds: 5 });
    expect(a!.message).toMatch(/it read 200 row\(s\) of public\.orders under that lock in 6 ms; the time grows with the table\. In production: public\.orders \(3 M rows, 200 MB in production\): about .* \(scaled from the time it took on the generated rows\), over check\.thresholds\.rewrite-seconds \(5 s\)\.$/);
    expect(a!.severity).toBe('error');
    expect(b!.message).toMatch(/takes SHARE \(writes wait\).* over check\.thresholds\.rewrite-seconds/);
    expect(b!.severity).toBe('error');
    // The same scans on a table production keeps small stay notices.
    const small: StatsFile = { ...stats, tables: [{ table: 'public.orders', rows: 2_000, bytes: 1024 ** 2, columns: {} }] };
    const [c] = weighByProduction(withDataTimes([notNull], scans, 200), { stats: small, onData: scans, transactions: new Map([['m2', false]]), perTable: 200, thresholdSeconds: 5 });
    expect(c!.severity).toBe('notice');
  });
  it('a table the PR renamed is weighed by the size production has under its old name', () => {
    const renamed: Finding = { ...lock(1), message: '"ALTER TABLE purchases ADD COLUMN status text" takes ACCESS EXCLUSIVE (reads and writes wait) on public.purchases.', details: { tables: ['public.purchases'] } };
    const [unknown] = weighByProduction([renamed], { stats, onData, transactions: new Map([['m1', true]]), perTable: 200, thresholdSeconds: 5 });
    expect(unknown!.severity).toBe('notice');
    const [weighed] = weighByProduction([renamed], { stats, onData, transactions: new Map([['m1', true]]), perTable: 200, thresholdSeconds: 5, baseNames: new Map([['public.purchases', 'public.orders']]) });
    expect(weighed!.severity).toBe('error');
    expect(weighed!.message).toMatch(/In production: public\.orders \(3 M rows, 200 MB in production\): about 1-3 min/);
  });
});
