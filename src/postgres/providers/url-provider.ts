// An existing server (a CI service container, a developer's local PostgreSQL). drift-guard only
// creates and drops its own scratch databases there; the server itself is left alone.

import { DriftGuardError } from '../../errors.js';
import { registerConnectionString } from '../../util/secrets.js';
import { serverVersion } from '../client.js';
import type { RunningServer, ServerHandle } from '../server.js';

export function urlServer(url: string, urlEnvName: string): ServerHandle {
  return {
    async start(): Promise<RunningServer> {
      const display = registerConnectionString(url);
      if (!/^postgres(ql)?:\/\//i.test(url)) {
        throw new DriftGuardError(
          'ENV_VAR_MISSING',
          `${urlEnvName} must be a postgres:// or postgresql:// URL (e.g. postgresql://postgres@localhost:5432/postgres), got ${display.slice(0, 40)}`,
        );
      }
      const short = await serverVersion(url);
      return {
        provider: 'url',
        description: `PostgreSQL ${short} at ${display} (from ${urlEnvName})`,
        version: short,
        major: Number.parseInt(short, 10),
        adminUrl: url,
        disposable: false,
      };
    },
    async stop() {
      // The server is not ours; scratch databases are dropped by their own scope.
    },
  };
}
