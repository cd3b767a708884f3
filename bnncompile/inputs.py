"""Sample inputs for `verify` when the user gives none."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import BnnError


def load_inputs(path: str | Path, input_shape: tuple[int, ...]) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise BnnError(f"cannot read inputs '{path}': {exc}") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise BnnError(f"inputs '{path}' must be a numeric array, not {getattr(x, 'dtype', type(x))}")
    if x.size == 0:
        raise BnnError(f"inputs '{path}' hold no samples")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise BnnError(f"inputs '{path}' contain NaN or infinite values",
                       hint="the exactness contract is stated for finite inputs")
    size = int(np.prod(input_shape))
    if x.size % size:
        raise BnnError(f"inputs '{path}' hold {x.size} values, not a multiple of the sample size {size}")
    return x.astype(np.float32).reshape((-1,) + tuple(input_shape))


def random_inputs(input_shape: tuple[int, ...], samples: int, seed: int = 0) -> np.ndarray:
    """Half uniform in [0, 1) with some exact zeros (image-like), half standard normal."""
    rng = np.random.default_rng(seed)
    shape = (samples,) + tuple(input_shape)
    x = rng.uniform(0, 1, shape).astype(np.float32)
    x[rng.uniform(size=shape) < 0.2] = 0
    x[samples // 2:] = rng.normal(size=(samples - samples // 2,) + tuple(input_shape))
    return x
