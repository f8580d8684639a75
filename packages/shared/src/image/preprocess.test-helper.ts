import { readFileSync } from 'node:fs';
import { IMAGES_DIR } from '@imagerec/test-support/shared-files';
import sharp from 'sharp';
import { expect } from 'vitest';
import { DEFAULT_MAX_PIXELS } from '../config.js';
import { AppError } from '../errors.js';
import { MODEL_SPEC } from '../model-spec.js';

// What the image tests share: the test images, the model input's size, colours and checks.
export const image = (name: string) => readFileSync(`${IMAGES_DIR}${name}`);
export const SIZE = MODEL_SPEC.inputSize;
export const opts = { maxPixels: DEFAULT_MAX_PIXELS };

export type Rgb = [number, number, number];
export type Rgba = [number, number, number, number];

export const at = (pixels: Buffer, x: number, y: number): Rgb => {
  const i = (y * SIZE + x) * 3;
  return [pixels[i] as number, pixels[i + 1] as number, pixels[i + 2] as number];
};

export const meanAbsDiff = (a: Buffer, b: Buffer) => {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
};

export const expectColour = (actual: Rgb, expected: Rgb, tolerance = 1) => {
  for (let c = 0; c < 3; c++) {
    expect(
      Math.abs((actual[c] ?? 0) - (expected[c] ?? 0)),
      `${actual} vs ${expected}`,
    ).toBeLessThanOrEqual(tolerance);
  }
};

export async function expectAppError(promise: Promise<unknown>, code: string, status: number) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ code, status });
  return err as AppError;
}

/** A width x height raw image whose top half is `top` and bottom half `bottom`. */
export function halves(width: number, height: number, top: Rgba, bottom: Rgba) {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(y < height / 2 ? top : bottom, (y * width + x) * 4);
  }
  return sharp(data, { raw: { width, height, channels: 4 } });
}

/** A smooth colour gradient, so lossy formats stay close to the lossless ones. */
export function gradient(width: number, height: number) {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([(x * 255) / width, (y * 255) / height, 128], (y * width + x) * 3);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

export const ORANGE: Rgba = [200, 100, 50, 255];
export const SKY: Rgba = [10, 150, 250, 255];
export const CLEAR: Rgba = [0, 0, 0, 0];
export const splitColour = (height: number) => (_x: number, y: number) =>
  y < height / 2 ? ORANGE : SKY;
export const rgb = (c: Rgba): Rgb => [c[0], c[1], c[2]];
