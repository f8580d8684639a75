"""Where the int8 graph leaves TFLite's integers: each quantized operator of the converted int8
model run alone in onnxruntime on TFLite's own input tensors for it (so no earlier difference
carries over), its uint8 output against TFLite's. For each convolution also TFLite's fixed-point
requantization (a 31-bit multiplier and a rounding shift: two roundings) applied to
onnxruntime's own int32 sums (ConvInteger): 0 differing outputs there says the sums agree and
only the requantization differs. Then the int8-exact model on every image of the dump, every
operator's uint8 output against TFLite's.

usage: python per-operator.py <dump-dir> <image file name in the dump, e.g. parrot~rot135.png>
(needs onnx and onnxruntime besides ai-edge-litert: scripts/oracle/per-operator.sh runs it)
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from onnx import TensorProto, helper, numpy_helper

QUANTIZED_OPS = ("QLinearConv", "QLinearAdd", "QLinearGlobalAveragePool")


def tflite_run(model: str, pixels: np.ndarray) -> Interpreter:
    interpreter = Interpreter(
        model_path=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
    interpreter.invoke()
    return interpreter


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: a 31-bit fixed-point multiplier and a power-of-two shift."""
    fraction, shift = math.frexp(real)
    fixed = round(fraction * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    return fixed, shift


def tflite_requantize(acc: np.ndarray, real: float) -> np.ndarray:
    """MultiplyByQuantizedMultiplier: SaturatingRoundingDoublingHighMul, RoundingDivideByPOT."""
    fixed, shift = quantize_multiplier(real)
    product = acc.astype(np.int64) * (1 << max(shift, 0)) * fixed
    nudged = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))  # C's truncating division
    exponent = max(-shift, 0)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> exponent) + ((high & mask) > threshold)


def session(nodes, inputs, initializers, output: str, opsets, out_type=TensorProto.UINT8):
    graph = helper.make_graph(
        nodes, "op", inputs, [helper.make_tensor_value_info(output, out_type, None)], initializers
    )
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options)


def nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2) if a.ndim == 4 else a)


def main() -> int:
    dump, image = Path(sys.argv[1]), sys.argv[2]
    manifest = json.loads((dump / "manifest.json").read_text())
    size = manifest["inputSize"]
    pixels = np.fromfile(dump / f"{image}.rgb", dtype=np.uint8).reshape(1, size, size, 3)
    tfl = tflite_run(manifest["tflite"], pixels)
    ops = [o for o in tfl._get_ops_details() if o["op_name"] not in ("RESHAPE", "SOFTMAX")]

    model = onnx.load(manifest["onnx"]["int8"])
    consts = {i.name: i for i in model.graph.initializer}
    groups = []  # each quantized node with the Clip of its fused activation, if any
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OPS:
            groups.append([node])
        elif node.op_type == "Clip" and groups and node.input[0] == groups[-1][0].output[0]:
            groups[-1].append(node)
    if len(groups) != len(ops):
        raise SystemExit(f"{len(groups)} quantized ONNX nodes for {len(ops)} TFLite operators")

    print(f"{image}: each operator alone on TFLite's inputs; outputs differing from TFLite's")
    print(f"{'#':>3} {'TFLite operator':<18} {'outputs':>8} {'onnxruntime':>12} {'max':>4} "
          f"{'mean':>8} {'fixed-point':>12}")
    totals = [0, 0]
    for k, (op, group) in enumerate(zip(ops, groups)):
        node = group[0]
        activations = [x for x in node.input if x and x not in consts]
        feeds = {
            name: nchw(tfl.get_tensor(index))
            for name, index in zip(activations, op["inputs"][: len(activations)])
        }
        inputs = [
            helper.make_tensor_value_info(n, TensorProto.UINT8, list(v.shape))
            for n, v in feeds.items()
        ]
        used = [consts[x] for n in group for x in n.input if x in consts]
        expected = nchw(tfl.get_tensor(op["outputs"][0])).astype(np.int64)
        got = session(group, inputs, used, group[-1].output[0], model.opset_import).run(
            None, feeds
        )[0]
        diff = expected - got.reshape(expected.shape).astype(np.int64)
        fixed = "-"
        per_tensor = node.op_type == "QLinearConv" and numpy_helper.to_array(consts[node.input[4]]).size == 1
        if per_tensor:
            fixed_diff = np.count_nonzero(expected - fixed_point_conv(node, group, consts, feeds))
            totals[1] += fixed_diff
            fixed = str(fixed_diff)
        totals[0] += np.count_nonzero(diff)
        print(f"{k:>3} {op['op_name']:<18} {diff.size:>8} {np.count_nonzero(diff):>12} "
              f"{np.abs(diff).max():>4} {diff.mean():>+8.4f} {fixed:>12}")
    print(f"all: onnxruntime {totals[0]} outputs differ; convolutions with TFLite's fixed-point "
          f"requantization of onnxruntime's integer sums: {totals[1]}")
    exact_tensors(manifest, dump, len(ops))
    return 0


