// SQL expressions that generate one column's values over `generate_series(1, n) AS g(i)`: pure
// string building, deterministic from the seed (hashint8extended of the row number), adversarial
// within what the type allows. A value's "variant" (a hash of the row number and the column's
// salt, modulo 10) picks an edge case on some rows (NULL, zero, empty, longest, extreme, non-ASCII) and a
// hash-random ordinary value, from a small range so that values repeat, on the others.

import type { FillType } from './fill-catalog.js';

export interface ValueContext {
  readonly seed: number;
  /** Differs per column (and per array element / range bound), so columns do not move in lockstep. */
  readonly salt: number;
  readonly nullable: boolean;
  /** Values must differ between rows (a unique or primary key column). */
  readonly unique: boolean;
  /** No extreme values: the retry after an adversarial attempt overflowed something. */
  readonly tame: boolean;
}

export type TypeLookup = (oid: number) => FillType | undefined;

export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A non-negative pseudo-random bigint below 2^31 for the current row. */
export function hashSql(ctx: ValueContext, k = 0): string {
  const salt = (ctx.seed * 7919 + ctx.salt * 131 + k * 17) % 2147483647;
  return `(pg_catalog.hashint8extended(g.i, ${salt}) & 2147483647)`;
}

/** Which of ten variants a row gets: hashed per column, so that edge cases of two columns combine freely. */
export function variantSql(ctx: ValueContext): string {
  return `(${hashSql(ctx, 5)} % 10)`;
}

/** Row number mapped to 1, -1, 2, -2, ...: unique, and half of the values negative. */
const ALTERNATING = `(CASE WHEN g.i % 2 = 0 THEN g.i / 2 ELSE -((g.i + 1) / 2) END)`;

/**
 * CASE over the variant: edge[k] on variant k (variant 0 is NULL when the column allows it),
 * the ordinary value otherwise.
 */
function cases(ctx: ValueContext, edges: readonly (string | undefined)[], ordinary: string): string {
  const arms: string[] = [];
  if (ctx.nullable) arms.push('WHEN 0 THEN NULL');
  edges.forEach((edge, index) => {
    if (edge !== undefined) arms.push(`WHEN ${index + 1} THEN ${edge}`);
  });
  if (arms.length === 0) return ordinary;
  return `(CASE ${variantSql(ctx)} ${arms.join(' ')} ELSE ${ordinary} END)`;
}

interface Resolved {
  readonly type: FillType;
  readonly typmod: number;
  readonly notNull: boolean;
  /** Domain CHECK expressions over VALUE, outermost domain first. */
  readonly checks: readonly string[];
  /** The domains passed through (outermost first). */
  readonly domains: readonly FillType[];
}

/** Follows domains down to their base type, collecting NOT NULL, CHECKs and the effective typmod. */
export function resolveDomain(types: TypeLookup, oid: number, typmod: number): Resolved | undefined {
  let type = types(oid);
  let effective = typmod;
  let notNull = false;
  const checks: string[] = [];
  const domains: FillType[] = [];
  for (let depth = 0; type !== undefined && type.typtype === 'd' && depth < 32; depth++) {
    domains.push(type);
    notNull ||= type.notNull;
    checks.push(...type.checks);
    if (effective === -1) effective = type.typmod;
    type = types(type.baseType);
  }
  if (type === undefined) return undefined;
  return { type, typmod: effective, notNull, checks, domains };
}

