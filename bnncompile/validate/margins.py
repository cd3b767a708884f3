"""How far each binarized decision of the reference is from its threshold, and
how much the reference's own arithmetic may move it: the ambiguity test of
`verify`, which never trusts the compiler.

It runs the *imported* graph (the model's own constants as the importer read
them, before any pass: no folded thresholds) on one sample, carrying for every
tensor three things:

- `exact`: the value in float64 arithmetic, i.e. the real-number value up to
  float64 rounding, far below anything float32 can show;
- `model`: the value as the IR reference computes it (onnxruntime's roundings,
  op by op);
- `bound`: how far onnxruntime's float value may be from `exact` through
  arithmetic whose rounding depends on more than the values bnncompile models
  (the order of a float sum, the blocks of a GEMM epilogue); 0 means the value
  is a function the C reproduces bit for bit.

Binarized tensors that the C computes too are taken from the reference's own
output, so everything after them follows the reference. A binarized tensor
that the model computes by arithmetic (straight-through estimators, proven a
binarizer by the compiler) is judged by its own value and bound, and by the
inner decisions it carries (the Sign inside it). At a binarizer, the
decision's margin is |exact| (the threshold of every binarizer is 0 once the
importer has turned comparisons into subtractions). A binarizer the compiler
folded into a later threshold (the first Sign of Larq's `Sign -> Add(0.1) ->
Sign`) is uncertain where |exact| <= bound: its output then carries a bound of
2 (it may be either level) and its margin, so that the decision it feeds is
judged by the inner decision's margin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ir

U32 = 2.0 ** -24  # float32 unit roundoff
U64 = 2.0 ** -53
EXACT_SUM = 2.0 ** 24  # float32 sums of integers below this are exact in any order


@dataclass
class Value:
    exact: np.ndarray  # float64
    model: np.ndarray  # the IR reference's value (float32 / float64 / int64)
    bound: np.ndarray  # float64, >= 0
    mag: np.ndarray | None = None  # sum of |terms| of a dense/conv sum (for the GEMM epilogue bound)
    margin: np.ndarray | None = None  # smallest margin of an uncertain folded decision this depends on


@dataclass
class Decision:
    """What a binarizer saw, for one sample: the exact value, the bound, and the
    smallest margin of an uncertain folded decision before it (inf: none)."""

    exact: np.ndarray
    bound: np.ndarray
    inner: np.ndarray

    def margin(self) -> np.ndarray:
        """The decision's own margin, or an inner one where that is smaller."""
        return np.minimum(np.abs(self.exact), self.inner)


def _inner(values: list["Value"], shape) -> np.ndarray:
    """The inner margins reaching an op's output, conservatively: elementwise where
    shapes agree, else the smallest of all."""
    found = [v.margin for v in values if v.margin is not None]
    if not found:
        return np.full(shape, np.inf)
    out = np.full(shape, np.inf)
    for m in found:
        out = np.minimum(out, m if m.shape == tuple(shape) else np.min(m))
    return out


def _integers(a) -> bool:
    a = np.asarray(a)
    return a.dtype.kind in "iu" or bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def _unit(x: np.ndarray) -> float:
    return U64 if np.asarray(x).dtype == np.float64 else U32


