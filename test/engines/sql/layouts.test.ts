import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayoutName } from '../../../src/engines/sql/layout.js';
import { migrateDown, migrateUp, migrationStatus, type RunSettings, type SqlMigrations } from '../../../src/engines/sql/migrator.js';
import { LAYOUTS } from '../../../src/engines/sql/project.js';
import { withClient } from '../../../src/postgres/client.js';
import type { ScratchDatabase } from '../../../src/postgres/scratch.js';
import { RecordingReporter } from '../../../src/util/reporter.js';
import { makeTempDir, removeDir, startSharedServer, writeTree, type PostgresServerHandle } from '../../helpers.js';

// Every layout runs the same story on real PostgreSQL: three migrations (one that PostgreSQL
// refuses to run in a transaction, one that opts out with the layout's own marker where it has
// one), then rollbacks, integrity failures and a syntax error. The history table is checked
// against what the real tool writes.

interface Spec {
  readonly n: number;
  readonly name: string;
  readonly up: string;
  readonly down?: string;
  readonly noTransaction?: boolean;
}

const A: Spec = { n: 1, name: 'create_a', up: 'CREATE TABLE a (id int PRIMARY KEY);\n', down: 'DROP TABLE a;\n' };
const B: Spec = {
  n: 2,
  name: 'create_b',
  up: 'CREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY b_id ON b (id);\n',
  down: 'DROP TABLE b;\n',
};
const C: Spec = { n: 3, name: 'create_c', up: 'CREATE TABLE c (id int);\n', down: 'DROP TABLE c;\n', noTransaction: true };
/** C in a transaction. */
const C3: Spec = { n: 3, name: 'create_c', up: 'CREATE TABLE c (id int);\n' };

/** The version text each tool records for migration n. */
const versionOf: Record<LayoutName, (n: number) => string> = {
  flyway: (n) => String(n),
  'golang-migrate': (n) => String(n),
  goose: (n) => String(n),
  dbmate: (n) => String(n),
  diesel: (n) => `2024010100000${n}`,
  plain: (n) => `2024010100000${n}`,
};

function filesFor(layout: LayoutName, specs: readonly Spec[]): Record<string, string> {
  const files: Record<string, string> = {};
  for (const s of specs) {
    switch (layout) {
      case 'flyway':
        files[`V${s.n}__${s.name}.sql`] = s.up;
        if (s.down !== undefined) files[`U${s.n}__${s.name}.sql`] = s.down;
        if (s.noTransaction) files[`V${s.n}__${s.name}.sql.conf`] = 'executeInTransaction=false\n';
        break;
      case 'golang-migrate':
        // golang-migrate sends a file as one query, so CONCURRENTLY must be alone in its file
        // (layout-matrix and the gate's tests cover that); here B builds its index plainly.
        files[`${s.n}_${s.name}.up.sql`] = s.name === B.name ? s.up.replace(' CONCURRENTLY', '') : s.up;
        if (s.down !== undefined) files[`${s.n}_${s.name}.down.sql`] = s.down;
        break;
      case 'goose':
        files[`${s.n}_${s.name}.sql`] =
          `${s.noTransaction ? '-- +goose NO TRANSACTION\n' : ''}-- +goose Up\n${s.up}${s.down === undefined ? '' : `\n-- +goose Down\n${s.down}`}`;
        break;
      case 'dbmate':
        files[`${s.n}_${s.name}.sql`] = `-- migrate:up${s.noTransaction ? ' transaction:false' : ''}\n${s.up}\n-- migrate:down\n${s.down ?? ''}`;
        break;
      case 'diesel': {
        const dir = `2024-01-01-00000${s.n}_${s.name}`;
        files[`${dir}/up.sql`] = s.up;
        if (s.down !== undefined) files[`${dir}/down.sql`] = s.down;
        if (s.noTransaction) files[`${dir}/metadata.toml`] = 'run_in_transaction = false\n';
        break;
      }
      case 'plain':
        files[`2024010100000${s.n}_${s.name}.sql`] = `${s.noTransaction ? '-- drift-guard: no-transaction\n' : ''}${s.up}`;
        if (s.down !== undefined) files[`2024010100000${s.n}_${s.name}.down.sql`] = s.down;
        break;
    }
  }
  return files;
}

