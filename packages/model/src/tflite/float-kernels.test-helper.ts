// Straightforward NHWC references of TFLite's float kernels, written independently of the
// importer.

export type Activation = 'NONE' | 'RELU' | 'RELU6';

const samePadBefore = (size: number, k: number, stride: number) =>
  Math.floor(Math.max((Math.ceil(size / stride) - 1) * stride + k - size, 0) / 2);

export function applyActivation(v: number, a: Activation): number {
  if (a === 'RELU') return Math.max(0, v);
  if (a === 'RELU6') return Math.min(6, Math.max(0, v));
  return v;
}

export interface Image {
  n: number;
  h: number;
  w: number;
  c: number;
  data: number[];
}

export const at = (x: Image, b: number, y: number, i: number, ch: number) =>
  y < 0 || i < 0 || y >= x.h || i >= x.w
    ? undefined
    : (x.data[((b * x.h + y) * x.w + i) * x.c + ch] ?? 0);

/** weight(o, ky, kx, inputChannel) -> value; depthwise when `channelOf` is given. */
export function refConv(
  x: Image,
  outC: number,
  k: number,
  stride: number,
  same: boolean,
  weight: (o: number, ky: number, kx: number, ic: number) => number,
  bias: number[],
  act: Activation,
  channelOf?: (o: number) => number,
): Image {
  const oh = same ? Math.ceil(x.h / stride) : Math.floor((x.h - k) / stride) + 1;
  const ow = same ? Math.ceil(x.w / stride) : Math.floor((x.w - k) / stride) + 1;
  const pt = same ? samePadBefore(x.h, k, stride) : 0;
  const pl = same ? samePadBefore(x.w, k, stride) : 0;
  const data: number[] = [];
  for (let b = 0; b < x.n; b++)
    for (let y = 0; y < oh; y++)
      for (let i = 0; i < ow; i++)
        for (let o = 0; o < outC; o++) {
          let sum = bias[o] ?? 0;
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const channels = channelOf ? [channelOf(o)] : [...Array(x.c).keys()];
              for (const ic of channels) {
                const v = at(x, b, y * stride - pt + ky, i * stride - pl + kx, ic);
                if (v !== undefined) sum += v * weight(o, ky, kx, ic);
              }
            }
          data.push(applyActivation(sum, act));
        }
  return { n: x.n, h: oh, w: ow, c: outC, data };
}
