// The Docker path: a postgres:<version> container through testcontainers (loaded only when used).
// testcontainers' reaper removes the container even if this process is killed.

import { randomBytes } from 'node:crypto';
import { describeError, DriftGuardError } from '../../errors.js';
import type { Reporter } from '../../util/reporter.js';
import { registerSecret } from '../../util/secrets.js';
import { serverVersion } from '../client.js';
import type { RunningServer, ServerHandle } from '../server.js';

export interface DockerServerOptions {
  readonly image: string;
  /** Keep the data directory on a tmpfs mount inside the container. */
  readonly inMemory: boolean;
  /** The configured major version (selects where the image keeps its data). */
  readonly major: number;
  readonly reporter: Reporter;
  readonly startupTimeoutMs: number;
}

export function dockerServer(options: DockerServerOptions): ServerHandle {
  let container: { stop(): Promise<unknown> } | undefined;
  let stopping: Promise<void> | undefined;
  return {
    async start(): Promise<RunningServer> {
      const password = randomBytes(18).toString('base64url');
      registerSecret(password);
      let started;
      try {
        const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
        const container = new PostgreSqlContainer(options.image);
        // The images keep PGDATA in /var/lib/postgresql/data up to 17 and in /var/lib/postgresql/<major>/docker from 18.
        if (options.inMemory) container.withTmpFs({ [options.major >= 18 ? '/var/lib/postgresql' : '/var/lib/postgresql/data']: 'rw' });
        started = await options.reporter.step(`starting ${options.image} (Docker)`, () =>
          container
            .withUsername('postgres')
            .withPassword(password)
            .withDatabase('postgres')
            .withStartupTimeout(options.startupTimeoutMs)
            .withCommand(['postgres', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'])
            .start(),
        );
      } catch (error) {
        throw new DriftGuardError('DOCKER_UNAVAILABLE', `cannot start ${options.image} with Docker: ${describeError(error)}`, { cause: error });
      }
      container = started;
      const adminUrl = `postgresql://postgres:${encodeURIComponent(password)}@${started.getHost()}:${started.getPort()}/postgres`;
      const version = await serverVersion(adminUrl);
      return {
        provider: 'docker',
        description: `PostgreSQL ${version} (${options.image}) in Docker on ${started.getHost()}:${started.getPort()}`,
        version,
        major: Number.parseInt(version, 10),
        adminUrl,
        disposable: true,
      };
    },
    stop(): Promise<void> {
      return (stopping ??= (async () => {
        await container?.stop().catch(() => undefined);
      })());
    },
  };
}
