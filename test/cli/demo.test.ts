// `npm ci && npm run demo && npm test` must run through: the demo prints the failing report of the
// example PR and exits 0, saying why the gate failed.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, collect, repoRoot } from '../helpers.js';

describe('npm run demo', () => {
  it('prints the gate failing the example PR, says that is the point, and exits 0', async () => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'demo.mjs')], { cwd: repoRoot, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const result = await collect(child);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('error ROLLBACK_INCOMPLETE');
    expect(result.stdout).toContain('warning DESTRUCTIVE_CHANGE');
    expect(result.stderr).toContain('demo: drift-guard check exited 1, as it should');
  }, 180_000);
});
