// Compiled and run by bench/head-read.mjs (esbuild): reads a database's schema after a one-table
// migration three ways, interleaved, and prints medians and ratios to the full read.

import { withClient } from '../src/postgres/client.js';
import { introspectUrl, readCatalogUrl } from '../src/introspect/introspect.js';
import { openCatalogSession, readChangedUrl } from '../src/introspect/incremental.js';
import { modelToText } from '../src/schema/model-json.js';

const url = process.env.DATABASE_URL!;
const runs = Number(process.argv[2] ?? 7);
const options = { ignore: [], ignoreHistoryTables: true };
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const timed = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
  const started = performance.now();
  const value = await fn();
  return [performance.now() - started, value];
};

const samples = { full: [] as number[], fresh: [] as number[], session: [] as number[] };
let keys = 0;
for (let run = 0; run < runs; run++) {
  const before = await readCatalogUrl(url, options);
  // The gate's order: a session opened and warmed while the migration runs.
  const session = await openCatalogSession(url);
  const warming = session.warm(before.snapshot);
  await withClient(url, (client) => client.query(`ALTER TABLE t${run + 2} ADD COLUMN bench_${run} text; CREATE INDEX t${run + 2}_bench ON t${run + 2} (bench_${run})`));
  await warming;
  const [sessionMs, changed] = await timed(() => session.read(before.snapshot, options));
  await session.close();
  const [freshMs] = await timed(() => readChangedUrl(url, before.snapshot, options));
  const [fullMs, full] = await timed(() => introspectUrl(url, options));
  if (modelToText(full, options) !== modelToText(changed.model, options)) throw new Error('the incremental read differs from the full read');
  keys = changed.reread ?? -1;
  samples.full.push(fullMs);
  samples.fresh.push(freshMs);
  samples.session.push(sessionMs);
}
const full = median(samples.full);
console.log(`  full read                              ${(full / 1000).toFixed(3)} s   1.00x`);
console.log(`  incremental, new connection            ${(median(samples.fresh) / 1000).toFixed(3)} s   ${(median(samples.fresh) / full).toFixed(2)}x`);
console.log(`  incremental, the gate's warmed session  ${(median(samples.session) / 1000).toFixed(3)} s   ${(median(samples.session) / full).toFixed(2)}x   (${keys} keys read again)`);
