// "Which database is this?" answered by the server itself, not by how its URL is spelled:
// `localhost`, `127.0.0.1`, a socket path or a DNS alias can all name the same database. A cluster
// has a system identifier fixed at initdb (pg_control_system()); with the database's oid it names
// one database on one cluster. A replica shares its primary's identifier, which is what we want:
// it holds the same data.

import type pg from 'pg';

export interface ServerIdentity {
  /** pg_control_system().system_identifier, or undefined when the role may not read it. */
  readonly systemIdentifier: string | undefined;
  readonly databaseOid: number;
  readonly database: string;
  /**
   * inet_server_port(): the port the server listens on (null over a Unix socket). Copies of one
   * cluster (a restored base backup, a cached initdb) share a system identifier; the port tells
   * two of them apart on one machine.
   */
  readonly port: number | null;
}

export async function readServerIdentity(client: pg.Client): Promise<ServerIdentity> {
  const base = await client.query<{ oid: number; name: string; port: number | null }>('SELECT d.oid::int AS oid, d.datname AS name, inet_server_port() AS port FROM pg_database d WHERE d.datname = current_database()');
  let systemIdentifier: string | undefined;
  try {
    const row = await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
    systemIdentifier = row.rows[0]?.id;
  } catch {
    // Revoked from this role (some managed services): the caller decides what "unsure" means.
  }
  return { systemIdentifier, databaseOid: base.rows[0]!.oid, database: base.rows[0]!.name, port: base.rows[0]!.port };
}

/** true: the same database; false: different; undefined: cannot tell (an identifier is missing). */
export function sameDatabase(a: ServerIdentity, b: ServerIdentity): boolean | undefined {
  if (a.systemIdentifier === undefined || b.systemIdentifier === undefined) return undefined;
  return a.systemIdentifier === b.systemIdentifier && a.databaseOid === b.databaseOid;
}

/** A short, stable key of the cluster for file records ("7312...": the identifier itself). */
export function describeIdentity(identity: ServerIdentity): string {
  return `${identity.database} (oid ${identity.databaseOid}) on cluster ${identity.systemIdentifier ?? 'unknown'}`;
}
