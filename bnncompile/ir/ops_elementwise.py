"""IR ops that compute elementwise on activations beyond a constant operand
(ops.py has the constant ones): PRelu/LeakyRelu, and arithmetic between two
activations. As in ops.py, each op states its typing rule and its numpy
meaning, computed as onnxruntime rounds it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Domain, Op, Tensor


def _const_domain(c: np.ndarray) -> Domain:
    return Domain.FLOAT64 if np.asarray(c).dtype == np.float64 else Domain.FLOAT


@dataclass(frozen=True, eq=False)
class PRelu(Op):
    """ONNX PRelu and LeakyRelu: y = x where x >= 0, else x * slope, one rounding
    (probed bit for bit: onnxruntime returns x itself for x = -0 as well).
    `slope` broadcasts per channel like ChannelOp.const, in the precision of the
    input (float32, or float64 after a Cast to double).

    Monotone per channel exactly when slope >= 0; a negative slope makes the
    function fall and then rise, so no threshold can follow it."""

    slope: np.ndarray = None

    def output_tensor(self, inputs):
        x = inputs[0]
        domain = _const_domain(self.slope)
        if x.domain != domain:
            raise TypeError(f"PRelu with a {self.slope.dtype} slope takes a {domain.value} input, not {x.domain.value}")
        return Tensor(self.output, tuple(np.broadcast_shapes(x.shape, self.slope.shape)), domain)

    def apply(self, x: np.ndarray, slope: np.ndarray) -> np.ndarray:
        """The arithmetic in the precision of x and slope (float64 for error bounds)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(x >= 0, x, x * slope)

    def reference(self, x):
        dtype = self.slope.dtype.type
        return self.apply(np.asarray(x, dtype=dtype), self.slope).astype(dtype)


ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


@dataclass(frozen=True, eq=False)
class Arith(Op):
    """a (op) b between two activations, ONNX Add/Sub/Mul/Div with numpy
    broadcasting (the importer gives both the output's rank): one IEEE rounding,
    in float32 (or float64 between a Cast to double and the next binarizer).
    Equal-shape sums of two float32 maps (residual shortcuts) are `Add` (ops.py);
    this op covers the rest: differences, products and quotients of activations
    (the straight-through-estimator arithmetic PyTorch exports), and sums that
    broadcast."""

    kind: str = "add"

    def output_tensor(self, inputs):
        a, b = inputs
        if a.domain != b.domain or not a.domain.is_real:
            raise TypeError(f"{self.kind} of two activations takes two FLOAT (or two FLOAT64) inputs, "
                            f"not {a.domain.value} and {b.domain.value}")
        if len(a.shape) != len(b.shape):
            raise TypeError(f"{self.kind} of activations of ranks {len(a.shape)} and {len(b.shape)}")
        return Tensor(self.output, tuple(np.broadcast_shapes(a.shape, b.shape)), a.domain)

    def apply(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return ARITH[self.kind](a, b)

    def reference(self, a, b):
        a, b = np.asarray(a), np.asarray(b)
        dtype = np.float64 if a.dtype == np.float64 else np.float32
        return self.apply(a.astype(dtype), b.astype(dtype)).astype(dtype)
