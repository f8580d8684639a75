// The worker's inference thread imports this module alone (the package's index would load the
// importer with it), so it imports nothing.

/** Channels of the pixels the service makes: RGB. */
export const PIXEL_CHANNELS = 3;
/** onnxruntime's symmetric int8 convolution kernel takes input channels in multiples of 4. */
export const KERNEL_CHANNEL_ALIGNMENT = 4;

/**
 * A batch of RGB images, `imageBytes` each, laid out as a model input with `channels` channels:
 * 3 as they are; 4 with a zero byte after each pixel (the input of int8-fast, whose first
 * convolution has zero weights for that channel).
 */
export function modelInput(
  images: readonly Uint8Array[],
  imageBytes: number,
  channels: number,
): Uint8Array {
  if (channels !== PIXEL_CHANNELS && channels !== KERNEL_CHANNEL_ALIGNMENT) {
    throw new Error(`A model input of ${channels} channels is not supported (3 or 4)`);
  }
  const pixels = imageBytes / PIXEL_CHANNELS;
  const input = new Uint8Array(images.length * pixels * channels);
  images.forEach((image, i) => {
    if (image.length !== imageBytes) {
      throw new Error(`Image ${i} of the batch has ${image.length} bytes, expected ${imageBytes}`);
    }
    if (channels === PIXEL_CHANNELS) input.set(image, i * imageBytes);
    else padPixels(image, input.subarray(i * pixels * 4, (i + 1) * pixels * 4));
  });
  return input;
}

/**
 * RGB -> RGB0, four pixels (three 32-bit words in, four out) at a time: a byte at a time took
 * about twice as long, most of what the faster convolution saves. Little-endian, as every
 * platform onnxruntime-node ships for.
 */
function padPixels(rgb: Uint8Array, out: Uint8Array): void {
  const source = rgb.byteOffset % 4 === 0 ? rgb : rgb.slice();
  const words = Math.floor(source.length / 12) * 3;
  const from = new Uint32Array(source.buffer, source.byteOffset, words);
  const to = new Uint32Array(out.buffer, out.byteOffset, (words / 3) * 4);
  for (let i = 0, o = 0; i < words; i += 3, o += 4) {
    const w0 = from[i] ?? 0;
    const w1 = from[i + 1] ?? 0;
    const w2 = from[i + 2] ?? 0;
    to[o] = w0 & 0xffffff;
    to[o + 1] = (w0 >>> 24) | ((w1 & 0xffff) << 8);
    to[o + 2] = (w1 >>> 16) | ((w2 & 0xff) << 16);
    to[o + 3] = w2 >>> 8;
  }
  // The last pixels when their count is not a multiple of 4.
  for (let p = (words / 3) * 4; p * 3 < source.length; p++) {
    out.set(source.subarray(p * 3, p * 3 + 3), p * 4);
  }
}
