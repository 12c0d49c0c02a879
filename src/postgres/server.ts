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
}

/** A server that may not be started yet; stop() is safe to call at any point, any number of times. */
export interface ServerHandle {
  start(): Promise<RunningServer>;
  stop(): Promise<void>;
}
