"""IR ops. Each one states its typing rule (`output_tensor`) and its numpy
semantics (`reference`), so any pass can be checked by running the graph
before and after it.

Float references compute in float32, one rounding per ONNX op, in the
model's own op order: that is what makes thresholds derived from them exact
with respect to onnxruntime.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Domain, Op, Tensor

F32 = np.float32


def _float(t: Tensor, shape=None) -> Tensor:
    return Tensor(t.name, t.shape if shape is None else shape, Domain.FLOAT)


# ---------------------------------------------------------------- binarizers


@dataclass(frozen=True, eq=False)
class Binarize(Op):
    """Quantizer from float to {-1,+1} (or {-1,0,+1} for ONNX `Sign`).

    mode `ge`: +1 where x >= 0 (Larq ste_sign, QONNX BipolarQuant, Where(x>=0)).
    mode `gt`: +1 where x > 0.
    mode `sign`: ONNX Sign, 0 stays 0, so the result is ternary.
    """

    mode: str = "ge"

    def output_tensor(self, inputs):
        domain = Domain.TERNARY if self.mode == "sign" else Domain.BIPOLAR
        return Tensor(self.output, inputs[0].shape, domain)

    def reference(self, x):
        x = np.asarray(x, dtype=F32)
        if self.mode == "ge":
            return np.where(x >= 0, F32(1), F32(-1))
        if self.mode == "gt":
            return np.where(x > 0, F32(1), F32(-1))
        return np.sign(x).astype(F32)


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


@dataclass(frozen=True, eq=False)
class Threshold(Op):
    """Per-channel comparison that replaces a chain of elementwise ops ending
    in a binarizer (built by the threshold passes, never by the importer).

    With u = -v if flip[c] else v, where v is the INT input or, for a FLOAT
    input, `float_key(x)`:
        out = +1 if u >= t_pos[c];  0 if t_zero[c] <= u < t_pos[c];  else -1.
    The output is bipolar when t_zero == t_pos on every channel.
    """

    flip: np.ndarray = None  # bool[C]
    t_zero: np.ndarray = None  # int64[C]
    t_pos: np.ndarray = None  # int64[C]
    float_input: bool = False

    @property
    def is_ternary(self) -> bool:
        return bool(np.any(self.t_zero != self.t_pos))

    def output_tensor(self, inputs):
        if inputs[0].domain not in (Domain.INT, Domain.FLOAT):
            raise TypeError("Threshold reads an INT or FLOAT tensor")
        domain = Domain.TERNARY if self.is_ternary else Domain.BIPOLAR
        return Tensor(self.output, inputs[0].shape, domain)

    def reference(self, x):
        v = float_key(x) if self.float_input else np.asarray(x).astype(np.int64)
        u = np.where(self.flip, -v, v)
        return np.where(u >= self.t_pos, F32(1), np.where(u >= self.t_zero, F32(0), F32(-1)))


# ---------------------------------------------------------------- dense layers


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """y = x @ weight over the last axis, weight [K, N] float32 (real kernel).
    A bipolar or ternary input makes it a BAN layer (binary activations)."""

    weight: np.ndarray = None

    def output_tensor(self, inputs):
        x = inputs[0]
        if x.domain == Domain.INT:
            raise TypeError("Dense takes a FLOAT, BIPOLAR or TERNARY input")
        return Tensor(self.output, x.shape[:-1] + (self.weight.shape[1],), Domain.FLOAT)

    def reference(self, x):
        return np.asarray(x, dtype=F32) @ self.weight


@dataclass(frozen=True, eq=False)
class BinaryDense(Op):
    """y = x @ signs, signs int8 [K, N] in {-1,+1} (binary kernel).
    Binary or ternary input: XNOR/popcount, exact INT accumulator.
    Float input: BWN layer, a float sum of +-x."""

    signs: np.ndarray = None
    packed_input: bool = True  # input is BIPOLAR/TERNARY (else FLOAT: BWN)

    @property
    def fan_in(self) -> int:
        return int(self.signs.shape[0])

    def output_tensor(self, inputs):
        x = inputs[0]
        shape = x.shape[:-1] + (self.signs.shape[1],)
        k = self.fan_in
        if x.domain == Domain.BIPOLAR:
            return Tensor(self.output, shape, Domain.INT, (-k, k, 2))
        if x.domain == Domain.TERNARY:
            return Tensor(self.output, shape, Domain.INT, (-k, k, 1))
        if x.domain == Domain.FLOAT:
            return Tensor(self.output, shape, Domain.FLOAT)
        raise TypeError("BinaryDense takes a FLOAT, BIPOLAR or TERNARY input")

    def reference(self, x):
        if self.packed_input:
            return np.asarray(x).astype(np.int64) @ self.signs.astype(np.int64)
        return np.asarray(x, dtype=F32) @ self.signs.astype(F32)


# ---------------------------------------------------------------- elementwise


@dataclass(frozen=True, eq=False)
class Cast(Op):
    """To float32: an INT accumulator, or unpacking bipolar/ternary values."""

    def output_tensor(self, inputs):
        return _float(Tensor(self.output, inputs[0].shape, Domain.FLOAT))

    def reference(self, x):
        return np.asarray(x).astype(F32)


CHANNEL_KINDS = ("add", "sub", "rsub", "mul", "div", "rdiv")


@dataclass(frozen=True, eq=False)
class ChannelOp(Op):
    """x (op) const, one float32 rounding. `const` broadcasts against the
    per-sample shape; kinds: add x+c, sub x-c, rsub c-x, mul x*c, div x/c,
    rdiv c/x."""

    kind: str = "add"
    const: np.ndarray = None

    def output_tensor(self, inputs):
        if inputs[0].domain != Domain.FLOAT:
            raise TypeError("ChannelOp takes a FLOAT input")
        shape = np.broadcast_shapes(inputs[0].shape, self.const.shape)
        return Tensor(self.output, tuple(shape), Domain.FLOAT)

    def reference(self, x):
        x = np.asarray(x, dtype=F32)
        c = self.const
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return {
                "add": lambda: x + c,
                "sub": lambda: x - c,
                "rsub": lambda: c - x,
                "mul": lambda: x * c,
                "div": lambda: x / c,
                "rdiv": lambda: c / x,
            }[self.kind]().astype(F32)


@dataclass(frozen=True, eq=False)
class Relu(Op):
    def output_tensor(self, inputs):
        return _float(Tensor(self.output, inputs[0].shape, Domain.FLOAT))

    def reference(self, x):
        return np.maximum(np.asarray(x, dtype=F32), F32(0))


@dataclass(frozen=True, eq=False)
class Clip(Op):
    lo: float = -np.inf
    hi: float = np.inf

    def output_tensor(self, inputs):
        return _float(Tensor(self.output, inputs[0].shape, Domain.FLOAT))

    def reference(self, x):
        return np.minimum(np.maximum(np.asarray(x, dtype=F32), F32(self.lo)), F32(self.hi))


@dataclass(frozen=True, eq=False)
class Softmax(Op):
    """Softmax over the last axis (the importer refuses other axes)."""

    def output_tensor(self, inputs):
        return _float(Tensor(self.output, inputs[0].shape, Domain.FLOAT))

    def reference(self, x):
        x = np.asarray(x, dtype=F32)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(F32)


@dataclass(frozen=True, eq=False)
class Reshape(Op):
    """Same values in row-major order, new per-sample shape."""

    shape: tuple[int, ...] = ()

    def output_tensor(self, inputs):
        x = inputs[0]
        return Tensor(self.output, tuple(self.shape), x.domain, x.int_range)

    def reference(self, x):
        return np.reshape(x, (x.shape[0],) + tuple(self.shape))


ELEMENTWISE_MONOTONE = (ChannelOp, Relu, Clip, Cast, Reshape)
