"""Constant folding: evaluate a node whose inputs are all known constants.

Standard ops run through `onnx.reference` (one node at a time, so its
training-mode BatchNormalization quirk never applies: a BatchNormalization
on constants has no batch to take statistics of and is refused below).
QONNX ops use our own numpy semantics.

Folding keeps a budget (`limits.FOLD_*`): before a node is evaluated, ONNX
shape inference (with data propagation, so `ConstantOfShape`, `Expand`,
`Tile`, `Range` and `Reshape` targets count) says how many elements it will
make and, for MatMul/Gemm/Conv/Einsum, how many multiply-adds it costs; the
elements of all folded constants together and the wall-clock time of folding
are bounded too. Control flow (`Loop`, `Scan`, `If`: anything holding a
subgraph) is never evaluated: its cost cannot be bounded in advance.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from ..errors import BnnError
from ..limits import FOLD_ELEMENTS, FOLD_MACS, FOLD_SECONDS
from .qonnx_ops import QONNX_DOMAINS, QONNX_OPS

SMALL = 4096  # constants up to this size are shown to shape inference by value


@dataclass
class FoldBudget:
    """What constant folding has spent so far in one import."""

    started: float = field(default_factory=time.monotonic)
    elements: int = 0


def _folded_size(node: onnx.NodeProto, ins: list) -> float:
    """Elements the ops that make big constants from small ones would allocate (0: not one of them)."""
    try:
        if node.op_type == "ConstantOfShape":
            return float(np.prod(ins[0].astype(np.float64)))
        if node.op_type == "Expand":
            return float(np.prod(np.broadcast_shapes(ins[0].shape, tuple(int(d) for d in ins[1])), dtype=np.float64))
        if node.op_type == "Tile":
            return ins[0].size * float(np.prod(ins[1].astype(np.float64)))
        if node.op_type == "Range":
            return float((ins[1].astype(np.float64) - ins[0]) / ins[2])
    except Exception:  # malformed: the evaluator says what is wrong
        pass
    return 0.0


def _inferred_shapes(node: onnx.NodeProto, ins: list, opset: int) -> list[tuple | None]:
    """Output shapes by ONNX shape inference (None where unknown), without evaluating."""
    names = [f"in{i}" if x is not None else "" for i, x in enumerate(ins)]
    inits, inputs = [], []
    for x, n in zip(ins, names):
        if x is None:
            continue
        x = np.asarray(x)
        if x.size <= SMALL:
            inits.append(numpy_helper.from_array(x, n))
        else:
            inputs.append(helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape))
    single = helper.make_node(node.op_type, names, [f"out{i}" for i in range(len(node.output))], domain=node.domain)
    single.attribute.extend(node.attribute)
    graph = helper.make_graph([single], "estimate", inputs,
                              [helper.make_empty_tensor_value_info(f"out{i}") for i in range(len(node.output))], inits)
    try:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference refuses a malformed node: the evaluator will say what is wrong
        return [None] * len(node.output)
    shapes = []
    for out in inferred.graph.output:
        t = out.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        shapes.append(tuple(dims) if t.HasField("shape") and None not in dims else None)
    return shapes


def _macs(node: onnx.NodeProto, ins: list, out_elements: float) -> float:
    """Multiply-adds of the ops whose cost grows faster than their output."""
    try:
        if node.op_type in ("MatMul", "MatMulInteger"):
            return out_elements * ins[0].shape[-1]
        if node.op_type == "Gemm":
            trans_a = any(a.name == "transA" and a.i for a in node.attribute)
            return out_elements * ins[0].shape[0 if trans_a else 1]
        if node.op_type in ("Conv", "ConvInteger"):
            return out_elements * float(np.prod(ins[1].shape[1:], dtype=np.float64))
        if node.op_type == "ConvTranspose":
            return ins[0].size * float(np.prod(ins[1].shape[1:], dtype=np.float64))
        if node.op_type == "Einsum":
            sizes: dict[str, int] = {}
            equation = next(a.s.decode() for a in node.attribute if a.name == "equation")
            for term, x in zip(equation.split("->")[0].split(","), ins):
                for letter, d in zip(term.strip().replace("...", ""), x.shape[-len(term.strip().replace('...', '')):]):
                    sizes[letter] = d
            return float(np.prod(list(sizes.values()), dtype=np.float64)) * max(x.size for x in ins)
    except Exception:  # malformed: the evaluator says what is wrong
        pass
    return 0.0


def fold_within_budget(node: onnx.NodeProto, ins: list, opset: int, budget: FoldBudget,
                       label: str) -> list[np.ndarray]:
    """`fold_node`, after checking its cost against the folding budget."""
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
        raise BnnError(f"{node.op_type} is control flow: bnncompile does not evaluate subgraphs, even on "
                       f"constants (their cost cannot be bounded)", node=label,
                       hint="fold it before export, e.g. with onnx-simplifier")
    FOLD_SECONDS.check(time.monotonic() - budget.started, "constant folding (up to this node)", node=label)
    shapes = [] if node.domain in QONNX_DOMAINS else _inferred_shapes(node, ins, opset)
    known = [float(np.prod(s, dtype=np.float64)) for s in shapes if s is not None]
    elements = max(known + [_folded_size(node, ins)])
    FOLD_ELEMENTS.check(budget.elements + elements, f"{node.op_type} on constants", node=label)
    FOLD_MACS.check(_macs(node, [np.asarray(x) for x in ins if x is not None], elements),
                    f"{node.op_type} on constants", node=label)
    folded = fold_node(node, ins, opset)
    budget.elements += sum(int(np.asarray(v).size) for v in folded)
    FOLD_ELEMENTS.check(budget.elements, f"{node.op_type} on constants", node=label)
    return folded


def fold_node(node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    if node.domain in QONNX_DOMAINS:
        fn = QONNX_OPS.get(node.op_type)
        if fn is None:
            raise BnnError(f"QONNX op {node.op_type} is not supported", node=node.name or node.op_type)
        return [fn(*inputs, **{a.name: helper.get_attribute_value(a) for a in node.attribute})]
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
