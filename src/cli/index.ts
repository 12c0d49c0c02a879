#!/usr/bin/env node
// Entry point of the `drift-guard` binary (dist/cli.js): a small launcher that loads the CLI
// bundle (dist/cli-app.cjs) through V8's code cache (src/cli/compile-cache.ts).

import { fileURLToPath } from 'node:url';
import { loadBundle } from './compile-cache.js';

const args = process.argv.slice(2);
// The command word names the cache: skip options and the value of --config.
const command = args.find((arg, i) => /^[a-z][a-z-]*$/.test(arg) && !['-c', '--config'].includes(args[i - 1] ?? '')) ?? 'none';
const bundle = loadBundle(fileURLToPath(new URL('./cli-app.cjs', import.meta.url)), command, process.env);
process.exitCode = await (bundle.exports.run as () => Promise<number>)();
bundle.saveCache();
