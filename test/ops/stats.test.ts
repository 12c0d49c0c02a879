import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DriftGuardError } from '../../src/errors.js';
import { estimateRewrite, formatBytes, formatRows, formatSecondsRange, formatTableSize, loadStatsFile, parseStatsFile, readProductionStats, tableStats, type StatsFile, type TableStats } from '../../src/ops/stats.js';
import { withClient } from '../../src/postgres/client.js';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck } from '../../src/gate/check.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, pgOptions, prRepository, runCli, sharedServerSuite, startSharedServer, writeTree } from '../helpers.js';

// A server standing in for production, holding a table of 2.5 million narrow rows. The statistics
// must come from the catalog: the table's scan counters do not move while they are read.

const { tmp, server } = sharedServerSuite('dg-stats-');
const ROWS = 2_500_000;

// Built once (inserting the rows takes a while on a busy machine) and shared by the tests below.
let productionUrl: Promise<string> | undefined;
let release: (() => void) | undefined;
let held: Promise<unknown> | undefined;
afterAll(async () => {
  release?.();
  await held;
}, 60_000);
function production<T>(fn: (url: string) => Promise<T>): Promise<T> {
  productionUrl ??= new Promise<string>((ready, fail) => {
    const done = new Promise<void>((resolve) => (release = resolve));
    held = buildProduction(async (url) => {
      ready(url);
      await done;
    }).catch(fail);
  });
  return productionUrl.then(fn);
}

// Production is a server of its own, not a database beside the gate's scratch databases.
async function buildProduction<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const own = await startSharedServer();
  try {
    return await own.server.withDatabase(async (db) => {
    await withClient(db.url, async (c) => {
      await c.query('CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, note text)');
      await c.query(`INSERT INTO orders SELECT i, i % 5000, CASE WHEN i % 10 < 3 THEN NULL ELSE 'n' || (i % 7) END FROM generate_series(1, ${ROWS}) i`);
      await c.query('CREATE TABLE events (id int, day date NOT NULL) PARTITION BY RANGE (day)');
      await c.query("CREATE TABLE events_a PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')");
      await c.query("CREATE TABLE events_b PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')");
      await c.query("INSERT INTO events SELECT i, DATE '2024-06-01' + (i % 400) FROM generate_series(1, 2000) i");
      await c.query('CREATE TABLE never_analyzed (id int)');
      await c.query('ANALYZE orders, events');
    });
    return fn(db.url);
    });
  } finally {
    await own.stop();
  }
}

/** seq_scan + idx_scan of orders, as the statistics collector has them now. */
async function scans(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const row = (await c.query("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS n FROM pg_stat_user_tables WHERE relname = 'orders'")).rows[0];
    return Number(row.n);
  });
}

/** Waits until the scan counters settle (a backend's counters arrive when it ends). */
async function settledScans(url: string): Promise<number> {
  let previous = -1;
  for (let i = 0; i < 20; i++) {
    const now = await scans(url);
    if (now === previous) return now;
    previous = now;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return previous;
}

describe('readProductionStats', () => {
  it('reads sizes close to the truth from the catalog without reading a row', async () => {
    await production(async (url) => {
      const before = await settledScans(url);
      const stats = await readProductionStats(url, () => new Date('2026-01-02T03:04:05Z'));
      const after = await settledScans(url);
      expect(after).toBe(before);

      // The measure works: reading the rows moves the counter.
      await withClient(url, (c) => c.query('SELECT count(*) FROM orders'));
      let moved = before;
      for (let i = 0; i < 20 && moved === before; i++) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        moved = await scans(url);
      }
      expect(moved).toBeGreaterThan(before);

      expect(stats.version).toBe(1);
      expect(stats.takenAt).toBe('2026-01-02T03:04:05.000Z');
      expect(stats.serverVersion).toMatch(/^\d+\.\d+/);
      const orders = tableStats(stats, 'orders')!;
      expect(Math.abs(orders.rows! - ROWS) / ROWS).toBeLessThan(0.05);
      const bytes = await withClient(url, async (c) => Number((await c.query("SELECT pg_total_relation_size('orders') AS b")).rows[0].b));
      expect(orders.bytes).toBe(bytes);
      expect(orders.bytes).toBeGreaterThan(50 * 1024 * 1024);
      expect(orders.columns.note!.nullFrac).toBeGreaterThan(0.27);
      expect(orders.columns.note!.nullFrac).toBeLessThan(0.33);
      expect(orders.columns.note!.nDistinct).toBe(7);
      expect(orders.columns.id!.nDistinct).toBeGreaterThan(ROWS * 0.95);
      expect(Math.abs(orders.columns.customer!.nDistinct - 5000) / 5000).toBeLessThan(0.2);
      const events = tableStats(stats, 'public.events')!;
      expect(events.rows).toBe(2000);
      expect(events.bytes).toBeGreaterThan(0);
      expect(events.columns.day!.nullFrac).toBe(0);
      expect(stats.tables.map((t) => t.table)).toEqual(['public.events', 'public.never_analyzed', 'public.orders']);
      expect(tableStats(stats, 'never_analyzed')!.rows).toBeNull();
    });
  }, 180_000);

  it('drift-guard stats -o FILE writes a file loadStatsFile reads, with the password nowhere', async () => {
    await production(async (url) => {
      const dir = path.join(tmp, 'project');
      writeTree(dir, { '.drift-guard.yml': 'production:\n  url-env: PROD_URL\n', 'migrations/.keep': '' });
      const withPassword = url;
      const password = new URL(withPassword).password;
      const result = await runCli(['stats', '-o', 'db/stats.json'], { cwd: dir, env: cleanEnv({ PROD_URL: withPassword }) });
      expect(result.stderr, result.stderr).not.toContain('Error:');
      expect(result.code, result.stderr).toBe(0);
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/wrote db\/stats\.json: 3 table\(s\), the largest public\.orders \(2\.\d M rows, \d+ MB in production\)/);
      if (password !== '') expect(result.stdout + result.stderr + readFileSync(path.join(dir, 'db/stats.json'), 'utf8')).not.toContain(password);
      const stats = loadStatsFile(path.join(dir, 'db/stats.json'));
      expect(tableStats(stats, 'orders')!.rows).toBeGreaterThan(ROWS * 0.95);

      const missing = await runCli(['stats'], { cwd: dir, env: cleanEnv() });
      expect(missing.code).toBe(2);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      expect(missing.stderr).toMatch(/set PROD_URL/);
    });
  }, 180_000);
});

