// The benchmark's photos: the test pictures re-encoded as JPEG at several sizes, each request's
// bytes made unique by a random tail after the JPEG's end, so the result cache never answers.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const WIDTHS = [512, 768, 1024, 1352];

/** Twelve JPEGs, 512 to 1352 px wide, from the distinct pictures in `dir`. */
export async function loadPhotos(dir, count = 12) {
  // Not BMP: cat.bmp is cat.png, and libvips does not read BMP.
  const sources = readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((f) => ({ name: f.replace(/\.[^.]+$/, ''), bytes: readFileSync(join(dir, f)) }));
  const photos = [];
  for (let i = 0; photos.length < count; i++) {
    const src = sources[i % sources.length];
    const width = WIDTHS[i % WIDTHS.length];
    const bytes = await sharp(src.bytes).resize({ width }).jpeg({ quality: 85 }).toBuffer();
    photos.push({ name: `${src.name}-${width}.jpg`, width, bytes });
  }
  return photos;
}

const BOUNDARY = '----imagerec-bench-boundary';
export const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

/** A multipart body with the given files in the field `image`, each with a unique tail. */
export function multipart(files) {
  const parts = files.flatMap(({ name, bytes }) => [
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="${name}"\r\n` +
        'Content-Type: image/jpeg\r\n\r\n',
    ),
    bytes,
    randomBytes(16),
    Buffer.from('\r\n'),
  ]);
  return Buffer.concat([...parts, Buffer.from(`--${BOUNDARY}--\r\n`)]);
}
