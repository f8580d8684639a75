import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources of the workspace packages, not their builds; the
// test support code (tests/support) is one more of them, imported as @imagerec/test-support/<module>.
// The first key that matches wins: a package's subpath export before the package.
const alias = {
  '@imagerec/model/model-input': fileURLToPath(
    new URL('./packages/model/src/model-input.ts', import.meta.url),
  ),
  '@imagerec/shared': fileURLToPath(new URL('./packages/shared/src/index.ts', import.meta.url)),
  '@imagerec/model': fileURLToPath(new URL('./packages/model/src/index.ts', import.meta.url)),
  '@imagerec/client': fileURLToPath(new URL('./packages/client/src/index.ts', import.meta.url)),
  '@imagerec/test-support': fileURLToPath(new URL('./tests/support', import.meta.url)),
};

// The one way out of the checkout: the model mirror and the images with known answers live in
// the `shared` folder beside it (TEST_SHARED_DIR names another). Read through tests/support/shared-files.ts.
const sharedDir =
  process.env.TEST_SHARED_DIR ?? fileURLToPath(new URL('../shared', import.meta.url));

export default defineConfig({
  resolve: { alias },
  test: {
    provide: { sharedDir },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'scripts/**/*.test.ts',
          ],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'component',
          include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // One file at a time: the worker's stall test measures its event loop under load.
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // The compose deployment that scripts/test-compose builds and starts.
          name: 'compose',
          include: ['tests/compose/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // The Helm chart on the cluster that scripts/test-k8s brings up; one sequence of steps.
          name: 'k8s',
          include: ['tests/k8s/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          sequence: { concurrent: false },
        },
      },
      {
        extends: true,
        test: {
          // Stops and kills processes of the running stack: after every other tier.
          name: 'faults',
          include: ['tests/faults/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          sequence: { concurrent: false },
        },
      },
    ],
  },
});
