#!/usr/bin/env node
// Entry point of the `drift-guard` binary (bundled to dist/cli.js).

import { main } from './main.js';

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
});
process.exitCode = code;
