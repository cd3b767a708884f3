"""Handlers of elementwise ops on activations: arithmetic with a constant or
between two activations, batchnorm, Relu, Clip, PRelu/LeakyRelu and
Softmax/LogSoftmax."""
from __future__ import annotations

import numpy as np

from ... import ir
from ...errors import BnnError
from ..translator import F32, Translator, Unsupported, attr, node_label


def h_batchnorm(t: Translator, node, ins):
    x, scale, bias, mean, var = ins[:5]
    if attr(node, "training_mode", 0):
        raise Unsupported("BatchNormalization in training mode")
    if not isinstance(x, ir.Tensor) or not all(isinstance(p, np.ndarray) for p in (scale, bias, mean, var)):
        raise Unsupported("BatchNormalization parameters must be constants")
    x = t.as_float(x)
    if x.domain != ir.Domain.FLOAT:
        raise Unsupported("BatchNormalization in double precision")
    for what, p in zip(("scale", "B", "input_mean", "input_var"), (scale, bias, mean, var)):
        if p.shape != (x.shape[0],):
            raise BnnError(f"BatchNormalization {what} has shape {p.shape}, not ({x.shape[0]},) for "
                           f"{x.shape[0]} channels", node=node_label(node))
    eps = F32(attr(node, "epsilon", 1e-5))
    # onnxruntime's inference kernel: inv_std = 1/sqrt(var+eps), s = scale*inv_std,
    # b = bias - mean*s, y = x*s + b (each a float32 rounding; checked bitwise in tests).
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_std = (F32(1) / np.sqrt(var.astype(F32) + eps)).astype(F32)
    if not np.all(np.isfinite(inv_std)):
        raise BnnError("BatchNormalization input_var + epsilon must be positive and finite "
                       f"(1/sqrt(var + eps) is {inv_std[~np.isfinite(inv_std)][0]} for a channel)",
                       node=node_label(node))
    s = (scale.astype(F32) * inv_std).astype(F32)
    b = (bias.astype(F32) - (mean.astype(F32) * s).astype(F32)).astype(F32)
    shape = (x.shape[0],) + (1,) * (len(x.shape) - 1)
    y = t.emit(ir.ChannelOp, [x], kind="mul", const=s.reshape(shape))
    t.finish(node, t.emit(ir.ChannelOp, [y], kind="add", const=b.reshape(shape)))


def arith(kind_x_c: str, kind_c_x: str):
    def handler(t: Translator, node, ins):
        a, b = ins
        if isinstance(a, ir.Tensor) and isinstance(b, np.ndarray):
            x, c, kind = a, b, kind_x_c
        elif isinstance(b, ir.Tensor) and isinstance(a, np.ndarray):
            x, c, kind = b, a, kind_c_x
        elif isinstance(a, ir.Tensor) and isinstance(b, ir.Tensor):
            return _between_activations(t, node, kind_x_c, a, b)
        else:
            raise Unsupported("elementwise op between these inputs")
        x = t.as_float(x)
        c = t.per_sample_const(c, x)
        if kind == "div" and np.any(c == 0):
            raise BnnError("division by a constant 0: onnxruntime gives infinity or NaN there",
                           node=node_label(node), hint="the model's parameters must make finite values")
        t.finish(node, t.emit(ir.ChannelOp, [x], kind=kind, const=c))

    return handler


def h_neg(t: Translator, node, ins):
    x = t.as_float(ins[0])
    t.finish(node, t.emit(ir.ChannelOp, [x], kind="mul", const=np.array(-1, x.domain.numpy_dtype)))


def h_relu(t: Translator, node, ins):
    t.finish(node, t.emit(ir.Relu, [t.as_float(ins[0])]))


def h_prelu(t: Translator, node, ins):
    """PRelu(x, slope) with a constant slope broadcasting against x (per channel
    [C,1,1] or [1,C,1,1] as the torch exporters write it, or one value), and
    LeakyRelu(x, alpha): both y = x >= 0 ? x : x * slope."""
    x = t.as_float(ins[0])
    if node.op_type == "LeakyRelu":
        slope = np.array(attr(node, "alpha", 0.01), np.float32)
    elif not isinstance(ins[1], np.ndarray):
        raise Unsupported("PRelu slope must be a constant")
    else:
        slope = ins[1]
    t.finish(node, t.emit(ir.PRelu, [x], slope=t.per_sample_const(slope, x)))


def h_clip(t: Translator, node, ins):
    x = t.as_float(ins[0])
    if t.opset < 11:
        lo, hi = attr(node, "min", -np.inf), attr(node, "max", np.inf)
    else:
        bounds = [ins[i] if len(ins) > i else None for i in (1, 2)]
        if any(b is not None and not isinstance(b, np.ndarray) for b in bounds):
            raise Unsupported("Clip bounds must be constants")
        lo = -np.inf if bounds[0] is None else t.scalar(bounds[0], "Clip min")
        hi = np.inf if bounds[1] is None else t.scalar(bounds[1], "Clip max")
    t.finish(node, t.emit(ir.Clip, [x], lo=float(lo), hi=float(hi)))


def h_softmax(t: Translator, node, ins):
    x = t.as_float(ins[0])
    rank = len(x.shape) + 1
    axis = attr(node, "axis", -1 if t.opset >= 13 else 1)
    axis = axis + rank if axis < 0 else axis
    if axis != rank - 1 and not (t.opset < 13 and axis == 1 and rank == 2):
        raise Unsupported(f"{node.op_type} over axis {axis} (only the last axis is supported)")
    t.finish(node, t.emit(ir.Softmax, [x], log=node.op_type == "LogSoftmax"))


def _between_activations(t: Translator, node, kind: str, a: ir.Tensor, b: ir.Tensor):
    """a (op) b of two activations, with ONNX (numpy) broadcasting: both get the
    output's rank; an equal-shape float32 sum is a residual `Add`, anything else
    an `Arith` (the straight-through arithmetic PyTorch exports is decided by
    the STE pass)."""
    a, b = t.as_float(a), t.as_float(b)
    if a.domain != b.domain:
        raise Unsupported(f"{node.op_type} of a float32 and a float64 activation")
    full_a, full_b = (1,) + a.shape, (1,) + b.shape
    try:
        full = tuple(np.broadcast_shapes(full_a, full_b))
    except ValueError:
        raise BnnError(f"{node.op_type} of activations of shapes {full_a} and {full_b}, which do not broadcast",
                       node=node_label(node)) from None
    a, b = (t.reshape(v, (1,) * (len(full) - len(s)) + s) for v, s in ((a, full_a), (b, full_b)))
    if kind == "add" and a.shape == b.shape and a.domain == ir.Domain.FLOAT:
        t.finish(node, t.emit(ir.Add, [a, b]))
    else:
        t.finish(node, t.emit(ir.Arith, [a, b], kind=kind))

