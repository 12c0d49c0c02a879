// Process-wide cleanup on SIGINT/SIGTERM/SIGHUP. Scoped resources (servers, temp dirs, scratch
// databases) register a release task while they are held; `finally` blocks release them on the
// normal and the error paths, and this registry releases them when a signal arrives instead.

type CleanupTask = () => Promise<void> | void;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNAL_EXIT_CODES: Record<(typeof SIGNALS)[number], number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
const CLEANUP_DEADLINE_MS = 20_000;

const tasks = new Map<number, CleanupTask>();
let nextId = 0;
let handling = false;

/** Registers a task to run if the process is interrupted; returns the function that unregisters it. */
export function registerCleanup(task: CleanupTask): () => void {
  const id = nextId++;
  tasks.set(id, task);
  if (tasks.size === 1) installHandlers();
  return () => {
    if (tasks.delete(id) && tasks.size === 0 && !handling) removeHandlers();
  };
}

/** Runs every registered task, newest first; errors are swallowed so that every task runs. */
export async function runCleanupTasks(): Promise<void> {
  const pending = [...tasks.entries()].reverse();
  tasks.clear();
  for (const [, task] of pending) {
    try {
      await task();
    } catch {
      // A failing release must not stop the others; the resource may already be gone.
    }
  }
}

function onSignal(signal: (typeof SIGNALS)[number]): void {
  if (handling) {
    // A second signal while cleaning up: the user insists, so leave now.
    process.exit(SIGNAL_EXIT_CODES[signal]);
  }
  handling = true;
  process.stderr.write(`\ndrift-guard: ${signal} received, cleaning up...\n`);
  const deadline = setTimeout(() => process.exit(SIGNAL_EXIT_CODES[signal]), CLEANUP_DEADLINE_MS);
  deadline.unref();
  void runCleanupTasks().finally(() => process.exit(SIGNAL_EXIT_CODES[signal]));
}

const listeners = new Map<string, () => void>();

function installHandlers(): void {
  for (const signal of SIGNALS) {
    const listener = (): void => onSignal(signal);
    listeners.set(signal, listener);
    process.on(signal, listener);
  }
}

function removeHandlers(): void {
  for (const [signal, listener] of listeners) process.off(signal, listener);
  listeners.clear();
}