/** Replaces the VALUE keyword of a domain CHECK (outside literals and quoted names) with `replacement`. */
export function substituteValue(expression: string, replacement: string): string {
  let out = '';
  let i = 0;
  while (i < expression.length) {
    const ch = expression[i]!;
    if (ch === "'" || ch === '"') {
      const end = closingQuote(expression, i, ch);
      out += expression.slice(i, end);
      i = end;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      let j = i;
      while (j < expression.length && /[A-Za-z0-9_$]/.test(expression[j]!)) j++;
      const word = expression.slice(i, j);
      out += word.toUpperCase() === 'VALUE' ? replacement : word;
      i = j;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

function closingQuote(text: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === quote) {
      if (text[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return text.length;
}

function charLength(typmod: number): number | undefined {
  return typmod >= 4 ? typmod - 4 : undefined;
}

function numericPrecision(typmod: number): { precision: number; scale: number } | undefined {
  if (typmod < 4) return undefined;
  const packed = typmod - 4;
  const scale = packed & 0xffff;
  return { precision: (packed >> 16) & 0xffff, scale: scale > 0x7fff ? scale - 0x10000 : scale };
}

const NON_ASCII = 'Zürich – 東京 ✓ ß';

/**
 * The expression for one value of `oid` (already resolved past domains by the caller or not),
 * typed as the base type, or undefined when the generator does not know the type.
 */
export function valueSql(types: TypeLookup, oid: number, typmod: number, ctx: ValueContext): string | undefined {
  const resolved = resolveDomain(types, oid, typmod);
  if (resolved === undefined) return undefined;
  const { type } = resolved;
  const mod = resolved.typmod;
  const h = hashSql(ctx);
  const h2 = hashSql(ctx, 1);

  if (type.typtype === 'e') {
    if (type.labels.length === 0) return undefined;
    const array = `ARRAY[${type.labels.map(literal).join(', ')}]`;
    const pick = ctx.unique ? `1 + ((g.i - 1) % ${type.labels.length})` : `1 + (${h} % ${type.labels.length})`;
    return cases(ctx, [], `(${array})[${pick}]::${type.sql}`);
  }
  if (type.typtype === 'r') {
    const sub = types(type.subtype);
    if (sub === undefined) return undefined;
    const base = { ...ctx, nullable: false, unique: false, tame: true };
    const a = valueSql(types, sub.oid, -1, { ...base, salt: ctx.salt + 101 });
    const b = valueSql(types, sub.oid, -1, { ...base, salt: ctx.salt + 202 });
    if (a === undefined || b === undefined) return undefined;
    const lower = ctx.unique ? valueSql(types, sub.oid, -1, { ...base, unique: true }) : undefined;
    if (ctx.unique && lower === undefined) return undefined;
    const ordinary = ctx.unique
      ? `${type.sql}(${lower}, NULL, '[)')`
      : `${type.sql}(LEAST(${a}, ${b}), GREATEST(${a}, ${b}), '[)')`;
    if (ctx.unique) return ordinary;
    return cases(ctx, [`'empty'::${type.sql}`, `${type.sql}(NULL, ${a}, '(]')`, `${type.sql}(LEAST(${a}, ${b}), GREATEST(${a}, ${b}), '[]')`], ordinary);
  }
  if (type.category === 'A' && type.elem !== 0) {
    const element = types(type.elem);
    if (element === undefined) return undefined;
    const elementCtx = { ...ctx, nullable: true, unique: false };
    const e1 = valueSql(types, element.oid, mod, { ...elementCtx, salt: ctx.salt + 11 });
    const e2 = valueSql(types, element.oid, mod, { ...elementCtx, salt: ctx.salt + 23 });
    const e3 = valueSql(types, element.oid, mod, { ...elementCtx, salt: ctx.salt + 37, nullable: false });
    if (e1 === undefined || e2 === undefined || e3 === undefined) return undefined;
    const elementSql = resolveDomain(types, element.oid, mod)?.type.sql ?? element.sql;
    if (ctx.unique) {
      const u = valueSql(types, element.oid, mod, { ...ctx, nullable: false, unique: true });
      return u === undefined ? undefined : `ARRAY[${u}]::${elementSql}[]`;
    }
    return cases(ctx, [`ARRAY[]::${elementSql}[]`, `ARRAY[NULL::${elementSql}]`, `ARRAY[${e3}]::${elementSql}[]`], `ARRAY[${e1}, ${e2}, ${e3}]::${elementSql}[]`);
  }

  switch (type.name) {
    case 'int2':
    case 'int4':
    case 'int8': {
      const [min, max] = type.name === 'int2' ? ['-32768', '32767'] : type.name === 'int4' ? ['-2147483648', '2147483647'] : ['-9223372036854775808', '9223372036854775807'];
      if (ctx.unique) return `${ALTERNATING}::${type.sql}`;
      const ordinary = `((${h} % 2001) - 1000)::${type.sql}`;
      return cases(ctx, [`0::${type.sql}`, `(-1)::${type.sql}`, ctx.tame ? undefined : `(${max})::${type.sql}`, ctx.tame ? undefined : `(${min})::${type.sql}`, `1::${type.sql}`], ordinary);
    }
    case 'numeric': {
      const p = numericPrecision(mod);
      const cast = `::numeric${p === undefined ? '' : `(${p.precision},${p.scale})`}`;
      const scale = p === undefined ? 3 : Math.max(p.scale, 0);
      const integerDigits = p === undefined ? 15 : p.precision - p.scale;
      if (integerDigits <= 0 && p !== undefined) {
        // Only fractions fit (numeric(3,5)).
        return cases(ctx, ['0'], `round((${h} % 1000) / 1000.0 * ${10 ** -p.scale}, ${p.scale})${cast}`);
      }
      const max = p === undefined ? '1e15' : `(${`1${'0'.repeat(integerDigits)}`}::numeric - ${`1e-${scale}`}::numeric)`;
      const clamp = (x: string): string => `LEAST(GREATEST(${x}, -${max}), ${max})`;
      const smallest = scale > 0 ? `1e-${scale}` : '1';
      if (ctx.unique) return `${clamp(`${ALTERNATING}::numeric / ${10 ** Math.min(scale, 2)}`)}${cast}`;
      const ordinary = `${clamp(`round(((${h} % 200001) - 100000) / 1000.0, ${Math.min(scale, 6)})`)}${cast}`;
      return cases(ctx, [`0${cast}`, `(-${smallest})${cast}`, ctx.tame ? undefined : `${max}${cast}`, ctx.tame ? undefined : `(-${max})${cast}`, `${smallest}${cast}`], ordinary);
    }
    case 'float4':
    case 'float8': {
      if (ctx.unique) return `(${ALTERNATING} + 0.5)::${type.sql}`;
      const big = type.name === 'float4' ? '1e30' : '1e300';
      const ordinary = `(((${h} % 2000001) - 1000000) / 1000.0)::${type.sql}`;
      return cases(ctx, ['0', '(-0.5)', ctx.tame ? undefined : big, ctx.tame ? undefined : `-${big}`, '1e-7'].map((v) => (v === undefined ? v : `${v}::${type.sql}`)), ordinary);
    }
    case 'money': {
      if (ctx.unique) return `(${ALTERNATING}::numeric / 100)::money`;
      return cases(ctx, ['0::money', '(-0.01)::money'], `(((${h} % 200001) - 100000) / 100.0)::numeric::money`);
    }
    case 'bool':
      return ctx.nullable ? `(CASE ${h} % 3 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END)` : `(${h} % 2 = 0)`;
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
    case 'citext':
      return textSql(type, mod, ctx);
    case 'date': {
      if (ctx.unique) return `(DATE '2000-01-01' + ${ALTERNATING}::int)`;
      return cases(ctx, [`DATE '1970-01-01'`, `DATE '2024-02-29'`, ctx.tame ? undefined : `DATE '0001-01-01'`, ctx.tame ? undefined : `DATE '9999-12-31'`], `(DATE '2000-01-01' + ((${h} % 20001) - 10000)::int)`);
    }
    case 'timestamp':
    case 'timestamptz': {
      const zone = type.name === 'timestamptz' ? ' +00' : '';
      const base = `${type.name === 'timestamptz' ? 'TIMESTAMPTZ' : 'TIMESTAMP'} '2000-01-01 00:00:00${zone}'`;
      if (ctx.unique) return `(${base} + ${ALTERNATING} * INTERVAL '1 hour' + INTERVAL '0.5 second')`;
      return cases(
        ctx,
        [`${type.name === 'timestamptz' ? 'TIMESTAMPTZ' : 'TIMESTAMP'} '1970-01-01 00:00:00${zone}'`, `${base.replace('2000-01-01 00:00:00', '2024-02-29 23:59:59.999999')}`, ctx.tame ? undefined : `${base.replace('2000-01-01', '0001-01-01')}`],
        `(${base} + ((${h} % 1600000001) - 800000000) * INTERVAL '1 second' + (${h2} % 1000000) * INTERVAL '1 microsecond')`,
      );
    }
    case 'time':
    case 'timetz': {
      const t = `(TIME '00:00' + (${h} % 86400) * INTERVAL '1 second' + (${h2} % 1000) * INTERVAL '1 millisecond')`;
      const out = type.name === 'timetz' ? `(${t})::timetz` : t;
      if (ctx.unique) return type.name === 'timetz' ? `(TIME '00:00' + g.i * INTERVAL '1 microsecond')::timetz` : `(TIME '00:00' + g.i * INTERVAL '1 microsecond')`;
      return cases(ctx, [`TIME '00:00'::${type.sql}`, `TIME '23:59:59.999999'::${type.sql}`], out);
    }
    case 'interval':
      if (ctx.unique) return `(${ALTERNATING} * INTERVAL '1 second')`;
      return cases(ctx, [`INTERVAL '0'`, `INTERVAL '-1 day'`, ctx.tame ? undefined : `INTERVAL '1000 years'`], `(((${h} % 200001) - 100000) * INTERVAL '1 minute')`);
    case 'uuid':
      return ctx.unique ? `md5(g.i::text || '${ctx.salt}')::uuid` : cases(ctx, [`'00000000-0000-0000-0000-000000000000'::uuid`], `md5((${h} % 500)::text)::uuid`);
    case 'bytea':
      return ctx.unique ? `decode(md5(g.i::text), 'hex')` : cases(ctx, [`'\\x'::bytea`, `'\\x00'::bytea`], `decode(md5((${h} % 500)::text), 'hex')`);
    case 'json':
    case 'jsonb': {
      if (ctx.unique) return `${type.name}_build_object('i', g.i)`;
      const lit = (v: string): string => `${literal(v)}::${type.name}`;
      return cases(ctx, [lit('{}'), lit('[]'), lit('null'), lit(`{"${NON_ASCII}": [1, null, -1.5, "x"], "nested": {"a": {"b": true}}}`), lit('"text"'), lit('0')], `${type.name}_build_object('k', ${h} % 100, 'name', 'n' || (${h2} % 50))`);
    }
    case 'inet':
    case 'cidr': {
      const octets = (x: string): string => `((${x}) >> 16) % 256 || '.' || ((${x}) >> 8) % 256 || '.' || (${x}) % 256`;
      if (type.name === 'cidr') return ctx.unique ? `('10.' || ${octets('g.i')} || '/32')::cidr` : cases(ctx, [`'0.0.0.0/0'::cidr`, `'::/0'::cidr`], `('10.' || ((${h} % 256)) || '.0.0/16')::cidr`);
      return ctx.unique ? `('10.' || ${octets('g.i')})::inet` : cases(ctx, [`'::1'::inet`, `'192.168.0.1/24'::inet`], `('10.' || ${octets(`${h} % 1000`)})::inet`);
    }
    case 'macaddr':
      return ctx.unique ? `lpad(to_hex(g.i), 12, '0')::macaddr` : `lpad(to_hex(${h} % 1000), 12, '0')::macaddr`;
    case 'oid':
      return ctx.unique ? `g.i::oid` : `(${h} % 1000)::oid`;
    case 'tsvector':
      return ctx.unique ? `to_tsvector('simple', 'k' || g.i)` : cases(ctx, [`''::tsvector`], `to_tsvector('simple', 'word' || (${h} % 50) || ' ${NON_ASCII}')`);
    case 'bit':
    case 'varbit': {
      const n = mod > 0 ? mod : type.name === 'bit' ? 1 : 16;
      const bits = `lpad(right((${h})::bit(32)::text, ${Math.min(n, 31)}), ${n}, '0')`;
      return ctx.unique && n >= 20 ? `lpad(right(g.i::bit(32)::text, ${Math.min(n, 31)}), ${n}, '0')::${type.sql}` : `${bits}::${type.name === 'bit' ? `bit(${n})` : 'varbit'}`;
    }
    default:
      if (type.category === 'S') return textSql(type, mod, ctx);
      return undefined;
  }
}

function textSql(type: FillType, typmod: number, ctx: ValueContext): string {
  const length = type.name === 'name' ? 63 : charLength(typmod);
  const max = length ?? (ctx.tame ? 40 : 200);
  const fit = (x: string): string => (length === undefined ? x : `left(${x}, ${length})`);
  const cast = type.name === 'text' ? '' : `::${type.sql}`;
  if (ctx.unique) return `${fit(`'k' || g.i || '-${ctx.salt % 97}'`)}${cast}`;
  const longest = `rpad('long-ä', ${ctx.tame ? Math.min(max, 40) : max}, 'xyzü')`;
  return cases(
    ctx,
    ["''", longest, fit(literal(NON_ASCII)), "'42'", fit(literal('not-a-date 2024-13-45')), fit(`'user' || (${hashSql(ctx, 2)} % 100) || '.ü@example.org'`)].map((v) => `${v}${cast}`),
    `${fit(`'txt-' || (${hashSql(ctx)} % 1000)`)}${cast}`,
  );
}
