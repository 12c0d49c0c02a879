// The CLI as the launcher (src/cli/index.ts) loads it: bundled to dist/cli-app.cjs.

import { runCleanupTasks, shuttingDown } from '../util/cleanup.js';
import { main } from './main.js';

/** Runs drift-guard with the process's arguments and streams; resolves to the exit code. */
export async function run(): Promise<number> {
  stopQuietlyWhenTheReaderGoes();
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
  });
  // A signal arrived while the command ran (and may have made it fail): the exit code says so.
  return shuttingDown() && typeof process.exitCode === 'number' ? process.exitCode : code;
}

/**
 * `drift-guard diff ... | head`: once the reader has closed the pipe there is nobody left to tell
 * anything, so release what is held (scratch servers, temp folders) and exit 0, instead of
 * crashing on the unhandled EPIPE with a stack trace.
 */
function stopQuietlyWhenTheReaderGoes(): void {
  let stopping = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (stopping) return;
    stopping = true;
    void runCleanupTasks().finally(() => process.exit(0));
  });
}
