/** The side of the model's square input image, pixels. */
const INPUT_SIZE = 224;

/** The published model this service serves, pinned by checksum. */
export const MODEL_SPEC = {
  name: 'mobilenet_v2_1.0_224_quant',
  source: {
    file: 'mobilenet_v2_1.0_224_quant.tflite',
    url: 'https://github.com/google-coral/test_data/raw/master/mobilenet_v2_1.0_224_quant.tflite',
    sha256: '7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776',
  },
  labels: {
    file: 'imagenet_labels.txt',
    url: 'https://github.com/google-coral/test_data/raw/master/imagenet_labels.txt',
    sha256: 'b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1',
  },
  /** The converted models, one per precision, written beside the source. */
  onnxFiles: {
    int8: 'mobilenet_v2_1.0_224_quant.int8.onnx',
    'int8-fast': 'mobilenet_v2_1.0_224_quant.int8-fast.onnx',
    'int8-exact': 'mobilenet_v2_1.0_224_quant.int8-exact.onnx',
    fp32: 'mobilenet_v2_1.0_224_quant.fp32.onnx',
  },
  inputSize: INPUT_SIZE,
  /** One input image: inputSize x inputSize RGB triplets, uint8. */
  inputBytes: INPUT_SIZE * INPUT_SIZE * 3,
} as const;

/**
 * How the model runs: int8 keeps the TFLite file's own uint8 quantization (integer kernels);
 * int8-fast the same activations with the weights requantized as symmetric int8 per output
 * channel, the form of onnxruntime's fastest kernels; int8-exact TFLite's own arithmetic to the
 * bit (fixed-point requantization in int64 operators, tens of times slower); fp32 dequantizes
 * the weights once and computes in float.
 */
export const MODEL_PRECISIONS = ['int8', 'int8-fast', 'int8-exact', 'fp32'] as const;
export type ModelPrecision = (typeof MODEL_PRECISIONS)[number];

/**
 * Results of different model files or precisions never mix: the version is the source's
 * checksum and the precision, e.g. 7aad0c74c5e3-int8.
 */
export const modelInfo = (precision: ModelPrecision) => ({
  name: MODEL_SPEC.name,
  version: `${MODEL_SPEC.source.sha256.slice(0, 12)}-${precision}`,
});
