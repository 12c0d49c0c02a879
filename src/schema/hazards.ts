// What a schema change does to a running database, in the spirit of pg-schema-diff and squawk:
// each hazard says what happens and, where one exists, the safe way to get the same result.

export type HazardCode = 'DELETES_DATA' | 'TABLE_REWRITE' | 'ACCESS_EXCLUSIVE_LOCK' | 'BLOCKS_WRITES' | 'VALIDATES_ROWS';

export interface Hazard {
  readonly code: HazardCode;
  readonly message: string;
  readonly safeAlternative?: string;
  /**
   * It depends on a setting the gate's own server does not share with production (its TimeZone is
   * UTC): what the gate measured does not rule it out, so it is reported whatever the measurement.
   */
  readonly unmeasurable?: true;
}

export const hazard = (code: HazardCode, message: string, safeAlternative?: string): Hazard =>
  safeAlternative === undefined ? { code, message } : { code, message, safeAlternative };

const TIMESTAMP = /^timestamp(?:\((\d)\))? (with|without) time zone$/;

/**
 * timestamp <-> timestamptz: PostgreSQL keeps the stored values (no rewrite) only when the session's
 * TimeZone is UTC; under any other zone it rewrites the table, reading each old value as a local
 * time of that zone. Undefined for other type changes.
 */
export function timeZoneHazard(from: string, to: string, at: string, table: string): Hazard | undefined {
  const a = TIMESTAMP.exec(from);
  const b = TIMESTAMP.exec(to);
  // Other fractional digits as well: a rewrite whatever the TimeZone (the usual TABLE_REWRITE).
  if (a === null || b === null || a[2] === b[2] || (a[1] ?? '6') !== (b[1] ?? '6')) return undefined;
  return {
    code: 'TABLE_REWRITE',
    message: `PostgreSQL keeps the rows as they are only where the session's TimeZone is UTC (the gate's server runs with UTC, so it measured no rewrite); under any other TimeZone it rewrites ${table} and its indexes, and reads every old value of ${at} as a local time of that zone.`,
    safeAlternative: "SET LOCAL TimeZone = 'UTC' in the same transaction before the ALTER, if the values are UTC",
    unmeasurable: true,
  };
}

const SIZE = /^(character varying|character|bit varying|bit)\((\d+)\)$/;
const NUMERIC = /^numeric\((\d+),(\d+)\)$/;
const INTEGER_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3 };

/** Whether ALTER COLUMN TYPE from -> to keeps the stored bytes (no rewrite), per PostgreSQL's binary-coercible casts. */
export function isBinaryCoercible(from: string, to: string): boolean {
  if (from === to) return true;
  const textLike = (t: string): boolean => t === 'text' || t === 'character varying' || /^character varying\(\d+\)$/.test(t);
  if (textLike(from) && (to === 'text' || to === 'character varying')) return true;
  const a = SIZE.exec(from);
  const b = SIZE.exec(to);
  if (a !== null && b !== null && a[1] === b[1] && a[1] !== 'character' && Number(b[2]) >= Number(a[2])) return true;
  const n1 = NUMERIC.exec(from);
  const n2 = NUMERIC.exec(to);
  if (n1 !== null && to === 'numeric') return true;
  if (n1 !== null && n2 !== null && n1[2] === n2[2] && Number(n2[1]) >= Number(n1[1])) return true;
  if (from === 'cidr' && to === 'inet') return true;
  return false;
}

/** Whether a type change can lose data: shorter strings, fewer digits, smaller integers, or a cast that may fail. */
export function isNarrowing(from: string, to: string): boolean {
  // Every type has a text form: nothing fails or is cut on the way to unbounded text.
  if (to === 'text' || to === 'character varying') return false;
  // timestamp and timestamptz have the same range; only fewer fractional digits round values.
  const t1 = TIMESTAMP.exec(from);
  const t2 = TIMESTAMP.exec(to);
  if (t1 !== null && t2 !== null) return Number(t2[1] ?? 6) < Number(t1[1] ?? 6);
  const a = SIZE.exec(from);
  const b = SIZE.exec(to);
  if (b !== null && a === null && (from === 'text' || from === 'character varying')) return true;
  if (a !== null && b !== null && Number(b[2]) < Number(a[2])) return true;
  const n1 = NUMERIC.exec(from);
  const n2 = NUMERIC.exec(to);
  if (n2 !== null && (n1 === null ? from === 'numeric' : Number(n2[1]) - Number(n2[2]) < Number(n1[1]) - Number(n1[2]) || Number(n2[2]) < Number(n1[2]))) return true;
  const r1 = INTEGER_RANK[from];
  const r2 = INTEGER_RANK[to];
  if (r1 !== undefined && r2 !== undefined) return r2 < r1;
  if (r2 !== undefined && (from === 'numeric' || from.startsWith('numeric(') || from === 'double precision' || from === 'real')) return true;
  // Any other change between unrelated types may fail or truncate on existing rows.
  return !isBinaryCoercible(from, to) && !(r1 !== undefined && (to === 'numeric' || to.startsWith('numeric(') || to === 'text'));
}

/** Defaults that are evaluated per row when a column is added (PostgreSQL 11+ stores constants without a rewrite). */
export function isVolatileDefault(expression: string): boolean {
  return /\b(nextval|random|gen_random_uuid|uuid_generate_v\d|clock_timestamp|timeofday|txid_current)\s*\(/i.test(expression);
}
