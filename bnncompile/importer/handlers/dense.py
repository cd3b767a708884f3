"""Handlers of the dense layers: MatMul and Gemm with a constant weight."""
from __future__ import annotations

import numpy as np

from ... import ir
from ...errors import BnnError
from ..translator import F32, Translator, Unsupported, attr, node_label


def h_matmul(t: Translator, node, ins):
    x, w = ins
    if not isinstance(x, ir.Tensor) or not isinstance(w, np.ndarray) or w.ndim != 2:
        raise Unsupported("only activation @ constant 2-D weight is supported")
    x = t.as_float(x) if x.domain == ir.Domain.INT else x
    if x.shape[-1] != w.shape[0]:
        raise BnnError(f"MatMul shapes {x.shape} and {w.shape} do not fit", node=node_label(node))
    t.finish(node, t.emit(ir.Dense, [x], weight=w.astype(F32)))


def h_gemm(t: Translator, node, ins):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    if not isinstance(a, ir.Tensor) or not isinstance(b, np.ndarray) or attr(node, "transA", 0):
        raise Unsupported("only Gemm(activation, constant weight) without transA is supported")
    if b.ndim != 2:
        raise BnnError(f"Gemm weight of shape {b.shape} is not 2-D", node=node_label(node))
    w = b.T if attr(node, "transB", 0) else b
    if a.shape[-1] != w.shape[0]:
        raise BnnError(f"Gemm shapes {a.shape} and {b.shape} do not fit", node=node_label(node))
    a = t.as_float(a) if a.domain == ir.Domain.INT else a
    y = t.emit(ir.Dense, [a], weight=np.ascontiguousarray(w, dtype=F32))
    alpha, beta = F32(attr(node, "alpha", 1.0)), F32(attr(node, "beta", 1.0))
    if alpha != 1:
        y = t.emit(ir.ChannelOp, [y], kind="mul", const=np.array(alpha, F32))
    if c is not None:
        if not isinstance(c, np.ndarray):
            raise Unsupported("Gemm bias must be a constant")
        bias = np.asarray(c, F32) * beta if beta != 1 else np.asarray(c, F32)
        y = t.emit(ir.ChannelOp, [y], kind="add", const=t.per_sample_const(bias, y))
    t.finish(node, y)
