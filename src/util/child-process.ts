// Every child process drift-guard starts ends with drift-guard. A tracked child is registered with
// the cleanup registry while it runs: on SIGINT/SIGTERM/SIGHUP it gets SIGTERM, then SIGKILL if it
// has not exited within a few seconds, and the cleanup waits for it before anything else is
// released (a psql that is still running could otherwise COMMIT after drift-guard has gone).

import type { ChildProcess } from 'node:child_process';
import { registerCleanup } from './cleanup.js';

const GRACE_MS = 5_000;

/**
 * Registers `child` for cleanup on signals until it exits; returns a promise that resolves when it
 * has exited. `signal`: the first signal it gets (default SIGTERM; SIGINT makes psql cancel the
 * running query on the server before it exits). `group`: the child was spawned with `detached: true` (its own process group, e.g. a
 * shell running the user's command), and the whole group is signalled, grandchildren included.
 */
export function trackChild(child: ChildProcess, options: { group?: boolean; signal?: NodeJS.Signals } = {}): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const release = registerCleanup(() => stopChild(child, exited, options.group === true, options.signal), { first: true });
  void exited.then(release);
  return exited;
}

/** SIGTERM, then SIGKILL after the grace period; resolves when the child is gone. */
export async function stopChild(child: ChildProcess, exited: Promise<void>, group = false, first: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.pid === undefined) return;
  const running = child.exitCode === null && child.signalCode === null;
  // A group may outlive its leader (the shell exited, the command it started did not).
  if (!running && !group) return;
  signal(child, first, group);
  const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), GRACE_MS).unref())]);
  if (!gone || group) {
    if (group && gone) await new Promise((resolve) => setTimeout(resolve, 200).unref());
    signal(child, 'SIGKILL', group);
    await exited;
  }
}

function signal(child: ChildProcess, name: NodeJS.Signals, group: boolean): void {
  try {
    if (group && child.pid !== undefined) process.kill(-child.pid, name);
    else child.kill(name);
  } catch {
    // Already gone.
  }
}