class Shadow:
    """Float64 shadow of the imported graph: `decisions(x, known)` gives, for the
    input of every binarizer, the exact value and the reference's error bound."""

    def __init__(self, imported: ir.Graph):
        self.graph = imported

    def decisions(self, x: np.ndarray, known: dict[str, np.ndarray], wanted: set[str]) -> dict[str, Decision]:
        """x: one sample (float32, shaped as the graph's sample_shape). known: reference
        values (per-sample, imported layout) of binarized tensors. wanted: outputs of
        binarizers whose decisions are needed; evaluation stops once all are known."""
        g = self.graph
        values: dict[str, Value] = {
            name: Value(v.astype(np.float64), v, np.zeros(v.shape))
            for name, v in g.input_values(np.asarray(x, np.float32).reshape((1,) + g.sample_shape)).items()}
        found: dict[str, Decision] = {}
        for op in g.ops:
            if wanted <= found.keys():
                break
            ins = [values.get(i) for i in op.inputs]
            if any(v is None for v in ins):
                continue
            if isinstance(op, ir.Binarize):
                values[op.output], found[op.output] = self._binarize(op, ins[0], known.get(op.output))
                continue
            value = self._step(op, ins)
            inner = _inner(ins, value.exact.shape)
            value.margin = inner if np.isfinite(inner).any() else None
            values[op.output] = value
            if op.output in wanted:  # a binarized value made by arithmetic (straight-through estimators)
                found[op.output] = Decision(value.exact[0], value.bound[0], inner[0])
        return found

    @staticmethod
    def _binarize(op: ir.Binarize, v: "Value", known: np.ndarray | None) -> tuple["Value", Decision]:
        inner = v.margin if v.margin is not None else np.full(v.exact.shape, np.inf)
        decision = Decision(v.exact[0], v.bound[0], inner[0])
        model = op.reference(v.model)
        if known is not None:  # the C computes this tensor too, and agrees with the reference up to here
            model = np.asarray(known, np.float32)[None].reshape(model.shape)
            return Value(model.astype(np.float64), model, np.zeros(model.shape)), decision
        uncertain = (v.bound > 0) & (np.abs(v.exact) <= v.bound)
        margin = np.where(uncertain, np.abs(v.exact), inner)
        return Value(model.astype(np.float64), model, np.where(uncertain, 2.0, 0.0),
                     margin=margin if np.isfinite(margin).any() else None), decision

    # ------------------------------------------------------------------ one op

    def _step(self, op: ir.Op, ins: list[Value]) -> Value:
        v = ins[0]
        model = op.reference(*(i.model for i in ins))
        if isinstance(op, ir.Cast):
            return Value(v.exact, model, v.bound + (_unit(model) * np.abs(v.exact) if v.bound.any() else 0))
        if isinstance(op, ir.ChannelOp):
            c = op.const.astype(np.float64)
            exact = op.apply(v.exact, c)
            gain = {"mul": np.abs(c), "div": 1 / np.abs(c)}.get(op.kind, 1.0)
            if op.kind == "rdiv":  # |d(c/x)| <= |c| / (|x| - bound)^2 on the interval
                room = np.maximum(np.abs(v.exact) - v.bound, 0)
                with np.errstate(divide="ignore"):
                    gain = np.where(room > 0, np.abs(c) / room ** 2, np.inf)
            return Value(exact, model, self._rounded(v.bound * gain, exact, model))
        if isinstance(op, ir.MulAdd):
            scale, bias = op.scale.astype(np.float64), op.bias.astype(np.float64)
            exact = v.exact * scale + bias
            bound = v.bound * np.abs(scale)
            if op.roundings > 1:  # one rounding per GEMM block, each at most an ulp of a partial result
                mag = v.mag if v.mag is not None else np.abs(v.exact)
                bound = bound + 2 * op.roundings * U32 * (np.abs(scale) * mag + np.abs(bias))
            return Value(exact, model, self._rounded(bound, exact, model))
        if isinstance(op, (ir.Relu, ir.Clip)):
            return Value(op.reference(v.exact), model, v.bound)
        if isinstance(op, ir.PRelu):  # slope |s| on the negative side, 1 on the positive side
            slope = op.slope.astype(np.float64)
            exact = op.apply(v.exact, slope)
            return Value(exact, model, self._rounded(v.bound * np.maximum(1.0, np.abs(slope)), exact, model))
        if isinstance(op, (ir.Reshape, ir.Transpose, ir.Dilate)):  # data movement (and exact zeros)
            return Value(op.reference(v.exact), model, op.reference(v.bound),
                         op.reference(v.mag) if v.mag is not None else None)
        if isinstance(op, ir.Pad):  # the padding value itself is exact
            n = v.bound.ndim - 1
            widths = [(0, 0)] + [(op.pads[i], op.pads[i + n]) for i in range(n)]
            return Value(op.reference(v.exact), model, np.pad(v.bound, widths))
        if isinstance(op, ir.Concat):
            return Value(op.reference(*(i.exact for i in ins)), model, op.reference(*(i.bound for i in ins)))
        if isinstance(op, ir.Add):
            a, b = ins
            exact = a.exact + b.exact
            return Value(exact, model, self._rounded(a.bound + b.bound, exact, model))
        if isinstance(op, ir.Arith):
            a, b = ins
            exact = op.apply(a.exact, b.exact)
            if op.kind in ("add", "sub"):
                bound = a.bound + b.bound
            elif op.kind == "mul":
                bound = np.abs(a.exact) * b.bound + np.abs(b.exact) * a.bound + a.bound * b.bound
            else:  # a/b moves by at most (|da| + |a/b| |db|) / (|b| - |db|) while b keeps its sign
                room = np.abs(b.exact) - b.bound
                with np.errstate(divide="ignore", invalid="ignore"):
                    bound = np.where(room > 0, (a.bound + np.abs(exact) * b.bound) / room, np.inf)
                bound = np.where((a.bound == 0) & (b.bound == 0), 0.0, bound)
            return Value(exact, model, self._rounded(bound, exact, model))
        if isinstance(op, ir.Dense):
            return self._sum(v, model, lambda t, w, pad: t @ w, op.weight, op.weight.shape[0])

        if isinstance(op, ir.Conv2D):
            def conv(t, k, pad):
                return ir.conv2d_nhwc(t, k, op.strides, op.dilations, op.pads, op.groups, pad)
            return self._sum(v, model, conv, op.kernel, op.fan_in, op.pad_value)
        if isinstance(op, ir.Conv3D):
            def conv3d(t, k, pad):
                return ir.conv3d_ndhwc(t, k, op.strides, op.dilations, op.pads, op.groups, pad)
            return self._sum(v, model, conv3d, op.kernel, op.fan_in, op.pad_value)
        if isinstance(op, (ir.Pool2D, ir.Pool3D)):
            exact = op.reference(v.exact)
            if op.kind == "max":
                return Value(exact, model, op.reference(v.bound))
            window = int(np.prod(op.kernel))
            exact_sums = not v.bound.any() and _integers(v.model)
            slop = 0 if exact_sums else 2 * window * U32 * op.reference(np.abs(v.exact))
            return Value(exact, model, op.reference(v.bound) + slop)
        if isinstance(op, ir.Softmax):  # libm's expf/logf differ by ulps, and the sum's order
            exact = op.reference(v.exact.astype(np.float64)).astype(np.float64)
            width = v.exact.shape[-1]
            slack = v.bound.max(axis=-1, keepdims=True) * (1 if op.log else 2)
            return Value(exact, model, slack + 4 * (width + 2) * U32 * np.maximum(np.abs(exact), 1.0))
        # an op this judge does not model: whatever follows it is never called a mismatch
        exact = np.asarray(model, np.float64)
        return Value(exact, model, np.full(exact.shape, np.inf))

    @staticmethod
    def _rounded(bound: np.ndarray, exact: np.ndarray, model: np.ndarray) -> np.ndarray:
        """Where the input is already uncertain, this op's own rounding (on both
        sides: the reference's and the C's) adds to it; where it is not, the
        rounding is a function the C reproduces, so the bound stays 0."""
        bound = np.broadcast_to(bound, exact.shape)
        return np.where(bound > 0, bound + 2 * _unit(model) * np.abs(exact), 0.0)

    @staticmethod
    def _sum(v: Value, model, apply, w: np.ndarray, fan_in: int, pad_value: float = 0.0) -> Value:
        """A dense or convolution sum `apply(x, w, pad_value)` of `fan_in` terms:
        exact when all terms and partial sums are integers below 2^24 (any order
        gives the same float32); otherwise the reference and the C may each be
        off by fan_in*u*sum|terms|."""
        w64 = np.asarray(w, np.float64)
        exact = apply(v.exact, w64, pad_value)
        mag = apply(np.abs(v.exact), np.abs(w64), abs(pad_value))
        spread = apply(v.bound, np.abs(w64), 0.0)
        if not v.bound.any() and _integers(v.model) and _integers(w) and float(mag.max(initial=0)) < EXACT_SUM:
            return Value(exact, model, np.zeros(exact.shape), mag)
        return Value(exact, model, spread + 2 * fan_in * U32 * mag, mag)
