"""Every budget bnncompile keeps while it compiles and verifies, in one place.

A model file of a few hundred bytes can ask for gigabytes (a constant
`Expand` to 2^40 elements, a `MatMul` of huge constants, a binary layer with a
fan-in of 2^24 whose thresholds are enumerated on every accumulator value).
Each budget below is checked *before* the work it guards, and breaking it is
one clean error that names the limit and the environment variable that raises
it. Limits of the generated C itself (int geometry, arena size) are not
budgets and live in `passes/c_limits.py`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import BnnError


@dataclass(frozen=True)
class Limit:
    env: str  # environment variable that overrides the default
    default: int | float  # a float default takes fractional values
    unit: str

    def value(self) -> int | float:
        text = os.environ.get(self.env)
        if text is None or text == "":
            return self.default
        try:
            value = float(text) if isinstance(self.default, float) else int(float(text))
        except (ValueError, OverflowError):
            raise BnnError(f"{self.env}={text!r} is not a finite number") from None
        if not 0 < value < float("inf"):
            raise BnnError(f"{self.env}={text!r} must be a positive finite number")
        return value

    def check(self, amount: float, what: str, node: str | None = None) -> None:
        """Raise the error for `what` needing `amount` units when that is over the limit."""
        limit = self.value()
        if amount > limit:
            shown = f"{amount:,.0f}" if float(amount).is_integer() or amount >= 100 else f"{amount:,.1f}"
            cap = f"{limit:g}" if isinstance(limit, float) else f"{limit:,}"
            raise BnnError(f"{what} needs {shown} {self.unit}, more than the limit of {cap}",
                           node=node, hint=f"set {self.env} to raise the limit")


# Constant folding: elements of all folded constants together (so of each one too).
FOLD_ELEMENTS = Limit("BNN_MAX_FOLD_ELEMENTS", 1 << 28, "elements")
# Constant folding: multiply-adds of one MatMul/Gemm/Conv/Einsum-like op on constants.
FOLD_MACS = Limit("BNN_MAX_FOLD_MACS", 1 << 32, "multiply-adds")
# Constant folding: wall-clock seconds for all of it (checked between nodes).
FOLD_SECONDS = Limit("BNN_MAX_FOLD_SECONDS", 60.0, "seconds")
# Threshold derivation: accumulator values x channels evaluated for one binarizer.
THRESHOLD_EVALS = Limit("BNN_MAX_THRESHOLD_EVALS", 1 << 27, "evaluations")
# Values of all initializers of the model file (checked before external data is
# read) and of all dense and convolution weights after folding.
WEIGHTS = Limit("BNN_MAX_WEIGHTS", 1 << 28, "values")
# verify: samples (they are streamed in batches, so this bounds time, not memory).
SAMPLES = Limit("BNN_MAX_SAMPLES", 10_000_000, "samples")

ALL = (FOLD_ELEMENTS, FOLD_MACS, FOLD_SECONDS, THRESHOLD_EVALS, WEIGHTS, SAMPLES)