/** What each tool's history table holds, read raw. */
async function history(layout: LayoutName, client: pg.Client): Promise<unknown[]> {
  const q = async (sql: string) => (await client.query(sql)).rows;
  switch (layout) {
    case 'flyway':
      return q('SELECT installed_rank, version, description, type, script, checksum, success FROM flyway_schema_history ORDER BY installed_rank');
    case 'golang-migrate':
      return q('SELECT version::text, dirty FROM schema_migrations');
    case 'goose':
      return q('SELECT version_id::text, is_applied FROM goose_db_version ORDER BY id');
    case 'dbmate':
      return q('SELECT version FROM schema_migrations ORDER BY version');
    case 'diesel':
      return q('SELECT version FROM __diesel_schema_migrations ORDER BY version');
    case 'plain':
      return q('SELECT version, name FROM drift_guard_migrations ORDER BY version');
  }
}

const expectedAfterUp: Record<LayoutName, unknown[]> = {
  flyway: [
    { installed_rank: 1, version: '1', description: 'create a', type: 'SQL', script: 'V1__create_a.sql', checksum: expect.any(Number), success: true },
    { installed_rank: 2, version: '2', description: 'create b', type: 'SQL', script: 'V2__create_b.sql', checksum: expect.any(Number), success: true },
    { installed_rank: 3, version: '3', description: 'create c', type: 'SQL', script: 'V3__create_c.sql', checksum: expect.any(Number), success: true },
  ],
  'golang-migrate': [{ version: '3', dirty: false }],
  goose: [
    { version_id: '0', is_applied: true },
    { version_id: '1', is_applied: true },
    { version_id: '2', is_applied: true },
    { version_id: '3', is_applied: true },
  ],
  dbmate: [{ version: '1' }, { version: '2' }, { version: '3' }],
  diesel: [{ version: '20240101000001' }, { version: '20240101000002' }, { version: '20240101000003' }],
  plain: [
    { version: '20240101000001', name: 'create_a' },
    { version: '20240101000002', name: 'create_b' },
    { version: '20240101000003', name: 'create_c' },
  ],
};

const expectedAfterOneRollback: Record<LayoutName, unknown[]> = {
  flyway: [...expectedAfterUp.flyway, { installed_rank: 4, version: '3', description: 'create c', type: 'UNDO_SQL', script: 'U3__create_c.sql', checksum: expect.any(Number), success: true }],
  'golang-migrate': [{ version: '2', dirty: false }],
  goose: expectedAfterUp.goose.slice(0, 3),
  dbmate: expectedAfterUp.dbmate.slice(0, 2),
  diesel: expectedAfterUp.diesel.slice(0, 2),
  plain: expectedAfterUp.plain.slice(0, 2),
};

/** After A only. */
const expectedAfterOne: Record<LayoutName, unknown[]> = {
  flyway: expectedAfterUp.flyway.slice(0, 1),
  'golang-migrate': [{ version: '1', dirty: false }],
  goose: expectedAfterUp.goose.slice(0, 2),
  dbmate: expectedAfterUp.dbmate.slice(0, 1),
  diesel: expectedAfterUp.diesel.slice(0, 1),
  plain: expectedAfterUp.plain.slice(0, 1),
};

/** After A and B only. */
const expectedAfterTwo: Record<LayoutName, unknown[]> = { ...expectedAfterOneRollback, flyway: expectedAfterUp.flyway.slice(0, 2) };

let server: PostgresServerHandle;
let stopServer: () => Promise<void>;
const tmp = makeTempDir('dg-layouts-');
beforeAll(async () => {
  ({ server, stop: stopServer } = await startSharedServer());
});
afterAll(async () => {
  await stopServer();
  removeDir(tmp);
});

