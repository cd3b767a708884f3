"""Python API, mirroring the command line:

    model = bnncompile.compile("model.onnx", "build/net", name="net")
    y = model.run(x)                  # the generated C on a numpy batch
    print(model.verify(x).verdict())  # `bnncompile verify`
    print(model.report())             # `bnncompile report`
    model.html_report("net.html")     # `bnncompile report --html`
    model.golden("build/golden", target="cortex-m4", samples=10)  # `bnncompile golden`
    model.header, model.source, model.files

`from_torch` (frontends.py) returns the same object.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .compiler import Compiled, compile_to_memory, refuse_non_binary, write_compiled
from .errors import BnnError
from .validate.build import NativeModel


class CompiledModel:
    """The C library generated for one model; built and loaded with cffi on
    first use. Close it (or use it as a context manager) to drop the build."""

    def __init__(self, compiled: Compiled, out_dir: Path | None, written=(), owned_dir: Path | None = None):
        self.compiled = compiled
        self.out_dir = out_dir  # None: compiled in memory only
        self._written = sorted(written)  # paths relative to out_dir
        self.name = compiled.plan.name
        self._native: NativeModel | None = None
        self._owned_dir = owned_dir  # a temporary folder holding the ONNX file (from_torch, Keras)

    # what was generated -------------------------------------------------------
    @property
    def onnx_path(self) -> Path:
        """The ONNX file the C was generated from (the reference for verify and golden)."""
        return Path(self.compiled.info.path)

    @property
    def notes(self):
        """Compile-time diagnostics (ir.Note: kind, node, message), as `compile` prints them."""
        return self.compiled.graph.notes

    @property
    def files(self) -> list[Path]:
        """Every file written into out_dir (C, runtime headers, build files)."""
        if self.out_dir is None:
            return []
        return sorted(self.out_dir / name for name in self._written)

    @property
    def header(self) -> Path | None:
        return None if self.out_dir is None else self._path_of(f"{self.name}.h")

    @property
    def source(self) -> Path | None:
        return None if self.out_dir is None else self._path_of(f"{self.name}.c")

    def _path_of(self, file_name: str) -> Path:
        return next(self.out_dir / n for n in self._written if Path(n).name == file_name)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample input shape (batch dimension dropped)."""
        return tuple(self.compiled.plan.input_shape)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.compiled.plan.output_shape)

    # what it does ------------------------------------------------------------------
    def run(self, x) -> np.ndarray:
        """The C's outputs for a batch shaped like the ONNX input (any batch
        size), one row per sample (like hls4ml's `predict`). A model with several
        inputs takes a list of batches (one per input) or their samples flattened
        one after another; several outputs come back flattened the same way."""
        if self._native is None:
            self._native = NativeModel(self.compiled.files, self.compiled.plan)
        if isinstance(x, (list, tuple)):
            x = np.concatenate([np.asarray(v, np.float32).reshape(len(v), -1) for v in x], axis=1)
        return self._native.run(np.asarray(x, dtype=np.float32))

    def verify(self, inputs=None, samples: int = 100):
        """`bnncompile verify`: run the C beside the reference on `inputs` (a
        batch) or on `samples` random inputs; returns the report (`.ok`,
        `.verdict()`, per-layer rows)."""
        from .inputs import random_inputs
        from .validate import verify

        x = random_inputs(self.input_shape, samples) if inputs is None else np.asarray(inputs, dtype=np.float32)
        return verify(self.compiled, x)

    def report(self, measure: bool = True, target: str | None = None) -> str:
        """`bnncompile report`: per-layer table, totals, compile notes. With
        `measure`, code and stack come from the cross compiler of `target`'s
        core (a Cortex-M4 by default) when it is installed; with `target`, the
        fit on that board follows."""
        from .boards import board_named
        from .codegen.fit import Fit, format_fit
        from .codegen.report import format_report

        board = board_named(target) if target and target != "host" else None
        need, _ = measure_footprint(self.compiled, board) if measure else (None, None)
        text = format_report(self.compiled.graph, self.compiled.plan, measured_dict(need))
        return text + ("\n" + format_fit(Fit(need, board)) if board and need else "")

    def html_report(self, path, measure: bool = True) -> Path:
        """`bnncompile report --html`: one self-contained page."""
        from .codegen.html_report import write_html_report

        need, _ = measure_footprint(self.compiled, None) if measure else (None, None)
        return write_html_report(self.compiled, path, measured_dict(need))

    def golden(self, out_dir, target: str = "host", inputs=None, samples: int = 10) -> list[Path]:
        """`bnncompile golden`: a test program with the reference's outputs for
        `inputs` (or `samples` random inputs); `make -C out_dir run` checks it.
        A board the model does not fit is refused before anything is written."""
        from .boards import board_named
        from .inputs import random_inputs

        board = board_named(target) if target != "host" else None
        x = random_inputs(self.input_shape, samples) if inputs is None else np.asarray(inputs, dtype=np.float32)
        return write_golden_program(self.compiled, self.onnx_path, x, out_dir, board)

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
            self._native = None
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> "CompiledModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f" in {self.out_dir}" if self.out_dir is not None else " (in memory)"
        return (f"<CompiledModel {self.name}{where}: input {self.input_shape}, output {self.output_shape}, "
                f"{len(self.compiled.plan.steps)} steps, arena {self.compiled.plan.arena_bytes} B>")


