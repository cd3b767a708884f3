"""IR ops that make packed tensors (levels, ir/levels.py) out of real ones, and
the float keys thresholds on floats are stated in.

- `Binarize`: the 1-bit quantizers as the importer finds them (Sign, x >= 0,
  x > 0, BipolarQuant, comparisons under Where or Cast), with the two real
  values the model gives them.
- `Quantize`: a k-bit quantizer, clip to [lo, hi] then round (QONNX `Quant`,
  and ONNX `Round` once its input is known to be bounded).
- `Round`: ONNX Round (half to even), a float op until a pass bounds it.
- `Threshold`: what the threshold pass folds a chain ending in one of the
  quantizers into: QONNX MultiThreshold semantics, exact by construction.
- `Relabel`: the same bits read as other levels (free in C).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import levels as lv
from .graph import Domain, Op, Tensor

F32 = np.float32


def _real(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype == np.float64 else x.astype(F32)


def float_key(x: np.ndarray) -> np.ndarray:
    """Map float32 to int64 so that the order of keys is the order of the
    floats; -0.0 and +0.0 share key 0. Finite floats and infinities map into
    [-0x7F800000, 0x7F800000]."""
    bits = np.asarray(x, dtype=F32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def key_to_float(key: np.ndarray) -> np.ndarray:
    key = np.asarray(key, dtype=np.int64)
    bits = np.where(key < 0, (-key) | 0x80000000, key).astype(np.uint32)
    return bits.view(F32)


def _levels_tensor(name: str, shape, levels: lv.Levels) -> Tensor:
    return Tensor(name, shape, Domain.of_levels(levels), levels=levels)


# ---------------------------------------------------------------- 1-bit


@dataclass(frozen=True, eq=False)
class Binarize(Op):
    """Quantizer from float to two levels (or three for ONNX `Sign`).

    mode `ge`: the high level where x >= 0 (Larq ste_sign, QONNX BipolarQuant, Where(x>=0)).
    mode `gt`: the high level where x > 0.
    mode `sign`: ONNX Sign, 0 stays 0, so the result is ternary.
    `levels` gives the values (bipolar +-1 by default; e.g. +-0.5 for a Brevitas
    bipolar activation, 0 and 1 for `(x > 0).float()`).
    """

    mode: str = "ge"
    levels: lv.Levels | None = None

    @property
    def out_levels(self) -> lv.Levels:
        if self.levels is not None:
            return self.levels
        return lv.TERNARY if self.mode == "sign" else lv.BIPOLAR

    def output_tensor(self, inputs):
        if not inputs[0].domain.is_real:
            raise TypeError("Binarize takes a FLOAT or FLOAT64 input")
        if self.out_levels.count != (3 if self.mode == "sign" else 2):
            raise TypeError(f"Binarize {self.mode} with {self.out_levels.count} levels")
        return _levels_tensor(self.output, inputs[0].shape, self.out_levels)

    def reference(self, x):
        x = _real(x)
        reals = np.asarray(self.out_levels.reals, F32)
        if self.mode == "ge":
            return np.where(x >= 0, reals[1], reals[0])
        if self.mode == "gt":
            return np.where(x > 0, reals[1], reals[0])
        nan = np.isnan(x)
        return np.where(nan, F32(np.nan), reals[(np.where(nan, 0, np.sign(x)) + 1).astype(np.int64)]).astype(F32)

    def boundary_distance(self, x):
        """Signed distance to the decision (0 is the threshold)."""
        return x


# ---------------------------------------------------------------- k-bit

ROUNDING = {  # QONNX's rounding modes, as its published numpy semantics compute them
    "ROUND": np.round,
    "HALF_EVEN": np.round,
    "CEIL": np.ceil,
    "FLOOR": np.floor,
    "UP": lambda x: np.sign(x) * np.ceil(np.abs(x)),
    "DOWN": np.fix,
    "HALF_UP": lambda x: np.sign(x) * np.floor(np.abs(x) + x.dtype.type(0.5)),
    "HALF_DOWN": lambda x: np.sign(x) * np.ceil(np.abs(x) - x.dtype.type(0.5)),
}
HALF_WAY = ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN")


def quantizer_levels(lo: int, hi: int, reals=None) -> lv.Levels | None:
    """The integers lo..hi in the coding with the fewest planes (None: more than
    levels.MAX_PLANES bits), with these reals (default: the integers)."""
    levels = lv.for_ints(range(lo, hi + 1))
    if levels is None:
        return None
    return levels if reals is None else levels.with_reals(reals)


@dataclass(frozen=True, eq=False)
class Quantize(Op):
    """k-bit quantizer: q = rounding(clip(x, lo, hi)), an integer in [lo, hi], as
    QONNX `Quant` computes it (clip first, then round, in the input's precision);
    the output holds the level of q (`levels.ints` are lo..hi, `levels.reals` the
    model's values, e.g. (q - zero_point) * scale)."""

    lo: int = 0
    hi: int = 1
    mode: str = "ROUND"
    levels: lv.Levels | None = None

    def output_tensor(self, inputs):
        if not inputs[0].domain.is_real:
            raise TypeError("Quantize takes a FLOAT or FLOAT64 input")
        if self.levels is None or self.levels.ints != tuple(range(self.lo, self.hi + 1)):
            raise TypeError(f"Quantize to [{self.lo}, {self.hi}] needs those integers as levels")
        return _levels_tensor(self.output, inputs[0].shape, self.levels)

    def integers(self, x):
        """q in the input's precision (NaN stays NaN)."""
        x = _real(x)
        t = x.dtype.type
        with np.errstate(invalid="ignore"):
            y = np.where(x > self.hi, t(self.hi), x)
            y = np.where(y < self.lo, t(self.lo), y)
            return ROUNDING[self.mode](y)

    def reference(self, x):
        q = self.integers(x)
        nan = np.isnan(q)
        index = np.where(nan, 0, q - self.lo).astype(np.int64)
        return np.where(nan, F32(np.nan), np.asarray(self.levels.reals, F32)[index]).astype(F32)

    def boundaries(self) -> np.ndarray:
        """The input values at which q changes (halfway between integers, or the integers)."""
        if self.mode in HALF_WAY:
            return np.arange(self.lo, self.hi, dtype=np.float64) + 0.5
        return np.arange(self.lo, self.hi + 1, dtype=np.float64)

    def boundary_distance(self, x):
        """Signed distance from x to the nearest boundary (its sign says on which side)."""
        b = self.boundaries()
        if not b.size:
            return np.full(np.shape(x), np.inf)
        x = np.asarray(x, np.float64)
        d = x[..., None] - b
        return np.take_along_axis(d, np.abs(d).argmin(axis=-1)[..., None], axis=-1)[..., 0]


@dataclass(frozen=True, eq=False)
class Round(Op):
    """ONNX Round: to the nearest integer, halves to even, in the input's precision."""

    def output_tensor(self, inputs):
        if not inputs[0].domain.is_real:
            raise TypeError("Round takes a FLOAT or FLOAT64 input")
        return Tensor(self.output, inputs[0].shape, inputs[0].domain)

    def reference(self, x):
        return np.round(_real(x))


# ---------------------------------------------------------------- thresholds


@dataclass(frozen=True, eq=False)
class Threshold(Op):
    """Per-channel multi-threshold that replaces a chain of elementwise ops ending
    in a quantizer (built by the threshold passes, never by the importer), with
    QONNX MultiThreshold semantics.

    With u = -v if flip[c] else v, where v is the INT input or, for a FLOAT
    input, `float_key(x)`:
        out = levels.reals[n],   n = the number of steps k with u >= steps[c, k]
    (`steps` ascending along its last axis, the others broadcasting against the
    input). The sign-like form `t_zero`, `t_pos` is steps (t_zero, t_pos) with
    levels -1, 0, +1: +1 if u >= t_pos, 0 if t_zero <= u < t_pos, else -1; its
    output is bipolar when t_zero == t_pos on every channel.

    With `channel_major_input` the input is the same values with the channels
    first (C, *spatial: an NCHW model input, read where it lies instead of
    through a Transpose); the output keeps the channels last.
    """

    flip: np.ndarray = None  # bool[C]
    t_zero: np.ndarray = None  # int64[C] (sign-like form)
    t_pos: np.ndarray = None  # int64[C] (sign-like form)
    float_input: bool = False
    steps: np.ndarray = None  # int64[C, L-1]
    levels: lv.Levels | None = None  # L levels
    channel_major_input: bool = False

    def __post_init__(self):
        if self.steps is None:
            steps = np.stack(np.broadcast_arrays(np.asarray(self.t_zero, np.int64), np.asarray(self.t_pos, np.int64)),
                             axis=-1)
            object.__setattr__(self, "steps", steps)
            if self.levels is None:
                object.__setattr__(self, "levels", lv.TERNARY)
        steps = np.asarray(self.steps, np.int64)
        object.__setattr__(self, "steps", steps)
        if self.levels.count != steps.shape[-1] + 1:
            raise ValueError(f"{steps.shape[-1]} steps for {self.levels.count} levels")
        if self.levels.count == 2:  # one step: the bipolar form, t_zero == t_pos
            object.__setattr__(self, "t_zero", steps[..., 0])
            object.__setattr__(self, "t_pos", steps[..., 0])
        elif self.levels.count == 3 and lv.standard(self.levels) == "ternary":
            object.__setattr__(self, "t_zero", steps[..., 0])
            object.__setattr__(self, "t_pos", steps[..., 1])
        else:
            object.__setattr__(self, "t_zero", None)
            object.__setattr__(self, "t_pos", None)

    @property
    def sign_like(self) -> bool:
        """One or two steps to bipolar/ternary levels: the form bnn_threshold and the
        binary layers' BITS output decide with two bounds (runtime/bnn_bits.h)."""
        return self.t_pos is not None

    @property
    def is_ternary(self) -> bool:
        return self.sign_like and self.levels.count == 3 and bool(np.any(self.t_zero != self.t_pos))

    @property
    def out_levels(self) -> lv.Levels:
        if self.levels.count == 3 and self.sign_like and not self.is_ternary:  # 0 is never reached
            return lv.BIPOLAR.with_reals((self.levels.reals[0], self.levels.reals[2]))
        return self.levels

    def per_channel(self, t: Tensor) -> bool:
        """Are flip and steps one value (or one row of steps) per channel of t?"""
        return t.per_channel(self.flip) and t.per_channel(self.steps[..., 0])

    def output_tensor(self, inputs):
        if inputs[0].domain not in (Domain.INT, Domain.FLOAT):
            raise TypeError("Threshold reads an INT or FLOAT tensor")
        shape = inputs[0].shape
        if self.channel_major_input:
            shape = shape[1:] + shape[:1]
        return _levels_tensor(self.output, shape, self.out_levels)

    def counts(self, x) -> np.ndarray:
        """n per element (channels last): how many steps it passes."""
        if self.channel_major_input:  # (batch, C, *spatial) -> (batch, *spatial, C)
            x = np.moveaxis(np.asarray(x), 1, -1)
        v = float_key(x) if self.float_input else np.asarray(x).astype(np.int64)
        u = np.where(self.flip, -v, v)
        return (u[..., None] >= self.steps).sum(axis=-1)

    def reference(self, x):
        return np.asarray(self.levels.reals, F32)[self.counts(x)]

    def boundary_distance(self, x):
        return x


# ---------------------------------------------------------------- relabelling


@dataclass(frozen=True, eq=False)
class Relabel(Op):
    """The same bits standing for other levels: level k of `source` becomes level k
    of `levels` (same planes and codes; e.g. a {0, 1} activation coded as bipolar
    bits, read as the integers 0 and 1 by a k-bit kernel). Free in C."""

    source: lv.Levels | None = None
    levels: lv.Levels | None = None

    def output_tensor(self, inputs):
        x = inputs[0]
        if not x.domain.is_packed or x.levels != self.source:
            raise TypeError("Relabel reads a packed tensor with its source levels")
        if [x.levels.codes[k] for k in range(x.levels.count)] != list(self.levels.codes):
            raise TypeError("Relabel keeps the codes")
        return _levels_tensor(self.output, x.shape, self.levels)

    def reference(self, x):
        return np.asarray(self.levels.reals, F32)[self.source.index(x)]
