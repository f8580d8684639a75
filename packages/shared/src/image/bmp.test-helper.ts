import type { Rgba } from './preprocess.test-helper.js';

interface BmpOptions {
  bpp: 8 | 24 | 32;
  topDown?: boolean;
  /** Unused bytes between the headers and the pixels. */
  gap?: number;
  compression?: number;
}

/** Writes a BMP by hand so the decoder is checked against the format, not against itself. */
export function makeBmp(
  width: number,
  height: number,
  colourAt: (x: number, y: number) => Rgba,
  { bpp, topDown = false, gap = 0, compression }: BmpOptions,
): Buffer {
  const dibSize = bpp === 32 ? 124 : 40;
  const palette: Rgba[] = [];
  if (bpp === 8) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const c = colourAt(x, y);
        if (!palette.some((p) => p.join() === c.join())) palette.push(c);
      }
    }
  }
  const rowBytes = Math.ceil((bpp * width) / 32) * 4;
  const pixelOffset = 14 + dibSize + palette.length * 4 + gap;
  const buf = Buffer.alloc(pixelOffset + rowBytes * height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(pixelOffset, 10);
  buf.writeUInt32LE(dibSize, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(topDown ? -height : height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(bpp, 28);
  buf.writeUInt32LE(compression ?? (bpp === 32 ? 3 : 0), 30);
  buf.writeUInt32LE(rowBytes * height, 34);
  buf.writeUInt32LE(palette.length, 46);
  if (bpp === 32) {
    [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000].forEach((mask, i) => {
      buf.writeUInt32LE(mask, 54 + 4 * i);
    });
    buf.write('sRGB', 70, 'latin1');
  }
  palette.forEach(([r, g, b], i) => {
    buf.set([b, g, r, 0], 14 + dibSize + 4 * i);
  });
  for (let row = 0; row < height; row++) {
    const y = topDown ? row : height - 1 - row;
    for (let x = 0; x < width; x++) {
      const c = colourAt(x, y);
      const [r, g, b, a] = c;
      const o = pixelOffset + row * rowBytes + (x * bpp) / 8;
      if (bpp === 8) buf[o] = palette.findIndex((p) => p.join() === c.join());
      else buf.set(bpp === 24 ? [b, g, r] : [b, g, r, a], o);
    }
  }
  return buf;
}
