"""Sample inputs for `verify` and `golden`: a `.npy` file or random samples,
both delivered in batches of float32 so that a million samples never sit in
memory at once (`Samples` is an iterable of arrays with a length)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import BnnError

BATCH = 1024


class Samples:
    """`len(samples)` samples of `shape`, iterated as float32 batches (N, *shape)."""

    def __init__(self, count: int, shape: tuple[int, ...], batches):
        self.count, self.shape, self._batches = count, tuple(shape), batches

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._batches()

    def array(self) -> np.ndarray:
        """All samples at once (for the few that a golden program embeds)."""
        return np.concatenate(list(self)) if self.count else np.zeros((0,) + self.shape, np.float32)


def load_inputs(path: str | Path, input_shape: tuple[int, ...]) -> tuple[Samples, str | None]:
    """The samples of a `.npy` file, shaped (N, *input_shape), or (N, size) rows which
    are then read as samples (the second value is a note saying so). The file is
    memory-mapped and converted batch by batch; every value must be finite
    after the conversion to float32 (1e300 in a float64 file is not)."""
    try:
        x = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise BnnError(f"cannot read inputs '{path}': {exc}") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise BnnError(f"inputs '{path}' must be a numeric array, not {getattr(x, 'dtype', type(x))}")
    if x.size == 0:
        raise BnnError(f"inputs '{path}' hold no samples")
    shape, size = tuple(input_shape), int(np.prod(input_shape))
    note = None
    if x.ndim >= 1 and tuple(x.shape[1:]) == shape:
        samples = x
    elif x.ndim == 2 and x.shape[1] == size:
        samples = x
        note = (f"inputs '{path}' hold {x.shape[0]} rows of {size} values: each row is read as one sample "
                f"of shape {shape} (row-major)")
    else:
        raise BnnError(f"inputs '{path}' have shape {x.shape}; the model takes (N, {', '.join(map(str, shape))}) "
                       f"or (N, {size})", hint="save the samples batch first, in the model's input layout")

    def batches():
        for start in range(0, len(samples), BATCH):
            with np.errstate(over="ignore", invalid="ignore"):
                chunk = np.asarray(samples[start:start + BATCH]).astype(np.float32)
            bad = ~np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
            if bad.any():
                raise BnnError(f"inputs '{path}': sample {start + int(np.argmax(bad))} holds NaN or infinite values "
                               f"(in float32)", hint="the exactness contract is stated for finite float32 inputs")
            yield chunk.reshape((-1,) + shape)

    return Samples(len(samples), shape, batches), note


def random_inputs(input_shape: tuple[int, ...], samples: int, seed: int = 0) -> np.ndarray:
    """Half uniform in [0, 1) with some exact zeros (image-like), half standard normal."""
    rng = np.random.default_rng(seed)
    shape = (samples,) + tuple(input_shape)
    x = rng.uniform(0, 1, shape).astype(np.float32)
    x[rng.uniform(size=shape) < 0.2] = 0
    x[samples // 2:] = rng.normal(size=(samples - samples // 2,) + tuple(input_shape))
    return x


def random_samples(input_shape: tuple[int, ...], samples: int, seed: int = 0) -> Samples:
    """`random_inputs` of any count, generated batch by batch (the same samples as
    `random_inputs` when they fit in one batch)."""
    if samples <= BATCH:
        return Samples(samples, input_shape, lambda: iter([random_inputs(input_shape, samples, seed)]))

    def batches():
        for k, start in enumerate(range(0, samples, BATCH)):
            n = min(BATCH, samples - start)
            rng = np.random.default_rng([seed, k])
            shape = (n,) + tuple(input_shape)
            x = rng.uniform(0, 1, shape).astype(np.float32)
            x[rng.uniform(size=shape) < 0.2] = 0
            normal = np.arange(start, start + n) >= samples // 2
            x[normal] = rng.normal(size=(int(normal.sum()),) + tuple(input_shape))
            yield x

    return Samples(samples, input_shape, batches)
