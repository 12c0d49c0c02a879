// Introspection against a real server: what the catalog queries send and how the model builder
// puts it together, beyond what the convergence fixtures can see (they compare two reads made
// the same way, so a detail lost on both sides would pass there).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspectUrl } from '../../src/introspect/introspect.js';
import { withClient } from '../../src/postgres/client.js';
import type { ColumnDef, TableDef } from '../../src/schema/model.js';
import { modelToJson } from '../../src/schema/snapshot.js';
import { startSharedServer, type PostgresServerHandle } from '../helpers.js';

let server: PostgresServerHandle;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ server, stop } = await startSharedServer());
}, 180_000);
afterAll(async () => stop());

const WITH_PRIVILEGES = { ignore: [], ignoreHistoryTables: true, privileges: true };

describe('introspect', () => {
  it('puts column comments on their columns (after identity, before column grants), whatever the catalog statistics', async () => {
    await server.withDatabase(async (db) => {
      await withClient(db.adminUrl, async (client) => {
        await client.query(`
          CREATE ROLE dg_introspect_reader;
          CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, "Note" text, total numeric, plain int);
          COMMENT ON COLUMN orders.id IS 'the key';
          COMMENT ON COLUMN orders."Note" IS 'free text';
          COMMENT ON COLUMN orders.total IS 'with tax';
          GRANT UPDATE (total) ON orders TO dg_introspect_reader;
          ALTER TABLE orders DROP COLUMN plain;
          CREATE VIEW order_notes AS SELECT id, "Note" FROM orders;
          COMMENT ON COLUMN order_notes."Note" IS 'a view column: not modelled';
          CREATE TABLE events (at date NOT NULL, what text) PARTITION BY RANGE (at);
          CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
          COMMENT ON COLUMN events.what IS 'on the parent';
          COMMENT ON COLUMN events_2026.what IS 'on the partition: not modelled';
          -- Statistics as autovacuum leaves them after a large migration: pg_attribute analyzed, the few comments not.
          ANALYZE pg_catalog.pg_attribute;
        `);
      });
      const model = await introspectUrl(db.adminUrl, WITH_PRIVILEGES);
      const columns = (id: string): readonly ColumnDef[] => (model.objects.get(id) as TableDef).columns;
      expect(columns('table:public.orders').map((c) => [c.name, c.comment])).toEqual([
        ['id', 'the key'],
        ['Note', 'free text'],
        ['total', 'with tax'],
      ]);
      expect(Object.keys(columns('table:public.orders')[0]!)).toEqual(['id', 'qname', 'name', 'position', 'type', 'notNull', 'identity', 'comment']);
      expect(Object.keys(columns('table:public.orders')[2]!)).toEqual(['id', 'qname', 'name', 'position', 'type', 'notNull', 'comment', 'privileges']);
      expect(columns('table:public.events').map((c) => [c.name, c.comment])).toEqual([
        ['at', undefined],
        ['what', 'on the parent'],
      ]);
      expect(JSON.stringify(modelToJson(model))).not.toContain('not modelled');
    });
  });
});
