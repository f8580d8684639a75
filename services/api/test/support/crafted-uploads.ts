import { crc32, deflateSync } from 'node:zlib';

/** A multipart body written by hand, for what FormData would not send (raw filenames, bad framing). */
export function rawMultipart(
  parts: { headers: string; bytes: Buffer }[],
  boundary = 'xXbOuNdArYXx',
) {
  const chunks = parts.flatMap((p) => [
    Buffer.from(`--${boundary}\r\n${p.headers}\r\n\r\n`, 'latin1'),
    p.bytes,
    Buffer.from('\r\n'),
  ]);
  return {
    payload: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

export const imagePart = (filename: string, bytes: Buffer) => ({
  // The filename goes in as UTF-8 bytes, as browsers send it.
  headers: Buffer.from(
    `Content-Disposition: form-data; name="image"; filename="${filename}"\r\nContent-Type: application/octet-stream`,
  ).toString('latin1'),
  bytes,
});

/** A PNG chunk with its CRC; `badCrc` spoils it. */
function chunk(type: string, data: Buffer, badCrc = false) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(body) ^ (badCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose header declares width x height, with one row of real data (a decompression bomb's shape). */
export function declaredPng(width: number, height: number, badCrc = false) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr, badCrc),
    chunk('IDAT', deflateSync(Buffer.alloc(1 + Math.min(width, 64) * 3))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