async function tables(db: ScratchDatabase): Promise<string[]> {
  return withClient(db.url, async (client) =>
    (await client.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('a','b','c') ORDER BY 1")).rows.map((r) => r.t),
  );
}

function settings(db: ScratchDatabase, extra: Partial<RunSettings> = {}): RunSettings & { reporter: RecordingReporter } {
  return { databaseUrl: db.url, reporter: new RecordingReporter(), lockTimeoutMs: 10_000, allowOutOfOrder: false, ...extra } as RunSettings & { reporter: RecordingReporter };
}

let counter = 0;
function project(layout: LayoutName, specs: readonly Spec[]): SqlMigrations {
  const dir = path.join(tmp, `${layout}-${counter++}`);
  writeTree(dir, filesFor(layout, specs));
  return { dir, root: dir, layout: LAYOUTS[layout] };
}

function file(p: SqlMigrations, layout: LayoutName, spec: Spec, which: 'up' | 'down' = 'up'): string {
  const name = Object.keys(filesFor(layout, [spec])).find((f) => (which === 'up' ? !/(^U|\.down\.sql$|down\.sql$|\.conf$|\.toml$)/.test(path.basename(f)) || (layout === 'diesel' && f.endsWith('up.sql')) : /(^U|down)/.test(path.basename(f))))!;
  return path.join(p.dir, name);
}

const layouts = Object.keys(LAYOUTS) as LayoutName[];

describe.each(layouts)('%s layout', (layout) => {
  it('applies all migrations, running non-transactional ones outside a transaction, and records them as the tool does', async () => {
    await server.withDatabase(async (db) => {
      const p = project(layout, [A, B, C]);
      const s = settings(db);
      const outcome = await migrateUp(p, s);
      expect(outcome.findings).toEqual([]);
      expect(outcome.ok).toBe(true);
      expect(outcome.results.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
      const cicLine = layout === 'goose' || layout === 'dbmate' ? 3 : 2; // the line in the file, after any annotation
      if (layout !== 'golang-migrate') expect(outcome.results[1]!.outsideTransaction).toBe(`CREATE INDEX CONCURRENTLY cannot run in a transaction (line ${cicLine})`);
      if (layout !== 'golang-migrate') expect(outcome.results[2]!.outsideTransaction).toBe('the file opts out of a transaction');
      expect(await tables(db)).toEqual(['a', 'b', 'c']);
      expect(await withClient(db.url, (c) => history(layout, c))).toEqual(expectedAfterUp[layout]);

      const again = await migrateUp(p, s);
      expect(again.results).toEqual([]);
      const status = await migrationStatus(p, { databaseUrl: db.url, allowOutOfOrder: false });
      expect(status.statuses.map((x) => [x.version, x.state])).toEqual([1, 2, 3].map((n) => [versionOf[layout](n), 'applied']));
    });
  });

  it('rolls back one step, then everything', async () => {
    await server.withDatabase(async (db) => {
      const p = project(layout, [A, B, C]);
      expect((await migrateUp(p, settings(db))).ok).toBe(true);
      const one = await migrateDown(p, settings(db), {});
      expect(one.findings).toEqual([]);
      expect(one.results.map((r) => [r.version, r.status])).toEqual([[versionOf[layout](3), 'rolled-back']]);
      expect(await tables(db)).toEqual(['a', 'b']);
      expect(await withClient(db.url, (c) => history(layout, c))).toEqual(expectedAfterOneRollback[layout]);
      const all = await migrateDown(p, settings(db), { target: '0' });
      expect(all.results.map((r) => r.version)).toEqual([versionOf[layout](2), versionOf[layout](1)]);
      expect(await tables(db)).toEqual([]);
      // ...and the tool's history says nothing is applied, so everything applies again.
      const reapplied = await migrateUp(p, settings(db));
      expect(reapplied.results.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
    });
  });

  it('refuses to roll back a migration without a down script, before changing anything', async () => {
    await server.withDatabase(async (db) => {
      const p = project(layout, [A, { ...B, down: undefined }]);
      if (layout === 'dbmate') writeFileSync(file(p, layout, B), `-- migrate:up\n${B.up}\n-- migrate:down\n`);
      expect((await migrateUp(p, settings(db))).ok).toBe(true);
      if (layout === 'dbmate' || layout === 'goose') return; // an empty down section is valid for these tools
      const outcome = await migrateDown(p, settings(db), { steps: 2 });
      expect(outcome.ok).toBe(false);
      expect(outcome.results).toEqual([]);
      expect(outcome.findings).toEqual([expect.objectContaining({ code: 'MIGRATION_DOWN_MISSING', severity: 'error' })]);
      expect(outcome.findings[0]!.message).toMatch(/has no down migration, so it cannot be rolled back; add /);
      expect(await tables(db)).toEqual(['a', 'b']);
    });
  });

  it('reports a syntax error at its line and column and applies nothing of that migration', async () => {
    await server.withDatabase(async (db) => {
      const bad: Spec = { n: 2, name: 'bad', up: 'CREATE TABLE b (id int);\nCREATE TABLE x (id int,);\n', down: 'DROP TABLE b;\n' };
      const p = project(layout, [A, bad]);
      const outcome = await migrateUp(p, settings(db));
      expect(outcome.ok).toBe(false);
      expect(outcome.results.map((r) => r.status)).toEqual(['applied', 'failed']);
      const finding = outcome.findings.find((f) => f.code === 'APPLY_FAILED')!;
      const expectedLine = { flyway: 2, 'golang-migrate': 2, goose: 3, dbmate: 3, diesel: 2, plain: 2 }[layout];
      expect(finding).toMatchObject({ severity: 'error', line: expectedLine, column: 24, message: 'syntax error at or near ")"' });
      expect(finding.file).toBe(path.relative(p.root, file(p, layout, bad)));
      expect(finding.details).toMatchObject({ lineText: 'CREATE TABLE x (id int,);', sqlstate: '42601' });
      expect(await tables(db)).toEqual(['a']);
      // PostgreSQL rejects the whole script before running any of it: the history row sent behind it must not commit on its own.
      expect(await withClient(db.url, (c) => history(layout, c))).toEqual(expectedAfterOne[layout]);
    });
  });

  it('sends migrations one behind the other, and stops at the first failure: nothing of it or behind it stays', async () => {
    await server.withDatabase(async (db) => {
      // No error position (a constraint violation): the failure is located by a replay, which
      // must see the database as the failed migration did, with the ones behind it rolled back.
      const dup: Spec = { n: 3, name: 'dup', up: 'CREATE TABLE c (id int);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (1);\n' };
      const plainB: Spec = { n: 2, name: 'create_b', up: 'CREATE TABLE b (id int);\n' };
      const d: Spec = { n: 4, name: 'create_d', up: 'CREATE TABLE d (id int);\n' };
      const e: Spec = { n: 5, name: 'create_e', up: 'CREATE TABLE e (id int);\n' };
      const p = project(layout, [A, plainB, dup, d, e]);
      const s = settings(db);
      const outcome = await migrateUp(p, s);
      expect(outcome.results.map((r) => r.status)).toEqual(['applied', 'applied', 'failed', 'not-executed', 'not-executed']);
      const finding = outcome.findings.find((f) => f.code === 'APPLY_FAILED')!;
      const annotation = layout === 'goose' || layout === 'dbmate' ? 1 : 0;
      expect(finding).toMatchObject({ line: 3 + annotation, column: 1, message: 'duplicate key value violates unique constraint "a_pkey"' });
      const present = async () =>
        withClient(db.url, async (c) => (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.t).filter((t) => t.length === 1));
      expect(await present()).toEqual(['a', 'b']);
      expect(await withClient(db.url, (c) => history(layout, c))).toEqual(expectedAfterTwo[layout]);
      expect(await withClient(db.url, async (c) => (await c.query('SELECT count(*)::int AS n FROM a')).rows[0])).toEqual({ n: 0 });
      // Fixed, the rest applies in the next run.
      writeTree(p.dir, filesFor(layout, [{ ...dup, up: 'CREATE TABLE c (id int);\n' }]));
      const next = await migrateUp(p, s);
      expect(next.results.map((r) => [r.version, r.status])).toEqual([3, 4, 5].map((n) => [versionOf[layout](n), 'applied']));
      expect(await present()).toEqual(['a', 'b', 'c', 'd', 'e']);
    });
  });

  it('records every migration after one that deallocates the session\'s prepared statements (history writes are prepared)', async () => {
    await server.withDatabase(async (db) => {
      const deallocates: Spec = { n: 2, name: 'create_b', up: 'CREATE TABLE b (id int);\nDEALLOCATE ALL;\n' };
      const p = project(layout, [A, deallocates, C3]);
      const outcome = await migrateUp(p, settings(db));
      expect(outcome.findings).toEqual([]);
      expect(outcome.results.map((r) => r.status)).toEqual(['applied', 'applied', 'applied']);
      expect(await tables(db)).toEqual(['a', 'b', 'c']);
      expect(await withClient(db.url, (c) => history(layout, c))).toEqual(expectedAfterUp[layout]);
    });
  });

  it('reports a missing file for an applied migration', async () => {
    await server.withDatabase(async (db) => {
      const p = project(layout, [A, B]);
      expect((await migrateUp(p, settings(db))).ok).toBe(true);
      rmSync(layout === 'diesel' ? path.dirname(file(p, layout, B)) : file(p, layout, B), { recursive: true });
      for (const extra of Object.keys(filesFor(layout, [B]))) rmSync(path.join(p.dir, extra), { force: true, recursive: true });
      const outcome = await migrateUp(p, settings(db));
      expect(outcome.ok).toBe(false);
      expect(outcome.findings).toEqual([expect.objectContaining({ code: 'MIGRATION_MISSING_ON_DISK', severity: 'error' })]);
      expect(outcome.findings[0]!.message).toContain(`version ${versionOf[layout](2)}`);
    });
  });

  it.skipIf(layout === 'golang-migrate')('refuses a pending migration older than the newest applied one, unless allowed', async () => {
    await server.withDatabase(async (db) => {
      const p = project(layout, [A, C]);
      expect((await migrateUp(p, settings(db))).ok).toBe(true);
      writeTree(p.dir, filesFor(layout, [B]));
      const refused = await migrateUp(p, settings(db));
      expect(refused.ok).toBe(false);
      expect(refused.findings).toEqual([expect.objectContaining({ code: 'MIGRATION_OUT_OF_ORDER', severity: 'error' })]);
      expect(await tables(db)).toEqual(['a', 'c']);
      const allowed = await migrateUp(p, settings(db, { allowOutOfOrder: true }));
      expect(allowed.ok).toBe(true);
      expect(allowed.findings).toEqual([expect.objectContaining({ code: 'MIGRATION_OUT_OF_ORDER', severity: 'notice' })]);
      expect(await tables(db)).toEqual(['a', 'b', 'c']);
    });
  });
});

describe.each(['flyway', 'plain'] as const)('%s checksums', (layout) => {
  it('flags a changed applied migration with both checksums, but not line-ending or BOM changes', async () => {
    await server.withDatabase(async (db) => {
      const p = project(layout, [A, B]);
      expect((await migrateUp(p, settings(db))).ok).toBe(true);
      const target = file(p, layout, A);
      writeFileSync(target, `\ufeff${A.up.replace(/\n/g, '\r\n')}`);
      expect((await migrateUp(p, settings(db))).findings).toEqual([]);
      writeFileSync(target, 'CREATE TABLE a (id bigint PRIMARY KEY);\n');
      const outcome = await migrateUp(p, settings(db));
      expect(outcome.ok).toBe(false);
      const finding = outcome.findings[0]!;
      expect(finding.code).toBe('MIGRATION_CHECKSUM_MISMATCH');
      expect(finding.details).toEqual({ applied: expect.any(String), file: expect.any(String) });
      expect(finding.details!.applied).not.toBe(finding.details!.file);
      expect(finding.message).toContain(String(finding.details!.applied));
    });
  });
});

describe('golang-migrate dirty state', () => {
  it('marks a failed non-transactional migration dirty and refuses to run until it is fixed', async () => {
    await server.withDatabase(async (db) => {
      // The file commits its own first block, so the tool leaves that applied when the rest fails.
      const broken: Spec = { n: 2, name: 'broken', up: 'BEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\nCREATE TABLE c (id int REFERENCES nope (id));\n' };
      const p = project('golang-migrate', [A, broken]);
      const first = await migrateUp(p, settings(db));
      expect(first.ok).toBe(false);
      expect(first.findings.at(-1)!.message).toMatch(/3 of 4 statements stayed applied/);
      expect(await withClient(db.url, (c) => history('golang-migrate', c))).toEqual([{ version: '2', dirty: true }]);
      const second = await migrateUp(p, settings(db));
      expect(second.findings).toEqual([expect.objectContaining({ code: 'MIGRATION_DIRTY' })]);
    });
  });
});

describe('failure location without a server position', () => {
  it('finds the failing statement of a constraint violation by replaying, and leaves nothing applied', async () => {
    await server.withDatabase(async (db) => {
      const dup: Spec = { n: 2, name: 'dup', up: 'INSERT INTO a VALUES (1);\n\nINSERT INTO a VALUES (2);\n  INSERT INTO a VALUES (1);\n' };
      const p = project('plain', [A, dup]);
      const outcome = await migrateUp(p, settings(db));
      const finding = outcome.findings.find((f) => f.code === 'APPLY_FAILED')!;
      expect(finding).toMatchObject({ line: 4, column: 3, message: 'duplicate key value violates unique constraint "a_pkey"' });
      expect(finding.details).toMatchObject({ sqlstate: '23505', detail: 'Key (id)=(1) already exists.' });
      expect(await withClient(db.url, async (c) => (await c.query('SELECT count(*)::int AS n FROM a')).rows[0])).toEqual({ n: 0 });
    });
  });
});

describe('history writes in the migration\'s transaction', () => {
  it('a failed history write leaves nothing of the migration, and the ones sent behind it do not run', async () => {
    await server.withDatabase(async (db) => {
      // The script takes the history row the migration's own record needs.
      const taker: Spec = {
        n: 2,
        name: 'taker',
        up: "CREATE TABLE b (id int);\nINSERT INTO drift_guard_migrations (version, name, checksum, execution_ms) VALUES ('20240101000002', 'x', 'x', 0);\n",
      };
      const p = project('plain', [A, taker, C3]);
      const outcome = await migrateUp(p, settings(db));
      expect(outcome.results.map((r) => r.status)).toEqual(['applied', 'failed', 'not-executed']);
      expect(outcome.findings).toEqual([expect.objectContaining({ code: 'APPLY_FAILED', message: expect.stringMatching(/^recording the migration in the history table failed: duplicate key value/) })]);
      expect(await tables(db)).toEqual(['a']);
      expect(await withClient(db.url, (c) => history('plain', c))).toEqual([{ version: '20240101000001', name: 'create_a' }]);
    });
  });

  it.each([
    ['plain', 'SELECT execution_ms AS ms FROM drift_guard_migrations ORDER BY version'],
    ['flyway', 'SELECT execution_time AS ms FROM flyway_schema_history ORDER BY installed_rank'],
  ] as const)('%s: records how long each migration took, measured in its own transaction', async (layout, query) => {
    await server.withDatabase(async (db) => {
      const slow: Spec = { n: 2, name: 'slow', up: 'SELECT pg_sleep(0.3);\n' };
      expect((await migrateUp(project(layout, [A, slow]), settings(db))).ok).toBe(true);
      const [fast, slowMs] = await withClient(db.url, async (c) => (await c.query<{ ms: number }>(query)).rows.map((r) => r.ms));
      expect(fast).toBeLessThan(300);
      expect(slowMs).toBeGreaterThanOrEqual(300);
    });
  });
});

describe('flyway repeatable migrations', () => {
  it('runs R__ files after versioned ones, again only when they change, appending a row each time', async () => {
    await server.withDatabase(async (db) => {
      const p = project('flyway', [A]);
      writeTree(p.dir, { 'R__a_view.sql': 'CREATE OR REPLACE VIEW va AS SELECT id FROM a;\n' });
      const first = await migrateUp(p, settings(db));
      expect(first.results.map((r) => r.migration)).toEqual(['V1__create_a.sql', 'R__a_view.sql']);
      expect((await migrateUp(p, settings(db))).results).toEqual([]);
      writeTree(p.dir, { 'R__a_view.sql': 'CREATE OR REPLACE VIEW va AS SELECT id, id + 1 AS next FROM a;\n' });
      const changed = await migrateUp(p, settings(db));
      expect(changed.results.map((r) => r.migration)).toEqual(['R__a_view.sql']);
      const rows = await withClient(db.url, async (c) => (await c.query('SELECT installed_rank, version, description, script FROM flyway_schema_history ORDER BY 1')).rows);
      expect(rows).toEqual([
        { installed_rank: 1, version: '1', description: 'create a', script: 'V1__create_a.sql' },
        { installed_rank: 2, version: null, description: 'a view', script: 'R__a_view.sql' },
        { installed_rank: 3, version: null, description: 'a view', script: 'R__a_view.sql' },
      ]);
      const status = await migrationStatus(p, { databaseUrl: db.url, allowOutOfOrder: false });
      expect(status.statuses.map((s) => [s.kind, s.state])).toEqual([
        ['versioned', 'applied'],
        ['repeatable', 'applied'],
      ]);
    });
  });
});
