import { join } from 'node:path';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The `shared` folder beside the checkout, or TEST_SHARED_DIR (vitest.config.ts). */
    sharedDir: string;
  }
}

/** Files from outside the checkout, all under the one folder that vitest.config.ts provides. */
const sharedDir = inject('sharedDir');

/** The test images with known answers, with a trailing separator. */
export const IMAGES_DIR = join(sharedDir, 'images/');
/** The model mirror that scripts/setup fills. */
export const SHARED_MODELS_DIR = join(sharedDir, 'models');
