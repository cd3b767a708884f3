"""Interval evaluation of elementwise IR ops, exact for float rounding, for
deciding what a small elementwise graph (the straight-through-estimator
arithmetic PyTorch exports) computes on every float input.

An interval is [lo, hi] (float32 or float64 arrays, one entry per interval
being evaluated) plus a NaN flag: 0 no NaN, 1 NaN possible, 2 NaN certain.
Every op maps intervals to enclosures of its values by evaluating its own
numpy reference (the model's rounding) at the interval's ends; that is sound
because IEEE rounding is monotone, so a monotone op's rounded image of
[lo, hi] lies between its rounded images of lo and hi. Non-monotone ops
(a negative PRelu slope, c/x across 0, products) take the extremes of the
candidate points. A point interval (lo == hi) is evaluated exactly.

Interval arithmetic loses the correlation of an expression with itself:
(s - u) + u over u in [a, b] encloses [s - b + a, s - a + b], never the
point s. For the straight-through identity, which is exactly that form,
`STE_IDENTITY` states when fl(fl(s - u) + u) == s for every u in a range;
tests/test_ste.py checks the statement on every float32 it covers.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .. import ir

TWO_24 = float(2 ** 24)


@dataclass
class Interval:
    lo: np.ndarray
    hi: np.ndarray
    nan: np.ndarray  # int8: 0 none, 1 possible, 2 certain

    @property
    def point(self) -> np.ndarray:
        return (self.lo == self.hi) & (self.nan == 0)


def _combine(lo, hi, nan, dtype) -> Interval:
    return Interval(np.asarray(lo, dtype), np.asarray(hi, dtype), np.asarray(nan, np.int8))


def _has_inf(v: Interval) -> np.ndarray:
    return np.isinf(v.lo) | np.isinf(v.hi)


def _contains(v: Interval, value: float) -> np.ndarray:
    return (v.lo <= value) & (value <= v.hi)


def _extremes(candidates: list[np.ndarray]):
    """lo, hi over candidate values ignoring NaN ones, and whether all were NaN."""
    stack = np.stack(candidates)
    all_nan = np.all(np.isnan(stack), axis=0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN candidates: flagged below
        lo, hi = np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)
    return lo, hi, all_nan


def _monotone(op, v: Interval) -> Interval:
    """A monotone unary op: its references at both ends, ordered."""
    with np.errstate(all="ignore"):
        a, b = op.reference(v.lo[:, None])[:, 0], op.reference(v.hi[:, None])[:, 0]
    lo, hi, all_nan = _extremes([a, b])
    nan = np.where(v.nan == 2, 2, np.maximum(v.nan, np.where(all_nan & (v.lo == v.hi), 2,
                                                            np.where(np.isnan(a) | np.isnan(b), 1, 0))))
    return _combine(lo, hi, nan, a.dtype)


def unary(op: ir.Op, v: Interval) -> Interval:
    """Enclosure of an elementwise unary IR op's values on v (scalar constants)."""
    dtype = v.lo.dtype
    if isinstance(op, ir.Cast):
        return Interval(v.lo.astype(op.to.numpy_dtype), v.hi.astype(op.to.numpy_dtype), v.nan)
    if isinstance(op, ir.Binarize) and op.mode != "sign":
        out = _monotone(op, Interval(v.lo, v.hi, np.zeros_like(v.nan)))
        # a NaN input compares false: the binarizer gives -1
        lo = np.where(v.nan > 0, -1, out.lo).astype(out.lo.dtype)
        return Interval(np.where(v.nan == 2, -1, lo).astype(lo.dtype),
                        np.where(v.nan == 2, -1, out.hi).astype(lo.dtype), np.zeros_like(v.nan))
    if isinstance(op, ir.ChannelOp):
        c = float(np.asarray(op.const).reshape(-1)[0])
        out = _monotone(op, v) if op.kind != "rdiv" else _rdiv(op, v, c)
        if op.kind == "mul" and c == 0:  # inf * 0
            out.nan = np.maximum(out.nan, np.where(_has_inf(v), np.where(v.lo == v.hi, 2, 1), 0)).astype(np.int8)
        return out
    if isinstance(op, ir.PRelu) and float(np.asarray(op.slope).reshape(-1)[0]) < 0:
        with np.errstate(all="ignore"):
            points = [op.reference(p[:, None])[:, 0] for p in (v.lo, v.hi, np.zeros_like(v.lo))]
        points[2] = np.where(_contains(v, 0.0), points[2], points[0])
        lo, hi, _ = _extremes(points)
        return _combine(lo, hi, v.nan, dtype)
    if isinstance(op, (ir.Binarize, ir.Relu, ir.Clip, ir.PRelu, ir.MulAdd)):
        return _monotone(op, v)
    raise TypeError(f"no interval rule for {type(op).__name__}")


