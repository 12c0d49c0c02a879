// `drift-guard reset` (make db-reset): a development database emptied and migrated again from
// scratch. It refuses a database that is not on this machine unless forced, and always refuses
// the database production.url-env points at.

import type { LoadedConfig } from '../config/load-config.js';
import { createEngine } from '../engines/create-engine.js';
import { DriftGuardError } from '../errors.js';
import { withTransaction } from '../postgres/client.js';
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
  const production = options.env[options.loaded.config.production['url-env']];
  if (production !== undefined && sameDatabase(production, options.url)) {
    throw new DriftGuardError('USAGE', `refusing to reset ${options.display}: it is the production database (${options.loaded.config.production['url-env']})`);
  }
  if (!options.force && !isLocalHost(options.url)) {
    throw new DriftGuardError('USAGE', `refusing to reset ${options.display}: it is not on this machine; reset is for development databases (FORCE=1 / --force if you mean it)`);
  }
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

function sameDatabase(a: string, b: string): boolean {
  try {
    const [x, y] = [new URL(a), new URL(b)];
    return x.hostname === y.hostname && (x.port || '5432') === (y.port || '5432') && x.pathname === y.pathname;
  } catch {
    return a === b;
  }
}