describe('the gate weighed by a statistics file', () => {
  it('drift-guard stats reads no row; check with check.stats-file names production\'s size, scales the times on the generated rows, and a threshold raises a rewrite to an error', async () => {
    await production(async (url) => {
      const dir = path.join(tmp, 'gate');
      const config = (seconds: number): string =>
        `sql:\n  dir: db/migrations\n  layout: plain\nproduction:\n  url-env: PROD_URL\ncheck:\n  rollback: never\n  stats-file: db/stats.json\n  thresholds:\n    rewrite-seconds: ${seconds}\n`;
      writeTree(dir, {
        '.drift-guard.yml': config(100_000),
        'db/migrations/20240101000001_orders.sql': 'CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, note text);\n',
      });
      const before = await settledScans(url);
      const written = await runCli(['stats', '-o', 'db/stats.json'], { cwd: dir, env: cleanEnv({ PROD_URL: url }) });
      expect(written.code, written.stderr).toBe(0);
      const r = prRepository(dir);
      r.commit({ 'db/migrations/20240102000001_widen.sql': "ALTER TABLE orders ALTER COLUMN customer TYPE bigint;\nUPDATE orders SET note = 'x';\n" });

      // The gate reads the file, never production: PROD_URL is not in its environment.
      const check = () => runCheck({ loaded: loadConfig({ cwd: dir }), cwd: dir, env: cleanEnv(), reporter: new RecordingReporter(), postgres: pgOptions({ provider: 'url', url: server().adminUrl }), base: 'pr~1' });
      const relaxed = await check();
      const size = /public\.orders \(2\.\d M rows, \d+ MB in production\): (about [\d-]+ (s|min)|under 1 s)/;
      const rewrite = relaxed.findings.find((f) => f.code === 'TABLE_REWRITE');
      expect(rewrite).toEqual(expect.objectContaining({ severity: 'warning', line: 1 }));
      expect(rewrite!.message).toMatch(/On the generated rows \(200 per table\) it took \d+ ms\. In production: /);
      expect(rewrite!.message).toMatch(size);
      expect(rewrite!.message).toContain('(scaled from the time it took on the generated rows)');
      const backfill = relaxed.findings.find((f) => f.code === 'LOCKING_CHANGE' && f.line === 2);
      expect(backfill!.message).toMatch(/it took \d+ ms for 200 row\(s\)\. In production: public\.orders \(2\.\d M rows/);

      writeTree(dir, { '.drift-guard.yml': config(1) });
      const strict = await check();
      const raised = strict.findings.find((f) => f.code === 'TABLE_REWRITE');
      expect(raised).toEqual(expect.objectContaining({ severity: 'error', line: 1 }));
      expect(raised!.message).toMatch(/over check\.thresholds\.rewrite-seconds \(1 s\)\.$/);
      expect(strict.verdict).toBe('fail');

      // With production.url-env in its environment the gate reads the catalog itself (no file needed).
      writeTree(dir, { '.drift-guard.yml': config(100_000).replace('  stats-file: db/stats.json\n', '') });
      const live = await runCheck({ loaded: loadConfig({ cwd: dir }), cwd: dir, env: cleanEnv({ PROD_URL: url }), reporter: new RecordingReporter(), postgres: pgOptions({ provider: 'url', url: server().adminUrl }), base: 'pr~1' });
      expect(live.timings.map((t) => t.phase)).toContain("read production's table statistics");
      expect(live.findings.find((f) => f.code === 'TABLE_REWRITE')!.message).toMatch(size);

      // Neither the statistics, the file-fed gate nor the live one read a row of production's table.
      expect(await settledScans(url)).toBe(before);
    });
  }, 300_000);
});

describe('statistics files', () => {
  const file = (content: string): string => {
    const target = path.join(tmp, `stats-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(target, content);
    return target;
  };
  const valid: StatsFile = { version: 1, serverVersion: '16.4', takenAt: '2026-01-01T00:00:00.000Z', tables: [{ table: 'public.t', rows: 10, bytes: 8192, columns: { a: { nullFrac: 0.5, nDistinct: 3 } } }] };

  it('loads a valid file and rejects bad ones with one line naming the file (exit 2)', () => {
    expect(loadStatsFile(file(JSON.stringify(valid)))).toEqual(valid);
    const cases: [string, RegExp][] = [
      ['not json', /: not a statistics file \(.*\); write it with drift-guard stats -o /],
      [JSON.stringify({ ...valid, version: 2 }), /: version: .*; write the file again/],
      [JSON.stringify({ ...valid, tables: [{ ...valid.tables[0], rows: -1 }] }), /: tables\.0\.rows: /],
      [JSON.stringify({ ...valid, extra: 1 }), /: \(top level\): /],
    ];
    for (const [content, message] of cases) {
      const target = file(content);
      const error = (() => {
        try {
          loadStatsFile(target);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(DriftGuardError);
      expect((error as DriftGuardError).exitCode).toBe(2);
      expect((error as DriftGuardError).message).toContain(target);
      expect((error as DriftGuardError).message).toMatch(message);
      expect((error as DriftGuardError).message).not.toContain('\n');
    }
    expect(() => loadStatsFile(path.join(tmp, 'absent.json'))).toThrow(/absent\.json: no such file; check check\.stats-file/);
    expect(() => parseStatsFile('{}', 'x.json')).toThrow(/^x\.json: /);
  });
});

describe('estimateRewrite', () => {
  const orders: TableStats = { table: 'public.orders', rows: 48_100_000, bytes: 12 * 1024 ** 3, columns: {} };

  it('scales the measured time per row to production and says it in words', () => {
    expect(formatTableSize(orders)).toBe('public.orders (48.1 M rows, 12 GB in production)');
    // 4 ms for 1,000 rows: 4 µs a row, 192 s for 48.1 M rows.
    const estimate = estimateRewrite(orders, { rows: 1000, ms: 4 })!;
    expect(estimate.seconds[0]).toBeCloseTo(192.4 * 0.8, 1);
    expect(estimate.seconds[1]).toBeCloseTo(192.4 * 1.25, 1);
    expect(estimate.text).toBe('public.orders (48.1 M rows, 12 GB in production): about 2-5 min');
    expect(estimateRewrite({ ...orders, rows: 3_000 }, { rows: 200, ms: 2 })!.text).toBe('public.orders (3 k rows, 12 GB in production): under 1 s');
    expect(estimateRewrite({ ...orders, rows: 2_000_000 }, { rows: 1000, ms: 10 })!.text).toMatch(/: about 16-25 s$/);
    expect(estimateRewrite({ ...orders, rows: 5_000_000_000 }, { rows: 1000, ms: 10 })!.text).toMatch(/5 G rows.*: about 11-18 h$/);
  });

  it('gives nothing without statistics, for a table never analyzed, or without a measurement', () => {
    expect(estimateRewrite(undefined, { rows: 1000, ms: 4 })).toBeUndefined();
    expect(estimateRewrite({ ...orders, rows: null }, { rows: 1000, ms: 4 })).toBeUndefined();
    expect(estimateRewrite(orders, { rows: 0, ms: 4 })).toBeUndefined();
    expect(estimateRewrite(orders, { rows: 10, ms: Number.NaN })).toBeUndefined();
    expect(formatTableSize({ ...orders, rows: null })).toBe('public.orders (never analyzed, 12 GB in production)');
  });

  it('formats rows, bytes and ranges', () => {
    expect([formatRows(999), formatRows(1000), formatRows(48_123), formatRows(2_500_000)]).toEqual(['999 rows', '1 k rows', '48.1 k rows', '2.5 M rows']);
    expect([formatBytes(500), formatBytes(8192), formatBytes(1.5 * 1024 ** 2), formatBytes(12 * 1024 ** 3)]).toEqual(['500 bytes', '8 kB', '1.5 MB', '12 GB']);
    expect(formatSecondsRange([0.1, 0.5])).toBe('under 1 s');
    expect(formatSecondsRange([3, 3.4])).toBe('about 3-4 s');
    expect(formatSecondsRange([200, 230])).toBe('about 3-4 min');
    expect(formatSecondsRange([7200, 7200])).toBe('about 2 h');
  });
});
