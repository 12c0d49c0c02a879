// PostgreSQL refuses to start as root. When drift-guard runs as root (containers, CI images) the
// embedded server runs as an unprivileged account instead: `postgres` when the system has one,
// otherwise `nobody`, or the account named by DRIFT_GUARD_PG_USER.

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DriftGuardError } from '../errors.js';

export interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The account to run PostgreSQL as, or undefined when the current user may run it. */
export function serverAccount(env: NodeJS.ProcessEnv = process.env): RunAs | undefined {
  if (!isRoot()) return undefined;
  const wanted = env.DRIFT_GUARD_PG_USER;
  const candidates = wanted !== undefined && wanted !== '' ? [wanted] : ['postgres', 'nobody'];
  const accounts = readPasswd();
  for (const name of candidates) {
    const account = accounts.get(name);
    if (account !== undefined && account.uid !== 0) return account;
  }
  throw new DriftGuardError(
    'POSTGRES_RUN_AS_ROOT',
    `PostgreSQL refuses to run as root and no unprivileged account (${candidates.join(', ')}) exists to run it as; create one (useradd --system postgres), set DRIFT_GUARD_PG_USER, or run drift-guard as a non-root user`,
  );
}

function readPasswd(): Map<string, RunAs> {
  const accounts = new Map<string, RunAs>();
  let text = '';
  try {
    text = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return accounts;
  }
  for (const line of text.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === undefined || uid === undefined || gid === undefined) continue;
    accounts.set(user, { user, uid: Number(uid), gid: Number(gid) });
  }
  return accounts;
}

/** The server account must be able to traverse every directory above its data directory. */
export function assertReachable(dir: string, account: RunAs): void {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const stat = statSync(current);
    const traversable =
      (stat.mode & 0o001) !== 0 || (stat.uid === account.uid && (stat.mode & 0o100) !== 0) || (stat.gid === account.gid && (stat.mode & 0o010) !== 0);
    if (!traversable) {
      throw new DriftGuardError(
        'POSTGRES_RUN_AS_ROOT',
        `the embedded server runs as ${account.user} (PostgreSQL refuses root) but ${account.user} cannot enter ${current}; set TMPDIR to a directory it can reach (e.g. TMPDIR=/tmp)`,
      );
    }
    if (path.dirname(current) === current) return;
  }
}
