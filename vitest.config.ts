import { defineConfig } from 'vitest/config';

// One vitest run over the whole workspace, so the README's test command prints one summary.
// Packages resolve each other through the "source" export condition (their src/*.ts), so
// tests never run against a stale dist/. Worker entry points still load from dist/ (built
// by turbo before the tests), because .ts workers fail under vitest on Node 20.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
