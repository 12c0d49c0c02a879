// Scoped database clients: connect, run, always end. Connection failures become environment
// errors (exit 3) whose messages never carry the password.

import pg from 'pg';
import { describeError, DriftGuardError } from '../errors.js';
import { maskSecrets, registerConnectionString } from '../util/secrets.js';

export interface ClientOptions {
  readonly connectTimeoutMs?: number;
  readonly applicationName?: string;
  /**
   * withClient returns without waiting for the server to close the session (it still closes).
   * Only for databases nobody drops right after: a scratch database cannot be dropped while
   * the session is still open.
   */
  readonly closeInBackground?: boolean;
  /**
   * Queries are sent without waiting for the previous one's result (node-postgres's pipeline
   * mode): the server runs them back to back. Only for a caller that sends its queries together.
   */
  readonly pipeline?: boolean;
}

export async function connect(url: string, options: ClientOptions = {}): Promise<pg.Client> {
  const display = registerConnectionString(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: options.applicationName ?? 'drift-guard',
    // Not in @types/pg yet: https://node-postgres.com/features/pipelining
    ...(options.pipeline === true ? ({ pipeline: true } as object) : {}),
  });
  // An idle client whose server goes away emits 'error'; without a listener that crashes the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new DriftGuardError('DATABASE_UNREACHABLE', `cannot connect to ${display}: ${connectionFailure(error)}`, {
      cause: error,
    });
  }
  return client;
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>, options?: ClientOptions): Promise<T> {
  const client = await connect(url, options);
  try {
    return await fn(client);
  } finally {
    const closed = client.end().catch(() => undefined);
    if (options?.closeInBackground !== true) await closed;
  }
}

/**
 * Drops the connection at once, without waiting for queries on the wire: the server then rolls
 * back an open transaction and frees the session's locks. For interrupts: client.end() on a
 * pipelined client waits for every query already sent, a COMMIT included.
 */
export async function abortConnection(client: pg.Client): Promise<void> {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  await client.end().catch(() => undefined);
}

/**
 * Runs `send`, which sends queries without awaiting them (a pipelined client), with the socket
 * corked: what it sends leaves in one write instead of one per query.
 */
export function corked<T>(client: pg.Client, send: () => T): T {
  const stream = (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
  stream?.cork?.();
  try {
    return send();
  } finally {
    stream?.uncork?.();
  }
}

/** Runs `fn` in one transaction on a new connection: committed when it returns, rolled back when it throws. */
export function withTransaction<T>(url: string, fn: (client: pg.Client) => Promise<T>, options?: ClientOptions): Promise<T> {
  return withClient(
    url,
    async (client) => {
      await client.query('BEGIN');
      try {
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
    options,
  );
}

function connectionFailure(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the server running and listening on that host and port?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case '28P01':
    case '28000':
      return 'authentication failed (check the user and password in the connection string)';
    case '3D000':
      return 'the database does not exist';
    default:
      return maskSecrets(describeError(error));
  }
}

/** The server's version as "major.minor" (e.g. "16.14"), from SHOW server_version. */
export async function serverVersion(url: string): Promise<string> {
  return withClient(url, async (client) => {
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    const raw = result.rows[0]?.server_version ?? '';
    return /^\d+(\.\d+)?/.exec(raw)?.[0] ?? raw;
  });
}
