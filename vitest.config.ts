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
  },
});
