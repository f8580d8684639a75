import sharp from 'sharp';

/** A PNG of random pixels: content no earlier run uploaded, so the result cache cannot answer it. */
export const noisePng = (side: number) =>
  sharp(Buffer.from(Array.from({ length: side * side * 3 }, () => Math.random() * 256)), {
    raw: { width: side, height: side, channels: 3 },
  })
    .png()
    .toBuffer();
