import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One test file per core. Vitest's default is cores - 1, which on CI's 2-core machine ran
    // the files one after another and left a core idle for most of the 15-minute run.
    maxWorkers: availableParallelism(),
  },
});
