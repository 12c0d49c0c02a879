// Session advisory locks, scoped: acquire, run, release in `finally`. A runner that has to wait
// says who holds the lock, then waits at most `timeoutMs` (exit 3 after that).

import type pg from 'pg';
import { DriftGuardError } from '../errors.js';
import type { Reporter } from '../util/reporter.js';

export interface AdvisoryLockOptions {
  readonly key: bigint;
  readonly timeoutMs: number;
  readonly reporter: Reporter;
  /** What the lock protects, for messages ("the migrations of db/migrations"). */
  readonly what: string;
}

export async function withAdvisoryLock<T>(client: pg.Client, options: AdvisoryLockOptions, fn: () => Promise<T>): Promise<T> {
  const key = options.key.toString();
  const tried = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
  if (tried.rows[0]?.ok !== true) {
    options.reporter.info(`waiting up to ${Math.round(options.timeoutMs / 1000)}s for the lock on ${options.what}, held by ${await describeHolder(client, key)}`);
    // The session's own lock_timeout (deploy sets one for the migrations' statements) comes back afterwards.
    const before = (await client.query<{ value: string }>("SELECT current_setting('lock_timeout') AS value")).rows[0]?.value ?? '0';
    await client.query("SELECT set_config('lock_timeout', $1, false)", [`${options.timeoutMs}ms`]);
    try {
      await client.query('SELECT pg_advisory_lock($1::bigint)', [key]);
    } catch (error) {
      if ((error as { code?: string }).code === '55P03') {
        throw new DriftGuardError(
          'LOCK_TIMEOUT',
          `gave up after ${Math.round(options.timeoutMs / 1000)}s waiting for the lock on ${options.what}, held by ${await describeHolder(client, key)}; wait for that run to finish or raise sql.lock-timeout`,
        );
      }
      throw error;
    } finally {
      await client.query("SELECT set_config('lock_timeout', $1, false)", [before]).catch(() => undefined);
    }
  }
  try {
    return await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
  }
}

async function describeHolder(client: pg.Client, key: string): Promise<string> {
  // A bigint advisory key shows in pg_locks as classid (high 32 bits), objid (low 32 bits), objsubid 1.
  const result = await client.query<{ pid: number; application_name: string; usename: string; client_addr: string | null; backend_start: Date }>(
    `SELECT a.pid, a.application_name, a.usename, a.client_addr::text AS client_addr, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.classid = (($1::bigint >> 32) & 4294967295)::oid AND l.objid = ($1::bigint & 4294967295)::oid
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [key],
  );
  const holder = result.rows[0];
  if (holder === undefined) return 'another session (it may have just finished)';
  const app = holder.application_name === '' ? 'a client' : holder.application_name;
  const from = holder.client_addr === null ? 'a local socket' : holder.client_addr;
  return `${app} (pid ${holder.pid}, user ${holder.usename}, from ${from}, connected ${holder.backend_start.toISOString()})`;
}
