export * from './importer.js';
export * from './model-input.js';
export * from './model-store.js';
export * from './prepare-model.js';
export * from './tflite/reader.js';
