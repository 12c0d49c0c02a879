import { describe, expect, it } from 'vitest';
import { boundLiterals, checkExpression, type FillTable } from '../../src/data/fill-catalog.js';
import { fillOrder, matchesSkip, meanAncestry } from '../../src/data/fill-plan.js';
import { substituteValue } from '../../src/data/value-sql.js';

// The row generator's pure parts on hand-written input.

const table = (oid: number, name: string, fks: { parent: number; columns: string[]; notNull?: boolean }[] = []): FillTable => ({
  oid,
  schema: 'public',
  name,
  qname: `public.${name}`,
  display: `public.${name}`,
  columns: [
    { name: 'id', notNull: true, identity: '', generated: '', type: 23, typmod: -1, typeSql: 'integer' },
    ...fks.flatMap((fk) => fk.columns.map((c) => ({ name: c, notNull: fk.notNull === true, identity: '', generated: '', type: 23, typmod: -1, typeSql: 'integer' }))),
  ],
  checks: [],
  foreignKeys: fks.map((fk, i) => ({ name: `${name}_fk${i}`, columns: fk.columns, parent: fk.parent, parentColumns: ['id'], deferrable: false, definition: `FOREIGN KEY (${fk.columns.join(', ')}) REFERENCES t${fk.parent}(id)` })),
  uniqueKeys: [['id']],
});

describe('fillOrder', () => {
  it('puts parents first and defers self-references', () => {
    const order = fillOrder([table(3, 'child', [{ parent: 2, columns: ['p'], notNull: true }]), table(2, 'parent', [{ parent: 2, columns: ['up'] }]), table(1, 'other')]);
    expect(order.map((p) => p.table.name)).toEqual(['parent', 'child', 'other']);
    expect(order[0]!.deferred.map((fk) => fk.name)).toEqual(['parent_fk0']);
    expect(order[1]!.deferred).toEqual([]);
  });

  it('breaks a cycle at the nullable foreign key', () => {
    const a = table(1, 'a', [{ parent: 2, columns: ['b_id'], notNull: true }]);
    const b = table(2, 'b', [{ parent: 1, columns: ['a_id'] }]);
    const order = fillOrder([a, b]);
    expect(order.map((p) => p.table.name)).toEqual(['b', 'a']);
    expect(order[0]!.deferred.map((fk) => fk.columns)).toEqual([['a_id']]);
    expect(order[1]!.deferred).toEqual([]);
  });

  it('ignores foreign keys to tables outside the set (skipped ones)', () => {
    const order = fillOrder([table(1, 'a', [{ parent: 99, columns: ['x'], notNull: true }])]);
    expect(order[0]!.deferred).toEqual([]);
  });
});

describe('meanAncestry', () => {
  it('is half the tables for a chain of foreign keys and about 2 where tables reference one hub', () => {
    const chain = Array.from({ length: 10 }, (_, i) => table(i + 1, `c${i}`, i === 0 ? [] : [{ parent: i, columns: ['prev'] }]));
    // Each table needs itself and every table before it: (1 + 2 + ... + 10) / 10.
    expect(meanAncestry(chain)).toBeCloseTo(5.5);
    const hub = [table(1, 'users'), ...Array.from({ length: 9 }, (_, i) => table(i + 2, `t${i}`, [{ parent: 1, columns: ['user_id'] }]))];
    expect(meanAncestry(hub)).toBeCloseTo((1 + 9 * 2) / 10);
    // A cycle counts each table once; a reference outside the set counts nothing.
    expect(meanAncestry([table(1, 'a', [{ parent: 2, columns: ['b'] }]), table(2, 'b', [{ parent: 1, columns: ['a'] }, { parent: 99, columns: ['x'] }])])).toBe(2);
    expect(meanAncestry([])).toBe(0);
  });
});

describe('partition bounds', () => {
  it('reads the constants of range and list bounds', () => {
    expect(boundLiterals("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")).toEqual([["'2024-01-01'"]]);
    expect(boundLiterals("FOR VALUES FROM (MINVALUE, 'a,b') TO (10, 'z')")).toEqual([[], ["'a,b'"]]);
    expect(boundLiterals("FOR VALUES IN ('it''s', 'x', NULL)")).toEqual([["'it''s'", "'x'"]]);
    expect(boundLiterals('FOR VALUES IN (1, -2)')).toEqual([['1', '-2']]);
    expect(boundLiterals('DEFAULT')).toEqual([]);
    expect(boundLiterals('FOR VALUES WITH (modulus 4, remainder 1)')).toEqual([]);
  });
});

describe('CHECK expressions', () => {
  it('strips the CHECK keyword and NOT VALID, and puts a column in place of VALUE', () => {
    expect(checkExpression('CHECK ((a < b)) NOT VALID')).toBe('((a < b))');
    expect(checkExpression('CHECK ((n > 0)) NO INHERIT')).toBe('((n > 0))');
    expect(substituteValue("((VALUE > 0) AND (VALUE <> 'VALUE') AND (\"value\" IS NULL) AND (value_2 = 1))", '"c"')).toBe(
      "((\"c\" > 0) AND (\"c\" <> 'VALUE') AND (\"value\" IS NULL) AND (value_2 = 1))",
    );
  });
});

describe('matchesSkip', () => {
  it('matches globs on schema.table, or on the table name without a dot', () => {
    const t = { schema: 'audit', name: 'log_2024' };
    expect(matchesSkip(t, ['audit.*'])).toBe(true);
    expect(matchesSkip(t, ['log_*'])).toBe(true);
    expect(matchesSkip(t, ['public.*'])).toBe(false);
    expect(matchesSkip(t, ['audit.log_202?'])).toBe(true);
    expect(matchesSkip(t, ['audit.log'])).toBe(false);
    expect(matchesSkip({ schema: 'auditXlog', name: 'x' }, ['audit.log'])).toBe(false);
  });
});
