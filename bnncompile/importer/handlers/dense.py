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


# onnxruntime's GEMM (MLAS) adds the K products into the output in blocks: with
# alpha or C, y = beta*C, then y = fma(alpha, block_sum, y) block after block.
# Blocks are never shorter than this many products (probed: 128 without packed
# weights, 256 with), so up to it there is one rounding, which MulAdd models.
GEMM_FIRST_BLOCK = 128


def _dyadic_unit(v: np.ndarray) -> float:
    """The largest power of two that divides every (float32, so dyadic) value of v."""
    v = np.abs(np.asarray(v, np.float64).ravel())
    v = v[v != 0]
    if not v.size:
        return np.inf
    mantissa, exponent = np.frexp(v)
    m = np.round(mantissa * 2.0 ** 24).astype(np.int64)
    return float(np.min((m & -m) * np.ldexp(1.0, exponent - 24)))


def gemm_roundings(x: ir.Tensor, w: np.ndarray, alpha: np.float32, bias: np.ndarray) -> int:
    """How many roundings onnxruntime's `alpha * (x @ w) + bias` may make (see MulAdd)."""
    k = w.shape[0]
    if k <= GEMM_FIRST_BLOCK:
        return 1
    if x.domain.is_packed and np.all(w == np.round(w)):
        # integer partial sums s, |s| <= reach: every partial result alpha*s + bias is a
        # multiple of `unit` no larger than `top`; all exact (so blocking cannot matter)
        # when they fit in float32's 24-bit significand
        reach = float(np.abs(w).sum(axis=0).max())
        unit = min(_dyadic_unit(alpha), _dyadic_unit(bias))
        top = abs(float(alpha)) * reach + float(np.max(np.abs(bias), initial=0))
        if top <= 2.0 ** 24 * unit:
            return 1
    return -(-k // GEMM_FIRST_BLOCK)


def h_gemm(t: Translator, node, ins):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    if not isinstance(a, ir.Tensor) or not isinstance(b, np.ndarray) or attr(node, "transA", 0):
        raise Unsupported("only Gemm(activation, constant weight) without transA is supported")
    if c is not None and not isinstance(c, np.ndarray):
        raise Unsupported("Gemm bias must be a constant")
    if b.ndim != 2:
        raise BnnError(f"Gemm weight of shape {b.shape} is not 2-D", node=node_label(node))
    w = b.T if attr(node, "transB", 0) else b
    if a.shape[-1] != w.shape[0]:
        raise BnnError(f"Gemm shapes {a.shape} and {b.shape} do not fit", node=node_label(node))
    a = t.as_float(a) if a.domain == ir.Domain.INT else a
    y = t.emit(ir.Dense, [a], weight=np.ascontiguousarray(w, dtype=F32))
    alpha, beta = F32(attr(node, "alpha", 1.0)), F32(attr(node, "beta", 1.0))
    # onnxruntime computes beta*C first (one float32 product), then alpha*acc + that
    # with ONE rounding (a fused multiply-add), not two as Mul then Add would.
    bias = None
    if c is not None and beta != 0:
        bias = t.per_sample_const(c, y)
        bias = bias if beta == 1 else (bias * beta).astype(F32)
    if alpha == 1 and bias is None:
        t.finish(node, y)
        return
    roundings = gemm_roundings(a, w, alpha, bias if bias is not None else np.zeros(1, F32))
    if roundings == 1 and bias is None:
        y = t.emit(ir.ChannelOp, [y], kind="mul", const=np.array(alpha, F32))
    elif roundings == 1 and alpha == 1:
        y = t.emit(ir.ChannelOp, [y], kind="add", const=bias)
    else:
        y = t.emit(ir.MulAdd, [y], scale=np.array(alpha, F32),
                   bias=bias if bias is not None else np.zeros((), F32), roundings=roundings)
    t.finish(node, y)