def exact_tensors(manifest: dict, dump: Path, count: int) -> None:
    """int8-exact's uint8 output of every operator against TFLite's, on every image."""
    model = onnx.load(manifest["onnx"]["int8-exact"])
    finals = []  # each operator's last uint8 value: a Cast to uint8, or a pool (and its Clip)
    for node in model.graph.node:
        narrowed = node.op_type == "Cast" and node.attribute[0].i == TensorProto.UINT8
        if narrowed or node.op_type == "QLinearGlobalAveragePool":
            finals.append(node.output[0])
        elif node.op_type == "Clip" and finals and node.input[0] == finals[-1]:
            finals[-1] = node.output[0]
    if len(finals) != count:
        raise SystemExit(f"{len(finals)} int8-exact outputs for {count} TFLite operators")
    for name in finals:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.UINT8, None))
    session = ort.InferenceSession(model.SerializeToString())
    size = manifest["inputSize"]
    exact, differing = 0, 0
    for image in manifest["images"]:
        pixels = np.fromfile(dump / image["pixels"], dtype=np.uint8).reshape(1, size, size, 3)
        tfl = tflite_run(manifest["tflite"], pixels)
        ops = [o for o in tfl._get_ops_details() if o["op_name"] not in ("RESHAPE", "SOFTMAX")]
        outputs = session.run(finals, {"input": pixels})
        wrong = 0
        for op, got in zip(ops, outputs):
            expected = nchw(tfl.get_tensor(op["outputs"][0]))
            wrong += int(np.count_nonzero(expected != got.reshape(expected.shape)))
        exact += wrong == 0
        differing += wrong
    print(f"int8-exact: {exact} of {len(manifest['images'])} images with every operator's uint8 "
          f"output equal to TFLite's ({differing} outputs differ in all)")


def fixed_point_conv(node, group, consts, feeds) -> np.ndarray:
    """onnxruntime's int32 sums of one QLinearConv, requantized the way TFLite does."""
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero = node.input[:8]
    value = {n: numpy_helper.to_array(consts[n]) for n in node.input[1:] if n in consts}
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    conv = helper.make_node("ConvInteger", [x, w, x_zero, "w_zero"], ["acc"], **attrs)
    w_zero_point = numpy_helper.from_array(value[w_zero].reshape(-1)[:1].reshape(()), "w_zero")
    inputs = [helper.make_tensor_value_info(x, TensorProto.UINT8, list(feeds[x].shape))]
    initializers = [consts[w], consts[x_zero], w_zero_point]
    opsets = [helper.make_opsetid("", 13)]
    acc = session([conv], inputs, initializers, "acc", opsets, TensorProto.INT32).run(
        None, {x: feeds[x]}
    )[0].astype(np.int64)
    if len(node.input) > 8:
        acc += value[node.input[8]].reshape(1, -1, 1, 1)
    # TFLite's multiplier: input x filter scale in float32, divided by the output scale in double.
    real = float(np.float32(value[x_scale] * value[w_scale].reshape(-1)[0])) / float(value[y_scale])
    lo, hi = 0, 255
    if len(group) > 1:
        lo, hi = int(numpy_helper.to_array(consts[group[1].input[1]])), int(
            numpy_helper.to_array(consts[group[1].input[2]])
        )
    return np.clip(tflite_requantize(acc, real) + int(value[y_zero]), lo, hi)


if __name__ == "__main__":
    sys.exit(main())