def _rdiv(op: ir.ChannelOp, v: Interval, c: float) -> Interval:
    """c / x: monotone on each side of 0; across 0 anything."""
    out = _monotone(op, v)
    across = _contains(v, 0.0) & (v.lo != v.hi)
    nan = np.where((c == 0) & _contains(v, 0.0), np.where(v.lo == v.hi, 2, 1), out.nan)
    return _combine(np.where(across, -np.inf, out.lo), np.where(across, np.inf, out.hi), nan, out.lo.dtype)


def binary(op: ir.Op, a: Interval, b: Interval) -> Interval:
    """Enclosure of `Add` or `Arith` on two intervals (no identity rules)."""
    kind = "add" if isinstance(op, ir.Add) else op.kind
    dtype = a.lo.dtype
    with np.errstate(all="ignore"):
        if kind == "add":
            lo, hi = a.lo + b.lo, a.hi + b.hi
            maybe = (a.hi == np.inf) & (b.lo == -np.inf) | (a.lo == -np.inf) & (b.hi == np.inf)
            cands = [lo, hi]
        elif kind == "sub":
            lo, hi = a.lo - b.hi, a.hi - b.lo
            maybe = (a.hi == np.inf) & (b.hi == np.inf) | (a.lo == -np.inf) & (b.lo == -np.inf)
            cands = [lo, hi]
        elif kind == "mul":
            cands = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
            maybe = _contains(a, 0.0) & _has_inf(b) | _contains(b, 0.0) & _has_inf(a)
        else:
            cands = [a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi]
            maybe = _contains(a, 0.0) & _contains(b, 0.0) | _has_inf(a) & _has_inf(b)
        cands = [np.asarray(c, dtype) for c in cands]
    lo, hi, all_nan = _extremes(cands)
    if kind == "div":
        across = _contains(b, 0.0) & ~((b.lo == b.hi) & (a.lo == a.hi))
        lo, hi = np.where(across, -np.inf, lo), np.where(across, np.inf, hi)
    points = (a.lo == a.hi) & (b.lo == b.hi)
    nan = np.maximum(np.maximum(a.nan, b.nan), np.where(maybe | all_nan, np.where(points & all_nan, 2, 1), 0))
    nan = np.where((a.nan == 2) | (b.nan == 2), 2, nan)
    return _combine(lo, hi, nan, dtype)


def STE_IDENTITY(s: float, u: Interval) -> np.ndarray:
    """Where fl(fl(s - u) + u) == s holds for every u in the interval (float32
    round to nearest even, s in {-1, 0, +1}):
      s = 0:  fl(-u) + u = +0 for every finite u;
      s = 1:  u in [0, 2^24]: 1 - u is exact for u in [0.5, 2^24] (Sterbenz up
              to 2, integer spacing at most 1 below 2^24), and for u < 0.5 it
              rounds by at most 2^-25, which the sum to 1 + e rounds away;
      s = -1: the mirror image, u in [-2^24, 0] (fl(-a) = -fl(a)).
    Not for u of the other sign (u = -1 - 2^-23 gives 1 + 2^-23 for s = 1)."""
    finite = (u.nan == 0) & ~_has_inf(u)
    if s == 0:
        return finite
    if s == 1:
        return finite & (u.lo >= 0) & (u.hi <= TWO_24)
    return finite & (u.lo >= -TWO_24) & (u.hi <= 0)
