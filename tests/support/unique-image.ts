import sharp from 'sharp';
import type { FilePart } from './multipart.js';

/** A picture no earlier run has uploaded, so the result cache cannot answer it. */
export const uniqueImage = async (filename: string): Promise<FilePart> => {
  const noise = Buffer.from(
    Array.from({ length: 32 * 32 * 3 }, () => Math.floor(Math.random() * 256)),
  );
  const bytes = await sharp(noise, { raw: { width: 32, height: 32, channels: 3 } })
    .png()
    .toBuffer();
  return { filename, bytes };
};
