"""Handlers of the binarizers and the boolean idioms around them: Sign,
BipolarQuant, comparisons with a constant, Not, Where and Cast."""
from __future__ import annotations

import numpy as np
import onnx

from ... import ir
from ...errors import BnnError
from ..translator import COMPARE_OPS, NEGATED, SWAPPED, Condition, Translator, Unsupported, attr, node_label


def h_sign(t: Translator, node, ins):
    t.finish(node, t.emit(ir.Binarize, [t.as_float(ins[0])], mode="sign"))


def h_bipolar_quant(t: Translator, node, ins):
    x, scale = ins
    if not isinstance(scale, np.ndarray):
        raise Unsupported("BipolarQuant scale must be a constant")
    y = t.emit(ir.Binarize, [t.as_float(x)], mode="ge")
    if np.any(scale != 1):
        y = t.emit(ir.ChannelOp, [t.emit(ir.Cast, [y])], kind="mul", const=t.per_sample_const(scale, y))
    t.finish(node, y)


def h_compare(t: Translator, node, ins):
    a, b = ins
    cmp = COMPARE_OPS[node.op_type]
    if isinstance(a, ir.Tensor) and isinstance(b, np.ndarray):
        t.bind(node.output[0], Condition(a.name, cmp, t.scalar(b, "comparison constant")))
    elif isinstance(b, ir.Tensor) and isinstance(a, np.ndarray):
        t.bind(node.output[0], Condition(b.name, SWAPPED[cmp], t.scalar(a, "comparison constant")))
    else:
        raise Unsupported("comparison must be between an activation and a constant")


def h_not(t: Translator, node, ins):
    c = ins[0]
    if not isinstance(c, Condition):
        raise Unsupported("Not of something other than a comparison")
    t.bind(node.output[0], Condition(c.tensor, NEGATED[c.cmp], c.const))


def h_where(t: Translator, node, ins):
    cond, hi, lo = ins
    if not isinstance(cond, Condition) or not isinstance(hi, np.ndarray) or not isinstance(lo, np.ndarray):
        raise Unsupported("only Where(activation compared with a constant, constant, constant) is supported")
    s = t.binarize_condition(cond)
    t.finish(node, t.map_bipolar(s, t.scalar(hi, "Where value"), t.scalar(lo, "Where value")))


def h_cast(t: Translator, node, ins):
    x = ins[0]
    to = attr(node, "to")
    if to is None:
        raise BnnError("Cast has no 'to' attribute", node=node_label(node))
    if to not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
        name = onnx.TensorProto.DataType.Name(to) if to in onnx.TensorProto.DataType.values() else to
        raise Unsupported(f"Cast to {name}")
    if isinstance(x, Condition):
        t.finish(node, t.map_bipolar(t.binarize_condition(x), 1.0, 0.0))
    else:
        t.bind(node.output[0], x)
