"""What TFLite's fixed-point requantization would buy and cost in ONNX: the converted int8 graph
rebuilt with every QLinearConv as ConvInteger (onnxruntime's int32 sums) followed by TFLite's
MultiplyByQuantizedMultiplier in int64 operators, and every QLinearAdd as TFLite's quantized ADD
(inputs shifted left 20 bits, each rescaled, summed, rescaled again), then run on every image of
the oracle's dump against TFLite's interpreter, with its time per image at one thread.

usage: python fixed-point.py <dump-dir>   (scripts/oracle/per-operator.sh runs it)
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from compare import BOUND, tflite_probabilities
from onnx import TensorProto, helper, numpy_helper
from per_operator import quantize_multiplier

# TFLite's quantized ADD shifts its inputs left by this many bits before rescaling them.
ADD_LEFT_SHIFT = 20


class FixedPointGraph:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.nodes: list = []
        self.initializers: list = []
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f"fixed_point_{self.count}"

    def const(self, value: int) -> str:
        name = self.name()
        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name()
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def scale(self, name: str) -> float:
        return float(np.float32(self.consts[name].reshape(-1)[0]))

    def requantize(self, x: str, real: float) -> str:
        """MultiplyByQuantizedMultiplier for a multiplier below 1: both roundings in one division.

        TFLite rounds x * m / 2^31 half up (towards zero for negative halves), then divides by 2^e
        rounding halves away from zero; for integers that is one truncating division of
        x * m + c by 2^(31 + e), c = 2^30 + 2^(30 + e) (less 1 when negative; no 2^(30 + e) when
        e = 0).
        """
        fixed, shift = quantize_multiplier(real)
        if shift > 0:
            raise SystemExit(f"multiplier {real} >= 1 is not handled")
        e = -shift
        product = self.node("Mul", [x, self.const(fixed)])
        positive = (1 << 30) + ((1 << (30 + e)) if e else 0)
        negative = self.node("Less", [product, self.const(0)])
        nudge = self.node("Where", [negative, self.const(1 - positive), self.const(positive)])
        summed = self.node("Add", [product, nudge])
        return self.node("Div", [summed, self.const(1 << (31 + e))])

    def output(self, value: str, zero_point: str, clip, final: str) -> None:
        lo, hi = 0, 255
        if clip is not None:
            lo, hi = (int(self.consts[clip.input[1]]), int(self.consts[clip.input[2]]))
        shifted = self.node("Add", [value, self.const(int(self.consts[zero_point]))])
        clamped = self.node("Clip", [shifted, self.const(lo), self.const(hi)])
        self.nodes.append(helper.make_node("Cast", [clamped], [final], to=TensorProto.UINT8))

    def conv(self, node, clip, final: str) -> None:
        x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero = node.input[:8]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        acc = self.node("ConvInteger", [x, w, x_zero, w_zero], **attrs)
        if len(node.input) > 8:
            bias = self.name()
            self.initializers.append(
                numpy_helper.from_array(self.consts[node.input[8]].reshape(-1, 1, 1), bias)
            )
            acc = self.node("Add", [acc, bias])
        wide = self.node("Cast", [acc], to=TensorProto.INT64)
        real = self.scale(x_scale) * self.scale(w_scale) / self.scale(y_scale)
        self.output(self.requantize(wide, real), y_zero, clip, final)

    def add(self, node, clip, final: str) -> None:
        a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = node.input[:8]
        twice_max = 2 * max(self.scale(a_scale), self.scale(b_scale))

        def rescaled(x: str, scale: str, zero: str) -> str:
            wide = self.node("Cast", [x], to=TensorProto.INT64)
            centered = self.node("Sub", [wide, self.const(int(self.consts[zero]))])
            shifted = self.node("Mul", [centered, self.const(1 << ADD_LEFT_SHIFT)])
            return self.requantize(shifted, self.scale(scale) / twice_max)

        raw = self.node("Add", [rescaled(a, a_scale, a_zero), rescaled(b, b_scale, b_zero)])
        real = twice_max / ((1 << ADD_LEFT_SHIFT) * self.scale(y_scale))
        self.output(self.requantize(raw, real), y_zero, clip, final)

    def build(self) -> bytes:
        graph = self.model.graph
        nodes = list(graph.node)
        i = 0
        while i < len(nodes):
            node = nodes[i]
            after = nodes[i + 1] if i + 1 < len(nodes) else None
            fused = after is not None and after.op_type == "Clip" and after.input[0] == node.output[0]
            clip = after if fused else None
            final = clip.output[0] if clip is not None else node.output[0]
            if node.op_type == "QLinearConv":
                self.conv(node, clip, final)
            elif node.op_type == "QLinearAdd":
                self.add(node, clip, final)
            else:
                self.nodes.append(node)
                i += 1
                continue
            i += 2 if clip is not None else 1
        del graph.node[:]
        graph.node.extend(self.nodes)
        graph.initializer.extend(self.initializers)
        return self.model.SerializeToString()


def main() -> int:
    dump = Path(sys.argv[1])
    manifest = json.loads((dump / "manifest.json").read_text())
    size = manifest["inputSize"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        FixedPointGraph(onnx.load(manifest["onnx"]["int8"])).build(), options
    )
    tflite = tflite_probabilities(manifest, dump)
    failures, worst, times = 0, 0.0, []
    for image in manifest["images"]:
        pixels = np.fromfile(dump / image["pixels"], dtype=np.uint8).reshape(1, size, size, 3)
        started = time.perf_counter()
        probabilities = session.run(None, {"input": pixels})[0][0]
        times.append(time.perf_counter() - started)
        expected = tflite[image["file"]]
        diff = float(np.max(np.abs(expected - probabilities)))
        same = int(np.argmax(expected[1:])) == int(np.argmax(probabilities[1:]))
        failures += not (same and diff <= BOUND)
        worst = max(worst, diff)
    print(
        f"\nint8 with TFLite's fixed-point requantization (ConvInteger + int64 operators): "
        f"{len(times) - failures} of {len(times)} images give TFLite's top-1 within {BOUND}, "
        f"worst max |dp| {worst:.4f}; {1000 * float(np.median(times)):.0f} ms per image, 1 thread"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
