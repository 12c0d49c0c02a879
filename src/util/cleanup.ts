// Process-wide cleanup on SIGINT/SIGTERM/SIGHUP. Scoped resources (servers, temp dirs, scratch
// databases) register a release task while they are held; `finally` blocks release them on the
// normal and the error paths, and this registry releases them when a signal arrives instead.

type CleanupTask = () => Promise<void> | void;

interface Registered {
  readonly task: CleanupTask;
  /** Runs before every other task (child processes: they must be gone before their server or files are). */
  readonly first: boolean;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNAL_EXIT_CODES: Record<(typeof SIGNALS)[number], number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
const CLEANUP_DEADLINE_MS = 20_000;

/** Longest one task may take before the next runs: a hung release must not keep a server running. */
const TASK_DEADLINE_MS = 8_000;

const tasks = new Map<number, Registered>();
let nextId = 0;
let handling = false;

/** Registers a task to run if the process is interrupted; returns the function that unregisters it. */
export function registerCleanup(task: CleanupTask, options: { first?: boolean } = {}): () => void {
  const id = nextId++;
  tasks.set(id, { task, first: options.first === true });
  if (tasks.size === 1) installHandlers();
  return () => {
    if (tasks.delete(id) && tasks.size === 0 && !handling) removeHandlers();
  };
}

/**
 * Runs every registered task: child processes first (all at once, each waited for), then the
 * rest newest first. Errors are swallowed and each task has a deadline, so that every task runs.
 */
export async function runCleanupTasks(): Promise<void> {
  const pending = [...tasks.values()].reverse();
  tasks.clear();
  await Promise.all(pending.filter((t) => t.first).map((t) => bounded(t.task)));
  for (const registered of pending.filter((t) => !t.first)) await bounded(registered.task);
}

/** Whether a signal is being handled (the process exits when its cleanup is done). */
export function shuttingDown(): boolean {
  return handling;
}

async function bounded(task: CleanupTask): Promise<void> {
  try {
    await Promise.race([task(), new Promise((resolve) => setTimeout(resolve, TASK_DEADLINE_MS).unref())]);
  } catch {
    // A failing release must not stop the others; the resource may already be gone.
  }
}

function onSignal(signal: (typeof SIGNALS)[number]): void {
  if (handling) {
    // A second signal while cleaning up: the user insists, so leave now.
    process.exit(SIGNAL_EXIT_CODES[signal]);
  }
  handling = true;
  // If the command finishes first (its child was just stopped, say), it still exits as signalled.
  process.exitCode = SIGNAL_EXIT_CODES[signal];
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
