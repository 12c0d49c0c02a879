import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readChangedUrl } from '../../src/introspect/incremental.js';
import { introspectUrl, readCatalogUrl } from '../../src/introspect/introspect.js';
import { modelToText } from '../../src/schema/model-json.js';
import { withClient } from '../../src/postgres/client.js';
import { diffSchemas } from '../../src/schema/diff.js';
import { renderSnapshot } from '../../src/schema/snapshot.js';
import { repoRoot, startSharedServer, TEST_PG_MAJOR, type PostgresServerHandle } from '../helpers.js';

// Convergence: for every fixture pair, load OLD and NEW into scratch databases, diff them, run
// the diff's SQL on OLD, and require OLD's snapshot to equal NEW's. Then NEW diffed against
// itself must be empty, and OLD read incrementally after the diff's SQL must be OLD read in full
// (src/introspect/incremental.ts). Fixture format: see test/fixtures/convergence/README.md.

interface Case {
  readonly file: string;
  readonly name: string;
  readonly old: string;
  readonly new: string;
  /** Hazard codes the diff must report (-- expect: CODE, CODE). */
  readonly expect: readonly string[];
}

const dir = path.join(repoRoot, 'test', 'fixtures', 'convergence');
const cases: Case[] = readdirSync(dir)
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .flatMap((file) => parseCases(file, readFileSync(path.join(dir, file), 'utf8')));

function parseCases(file: string, text: string): Case[] {
  const out: Case[] = [];
  for (const block of text.split(/^-- case: /m).slice(1)) {
    const [header, ...rest] = block.split('\n');
    const body = rest.join('\n');
    const oldPart = /^-- old\n([\s\S]*?)^-- new\n/m.exec(body);
    const newPart = /^-- new\n([\s\S]*)$/m.exec(body);
    const expectLine = /^-- expect: (.+)$/m.exec(body);
    if (oldPart === null || newPart === null) throw new Error(`${file}: case "${header}" needs -- old and -- new sections`);
    out.push({ file, name: header!.trim(), old: oldPart[1]!, new: newPart[1]!, expect: expectLine === null ? [] : expectLine[1]!.split(/,\s*/) });
  }
  return out;
}

const WITH_PRIVILEGES = { ignore: [], ignoreHistoryTables: true, privileges: true };

// The fixtures must converge on every supported server (TEST_PG_MAJOR).
const major = TEST_PG_MAJOR;

let server: PostgresServerHandle;
let stop: () => Promise<void>;
beforeAll(async () => {
  // The fixtures create roles: this harness loads them as the superuser (db.adminUrl), not as the scratch owner.
  ({ server, stop } = await startSharedServer({ version: major }));
}, 180_000);
afterAll(async () => stop());

async function load(url: string, sql: string): Promise<void> {
  await withClient(url, (client) => client.query(sql));
}

it(`runs on PostgreSQL ${major}`, async () => {
  await server.withDatabase((db) =>
    withClient(db.url, async (client) => {
      const { rows } = await client.query<{ v: string }>("SELECT pg_catalog.current_setting('server_version_num') AS v");
      expect(Math.floor(Number(rows[0]!.v) / 10000)).toBe(major);
    }),
  );
});

it('has at least 120 fixture pairs', () => {
  expect(cases.length).toBeGreaterThanOrEqual(120);
});

describe.each([...new Set(cases.map((c) => c.file))])('%s', (file) => {
  it.each(cases.filter((c) => c.file === file).map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    await server.withDatabase((oldDb) =>
      server.withDatabase(async (newDb) => {
        await load(oldDb.adminUrl, testCase.old);
        await load(newDb.adminUrl, testCase.new);
        const [read, to] = await Promise.all([readCatalogUrl(oldDb.adminUrl, WITH_PRIVILEGES), introspectUrl(newDb.adminUrl, WITH_PRIVILEGES)]);
        const from = read.model;
        const diff = diffSchemas(from, to);
        expect(diff.unsupported).toEqual([]);
        // Statement by statement, as psql without -1 would: a new enum value must be committed before use.
        await withClient(oldDb.adminUrl, async (client) => {
          await client.query('SET check_function_bodies = false');
          for (const statement of diff.statements.filter((s) => !s.startsWith('--'))) {
            try {
              await client.query(statement);
            } catch (error) {
              throw new Error(`${(error as Error).message}\nwhile running: ${statement}\nfull diff:\n${diff.statements.join('\n')}`);
            }
          }
        });
        const after = await introspectUrl(oldDb.adminUrl, WITH_PRIVILEGES);
        const converged = renderSnapshot(after, { columnOrder: 'name' });
        expect(converged, `diff SQL:\n${diff.statements.join('\n')}`).toBe(renderSnapshot(to, { columnOrder: 'name' }));
        // The diff's SQL is a migration: read incrementally after it, the schema is the full read's.
        const changed = await readChangedUrl(oldDb.adminUrl, read.snapshot, WITH_PRIVILEGES, { verify: false });
        expect(modelToText(changed.model, WITH_PRIVILEGES), `incremental read (${changed.full ?? `${changed.reread} keys read again`}) after:\n${diff.statements.join('\n')}`).toBe(modelToText(after, WITH_PRIVILEGES));
        const hazards = new Set(diff.changes.flatMap((c) => c.hazards.map((h) => h.code)));
        for (const code of testCase.expect) expect([...hazards], `expected hazard ${code}`).toContain(code);
        expect(diffSchemas(to, to).statements).toEqual([]);
      }),
    );
  });
});
