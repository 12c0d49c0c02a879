// The PR gate's read of the head schema after a migration: in full, and incrementally
// (src/introspect/incremental.ts), on a generated 1,000-table schema, embedded PostgreSQL 16.
// Each run adds a column and an index to one table; the three reads are interleaved and must
// give the same model. Prints medians of N runs and ratios to the full read.
//   npm run bench:head-read [-- tables runs]      e.g. -- 1000 7
// BENCH_NODE_FLAGS="--cpu-prof ..." is passed to the node that reads (for profiling).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { generatedHistory } from './history-shapes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tables = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 7);
const work = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-head-'));
try {
  const script = path.join(work, 'head-read.mjs');
  await build({
    entryPoints: [path.join(root, 'bench', 'head-read.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: script,
    logLevel: 'warning',
    external: ['libpg-query'],
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  const schema = path.join(work, 'schema.sql');
  writeFileSync(schema, generatedHistory(tables).flat().join('\n'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DRIFT_GUARD_') && !key.startsWith('PG') && key !== 'DATABASE_URL'));
  console.log(`the head schema's read after a one-table migration, ${tables} tables, embedded PostgreSQL 16, median of ${runs}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
  const inner = `psql -X -q -v ON_ERROR_STOP=1 -f "${schema}" "$DATABASE_URL" && node ${process.env.BENCH_NODE_FLAGS ?? ""} "${script}" ${runs}`;
  const result = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), '--quiet', 'scratch', '--', 'sh', '-c', inner], { stdio: 'inherit', env: { ...env, DRIFT_GUARD_CACHE_DIR: path.join(work, 'cache') } });
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
