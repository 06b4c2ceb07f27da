"""int8 matrix products in an exported ONNX graph, with no second copy of the weights.

Each selected `MatMul(x, W)` whose W is a constant (a weight, possibly through the export's Cast, Transpose or
Reshape) becomes the dynamic-quantization pattern ONNX Runtime fuses into one `DynamicQuantizeMatMul`:

    W_q = QuantizeLinear(W, s_W)           s_W = max |W| per output column / 127, symmetric int8
    x_q, s_x, z_x = DynamicQuantizeLinear(x)  uint8 per call, from x's own range
    y = float(MatMulInteger(x_q, W_q, z_x)) * (s_x * s_W)

W_q and s_W are computed inside the graph from the fp16 weights that the voice's safetensors file already holds,
and ONNX Runtime folds them into constants when it loads the model: the voice stays the same size, and the
quantization costs a few milliseconds at load. On this AVX2 machine (no VNNI) the int8 products of the decoder
and vocoder shapes ran 1.7-1.9x faster than fp32 (`fastpitch bench synth` and `bench peers` measure the whole).

Only the frame-rate parts are quantized (the acoustic model's decoder and the vocoder): they are nearly all
of the time, and leaving the encoder and predictors in fp32 keeps the durations and pitch exactly torch's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fastpitch.atomic import atomic_write

CONSTANT_PATHS = ("Cast", "Transpose", "Reshape", "Unsqueeze", "Squeeze", "Constant")
MARKER = "__int8"


def constant_names(graph: Any) -> set[str]:
    """Names of the graph's values that do not depend on its inputs: initializers and what the export's
    shape and type operators make of them."""
    const = {init.name for init in graph.initializer}
    for node in graph.node:
        if node.op_type in CONSTANT_PATHS and all(name in const for name in node.input if name):
            const.update(node.output)
    return const


def quantize_matmuls(path: str | Path, select: Callable[[str], bool]) -> int:
    """Rewrite the MatMuls of the ONNX file `path` whose node name passes `select` and whose second input is
    a constant weight; external weight references are kept. Returns how many were rewritten (0 leaves the
    file untouched)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    if _marked(graph):
        return 0  # already quantized
    const = constant_names(graph)
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in const or not select(node.name):
            nodes.append(node)
            continue
        x, w, y = node.input[0], node.input[1], node.output[0]
        p = f"{node.name or y}{MARKER}/"
        nodes += [
            helper.make_node("Abs", [w], [p + "abs"]),
            helper.make_node("ReduceMax", [p + "abs"], [p + "max"], axes=[0], keepdims=0),
            helper.make_node("Max", [p + "max", f"tiny{MARKER}"], [p + "range"]),
            helper.make_node("Div", [p + "range", f"q127{MARKER}"], [p + "w_scale"]),
            helper.make_node("Mul", [p + "w_scale", f"zero{MARKER}"], [p + "zero_f"]),
            helper.make_node("Cast", [p + "zero_f"], [p + "w_zero"], to=TensorProto.INT8),
            helper.make_node("QuantizeLinear", [w, p + "w_scale", p + "w_zero"], [p + "w_q"], axis=1),
            helper.make_node("DynamicQuantizeLinear", [x], [p + "x_q", p + "x_scale", p + "x_zero"]),
            helper.make_node("MatMulInteger", [p + "x_q", p + "w_q", p + "x_zero"], [p + "acc"]),
            helper.make_node("Cast", [p + "acc"], [p + "acc_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "x_scale", p + "w_scale"], [p + "scale"]),
            helper.make_node("Mul", [p + "acc_f", p + "scale"], [y], name=node.name),
        ]
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
        for name, value in (("tiny", 1e-12), ("q127", 127.0), ("zero", 0.0)):
            graph.initializer.append(numpy_helper.from_array(np.array(value, np.float32), name + MARKER))
        atomic_write(path, lambda tmp: onnx.save(model, str(tmp)))
    return count


def is_quantized(path: str | Path) -> bool:
    """Whether `quantize_matmuls` rewrote the ONNX file (its constants carry the marker)."""
    import onnx

    return _marked(onnx.load(str(path), load_external_data=False).graph)


def _marked(graph: Any) -> bool:
    return any(init.name.endswith(MARKER) for init in graph.initializer)
