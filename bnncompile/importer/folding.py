"""Constant folding: evaluate a node whose inputs are all known constants.

Standard ops run through `onnx.reference` (one node at a time, so its
training-mode BatchNormalization quirk never applies: a BatchNormalization
on constants has no batch to take statistics of and is refused below).
QONNX ops use our own numpy semantics.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from ..errors import BnnError
from .qonnx_ops import QONNX_DOMAINS, QONNX_OPS


def fold_node(node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    if node.domain in QONNX_DOMAINS:
        fn = QONNX_OPS.get(node.op_type)
        if fn is None:
            raise BnnError(f"QONNX op {node.op_type} is not supported", node=node.name or node.op_type)
        return [fn(*inputs)]
    if node.domain not in ("", "ai.onnx"):
        raise BnnError(f"op {node.domain}.{node.op_type} is not supported", node=node.name or node.op_type)
    if node.op_type == "BatchNormalization":
        raise BnnError("BatchNormalization on a constant input is not supported", node=node.name)
    names = [f"in{i}" if x is not None else "" for i, x in enumerate(inputs)]
    initializers = [numpy_helper.from_array(np.asarray(x), n) for x, n in zip(inputs, names) if x is not None]
    single = helper.make_node(node.op_type, names, [f"out{i}" for i in range(len(node.output))], domain=node.domain)
    single.attribute.extend(node.attribute)
    graph = helper.make_graph(
        [single], "fold", [], [helper.make_empty_tensor_value_info(f"out{i}") for i in range(len(node.output))],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        results = ReferenceEvaluator(model).run(None, {})
    except Exception as exc:
        raise BnnError(f"cannot evaluate {node.op_type} on constants: {exc}", node=node.name or node.op_type) from None
    return [np.asarray(r) for r in results]
