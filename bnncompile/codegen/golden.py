"""Golden test programs: a generated model plus reference inputs/outputs,
built and run on the host or on a Cortex-M board under QEMU.

    write_golden(compiled.files, "digits", x, y_ref, "out/golden-m4", "cortex-m4")
    # then: make -C out/golden-m4 run    (exit status 0 = every sample matched)

The C program comes from templates/golden/ (golden_main.c.j2, Makefile.j2);
for a Cortex-M target the startup code, semihosting and linker script come
from targets/cortex-m/.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..resources import resource_dir
from . import template_environment, write_files
from .literals import c_float

# target -> (linker script, QEMU machine); the CPU flags are in Makefile.j2.
TARGETS: dict[str, tuple[str, str] | None] = {
    "host": None,
    "cortex-m4": ("mps2-an386.ld", "mps2-an386"),
    "cortex-m0": ("microbit.ld", "microbit"),
}
TARGET_FILES = ("startup.c", "semihost.c", "semihost.h")


def _header_size(files: dict[str, str], name: str, what: str) -> int | None:
    header = files.get(f"{name}.h", "")
    m = re.search(rf"#define\s+{name.upper()}_{what}_SIZE\s+(\d+)", header)
    return int(m.group(1)) if m else None


def _rows(array: np.ndarray, what: str, n: int | None, size: int | None) -> list[list[str]]:
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 0:
        raise ValueError(f"golden {what}s must have a sample axis first")
    a = a.reshape(a.shape[0], -1)
    if n is not None and a.shape[0] != n:
        raise ValueError(f"golden: {a.shape[0]} {what} samples but {n} input samples")
    if size is not None and a.shape[1] != size:
        raise ValueError(f"golden: {what}s have {a.shape[1]} values per sample, the model {size}")
    return [[c_float(v) for v in row] for row in a]


def render_golden(files: dict[str, str], name: str, inputs: np.ndarray, outputs: np.ndarray,
                  target: str, atol: float = 1e-4, rtol: float = 1e-4) -> dict[str, str]:
    """Every file of the golden program, {file name: text} (targets' files included)."""
    if target not in TARGETS:
        raise ValueError(f"unknown golden target '{target}' (choose from {', '.join(TARGETS)})")
    if f"{name}.c" not in files:
        raise ValueError(f"golden: the model files have no {name}.c")
    ins = _rows(inputs, "input", None, _header_size(files, name, "INPUT"))
    if not ins:
        raise ValueError("golden: at least one sample is needed")
    outs = _rows(outputs, "output", len(ins), _header_size(files, name, "OUTPUT"))
    env = template_environment()
    context = dict(name=name, NAME=name.upper(), n_samples=len(ins), inputs=ins, outputs=outs,
                   atol=c_float(atol), rtol=c_float(rtol), target=target)
    result = dict(files)
    result["golden_main.c"] = env.get_template("golden/golden_main.c.j2").render(context)
    result["Makefile"] = env.get_template("golden/Makefile.j2").render(context)
    board = TARGETS[target]
    if board is not None:
        src = resource_dir("targets") / "cortex-m"
        for fname in (*TARGET_FILES, board[0]):
            result[fname] = (src / fname).read_text()
    return result


def write_golden(files: dict[str, str], name: str, inputs: np.ndarray, outputs: np.ndarray, out_dir,
                 target: str, atol: float = 1e-4, rtol: float = 1e-4) -> list[Path]:
    """Write the model's files, golden_main.c, Makefile and (for a Cortex-M
    target) startup.c, semihost.[ch] and the linker script into `out_dir`.
    `inputs` is (N, ...) with NAME_INPUT_SIZE values per sample, `outputs`
    (N, ...) the reference outputs. Returns the paths written."""
    everything = render_golden(files, name, inputs, outputs, target, atol, rtol)
    return write_files(everything, out_dir)
