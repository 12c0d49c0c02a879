// Data-fill benchmark: a 200-table schema (varied column types, enums, domains, CHECKs, foreign
// keys including NOT NULL ones, self-references and a few partitioned tables) built from 200
// migration files, each applied in its own transaction (time), then filled by the data-aware
// gate's row generator at 1,000 rows per table (time). Prints both, the ratio and the rows made.
// Target: filling takes no longer than applying. Median of N runs, each on a fresh schema. Also
// what the gate fills for a PR that touches one table deep in the foreign-key graph (the last
// table, with the tables it references, transitively): the data-aware gate fills no more.
//   npm run bench:data [-- tables rows runs]

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import pg from 'pg';
import { migrations } from './data-schema.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const tables = Number(process.argv[2] ?? 200);
const rows = Number(process.argv[3] ?? 1000);
const runs = Number(process.argv[4] ?? 3);

if (process.env.DATABASE_URL === undefined) {
  // Re-run inside a throwaway server: `drift-guard scratch` sets DATABASE_URL.
  const result = spawnSync(process.execPath, [cli, '--quiet', 'scratch', '--', process.execPath, fileURLToPath(import.meta.url), String(tables), String(rows), String(runs)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

// The generator straight from src/ (dist/ bundles only the CLI and the Action), bundled under
// node_modules so that its imports of pg resolve.
const work = path.join(root, 'node_modules', '.cache', `dg-bench-data-${process.pid}`);
mkdirSync(work, { recursive: true });
const bundle = path.join(work, 'fill.mjs');
await build({ entryPoints: [path.join(root, 'src/data/fill.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning', packages: 'external', absWorkingDir: root });
const { fillDatabase } = await import(pathToFileURL(bundle).href);


// DATABASE_URL names a scratch database owned by an unprivileged role (no CREATEDB), so each run
// builds the schema in a fresh schema of that database and drops it afterwards.
const url = process.env.DATABASE_URL;
async function withConnection(fn) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// The server's CPU time (its processes, live and ended), read from /proc when the server runs on
// this machine: on a shared, loaded machine wall times swing with the load, CPU times much less.
const monitor = new pg.Client({ connectionString: url });
await monitor.connect();
const postmaster = await (async () => {
  try {
    const backend = (await monitor.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    return Number(readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return undefined;
  }
})();
function serverCpuMs() {
  if (postmaster === undefined) return NaN;
  const ticks = (pid, withChildren) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(fields[11]) + Number(fields[12]) + (withChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    } catch {
      return 0;
    }
  };
  let total = ticks(postmaster, true);
  for (const child of readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += ticks(child, false);
  return (total * 1000) / 100;
}

const files = migrations(tables);
const samples = [];
let sequence = 0;
/** A fresh schema with the migrations applied; returns its name and the apply time. */
async function applied() {
  const name = `bench_data_${process.pid}_${sequence++}`;
  await withConnection((c) => c.query(`CREATE SCHEMA ${name}`));
  const started = performance.now();
  const cpu = serverCpuMs();
  await withConnection(async (c) => {
    await c.query(`SET search_path = ${name}`);
    for (const file of files) {
      await c.query('BEGIN');
      await c.query(file);
      await c.query('COMMIT');
    }
  });
  return { name, ms: performance.now() - started, cpu: serverCpuMs() - cpu };
}
for (let run = 0; run < runs; run++) {
  // The same schema filled on parallel connections (the default) and on one, and only the tables
  // a PR touching the last table needs.
  for (const connections of [undefined, 1, 'touched']) {
    const db = await applied();
    const cpu = serverCpuMs();
    const scope = connections === 'touched' ? { only: [`${db.name}.t${tables - 1}`] } : connections === undefined ? {} : { connections };
    const report = await fillDatabase(url, { rowsPerTable: rows, seed: 1, budgetMs: 600_000, skip: [], ...scope });
    if (process.env.DG_BENCH_VERBOSE === '1') {
      for (const t of [...report.tables].sort((a, b) => b.ms - a.ms).slice(0, 5)) console.log(`  slowest: ${t.table} ${t.ms.toFixed(0)} ms, ${t.rows} rows`);
    }
    const fillCpu = serverCpuMs() - cpu;
    samples.push({ connections: connections ?? 'default', apply: db.ms, applyCpu: db.cpu, fill: report.ms, fillCpu, rows: report.totalRows, tables: report.tables.length, notices: report.notices });
    await withConnection((c) => c.query(`DROP SCHEMA ${db.name} CASCADE`));
  }
}
rmSync(work, { recursive: true, force: true });
await monitor.end();

const median = (list, key) => [...list].map((s) => s[key]).sort((a, b) => a - b)[Math.floor(list.length / 2)];
const apply = median(samples, 'apply');
const parallel = samples.filter((s) => s.connections === 'default');
const serial = samples.filter((s) => s.connections === 1);
const fill = median(parallel, 'fill');
const fillSerial = median(serial, 'fill');
const touched = samples.filter((s) => s.connections === 'touched');
console.log(`${files.length} migrations, ${samples[0].tables} tables; medians of ${runs} runs, each on a fresh schema; ${os.availableParallelism()} CPUs, load average ${os.loadavg()[0].toFixed(1)}`);
console.log(`  ${'apply the migrations (one transaction each)'.padEnd(48)} ${(apply / 1000).toFixed(2)} s`);
console.log(`  ${`fill at ${rows} rows per table`.padEnd(48)} ${(fill / 1000).toFixed(2)} s   ${samples[0].rows} rows, ${samples[0].notices.length} notices`);
console.log(`  ${'the same on one connection'.padEnd(48)} ${(fillSerial / 1000).toFixed(2)} s`);
console.log(`  ${'fill / apply'.padEnd(48)} ${(fill / apply).toFixed(2)}   target <= 1`);
console.log(`  ${`fill for a PR touching t${tables - 1} (${touched[0].tables} tables)`.padEnd(48)} ${(median(touched, 'fill') / 1000).toFixed(2)} s   ${touched[0].rows} rows; / apply ${(median(touched, 'fill') / apply).toFixed(2)}`);
if (postmaster !== undefined) {
  const applyCpu = median(samples, 'applyCpu');
  const fillCpu = median(serial, 'fillCpu');
  console.log(`  ${'server CPU: apply / fill (one connection)'.padEnd(48)} ${(applyCpu / 1000).toFixed(2)} s / ${(fillCpu / 1000).toFixed(2)} s`);
}
for (const notice of samples[0].notices.slice(0, 5)) console.log(`  notice: ${notice.table}: ${notice.reason}`);
