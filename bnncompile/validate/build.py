"""Build generated C with the system compiler and load it with cffi."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from cffi import FFI

from ..codegen import Plan
from ..errors import BnnError

STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def compiler() -> list[str]:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise BnnError("no C compiler found", hint="install gcc or clang, or set CC")
    return shlex.split(cc)


class NativeModel:
    """The generated C, compiled as a shared library and callable from numpy."""

    def __init__(self, files: dict[str, str], plan: Plan, trace: bool = False, extra_flags=()):
        self.plan = plan
        self.name = plan.name
        self._dir = tempfile.mkdtemp(prefix="bnncompile-build-")
        try:
            self._build(files, trace, extra_flags)
        except BaseException:  # a compile error, or Ctrl-C/SIGTERM while cc runs: leave no build folder
            self.close()
            raise
        self.input_size = int(np.prod(plan.input_shape))
        self.output_size = int(np.prod(plan.output_shape))
        self.trace = trace

    def _build(self, files: dict[str, str], trace: bool, extra_flags) -> None:
        for fname, text in files.items():
            Path(self._dir, fname).write_text(text)
        lib_path = Path(self._dir, f"lib{self.name}.so")
        cmd = compiler() + STRICT_FLAGS + ["-fPIC", "-shared", *extra_flags]
        if trace:
            cmd.append("-DBNN_TRACE")
        cmd += [str(Path(self._dir, f"{self.name}.c")), "-o", str(lib_path), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BnnError(f"the generated C does not compile:\n{proc.stderr.strip()}")
        self.ffi = FFI()
        self.ffi.cdef(f"int {self.name}_run(const float *input, float *output);")
        if trace:
            self.ffi.cdef(f"extern void (*{self.name}_trace_hook)(int step, const void *data, unsigned long bytes);")
        self.lib = self.ffi.dlopen(str(lib_path))

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), self.input_size))
        out = np.empty((len(x), self.output_size), dtype=np.float32)
        run = getattr(self.lib, f"{self.name}_run")
        for i in range(len(x)):
            rc = run(self.ffi.from_buffer("float[]", x[i]), self.ffi.from_buffer("float[]", out[i]))
            if rc != 0:
                raise BnnError(f"{self.name}_run returned {rc}")
        return out.reshape((len(x),) + tuple(self.plan.output_shape))

    def run_traced(self, x: np.ndarray) -> tuple[np.ndarray, list[dict[int, bytes]]]:
        """Outputs plus, per sample, the bytes every step wrote."""
        if not self.trace:
            raise ValueError("built without trace")
        records: list[dict[int, bytes]] = []
        current: dict[int, bytes] = {}

        @self.ffi.callback("void(int, const void *, unsigned long)")
        def hook(step, data, nbytes):
            current[step] = bytes(self.ffi.buffer(data, nbytes))

        setattr(self.lib, f"{self.name}_trace_hook", hook)
        outs = []
        try:
            for i in range(len(x)):
                current = {}
                outs.append(self.run(x[i:i + 1])[0])
                records.append(current)
        finally:
            setattr(self.lib, f"{self.name}_trace_hook", self.ffi.NULL)
        return np.stack(outs), records
