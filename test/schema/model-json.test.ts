import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspectUrl } from '../../src/introspect/introspect.js';
import { diffSchemas } from '../../src/schema/diff.js';
import { modelFromText, modelToText } from '../../src/schema/model-json.js';
import { renderSnapshot } from '../../src/schema/snapshot.js';
import { loadSqlFile } from '../../src/schema/sources.js';
import { repoRoot, startSharedServer, type PostgresServerHandle } from '../helpers.js';

// The base-schema cache keeps the base's model as text: what comes back must be the model that
// was read, for every kind of object the rich fixture has, or nothing at all.

const rich = path.join(repoRoot, 'test', 'fixtures', 'schemas', 'rich.sql');
let server: PostgresServerHandle;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ server, stop } = await startSharedServer());
});
afterAll(async () => {
  await stop();
});

describe('schema model as text', () => {
  it('comes back as the model that was read (maps in order, privileges included)', async () => {
    await server.withDatabase(async (db) => {
      await loadSqlFile(rich, db.url, repoRoot);
      for (const options of [{ ignore: [], ignoreHistoryTables: true }, { ignore: ['audit.*'], ignoreHistoryTables: false, privileges: true }]) {
        const model = await introspectUrl(db.url, options);
        const back = modelFromText(modelToText(model, options), options);
        expect(back).toBeDefined();
        // Catalog identities (oids) belong to the database read, not to the text.
        const { identities, ...portable } = model;
        expect(identities?.size).toBeGreaterThan(0);
        expect(back!.identities).toBeUndefined();
        expect(back).toEqual(portable);
        expect([...back!.objects.keys()]).toEqual([...model.objects.keys()]);
        expect([...back!.dependencies.keys()]).toEqual([...model.dependencies.keys()]);
        expect(renderSnapshot(back!)).toBe(renderSnapshot(model));
        expect(diffSchemas(back!, model).changes).toEqual([]);
      }
    });
  });

  it('is undefined for other model options, other formats and text that is not a model', async () => {
    const options = { ignore: [], ignoreHistoryTables: true };
    const model = { objects: new Map(), dependencies: new Map(), unsupported: [], serverVersionNum: 160000 };
    const text = modelToText(model, options);
    expect(modelFromText(text, options)).toEqual(model);
    expect(modelFromText(text, { ...options, ignore: ['x.*'] })).toBeUndefined();
    expect(modelFromText(text, { ...options, privileges: true })).toBeUndefined();
    expect(modelFromText(text, { ...options, ignoreHistoryTables: false })).toBeUndefined();
    expect(modelFromText(text.replace('schema model 1', 'schema model 0'), options)).toBeUndefined();
    expect(modelFromText(text.slice(0, -5), options)).toBeUndefined();
    expect(modelFromText('null', options)).toBeUndefined();
    expect(modelFromText(JSON.stringify({ ...JSON.parse(text), objects: [['table:public.t', null]] }), options)).toBeUndefined();
  });
});
