// What the data-aware gate adds to a gate, measured on the gate itself: a generated git repository
// whose base (main) holds the data benchmark's schema (bench/data-schema.mjs: 200 tables in 201
// migration files) and whose PR branch adds one migration. `drift-guard check --base main` runs
// with the data-aware gate off and on (rows per table as given), interleaved, on the embedded
// server with the base-schema cache off (so every run applies the base and, with data, fills it).
// Prints medians: the gate's time off and on, their difference (what the rows cost the gate), the
// base's apply time from the gate's own timings, and the ratio difference / apply (target: <= 1).
//   npm run bench:data-gate [-- tables rows runs]        e.g. -- 200 1000 3

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrations } from './data-schema.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const tables = Number(process.argv[2] ?? 200);
const rows = Number(process.argv[3] ?? 1000);
const runs = Number(process.argv[4] ?? 3);

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DRIFT_GUARD_') && !key.startsWith('PG') && key !== 'DATABASE_URL'));

const work = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-data-gate-'));
const repo = path.join(work, 'repo');
const dir = path.join(repo, 'db', 'migrations');
mkdirSync(dir, { recursive: true });
const git = (...args) => execFileSync('git', args, { cwd: repo, stdio: 'ignore', env: gitEnv });
const files = migrations(tables);
files.forEach((sql, i) => writeFileSync(path.join(dir, `20240101${String(i + 1).padStart(6, "0")}_m.sql`), `${sql}\n`));
const config = (data) => `postgres:\n  provider: embedded\nsql:\n  dir: db/migrations\n  layout: plain\ncheck:\n  rollback: never\n  cache: false\n  data:\n    enabled: ${data}\n    rows: ${rows}\n    budget: 600\n`;
writeFileSync(path.join(repo, '.drift-guard.yml'), config(true));
git('init', '-q', '-b', 'main');
git('add', '.');
git('commit', '-qm', 'base');
git('checkout', '-q', '-b', 'pr');
writeFileSync(path.join(dir, `20240101${String(files.length + 1).padStart(6, "0")}_pr.sql`), 'ALTER TABLE t1 ADD COLUMN flag boolean NOT NULL DEFAULT false;\nCREATE INDEX t1_flag ON t1 (flag);\n');
git('add', '.');
git('commit', '-qm', 'pr');

function gate(data) {
  writeFileSync(path.join(repo, '.drift-guard.yml'), config(data));
  const started = performance.now();
  const result = spawnSync(process.execPath, [cli, 'check', '--base', 'main', '--json'], { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - started;
  if (result.status !== 0 && result.status !== 1) throw new Error(`check exited ${result.status}: ${result.stderr.slice(-2000)}`);
  const report = JSON.parse(result.stdout);
  if (process.env.DG_BENCH_VERBOSE === "1") console.log(JSON.stringify({ timings: report.timings, findings: report.findings.map((f) => `${f.code} ${f.message}`.slice(0, 200)) }, null, 1));
  const phase = (re) => report.timings.filter((t) => re.test(t.phase)).reduce((sum, t) => sum + t.ms, 0);
  return { ms, apply: phase(/^base: applied/), fill: phase(/^generate rows/), onRows: phase(/generated rows$/), rows: report.data?.rows ?? 0, verdict: report.verdict };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const off = [];
const on = [];
try {
  gate(false); // warms initdb's cache and the CLI's code cache
  for (let run = 0; run < runs; run++) {
    off.push(gate(false));
    on.push(gate(true));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const offMs = median(off.map((r) => r.ms));
const onMs = median(on.map((r) => r.ms));
const applyMs = median([...off, ...on].map((r) => r.apply));
console.log(`data-aware gate on ${tables} tables x ${rows} rows (${on[0].rows} rows generated), PR adds 1 migration; medians of ${runs}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`  gate, data off        ${s(offMs)}   (runs: ${off.map((r) => s(r.ms)).join(', ')})`);
console.log(`  gate, data on         ${s(onMs)}   (runs: ${on.map((r) => s(r.ms)).join(', ')})`);
console.log(`  filling (its phase)   ${s(median(on.map((r) => r.fill)))}, the PR's migration on the rows ${s(median(on.map((r) => r.onRows)))}`);
console.log(`  the base's apply      ${s(applyMs)}   (${files.length} migrations, from the gate's timings)`);
console.log(`  data adds             ${s(onMs - offMs)} = ${((onMs - offMs) / applyMs).toFixed(2)}x the base's apply (target <= 1.00x)`);
