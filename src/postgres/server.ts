// What every provider of a scratch PostgreSQL server hands back. Providers differ in how a server
// comes to exist; everything after that (scratch databases, clients) is provider-independent.

export type ProviderKind = 'url' | 'docker' | 'embedded';

export interface RunningServer {
  readonly provider: ProviderKind;
  /** One line for logs: what runs and where it came from (never a password). */
  readonly description: string;
  /** server_version, e.g. "16.14". */
  readonly version: string;
  readonly major: number;
  /** A superuser (or CREATEDB) connection string to the maintenance database. Secret-bearing. */
  readonly adminUrl: string;
  /** Whether drift-guard owns the whole server (embedded, docker) or only its scratch databases (url). */
  readonly disposable: boolean;
  /** The base-schema cache's state on this server (embedded servers asked for it only). */
  readonly baseCache?: BaseCacheState;
}

/**
 * What the base-schema cache did at start. A hit: the server started from a cached cluster that
 * holds the base database (owned by `role`, or the superuser when absent). A miss: `store` keeps
 * the base once it is built (it stops the server, copies its data directory and starts it again
 * on the same port, so connection strings stay valid; no session may be open meanwhile).
 */
export type BaseCacheState =
  | ({
      readonly hit: true;
      readonly key: string;
      readonly ms: number;
      /** A new password the base's owner role (`role`) was given at start (registered as a secret). */
      readonly rolePassword?: string | undefined;
      /** What BaseCacheRequest.decode made of `schema`, while the cluster was unpacked (absent without decode). */
      readonly decoded?: { readonly value: unknown } | undefined;
    } & CachedBaseContents)
  | { readonly hit: false; readonly key: string; readonly reason: string; store(contents: CachedBaseContents): Promise<boolean> };

/** What a cached cluster holds besides the template databases. */
export interface CachedBaseContents {
  /** The base database, and the role that owns it (undefined: the superuser). */
  readonly database: string;
  readonly role: string | undefined;
  /** A copy of the base filled with generated rows (the data-aware gate), when there is one. */
  readonly filled?: string | undefined;
  /** What the caller keeps with the entry (JSON text: e.g. the fill's report). */
  readonly note?: string | undefined;
  /** The base database's schema as the caller read it (serialized), kept next to the cluster and checked on load. */
  readonly schema?: string | undefined;
}

/** What decides the base database apart from the server, computed by the gate while the server starts; undefined: nothing to cache. */
export interface BaseCacheRequest {
  readonly parts: Promise<readonly string[] | undefined>;
  /**
   * Reads the kept schema (CachedBaseContents.schema) into what the caller works with, while the
   * cluster unpacks; undefined (or a throw): not usable.
   */
  readonly decode?: ((schema: string) => unknown) | undefined;
}

/** A server that may not be started yet; stop() is safe to call at any point, any number of times. */
export interface ServerHandle {
  start(): Promise<RunningServer>;
  stop(): Promise<void>;
}
