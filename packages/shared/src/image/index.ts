export * from './image-format.js';
export * from './preprocess.js';
