// Harder oracle images, made at oracle time from the easy ones: crops, rotations, downscaled
// and noisy versions, where the model is unsure (top-1 well below 0.6) and the quantized
// arithmetic's small differences weigh most. Deterministic: same sources, same PNG bytes.
import sharp from 'sharp';

/** A seeded generator (LCG), so the noise is the same on every run and machine. */
function noise(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Adds uniform noise of +-amplitude to every channel of an RGB image, as PNG bytes. */
async function withNoise(bytes, amplitude, seed) {
  const { data, info } = await sharp(bytes)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const next = noise(seed);
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] + Math.round((next() * 2 - 1) * amplitude);
    out[i] = Math.max(0, Math.min(255, v));
  }
  return sharp(out, { raw: { width: info.width, height: info.height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A crop of the fraction [x, y, w, h] of the image. */
async function crop(bytes, [x, y, w, h]) {
  const { width, height } = await sharp(bytes).metadata();
  return sharp(bytes)
    .extract({
      left: Math.floor(x * width),
      top: Math.floor(y * height),
      width: Math.floor(w * width),
      height: Math.floor(h * height),
    })
    .png()
    .toBuffer();
}

/** Shrunk to `size` pixels on its longer side, then brought back (the detail is lost). */
async function downscaled(bytes, size) {
  const { width, height } = await sharp(bytes).metadata();
  const small = await sharp(bytes).resize(size, size, { fit: 'inside' }).png().toBuffer();
  return sharp(small).resize(width, height, { fit: 'fill' }).png().toBuffer();
}

const rotated = (bytes, degrees) =>
  sharp(bytes).rotate(degrees, { background: '#808080' }).png().toBuffer();

/** The variants of each source image, by name suffix. */
export const VARIANTS = [
  ['crop-tl', (b) => crop(b, [0, 0, 0.4, 0.4])],
  ['crop-br', (b) => crop(b, [0.6, 0.6, 0.4, 0.4])],
  ['crop-left', (b) => crop(b, [0, 0.25, 0.3, 0.5])],
  ['rot45', (b) => rotated(b, 45)],
  ['rot135', (b) => rotated(b, 135)],
  ['down12', (b) => downscaled(b, 12)],
  ['down20', (b) => downscaled(b, 20)],
  ['noise90', (b) => withNoise(b, 90, 7)],
  ['noise140', (b) => withNoise(b, 140, 11)],
  ['rot30-noise60', async (b) => withNoise(await rotated(b, 30), 60, 13)],
];

/** Every variant of one source image: [name, PNG bytes]; undefined where sharp cannot read it (BMP). */
export async function hardVariants(file, bytes) {
  try {
    await sharp(bytes).metadata();
  } catch {
    return undefined;
  }
  const stem = file.replace(/\.[^.]+$/, '');
  const out = [];
  for (const [suffix, make] of VARIANTS) out.push([`${stem}~${suffix}.png`, await make(bytes)]);
  return out;
}
