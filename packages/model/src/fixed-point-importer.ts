import type { ConvOptions, ConvWeights, OptionsOf } from './graph-importer.js';
import { DataType } from './onnx-layout.js';
import { fixedPointDivision } from './quantization.js';
import { QUANTIZED, QuantizedImporter } from './quantized-importer.js';
import { signedWeights } from './quantized-weights.js';
import type { TfliteModel, TfliteOperator, TfliteSubgraph } from './tflite/reader.js';
import type { Activation } from './tflite/schema.js';

/** TFLite's quantized ADD shifts both inputs left by this many bits before rescaling them. */
const ADD_LEFT_SHIFT = 20;

/**
 * The int8 graph in TFLite's own arithmetic exactly (the `fixed-point` form): convolutions as
 * integer sums (ConvInteger) and ADDs as shifted integers, both requantized TFLite's way in
 * int64 operators; slow. Pools, reshapes and the softmax are the int8 graph's own.
 */
export class FixedPointImporter extends QuantizedImporter {
  constructor(model: TfliteModel, subgraph: TfliteSubgraph) {
    super(model, subgraph, 'tflite-weights');
  }

  protected override conv(op: TfliteOperator, o: ConvOptions, w: ConvWeights): void {
    const [xIndex = -1, , bIndex = -1] = op.inputs;
    const out = this.outputTensor(op);
    const x = this.quantizedInput(xIndex);
    const sums = this.integerSums(x, xIndex, bIndex, o, w);
    // TFLite's GetQuantizedConvolutionMultipler: the scales' product rounded to float, then
    // divided in double (a product kept in double moves some multipliers by one step).
    const xScale = this.quantization(this.tensor(xIndex)).scale;
    const reals = (w.tensor.quantization?.scale ?? []).map(
      (s) => Math.fround(xScale * s) / Math.fround(this.quantization(out).scale),
    );
    this.setOutput(op, this.fixedPointOutput(sums, reals, o.fusedActivation, op), QUANTIZED);
  }

  protected override add(op: TfliteOperator, o: OptionsOf<'AddOptions'>): void {
    const [a = -1, b = -1] = op.inputs;
    this.setOutput(op, this.fixedPointAdd(op, o, a, b), QUANTIZED);
  }

  /** ConvInteger's int32 sums of (x - zx)(w - zw), plus the bias: TFLite's accumulators. */
  private integerSums(
    x: string,
    xIndex: number,
    bIndex: number,
    o: ConvOptions,
    w: ConvWeights,
  ): string {
    const weights = signedWeights(w, this.elements(w.tensor));
    if (weights.channels) {
      throw new Error(
        `Fixed-point conversion needs per-tensor weights, "${w.tensor.name}" are not`,
      );
    }
    let sums = this.g.node(
      'ConvInteger',
      [
        x,
        this.g.int8Const('weight', w.dims, weights.values),
        // The zero point alone: a scale nothing reads would be an unused initializer.
        this.g.uint8Const('zero_point', [], [this.quantization(this.tensor(xIndex)).zeroPoint]),
        this.g.int8Const('weight_zero_point', [], [...weights.zeroPoints]),
      ],
      this.convAttributes(xIndex, o, w),
    );
    if (bIndex >= 0) {
      const bias = this.bias(bIndex, xIndex, w, weights.scales, [w.dims[0] ?? 0, 1, 1]);
      sums = this.g.node('Add', [sums, bias]);
    }
    return this.g.node('Cast', [sums], { to: DataType.INT64 });
  }

  /**
   * TFLite's MultiplyByQuantizedMultiplier of int64 values by `reals` (one, or one per output
   * channel of an NCHW tensor), as one truncating division (fixedPointDivision).
   */
  private requantize(x: string, reals: readonly number[]): string {
    const steps = reals.map(fixedPointDivision);
    const dims = steps.length > 1 ? [steps.length, 1, 1] : [1];
    const constant = (base: string, values: number[]) => this.g.int64Const(base, values, dims);
    const product = this.g.node('Mul', [
      x,
      constant(
        'multiplier',
        steps.map((s) => s.multiplier),
      ),
    ]);
    const negative = this.g.node('Less', [product, this.g.int64Const('zero', [0])]);
    const nudge = this.g.node('Where', [
      negative,
      constant(
        'nudge_negative',
        steps.map((s) => 1 - s.nudge),
      ),
      constant(
        'nudge',
        steps.map((s) => s.nudge),
      ),
    ]);
    const nudged = this.g.node('Add', [product, nudge]);
    return this.g.node('Div', [
      nudged,
      constant(
        'divisor',
        steps.map((s) => s.divisor),
      ),
    ]);
  }

  /** Requantized int64 sums as TFLite's uint8 output: plus the zero point, clamped, narrowed. */
  private fixedPointOutput(
    sums: string,
    reals: readonly number[],
    activation: Activation,
    op: TfliteOperator,
  ): string {
    const q = this.quantization(this.outputTensor(op));
    const [lo, hi] = this.activationBounds(activation, op);
    const shifted = this.g.node('Add', [
      this.requantize(sums, reals),
      this.g.int64Const('zero_point', [q.zeroPoint]),
    ]);
    // Always clamped: Cast wraps around where TFLite saturates.
    const clamped = this.g.node('Clip', [
      shifted,
      this.g.int64Const('clip_min', [lo], []),
      this.g.int64Const('clip_max', [hi], []),
    ]);
    return this.g.node('Cast', [clamped], { to: DataType.UINT8 });
  }

  /**
   * TFLite's quantized ADD: each input less its zero point, shifted left 20 bits, rescaled to
   * twice the larger input scale; the sum rescaled to the output's.
   */
  private fixedPointAdd(
    op: TfliteOperator,
    o: OptionsOf<'AddOptions'>,
    a: number,
    b: number,
  ): string {
    const rank = this.outputTensor(op).shape.length;
    const scaleOf = (index: number) => Math.fround(this.quantization(this.tensor(index)).scale);
    const twiceMax = 2 * Math.max(scaleOf(a), scaleOf(b));
    const rescaled = (index: number) => {
      const wide = this.g.node('Cast', [this.operand(index, rank)], { to: DataType.INT64 });
      const centered = this.g.node('Sub', [
        wide,
        this.g.int64Const('zero_point', [this.quantization(this.tensor(index)).zeroPoint]),
      ]);
      const shifted = this.g.node('Mul', [
        centered,
        this.g.int64Const('left_shift', [2 ** ADD_LEFT_SHIFT]),
      ]);
      return this.requantize(shifted, [scaleOf(index) / twiceMax]);
    };
    const sum = this.g.node('Add', [rescaled(a), rescaled(b)]);
    const outScale = Math.fround(this.quantization(this.outputTensor(op)).scale);
    return this.fixedPointOutput(
      sum,
      [twiceMax / (2 ** ADD_LEFT_SHIFT * outScale)],
      o.fusedActivation,
      op,
    );
  }
}
