"""Runs the original .tflite (TFLite's own integer kernels, via ai-edge-litert) on the bytes
dump-onnx.mjs saved and compares with each precision of our ONNX conversion, one table each.

Every precision is held to BOUND: the photos in ../shared/images must keep it. Their harder
variants (hard-images.mjs, names with "~") must keep it in int8-exact, TFLite's own arithmetic;
the other precisions' variants are reported against it, as none of them holds it on all
(docs/model.md, Model check). At least MIN_HARD of them must have a TFLite top-1
below HARD_TOP1, or the set is not hard enough to say anything.

usage: python compare.py <dump-dir>
(exit 1 when a photo of any precision or a variant of int8-exact disagrees, or the hard set is
too easy)
"""

import json
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

# Largest |p_tflite - p_onnx| a precision may show on any class of an image.
BOUND = 0.05
# Precisions that compute TFLite's own arithmetic: every variant must keep the bound too.
EXACT = {"int8-exact"}
HARD_TOP1 = 0.6
MIN_HARD = 20


def is_variant(image: dict) -> bool:
    return "~" in image["file"]


def tflite_probabilities(manifest: dict, dump: Path) -> dict[str, np.ndarray]:
    # TFLite's reference kernels: the definition of the quantized ops, no delegate.
    interpreter = Interpreter(
        model_path=manifest["tflite"],
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
    )
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    scale, zero_point = out["quantization"]
    size = manifest["inputSize"]
    result = {}
    for image in manifest["images"]:
        pixels = np.fromfile(dump / image["pixels"], dtype=np.uint8).reshape(1, size, size, 3)
        interpreter.set_tensor(inp["index"], pixels)
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"])[0].astype(np.float32)
        result[image["file"]] = (raw - zero_point) * scale
    return result


def compare(precision: str, manifest: dict, dump: Path, tflite: dict[str, np.ndarray]) -> int:
    print(f"\n{precision}:")
    print(f"{'image':<30} {'tflite top-1':>14} {'onnx top-1':>14} {'max |dp|':>9}  ok")
    failures = 0
    hard_failures = 0
    hard_worst = 0.0
    for image in manifest["images"]:
        expected = tflite[image["file"]]
        onnx = np.fromfile(dump / image["probabilities"][precision], dtype="<f4")
        # Class 0 (background) is never an answer of the service.
        t1 = int(np.argmax(expected[1:])) + 1
        o1 = int(np.argmax(onnx[1:])) + 1
        diff = float(np.max(np.abs(expected - onnx)))
        variant = is_variant(image)
        ok = t1 == o1 and diff <= BOUND
        if variant:
            hard_failures += not ok
            hard_worst = max(hard_worst, diff)
        if not variant or precision in EXACT:
            failures += not ok
        print(
            f"{image['file']:<30} {t1:>5} p={expected[t1]:.4f} {o1:>5} p={onnx[o1]:.4f} "
            f"{diff:>9.4f}  {'ok' if ok else 'FAIL'}"
        )
    held = "photos and variants" if precision in EXACT else "photos"
    verdict = "all agree" if failures == 0 else f"{failures} image(s) disagree"
    print(f"{precision}: {held}: {verdict} (same top-1 and max |p_tflite - p_onnx| <= {BOUND})")
    variants = sum(is_variant(i) for i in manifest["images"])
    print(
        f"{precision}: variants: {variants - hard_failures} of {variants} hold "
        f"the same top-1 and max |dp| <= {BOUND}; worst max |dp| {hard_worst:.4f}"
    )
    return failures


def hard_enough(manifest: dict, tflite: dict[str, np.ndarray]) -> bool:
    """Whether enough variants leave TFLite itself unsure (top-1 below HARD_TOP1)."""
    hard = sum(
        is_variant(i) and float(np.max(tflite[i["file"]][1:])) < HARD_TOP1
        for i in manifest["images"]
    )
    print(f"\nvariants with a TFLite top-1 below {HARD_TOP1}: {hard} (at least {MIN_HARD} needed)")
    return hard >= MIN_HARD


def main() -> int:
    dump = Path(sys.argv[1])
    manifest = json.loads((dump / "manifest.json").read_text())
    tflite = tflite_probabilities(manifest, dump)
    failures = sum(compare(p, manifest, dump, tflite) for p in manifest["precisions"])
    enough = hard_enough(manifest, tflite)
    return 1 if failures or not enough else 0


if __name__ == "__main__":
    sys.exit(main())
