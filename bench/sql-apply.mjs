// Apply benchmark for the SQL engine: 300 generated migrations applied to a fresh database three
// ways in the same run, on the same server:
//   loop   one `psql -1 -f` process per file (what most CI scripts do)
//   floor  one psql session running every file, each wrapped in BEGIN/COMMIT
//   drift-guard migrate (history rows, checksums, advisory lock, statement splitting)
// Prints medians and the ratios to the floor. Needs psql on PATH.
//   npm run bench:sql [-- migrations runs]

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const count = Number(process.argv[2] ?? 300);
const runs = Number(process.argv[3] ?? 3);

if (process.env.DATABASE_URL === undefined) {
  // Re-run inside a throwaway server: `drift-guard scratch` sets DATABASE_URL and PG*.
  const result = spawnSync(process.execPath, [cli, '--quiet', 'scratch', '--', process.execPath, fileURLToPath(import.meta.url), String(count), String(runs)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-sql-'));
const files = [];
for (let i = 1; i <= count; i++) {
  const version = `20240101${String(i).padStart(6, '0')}`;
  const previous = i > 1 ? `, parent_id bigint REFERENCES t${i - 1} (id)` : '';
  const body = [
    `CREATE TABLE t${i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), payload jsonb${previous});`,
    `CREATE INDEX t${i}_name ON t${i} (name);`,
    `COMMENT ON TABLE t${i} IS 'table ${i}';`,
    i % 3 === 0 ? `ALTER TABLE t${i - 1} ADD COLUMN extra_${i} integer NOT NULL DEFAULT 0;` : `INSERT INTO t${i} (name) VALUES ('a'), ('b');`,
    i % 5 === 0 ? `CREATE VIEW v${i} AS SELECT id, name FROM t${i} WHERE name <> '';` : `CREATE UNIQUE INDEX t${i}_created ON t${i} (created_at, id);`,
  ].join('\n');
  const file = path.join(dir, `${version}_m${i}.sql`);
  writeFileSync(file, `${body}\n`);
  files.push(file);
}
const floorScript = path.join(dir, 'floor.psql');
writeFileSync(floorScript, files.map((f) => `BEGIN;\n\\i ${f}\nCOMMIT;\n`).join(''));

const admin = process.env.DATABASE_URL;
const psql = (args, url) => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args, url], { stdio: ['ignore', 'ignore', 'inherit'] });
let db = 0;
function freshDatabase() {
  const name = `bench_${process.pid}_${db++}`;
  psql(['-c', `CREATE DATABASE ${name}`], admin);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}
function timed(fn) {
  const url = freshDatabase();
  const started = performance.now();
  fn(url);
  return performance.now() - started;
}

const ways = {
  floor: (url) => psql(['-f', floorScript], url),
  loop: (url) => {
    for (const file of files) psql(['-1', '-f', file], url);
  },
  'drift-guard': (url) =>
    execFileSync(process.execPath, [cli, '--quiet', 'migrate', '--dir', dir, '--layout', 'plain', '--database-url', url], { stdio: ['ignore', 'ignore', 'inherit'] }),
};
const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let r = 0; r < runs; r++) for (const [name, fn] of Object.entries(ways)) times[name].push(timed(fn));
rmSync(dir, { recursive: true, force: true });

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const floor = median(times.floor);
console.log(`${count} migrations, median of ${runs} runs, each on a fresh database`);
for (const name of ['floor', 'loop', 'drift-guard']) {
  console.log(`  ${name.padEnd(12)} ${(median(times[name]) / 1000).toFixed(3)} s   ${(median(times[name]) / floor).toFixed(2)}x floor`);
}
