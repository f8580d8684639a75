import { workerData } from 'node:worker_threads';
import type { Prediction } from '@imagerec/shared';
import { Classifier } from './classifier.js';

export interface InferenceThreadData {
  onnxPath: string;
  labels: string[];
  intraOpThreads: number;
}

export interface InferenceTask {
  /** Every image of the batch back to back, transferred rather than copied. */
  pixels: ArrayBuffer;
  /** Byte length of each image, in order. */
  lengths: number[];
  topK: number;
}

export interface InferenceOutput {
  predictions: Prediction[][];
  /** Time inside the model only, without the hops between threads. */
  inferenceMs: number;
}

// Loaded once per thread: creating the session costs far more than a batch.
const classifier = await Classifier.create(workerData as InferenceThreadData);

export default async function infer({
  pixels,
  lengths,
  topK,
}: InferenceTask): Promise<InferenceOutput> {
  const images: Uint8Array[] = [];
  let offset = 0;
  for (const length of lengths) {
    images.push(new Uint8Array(pixels, offset, length));
    offset += length;
  }
  const started = performance.now();
  const predictions = await classifier.classify(images, topK);
  return { predictions, inferenceMs: Math.round((performance.now() - started) * 10) / 10 };
}
