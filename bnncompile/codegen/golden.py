"""Golden test programs: a generated model plus reference inputs/outputs,
built and run on the host or on a board QEMU emulates (Cortex-M4, Cortex-M0,
RISC-V rv32 with and without Zbb; bnncompile.boards).

    write_golden(compiled.files, "digits", x, y_ref, "out/golden-m0", board_named("cortex-m0"))
    # then: make -C out/golden-m0 run    (exit status 0 = every sample matched)

The C program comes from templates/golden/ (golden_main.c.j2, Makefile.j2);
for a board, the startup code, console and linker script come from
targets/<core family>/ and targets/common/.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..boards import Board
from ..errors import BnnError
from ..resources import resource_dir
from . import template_environment, write_files
from .fit import Footprint
from .literals import c_float

COMMON_FILES = ("target.h", "console.c")
# Stack of the test harness besides the model's: main's frame, console_printf
# (a 96-byte line buffer and the formatter) and the startup code's frame.
HARNESS_STACK = 256


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


def golden_stack_size(model_stack: int) -> int:
    """Stack the golden program reserves: the model's measured deepest call
    path plus the harness's, rounded up to 16 bytes (the RISC-V ABI's stack
    alignment, and a multiple of the Arm linker scripts' 8)."""
    return -(-(model_stack + HARNESS_STACK) // 16) * 16


def require_program_fit(need: Footprint, board: Board, inputs: np.ndarray, outputs: np.ndarray) -> None:
    """The golden program holds more than the model: the golden vectors in
    flash, an output buffer and the harness's stack in RAM. A clear error
    (BnnError) when these alone overflow the board (`board` with the QEMU
    machine's memory); the harness's code and libc's few hundred bytes of
    data are not counted, so a program at the very edge can still fail to link."""
    vectors = 4 * (np.asarray(inputs).size + np.asarray(outputs).size)
    out_buffer = 4 * (np.asarray(outputs).size // max(len(outputs), 1))
    flash, ram = need.flash + vectors, need.ram + HARNESS_STACK + out_buffer
    if flash <= board.flash and ram <= board.ram:
        return
    problems = []
    if flash > board.flash:
        problems.append(f"flash {flash:,d} B (the model's {need.flash:,d} B + {len(inputs)} golden samples "
                        f"{vectors:,d} B) but {board.name} has {board.flash:,d} B")
    if ram > board.ram:
        problems.append(f"RAM {ram:,d} B (the model's {need.ram:,d} B + the test harness's stack and output "
                        f"buffer {ram - need.ram:,d} B) but {board.name} has {board.ram:,d} B")
    raise BnnError(f"the model fits {board.name}, but its golden program would need " + "; ".join(problems),
                   hint="use fewer --samples" if flash > board.flash else "the model itself fits: test it "
                   "on a board with more RAM, e.g. --target cortex-m4")


def render_golden(files: dict[str, str], name: str, inputs: np.ndarray, outputs: np.ndarray,
                  board: Board | None, atol: float = 1e-4, rtol: float = 1e-4,
                  model_stack: int | None = None) -> dict[str, str]:
    """Every file of the golden program, {file name: text} (targets' files
    included). `board` None is the host; otherwise it must have a QEMU
    machine. `model_stack` (bytes, validate.footprint) sizes the program's
    stack reservation; None keeps the linker script's default."""
    if board is not None and board.machine is None:
        raise ValueError(f"golden: board '{board.name}' has no QEMU machine to run on")
    if f"{name}.c" not in files:
        raise ValueError(f"golden: the model files have no {name}.c")
    ins = _rows(inputs, "input", None, _header_size(files, name, "INPUT"))
    if not ins:
        raise ValueError("golden: at least one sample is needed")
    outs = _rows(outputs, "output", len(ins), _header_size(files, name, "OUTPUT"))
    env = template_environment()
    machine = board.machine if board else None
    sources = [s for s in machine.sources if s.endswith(".c")] if machine else []
    context = dict(
        name=name, NAME=name.upper(), n_samples=len(ins), inputs=ins, outputs=outs, atol=c_float(atol),
        rtol=c_float(rtol), target=board.name if board else "host", board=board, machine=machine,
        objects=[s[:-2] + ".o" for s in (*COMMON_FILES, *sources) if s.endswith(".c")],
        qemu_flags=[*machine.qemu_args, *(("-cpu", board.core.qemu_cpu) if board.core.qemu_cpu else ())]
        if machine else [],
        stack_size=golden_stack_size(model_stack) if board and model_stack is not None else None,
    )
    result = dict(files)
    result["golden_main.c"] = env.get_template("golden/golden_main.c.j2").render(context)
    result["Makefile"] = env.get_template("golden/Makefile.j2").render(context)
    if machine is not None:
        targets = resource_dir("targets")
        for fname in COMMON_FILES:
            result[fname] = (targets / "common" / fname).read_text()
        for fname in (*machine.sources, machine.linker_script):
            result[fname] = (targets / board.core.family / fname).read_text()
    return result


def write_golden(files: dict[str, str], name: str, inputs: np.ndarray, outputs: np.ndarray, out_dir,
                 board: Board | None, atol: float = 1e-4, rtol: float = 1e-4,
                 model_stack: int | None = None) -> list[Path]:
    """Write the model's files, golden_main.c, Makefile and (for a board)
    the startup code, console and linker script into `out_dir`. `inputs` is
    (N, ...) with NAME_INPUT_SIZE values per sample, `outputs` (N, ...) the
    reference outputs. Returns the paths written."""
    everything = render_golden(files, name, inputs, outputs, board, atol, rtol, model_stack)
    return write_files(everything, out_dir)
