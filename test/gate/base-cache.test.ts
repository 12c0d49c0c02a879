import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { runCheck, type CheckResult } from '../../src/gate/check.js';
import { BASE_CACHE_FORMAT, baseCacheDir } from '../../src/postgres/base-cache.js';
import { RecordingReporter } from '../../src/util/reporter.js';
import { cleanEnv, makeTempDir, pgOptions, prRepository, removeDir, writeTree, type PrRepository } from '../helpers.js';

// The base-schema cache end to end, on the embedded server with a private cache directory: a
// second gate on the same base starts from the cached cluster and reports exactly what the first
// one did; a changed base file, an entry from another server version and a corrupt entry miss
// (and are rebuilt), never fail the gate.

const tmp = makeTempDir('dg-base-cache-');
afterAll(() => removeDir(tmp));
const env = cleanEnv({ DRIFT_GUARD_CACHE_DIR: path.join(tmp, 'cache') });
const bases = baseCacheDir(env);
let n = 0;

// A base with what a cached cluster must carry: a type, a schema, a function and its trigger, a
// view, rows, a comment and the layout's history table.
const BASE: Record<string, string> = {
  '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\n',
  'db/migrations/20240101000001_types.sql': "CREATE TYPE status AS ENUM ('new', 'paid');\nCREATE SCHEMA billing;\n",
  'db/migrations/20240101000002_tables.sql':
    "CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);\nCREATE TABLE billing.invoices (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id), status status NOT NULL DEFAULT 'new', total numeric(12, 2));\n",
  'db/migrations/20240101000003_logic.sql':
    "CREATE FUNCTION billing.touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.total := coalesce(NEW.total, 0);\n  RETURN NEW;\nEND;\n$$;\nCREATE TRIGGER invoices_touch BEFORE INSERT ON billing.invoices FOR EACH ROW EXECUTE FUNCTION billing.touch();\nCREATE VIEW billing.open_invoices AS SELECT id, customer_id FROM billing.invoices WHERE status = 'new';\nINSERT INTO customers (email) VALUES ('a@example.com'), ('b@example.com');\nCOMMENT ON TABLE customers IS 'who pays';\n",
};
// The PR: a hazard on a base table (so the report has findings and facts), and a new table.
const PR = {
  'db/migrations/20240102000001_pr.sql': 'ALTER TABLE customers ADD COLUMN name text;\nALTER TABLE billing.invoices ALTER COLUMN total TYPE numeric(14, 2);\nCREATE TABLE notes (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id));\n',
  'db/migrations/20240102000001_pr.down.sql': 'DROP TABLE notes;\nALTER TABLE billing.invoices ALTER COLUMN total TYPE numeric(12, 2);\nALTER TABLE customers DROP COLUMN name;\n',
};

function repo(base: Record<string, string> = BASE): PrRepository {
  const dir = path.join(tmp, `r${n++}`);
  writeTree(dir, base);
  const r = prRepository(dir);
  r.commit(PR, 'pr');
  return r;
}

async function check(r: PrRepository): Promise<CheckResult> {
  return runCheck({ loaded: loadConfig({ cwd: r.dir }), cwd: r.dir, env, reporter: new RecordingReporter(), postgres: pgOptions({ env, storage: 'memory' }), base: 'main' });
}

const phases = (result: CheckResult): string[] => result.timings.map((t) => t.phase);
const basePhase = (result: CheckResult): string => phases(result).find((p) => p.startsWith('base: ')) ?? '(none)';
const entries = (): string[] => (existsSync(bases) ? readdirSync(bases).filter((name) => /^[0-9a-f]{64}$/.test(name)) : []);

/** The report without what is measured in time (phases, durations): what must not depend on the cache. */
function withoutTimes(result: CheckResult): unknown {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    // Messages quote durations ("held until the migration commits (17 ms here").
    if (typeof value === 'string') return value.replace(/\d+ ms\b/g, 'N ms');
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'ms' && key !== 'timings').map(([key, v]) => [key, strip(v)]));
  };
  return strip(result);
}

