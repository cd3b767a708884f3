"""Python API: compile a model and run the generated C on numpy batches."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .compiler import Compiled, compile_to_dir
from .validate.build import NativeModel


class CompiledModel:
    """The C library generated for one model, built and loaded with cffi.

    `run(x)` takes a batch shaped like the ONNX input (any batch size) and
    returns the C's outputs, one row per sample (like hls4ml's `predict`)."""

    def __init__(self, compiled: Compiled, out_dir: Path):
        self.compiled = compiled
        self.out_dir = out_dir
        self.name = compiled.plan.name
        self._native: NativeModel | None = None

    @property
    def files(self) -> list[Path]:
        return sorted(self.out_dir / name for name in self.compiled.files)

    def run(self, x) -> np.ndarray:
        if self._native is None:
            self._native = NativeModel(self.compiled.files, self.compiled.plan)
        return self._native.run(np.asarray(x, dtype=np.float32))

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
            self._native = None


def compile_model(path, out_dir, name=None) -> CompiledModel:
    compiled = compile_to_dir(path, out_dir, name=name)
    return CompiledModel(compiled, Path(out_dir))
