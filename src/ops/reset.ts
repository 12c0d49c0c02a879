// `drift-guard reset` (make db-reset): a development database emptied and migrated again from
// scratch. It refuses a database that is not on this machine unless forced, and always refuses
// the database production.url-env points at: decided by asking both servers who they are
// (cluster system identifier + database oid), not by how the URLs spell their hosts, and refused
// when that cannot be decided.

import type { LoadedConfig } from '../config/load-config.js';
import { createEngine } from '../engines/create-engine.js';
import { DriftGuardError } from '../errors.js';
import { withClient, withTransaction } from '../postgres/client.js';
import { readServerIdentity, sameDatabase, type ServerIdentity } from '../postgres/server-identity.js';
import { maskSecrets, registerConnectionString } from '../util/secrets.js';
import type { RunOutcome } from '../engines/sql/migrator.js';
import type { Reporter } from '../util/reporter.js';
import { objectsNotIn } from './backup.js';

export interface ResetOptions {
  readonly loaded: LoadedConfig;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
  readonly url: string;
  readonly display: string;
  readonly force: boolean;
}

/** Hosts that are this machine: loopback names and addresses, and Unix sockets. */
export function isLocalHost(url: string): boolean {
  const parsed = new URL(url);
  const host = (parsed.searchParams.get('host') ?? parsed.hostname).replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return host === '' || host.startsWith('/') || host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function resetDatabase(options: ResetOptions): Promise<{ dropped: readonly string[]; outcome: RunOutcome }> {
  const variable = options.loaded.config.production['url-env'];
  const production = options.env[variable]?.trim();
  if (!options.force && !isLocalHost(options.url)) {
    throw new DriftGuardError('USAGE', `refusing to reset ${options.display}: it is not on this machine; reset is for development databases (FORCE=1 / --force if you mean it)`);
  }
  if (production !== undefined && production !== '') await refuseProduction(options, production, variable);
  const engine = createEngine({ loaded: options.loaded, cwd: options.cwd, env: options.env, reporter: options.reporter });
  const dropped = await options.reporter.step(`empty ${options.display}`, () =>
    withTransaction(options.url, async (client) => {
      const everything = await objectsNotIn(client, new Set());
      await client.query('SET LOCAL client_min_messages = warning');
      for (const object of everything) await client.query(object.drop);
      return everything.map((o) => o.name);
    }),
  );
  const outcome = await engine.migrate({ databaseUrl: options.url, reporter: options.reporter }, {});
  return { dropped, outcome };
}

/** Throws unless the target is certainly not production (--force does not change this). */
async function refuseProduction(options: ResetOptions, production: string, variable: string): Promise<void> {
  const refuse = (why: string): DriftGuardError => new DriftGuardError('USAGE', `refusing to reset ${options.display}: ${why}`);
  if (production === options.url) throw refuse(`it is the production database (${variable})`);
  const productionDisplay = registerConnectionString(production);
  const target = await withClient(options.url, readServerIdentity, { connectTimeoutMs: 10_000 });
  let prod: ServerIdentity;
  try {
    prod = await withClient(production, readServerIdentity, { connectTimeoutMs: 10_000 });
  } catch (error) {
    throw refuse(`cannot make sure it is not production: ${variable} (${productionDisplay}) does not answer (${maskSecrets((error as Error).message)}); unset ${variable} in this shell to reset a development database`);
  }
  const same = sameDatabase(target, prod);
  if (same === true) throw refuse(`it is the production database (${variable}): the same server (system identifier ${target.systemIdentifier}) and database ${target.database}, however the URLs spell it`);
  if (same === undefined) {
    throw refuse(`cannot make sure it is not production: pg_control_system() is not readable by ${target.systemIdentifier === undefined ? 'its role' : `the role in ${variable}`}; unset ${variable} in this shell to reset a development database`);
  }
}