describe('the base-schema cache (embedded server)', () => {
  let cold: CheckResult;
  let first: PrRepository;

  it('a second gate on the same base starts from the cached cluster and reports the same', async () => {
    first = repo();
    cold = await check(first);
    expect(basePhase(cold)).toMatch(/^base: applied 3 migration\(s\) \(the base's migration files; cache miss: no entry for this base yet\)$/);
    expect(phases(cold)).toContainEqual(expect.stringMatching(/^base: kept in the cache \(key [0-9a-f]{12}\)$/));
    // The report has something to compare: findings, per-statement facts, schema changes.
    expect(cold.findings.map((f) => f.code)).toContain('LOCKING_CHANGE');
    expect(cold.facts).toHaveLength(1);
    expect(cold.schemaChanges.length).toBeGreaterThan(3);
    expect(entries()).toHaveLength(1);
    const entry = path.join(bases, entries()[0]!);
    expect(statSync(entry).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(entry, 'password')).mode & 0o777).toBe(0o600);
    for (const archive of ['cluster.tar', 'base-1.tar', 'base-2.tar']) expect(statSync(path.join(entry, archive)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path.join(entry, 'entry.json'), 'utf8'))).toMatchObject({ format: BASE_CACHE_FORMAT, key: entries()[0], version: expect.stringMatching(/^\d+\.\d+/) });

    // Another clone of the same base (other commits, same files): a hit.
    const warm = await check(repo());
    expect(basePhase(warm)).toBe(`base: cached (key ${entries()[0]!.slice(0, 12)})`);
    expect(phases(warm).some((p) => p.startsWith('base: applied') || p.startsWith('base: kept'))).toBe(false);
    // The base's schema model came with it: the base is not inspected again.
    expect(phases(cold)).toContain('inspect the base schema');
    expect(phases(warm)).toContain('base schema: cached with the base');
    expect(phases(warm)).not.toContain('inspect the base schema');
    // The data-aware gate fills the tables the PR touches from the cached base too: the same rows, the same summary.
    expect(cold.data).toMatchObject({ scope: 'touched', tables: 2, rows: 400 });
    expect(withoutTimes(warm)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(warm) as { base: unknown }).base });
    expect(entries()).toHaveLength(1);
  }, 240_000);

  it('the base commit is read once: a later PR on the same base that edits or deletes a base migration is still caught', async () => {
    const kept = path.join(tmp, 'cache', 'gate-migrations');
    // The first test's gates kept what they read of the base (the same files in every clone).
    expect(readdirSync(kept).filter((name) => name.endsWith('.json'))).toHaveLength(1);
    const edited = repo();
    edited.commit({ 'db/migrations/20240101000002_tables.sql': BASE['db/migrations/20240101000002_tables.sql']!.replace('total numeric(12, 2)', 'total numeric(12, 2),\n  note text') }, 'edit');
    const result = await check(edited);
    expect(result.findings.find((f) => f.code === 'MIGRATION_MODIFIED')).toMatchObject({ file: path.join('db', 'migrations', '20240101000002_tables.sql'), line: 2 });
    const deleted = repo();
    deleted.commit({ 'db/migrations/20240101000003_logic.sql': null }, 'delete');
    expect((await check(deleted)).findings.map((f) => f.code)).toContain('MIGRATION_DELETED');
    expect(readdirSync(kept).filter((name) => name.endsWith('.json'))).toHaveLength(1);
    // The base's migrations really come from there: an entry saying otherwise is what the gate compares with.
    const entry = path.join(kept, readdirSync(kept).find((name) => name.endsWith('.json'))!);
    writeFileSync(entry, readFileSync(entry, 'utf8').replace("COMMENT ON TABLE customers IS 'who pays'", "COMMENT ON TABLE customers IS 'who owes'"));
    expect((await check(repo())).findings.find((f) => f.code === 'MIGRATION_MODIFIED')).toMatchObject({ file: path.join('db', 'migrations', '20240101000003_logic.sql') });
    // Text that is not an entry is ignored and written again.
    writeFileSync(entry, '{ cut');
    expect((await check(repo())).findings.map((f) => f.code)).not.toContain('MIGRATION_MODIFIED');
    expect(readFileSync(entry, 'utf8')).toContain('who pays');
  }, 240_000);

  it('a changed base file misses, and gets its own entry', async () => {
    const changed = repo({ ...BASE, 'db/migrations/20240101000002_tables.sql': BASE['db/migrations/20240101000002_tables.sql']!.replace('email text NOT NULL', 'email varchar(200) NOT NULL') });
    const result = await check(changed);
    expect(basePhase(result)).toMatch(/cache miss: no entry for this base yet/);
    // Built from its own files, not the cached ones.
    expect(result.schemaChanges.length).toBeGreaterThan(3);
    expect(entries()).toHaveLength(2);
    // The first base's entry is still there and still serves.
    expect(basePhase(await check(first))).toMatch(/^base: cached/);
  }, 240_000);

  it('an entry built on another server version misses and is rebuilt', async () => {
    const key = entryOf(cold);
    const record = path.join(bases, key, 'entry.json');
    writeFileSync(record, JSON.stringify({ ...JSON.parse(readFileSync(record, 'utf8')), version: '15.99' }));
    const result = await check(first);
    expect(basePhase(result)).toMatch(/cache miss: the entry was built on PostgreSQL 15\.99, this server is \d+\.\d+/);
    expect(phases(result)).toContainEqual(expect.stringMatching(/^base: kept in the cache/));
    expect(withoutTimes(result)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(result) as { base: unknown }).base });
    expect(basePhase(await check(first))).toMatch(/^base: cached/);
  }, 240_000);

  it('a corrupt entry is ignored and rebuilt, never an error', async () => {
    // An unreadable record.
    writeFileSync(path.join(bases, entryOf(cold), 'entry.json'), '{ not json');
    const unreadable = await check(first);
    expect(basePhase(unreadable)).toMatch(/cache miss: the entry could not be read/);
    expect(withoutTimes(unreadable)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(unreadable) as { base: unknown }).base });

    // A schema model that is not the one the record names (a hit would diff against a wrong base).
    const schema = path.join(bases, entryOf(unreadable), 'schema.json');
    writeFileSync(schema, readFileSync(schema, 'utf8').replace('"customers"', '"clients"'));
    const wrongModel = await check(first);
    expect(basePhase(wrongModel)).toMatch(/cache miss: the entry could not be read \(schema\.json does not match its record\)/);
    expect(phases(wrongModel)).toContain('inspect the base schema');
    expect(withoutTimes(wrongModel)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(wrongModel) as { base: unknown }).base });
    expect(phases(await check(first))).toContain('base schema: cached with the base');

    // An archive cut short: the cluster's, or one of the databases' halves (the server may have started on the cluster by then).
    for (const part of ['cluster.tar', 'base-2.tar']) {
      const archive = path.join(bases, entryOf(wrongModel), part);
      truncateSync(archive, Math.floor(statSync(archive).size / 2) + 100);
      const truncated = await check(first);
      expect(basePhase(truncated)).toMatch(/cache miss: the entry could not be copied \(tar -x failed/);
      expect(phases(truncated)).toContainEqual(expect.stringMatching(/^base: kept in the cache/));
      expect(withoutTimes(truncated)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(truncated) as { base: unknown }).base });
    }
    // A part missing.
    rmSync(path.join(bases, entryOf(wrongModel), 'base-1.tar'));
    const partless = await check(first);
    expect(basePhase(partless)).toMatch(/cache miss: the entry could not be read \(base-1\.tar is missing\)/);
    expect(withoutTimes(partless)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(partless) as { base: unknown }).base });
    const archive = path.join(bases, entryOf(partless), 'cluster.tar');

    // A data directory the server cannot start on.
    const unpacked = path.join(tmp, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-x', '-p', '-f', archive, '-C', unpacked]);
    writeFileSync(path.join(unpacked, 'global', 'pg_control'), 'garbage');
    execFileSync('tar', ['-c', '-f', archive, '-C', unpacked, '.']);
    const broken = await check(first);
    expect(basePhase(broken)).toMatch(/cache miss: the cached entry was unusable \(.*\) and was removed/);
    expect(withoutTimes(broken)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(broken) as { base: unknown }).base });
    expect(basePhase(await check(first))).toMatch(/^base: cached/);

    // The databases' files gone (their halves empty), while the cluster still lists them in its catalog.
    const entryNow = path.join(bases, entryOf(broken));
    expect((JSON.parse(readFileSync(path.join(entryNow, 'entry.json'), 'utf8')) as { directories: string[] }).directories.length).toBeGreaterThan(0);
    for (const half of ['base-1.tar', 'base-2.tar']) execFileSync('tar', ['-c', '-f', path.join(entryNow, half), '-T', '/dev/null']);
    const missing = await check(first);
    expect(basePhase(missing)).toMatch(/cache miss: the cached entry was unusable \(.*\) and was removed/);
    expect(withoutTimes(missing)).toEqual({ ...(withoutTimes(cold) as object), base: (withoutTimes(missing) as { base: unknown }).base });
    expect(basePhase(await check(first))).toMatch(/^base: cached/);
  }, 300_000);

  it('a base whose tables reference most of the others is kept with a copy filled in every table, which later gates use as it is', async () => {
    // A chain of 120 foreign keys: a PR touching a table needs 60 tables filled on average.
    const chain = Array.from({ length: 120 }, (_, i) => `CREATE TABLE link${i} (id bigint PRIMARY KEY, label text${i === 0 ? '' : `, prev_id bigint REFERENCES link${i - 1} (id)`});`).join('\n');
    const chained = (): PrRepository => {
      const dir = path.join(tmp, `r${n++}`);
      writeTree(dir, { '.drift-guard.yml': 'sql:\n  dir: db/migrations\n  layout: plain\n', 'db/migrations/20240101000001_chain.sql': `${chain}\n` });
      const r = prRepository(dir);
      r.commit({ 'db/migrations/20240102000001_pr.sql': 'ALTER TABLE link119 ALTER COLUMN label SET NOT NULL;\n' }, 'pr');
      return r;
    };
    const coldChain = await check(chained());
    expect(phases(coldChain)).toContain('generate rows (200 per table) in every table');
    expect(phases(coldChain)).toContainEqual(expect.stringMatching(/^base: kept in the cache/));
    expect(coldChain.data).toMatchObject({ scope: 'all', tables: 120, rows: 24000 });
    expect(coldChain.findings.map((f) => f.code)).toContain('FAILS_ON_DATA');
    const warmChain = await check(chained());
    expect(basePhase(warmChain)).toMatch(/^base: cached/);
    expect(phases(warmChain)).toContain('generate rows: cached with the base (24000 rows in every table)');
    expect(phases(warmChain).some((p) => p.startsWith('generate rows ('))).toBe(false);
    expect(withoutTimes(warmChain)).toEqual({ ...(withoutTimes(coldChain) as object), base: (withoutTimes(warmChain) as { base: unknown }).base });
  }, 240_000);
});

/** The entry a gate kept its base in (the report names the key's first 12 characters). */
function entryOf(result: CheckResult): string {
  const short = /key ([0-9a-f]{12})/.exec(phases(result).find((p) => p.startsWith('base: kept')) ?? '')?.[1];
  const found = entries().filter((name) => short !== undefined && name.startsWith(short));
  expect(found).toHaveLength(1);
  return found[0]!;
}
