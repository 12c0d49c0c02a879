// Index definitions of plain-column indexes are assembled from catalog parts instead of calling
// pg_get_indexdef (the most expensive function of a schema read). They must be PostgreSQL's text,
// character for character, on every version installed here; everything the parts cannot express
// must still come from pg_get_indexdef.

import { describe, expect, it } from 'vitest';
import { catalogQueries } from '../../src/introspect/catalog-queries.js';
import { introspect } from '../../src/introspect/introspect.js';
import { findInstallations } from '../../src/postgres/binaries.js';
import { withClient } from '../../src/postgres/client.js';
import { withPostgresServer } from '../../src/postgres/scratch.js';
import { pgOptions } from '../helpers.js';

const SCHEMA = `
CREATE SCHEMA "Sales";
CREATE TABLE "Sales"."Order Lines" ("Id" bigint PRIMARY KEY, "order" int NOT NULL, qty int, note text, code varchar(20),
  tags text[], body jsonb, at timestamptz, span int4range, "select" text COLLATE "C");
CREATE INDEX plain ON "Sales"."Order Lines" (qty);
CREATE INDEX "Mixed Case" ON "Sales"."Order Lines" ("order", qty);
CREATE UNIQUE INDEX uniq_desc ON "Sales"."Order Lines" ("order" DESC, qty);
CREATE INDEX desc_nulls_last ON "Sales"."Order Lines" (at DESC NULLS LAST);
CREATE INDEX asc_nulls_first ON "Sales"."Order Lines" (at NULLS FIRST, qty DESC NULLS FIRST);
CREATE INDEX with_include ON "Sales"."Order Lines" (qty) INCLUDE (note, "Id");
CREATE INDEX partial ON "Sales"."Order Lines" (qty) WHERE qty > 0 AND note IS NOT NULL;
CREATE INDEX reserved ON "Sales"."Order Lines" ("select");
CREATE INDEX hashed ON "Sales"."Order Lines" USING hash (note);
CREATE INDEX gin_tags ON "Sales"."Order Lines" USING gin (tags);
CREATE INDEX gin_body ON "Sales"."Order Lines" USING gin (body jsonb_path_ops);
CREATE INDEX gist_span ON "Sales"."Order Lines" USING gist (span);
CREATE INDEX brin_at ON "Sales"."Order Lines" USING brin (at);
CREATE INDEX spgist_note ON "Sales"."Order Lines" USING spgist (note);
CREATE INDEX on_varchar ON "Sales"."Order Lines" (code);
CREATE INDEX pattern ON "Sales"."Order Lines" (note text_pattern_ops);
CREATE INDEX collated ON "Sales"."Order Lines" (note COLLATE "C");
CREATE INDEX filled ON "Sales"."Order Lines" (qty) WITH (fillfactor = 70);
CREATE INDEX expression ON "Sales"."Order Lines" (lower(note));
CREATE INDEX expression_and_column ON "Sales"."Order Lines" ((qty + 1), note);
CREATE TABLE measurements (id int, taken date NOT NULL, value numeric) PARTITION BY RANGE (taken);
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX measurements_taken ON measurements (taken DESC);
CREATE INDEX measurements_only ON ONLY measurements (value);
CREATE INDEX measurements_2024_value ON measurements_2024 (value);
CREATE TABLE dropped_column (a int, b int, c int);
ALTER TABLE dropped_column DROP COLUMN b;
CREATE INDEX after_dropped ON dropped_column (c, a);
CREATE MATERIALIZED VIEW totals AS SELECT "order", sum(qty) AS qty FROM "Sales"."Order Lines" GROUP BY "order";
CREATE UNIQUE INDEX totals_order ON totals ("order");
`;

/** Index definitions that must be assembled from parts (the rest go through pg_get_indexdef). */
const ASSEMBLED = ['plain', 'Mixed Case', 'uniq_desc', 'desc_nulls_last', 'asc_nulls_first', 'with_include', 'partial', 'reserved', 'hashed', 'brin_at', 'spgist_note', 'measurements_taken', 'measurements_only', 'measurements_2024_value', 'after_dropped'];
// Polymorphic operator classes (array_ops, range_ops) are defaults through their pseudo-type: deparsed.
const DEPARSED = ['gin_tags', 'gist_span', 'gin_body', 'on_varchar', 'pattern', 'collated', 'filled', 'expression', 'expression_and_column', 'totals_order'];

describe('index definitions assembled from catalog parts', () => {
  it("match pg_get_indexdef on every PostgreSQL version installed here", async () => {
    const majors = [...new Set((await findInstallations()).map((i) => i.major))];
    expect(majors.length).toBeGreaterThan(0);
    console.log(`index definitions checked on PostgreSQL ${majors.join(", ")}`);
    for (const major of majors) {
      await withPostgresServer(pgOptions({ version: major }), (server) =>
        server.withDatabase((db) =>
          withClient(db.url, async (client) => {
            const schema = SCHEMA + (major >= 15 ? 'CREATE UNIQUE INDEX nulls_not_distinct ON "Sales"."Order Lines" (code, qty) NULLS NOT DISTINCT;\nCREATE UNIQUE INDEX nnd_int ON "Sales"."Order Lines" (qty) NULLS NOT DISTINCT;\n' : '');
            await client.query(schema);
            const expected = new Map(
              (await client.query<{ name: string; definition: string }>("SELECT c.relname AS name, pg_get_indexdef(c.oid) AS definition FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relnamespace <> 'pg_catalog'::regnamespace AND c.relnamespace <> 'pg_toast'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = c.oid)")).rows.map((r) => [
                r.name,
                r.definition,
              ]),
            );
            // Which way each definition came: parts (definition null) or pg_get_indexdef.
            const versionNum = Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v);
            await client.query("BEGIN; SELECT set_config('search_path', '', true)");
            const rows = (await client.query<{ name: string; definition: string | null }>(catalogQueries(versionNum).indexes)).rows;
            await client.query('COMMIT');
            const assembled = rows.filter((r) => r.definition === null).map((r) => r.name).sort();
            expect(assembled, `PostgreSQL ${major}`).toEqual([...ASSEMBLED, ...(major >= 15 ? ['nnd_int'] : [])].sort());
            expect(rows.filter((r) => r.definition !== null).map((r) => r.name).sort(), `PostgreSQL ${major}`).toEqual([...DEPARSED, ...(major >= 15 ? ['nulls_not_distinct'] : [])].sort());

            const model = await introspect(client);
            const indexes = [...model.objects.values()].filter((o) => o.kind === 'index');
            expect(indexes.length).toBe(expected.size - 1); // the partition's attached index comes with its parent
            for (const index of indexes) expect(index.kind === 'index' && index.definition, `${index.name} on PostgreSQL ${major}`).toBe(expected.get(index.name));
          }),
        ),
      );
    }
  }, 180_000);
});
