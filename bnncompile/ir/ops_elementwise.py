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
