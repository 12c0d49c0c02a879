// The CLI as the launcher (src/cli/index.ts) loads it: bundled to dist/cli-app.cjs.

import { main } from './main.js';

/** Runs drift-guard with the process's arguments and streams; resolves to the exit code. */
export function run(): Promise<number> {
  return main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
  });
}
