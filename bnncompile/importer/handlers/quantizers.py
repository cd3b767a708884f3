"""Handlers of the binarizers and the boolean idioms around them: Sign,
BipolarQuant, comparisons with a constant, Not, Where and Cast. Every
spelling of a binarizer becomes one `Binarize` whose two levels are the
values the model gives it (+-1, 0 and 1, +-scale), so it stays packed bits."""
from __future__ import annotations

import numpy as np
import onnx

from ... import ir
from ...errors import BnnError
from ..translator import (COMPARE_OPS, F32, NEGATED, SWAPPED, Choice, Condition, Translator, Unsupported, attr,
                          node_label)


def h_sign(t: Translator, node, ins):
    t.finish(node, t.emit(ir.Binarize, [t.as_float(ins[0])], mode="sign"))


def h_bipolar_quant(t: Translator, node, ins):
    """x >= 0 ? +scale : -scale. One positive scale is the binarizer's two levels
    (packed bits); per-channel scales multiply the unpacked +-1."""
    x, scale = ins
    if not isinstance(scale, np.ndarray):
        raise Unsupported("BipolarQuant scale must be a constant")
    x = t.as_float(x)
    s = t.per_sample_const(scale, x)
    if s.size == 1 and np.all(s > 0) and np.isfinite(s).all():
        one = F32(s.reshape(-1)[0])
        levels = None if one == 1 else ir.levels.BIPOLAR.with_reals((F32(-1) * one, one))
        t.finish(node, t.emit(ir.Binarize, [x], mode="ge", levels=levels))
        return
    y = t.emit(ir.Binarize, [x], mode="ge")
    if np.any(scale != 1):
        y = t.emit(ir.ChannelOp, [t.emit(ir.Cast, [y])], kind="mul", const=s)
    t.finish(node, y)


def h_compare(t: Translator, node, ins):
    a, b = ins
    cmp = COMPARE_OPS[node.op_type]
    if isinstance(a, ir.Tensor) and isinstance(b, np.ndarray):
        x, c = a, b
    elif isinstance(b, ir.Tensor) and isinstance(a, np.ndarray):
        x, c, cmp = b, a, SWAPPED[cmp]
    else:
        raise Unsupported("comparison must be between an activation and a constant")
    # per_sample_const refuses a constant that broadcasts the result larger than x
    t.bind(node.output[0], Condition(x.name, cmp, t.per_sample_const(c, x)))


def h_not(t: Translator, node, ins):
    c = ins[0]
    if not isinstance(c, Condition):
        raise Unsupported("Not of something other than a comparison")
    t.bind(node.output[0], Condition(c.tensor, NEGATED[c.cmp], c.const))


def h_where(t: Translator, node, ins):
    cond, hi, lo = ins
    if not isinstance(cond, Condition) or not isinstance(hi, np.ndarray) or not isinstance(lo, np.ndarray):
        raise Unsupported("only Where(activation compared with a constant, constant, constant) is supported")
    x = t.tensors[cond.tensor]
    for value in (hi, lo):  # the result must keep x's shape: refuse values that would grow it
        t.per_sample_const(value, x)
    if lo.dtype != hi.dtype or hi.dtype.kind not in "fiu":
        raise Unsupported(f"Where values of types {hi.dtype} and {lo.dtype} (one numeric type needed)")
    high, low = t.scalar(hi, "Where value"), t.scalar(lo, "Where value")
    if hi.dtype.kind in "iu":  # torch.where(x < 0, -1, 1): integers, then .to(x.dtype) casts them
        t.bind(node.output[0], Choice(cond, high, low))
        return
    dtype = np.float64 if hi.dtype == np.float64 else F32
    t.finish(node, t.binarized_values(cond, high, low, dtype))


def h_cast(t: Translator, node, ins):
    x = ins[0]
    to = attr(node, "to")
    if to is None:
        raise BnnError("Cast has no 'to' attribute", node=node_label(node))
    if to not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
        name = onnx.TensorProto.DataType.Name(to) if to in onnx.TensorProto.DataType.values() else to
        raise Unsupported(f"Cast to {name}")
    double = to == onnx.TensorProto.DOUBLE
    dtype = np.float64 if double else F32
    if isinstance(x, Condition):  # (x > 0).float(): the levels 0 and 1
        t.finish(node, t.binarized_values(x, 1.0, 0.0, dtype))
    elif isinstance(x, Choice):  # integer Where values, now numbers (exact: float32 of the integers)
        t.finish(node, t.binarized_values(x.cond, float(dtype(x.hi)), float(dtype(x.lo)), dtype))
    elif double and x.domain != ir.Domain.FLOAT64:
        # onnxruntime computes the ops after this in float64: so do the references
        t.finish(node, t.emit(ir.Cast, [x], to=ir.Domain.FLOAT64))
    elif not double and x.domain == ir.Domain.FLOAT64:
        t.finish(node, t.emit(ir.Cast, [x], to=ir.Domain.FLOAT))
    else:
        t.bind(node.output[0], x)
