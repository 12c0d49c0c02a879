import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // The suite starts real PostgreSQL servers; two at a time suits a 2-core CI machine.
    maxWorkers: 2,
    reporters: ['default'],
    // Every incremental schema read (src/introspect/incremental.ts) is compared with a full read
    // of the same database, in this process and in the CLIs the tests start: a difference fails.
    env: { DRIFT_GUARD_VERIFY_INCREMENTAL: '1' },
  },
});
