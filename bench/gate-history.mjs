// The PR gate on a long history: a generated git repository whose base (main) holds N-1 migrations
// and whose PR branch adds one. In one run, on the embedded server (the default), interleaved:
//   floor  one psql session applying all N files, each wrapped in BEGIN/COMMIT, on a server
//          started like the gate's (`drift-guard scratch`); server start not counted
//   cold   `drift-guard check --base main`, the base-schema cache empty (initdb's data directory
//          and the CLI's code cache already warm: they are once per machine)
//   warm   the same again: the base comes from the cache the cold run left
// Prints medians, ratios to the floor (targets: cold <= 1.2x, warm <= 0.25x), where the gate's
// time goes (its timings), and the peak resident memory of the drift-guard process (/usr/bin/time).
//   npm run bench:gate-history [-- migrations runs layout pg-major]     e.g. -- 1000 3 plain 16
// BENCH_DATA=off turns the data-aware gate off (check.data.enabled: false): filling 1,000 tables
// with generated rows costs the same on every run whatever the history, and is not in the floor.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedHistory, writeFloor, writeLayout } from './history-shapes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const count = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 3);
const layout = process.argv[4] ?? 'plain';
const major = Number(process.argv[5] ?? 16);
const data = process.env.BENCH_DATA !== 'off';

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };
/** drift-guard's environment: the embedded server, nothing inherited that would pick another. */
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('DRIFT_GUARD_') && !key.startsWith('PG') && key !== 'DATABASE_URL'));

/** The repository: main with count-1 migrations, branch "pr" adding the last one. */
function makeRepository(work) {
  const repo = path.join(work, 'repo');
  const history = generatedHistory(count);
  mkdirSync(repo, { recursive: true });
  writeFileSync(path.join(repo, '.drift-guard.yml'), `postgres:\n  provider: embedded\n  version: ${major}\nsql:\n  dir: db/migrations\n  layout: ${layout}\n${data ? '' : 'check:\n  data:\n    enabled: false\n'}`);
  const git = (...args) => execFileSync('git', args, { cwd: repo, stdio: 'ignore', env: gitEnv });
  const migrations = path.join(repo, 'db', 'migrations');
  writeLayout(layout, history.slice(0, count - 1), migrations);
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', `base: ${count - 1} migrations`);
  git('checkout', '-q', '-b', 'pr');
  rmSync(migrations, { recursive: true, force: true });
  writeLayout(layout, history, migrations);
  git('add', '.');
  git('commit', '-qm', 'pr: one more migration');
  return { repo, floorScript: writeFloor(history, path.join(work, 'floor')) };
}

if (process.env.BENCH_WORK === undefined) {
  const work = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-gate-'));
  try {
    const { repo } = makeRepository(work);
    // The floor's server: started by drift-guard like the gate's (same binaries, settings, storage).
    const result = spawnSync(process.execPath, [cli, '--quiet', 'scratch', '--', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      cwd: repo,
      env: { ...baseEnv, BENCH_WORK: work, DRIFT_GUARD_CACHE_DIR: path.join(work, 'cache') },
    });
    process.exitCode = result.status ?? 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
} else {
  const work = process.env.BENCH_WORK;
  const repo = path.join(work, 'repo');
  const floorScript = path.join(work, 'floor', 'floor.psql');
  const admin = process.env.DATABASE_URL;
  const cacheDir = path.join(work, 'cache');
  const psql = (args, url) => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args, url], { stdio: ['ignore', 'ignore', 'inherit'] });
  // The scratch database drift-guard made (its owner may not create databases): a new schema for
  // each run, first on the search path (dropping 1,000 tables at once would run out of locks).
  let runNo = 0;
  const floor = () => {
    const schema = `floor_${runNo++}`;
    psql(['-c', `CREATE SCHEMA ${schema}`], admin);
    const started = performance.now();
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', floorScript, admin], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PGOPTIONS: `-c search_path=${schema}` } });
    return { ms: performance.now() - started };
  };
  const timeBinary = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const check = () => {
    const env = { ...baseEnv, DRIFT_GUARD_CACHE_DIR: cacheDir };
    const args = [cli, '--quiet', 'check', '--base', 'main', '--format', 'json'];
    const started = performance.now();
    const result =
      timeBinary === undefined
        ? spawnSync(process.execPath, args, { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
        : spawnSync(timeBinary, ['-f', 'peak-rss-kb %M', process.execPath, ...args], { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const ms = performance.now() - started;
    if (result.status !== 0 && result.status !== 1) throw new Error(`check exited ${result.status}: ${result.stderr}`);
    const rss = /peak-rss-kb (\d+)/.exec(result.stderr)?.[1];
    const report = JSON.parse(result.stdout);
    return { ms, rssKb: rss === undefined ? undefined : Number(rss), timings: report.timings, verdict: report.verdict };
  };
  const emptyBaseCache = () => rmSync(path.join(cacheDir, 'bases'), { recursive: true, force: true });

  // Once per machine, not counted: initdb's cached data directory and the CLI's code cache.
  check();
  const samples = { floor: [], cold: [], warm: [] };
  for (let r = 0; r < runs; r++) {
    samples.floor.push(floor());
    emptyBaseCache();
    samples.cold.push(check());
    samples.warm.push(check());
  }
  const cachedPhase = samples.warm.every((s) => s.timings.some((t) => t.phase.startsWith('base: cached')));
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const floorMs = median(samples.floor.map((s) => s.ms));
  console.log(`drift-guard check on a ${count}-migration ${layout} history (base ${count - 1}, PR +1), embedded PostgreSQL ${major}, data-aware gate ${data ? 'on' : 'off'}, median of ${runs} runs, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
  const targets = { floor: '', cold: 'target <= 1.20x', warm: 'target <= 0.25x' };
  for (const name of ['floor', 'cold', 'warm']) {
    const ms = median(samples[name].map((s) => s.ms));
    const all = samples[name].map((s) => (s.ms / 1000).toFixed(2)).join(' ');
    const rss = samples[name][0].rssKb === undefined ? '' : `   peak RSS ${(Math.max(...samples[name].map((s) => s.rssKb)) / 1024).toFixed(0)} MiB`;
    console.log(`  ${name.padEnd(6)} ${(ms / 1000).toFixed(3)} s   ${(ms / floorMs).toFixed(2)}x floor${rss}   ${targets[name]}   (runs: ${all})`);
    if (samples[name][0].timings !== undefined) {
      // Phase names carry keys and reasons: group them by their first words.
      const label = (phase) => phase.replace(/ \(key [0-9a-f]+\)/, '').replace(/ \(.*$/, '');
      for (const phase of [...new Set(samples[name].flatMap((s) => s.timings.map((t) => label(t.phase))))]) {
        const values = samples[name].map((s) => s.timings.filter((t) => label(t.phase) === phase).reduce((sum, t) => sum + t.ms, 0));
        console.log(`           ${phase.padEnd(48)} ${(median(values) / 1000).toFixed(3)} s`);
      }
    }
  }
  if (!cachedPhase) console.log('  warning: a warm run did not report "base: cached": the cache did not serve');
}
