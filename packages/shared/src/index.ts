export * from './config.js';
export * from './errors.js';
export * from './model-spec.js';
export * from './queue.js';
export * from './db/prediction.repository.js';