def compile_model(path, out_dir=None, name=None, layout: str = "flat", force: bool = False,
                  require_binary: bool = False, owned_dir: Path | None = None) -> CompiledModel:
    """Compile the model at `path` (ONNX, or Keras with bnncompile[keras]);
    write the C and build files into `out_dir` unless it is None."""
    from .frontends import as_onnx_file

    onnx_path, converted_dir = as_onnx_file(path)
    owned_dir = owned_dir or converted_dir
    try:
        compiled = compile_to_memory(onnx_path, name=name)
        if require_binary:
            refuse_non_binary(compiled.graph)
        written = write_compiled(compiled, out_dir, layout, force) if out_dir is not None else {}
    except BaseException:
        if converted_dir is not None:
            shutil.rmtree(converted_dir, ignore_errors=True)
        raise
    return CompiledModel(compiled, None if out_dir is None else Path(out_dir), written, owned_dir)


__all__ = ["CompiledModel", "compile_model", "BnnError"]


# shared by the command line and CompiledModel -------------------------------------


def measure_footprint(compiled: Compiled, board=None):
    """(Footprint, why-not-measured or None): code and stack measured with the
    cross compiler of the board's core (a Cortex-M4 without a board)."""
    from .boards import DEFAULT_CORE
    from .codegen.fit import footprint, plan_constants
    from .validate.footprint import measure, toolchain_missing

    core = board.core if board else DEFAULT_CORE
    measured = measure(compiled.files, compiled.plan.name, core, plan_constants(compiled.plan))
    return footprint(compiled.graph, compiled.plan, measured), toolchain_missing(core)


def measured_dict(need) -> dict:
    """The code/stack figures `format_report` and the HTML report print ({} if not measured)."""
    if need is None or not need.measured:
        return {}
    return {"code": need.code, "stack": need.stack, "toolchain": need.toolchain}


def write_golden_program(compiled: Compiled, model_path, x: np.ndarray, out_dir, board=None) -> list[Path]:
    """`bnncompile golden`: refuse a board the model (or the golden program)
    does not fit before anything is built or written, then write the program
    with the reference's outputs for x."""
    from .boards import emulated
    from .codegen.fit import Fit, require_fit
    from .codegen.golden import require_program_fit, write_golden
    from .validate import ATOL, RTOL, Reference

    need = None
    if board is not None:
        need, _ = measure_footprint(compiled, board)
        require_fit(Fit(need, board))  # the board's memory or the user's budget
        require_fit(Fit(need, emulated(board)))  # and the QEMU board the program runs on
    reference = Reference(model_path)
    y = reference.outputs(reference.run(x))
    if need is not None:
        require_program_fit(need, emulated(board), x, y)
    return write_golden(compiled.files, compiled.plan.name, x, y, out_dir, board, ATOL, RTOL,
                        model_stack=need.stack if need is not None else None)
