// `drift-guard migrate` against the floor, for every layout, in one run on one server. Two histories
// of the same length, each written out in every layout's file conventions:
//   generated  every file alike (a table, indexes, a comment, a row or a column, a view)
//   real       shaped like a real project: mostly small files (a column, an index, a default, a
//              few rows), some tables with foreign keys, views, PL/pgSQL functions and triggers,
//              DO blocks, and a few large files (seed data, a batch of tables)
// The floor is one psql session running the same SQL, each file wrapped in BEGIN/COMMIT.
// Each run is on a fresh database; prints medians, the ratio to the floor and drift-guard's peak
// resident memory (the largest of the runs, read by a preload from process.resourceUsage()).
//   npm run bench:sql-layouts [-- migrations runs layouts]     e.g. -- 1000 3 plain,golang-migrate
// BENCH_BEFORE_CLI=<another build's dist/cli.js> adds a "(before)" row per layout, in the same run.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedHistory, realHistory, writeFloor, writeLayout } from './history-shapes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const count = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 3);
const ALL_LAYOUTS = ['flyway', 'golang-migrate', 'goose', 'dbmate', 'diesel', 'plain'];
const layouts = process.argv[4] === undefined ? ALL_LAYOUTS : process.argv[4].split(',');
const beforeCli = process.env.BENCH_BEFORE_CLI;

const work = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-layouts-'));

if (process.env.DATABASE_URL === undefined) {
  // Re-run inside a throwaway server: `drift-guard scratch` sets DATABASE_URL and PG*. Its role
  // must create a database per run, so the config opts in to the superuser, on the record.
  const config = path.join(work, 'bench.yml');
  writeFileSync(config, 'postgres:\n  superuser:\n    reason: the benchmark creates and drops a fresh database per run\n');
  const result = spawnSync(process.execPath, [cli, '--quiet', '--config', config, 'scratch', '--', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  rmSync(work, { recursive: true, force: true });
  process.exit(result.status ?? 1);
}

// Loaded into each drift-guard process: writes its peak resident set size (KiB) when it exits.
const preload = path.join(work, 'peak-rss.cjs');
const rssFile = path.join(work, 'peak-rss');
writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`);
const peakRss = {};
const admin = process.env.DATABASE_URL;
const psql = (args, url) => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args, url], { stdio: ['ignore', 'ignore', 'inherit'] });
let db = 0;
function freshDatabase() {
  const name = `bench_${process.pid}_${db++}`;
  psql(['-c', `CREATE DATABASE ${name}`], admin);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}
function timed(fn) {
  const { name, url } = freshDatabase();
  const started = performance.now();
  fn(url);
  const ms = performance.now() - started;
  psql(['-c', `DROP DATABASE ${name}`], admin);
  return ms;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
try {
  const shapes = { generated: generatedHistory(count), real: realHistory(count) };
  console.log(`${count} migrations per history, median of ${runs} runs, each on a fresh database`);
  for (const [shape, history] of Object.entries(shapes)) {
    const floorScript = writeFloor(history, path.join(work, shape, 'floor'));
    const ways = { floor: (url) => psql(['-f', floorScript], url) };
    for (const layout of layouts) {
      const dir = path.join(work, shape, layout);
      writeLayout(layout, history, dir);
      const migrate = (program, name) => (url) => {
        execFileSync(process.execPath, ['--require', preload, program, '--quiet', 'migrate', '--dir', dir, '--layout', layout, '--database-url', url], { stdio: ['ignore', 'ignore', 'inherit'] });
        peakRss[name] = Math.max(peakRss[name] ?? 0, Number(readFileSync(rssFile, 'utf8')));
      };
      if (beforeCli !== undefined) ways[`${layout} (before)`] = migrate(beforeCli, `${shape} ${layout} (before)`);
      ways[layout] = migrate(cli, `${shape} ${layout}`);
    }
    const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
    // Interleaved, so that a noisy neighbour slows every way alike.
    for (let r = 0; r < runs; r++) for (const [name, fn] of Object.entries(ways)) times[name].push(timed(fn));
    const floor = median(times.floor);
    const bytes = history.reduce((sum, statements) => sum + statements.join('\n').length, 0);
    console.log(`${shape} (${(bytes / 1024).toFixed(0)} KiB of SQL)`);
    for (const name of Object.keys(ways)) {
      const kib = peakRss[`${shape} ${name}`];
      const rss = kib === undefined ? '' : `   peak RSS ${(kib / 1024).toFixed(0)} MiB`;
      console.log(`  ${name.padEnd(24)} ${(median(times[name]) / 1000).toFixed(3)} s   ${(median(times[name]) / floor).toFixed(2)}x floor${rss}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
