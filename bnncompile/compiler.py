"""The front half of every command: ONNX file -> optimised IR -> C files."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .codegen import Plan, banner_data, render, write_files
from .codegen.buildfiles import lay_out
from .errors import BnnError
from .importer import ModelInfo, default_name, import_model
from .passes import run_pipeline
from .passes.c_limits import MAX_BYTES, check_c_limits
from .resources import resource_dir, runtime_headers

MAX_NAME = 64  # characters of a C prefix: file names and identifiers stay short on every toolchain
# Files the golden program writes beside NAME.c and NAME.h (its board files come from targets/).
GOLDEN_FILES = ("golden_main",)


@dataclass
class Compiled:
    graph: ir.Graph  # after the pass pipeline
    imported: ir.Graph  # as the importer gave it
    info: ModelInfo
    files: dict[str, str]
    plan: Plan
    banner: dict = field(default_factory=dict)  # provenance written at the top of every file


def check_name(name: str, given: bool = True) -> str:
    """A C prefix that is an identifier, short, not reserved, and whose NAME.c/NAME.h
    cannot overwrite a runtime header or a file of the golden program."""
    source = "--name" if given else "the name taken from the model's file name"
    if not name.isascii() or not name.isidentifier():
        raise BnnError(f"{source} '{name[:80]}' is not a C identifier", hint="use letters, digits and _")
    if len(name) > MAX_NAME:
        raise BnnError(f"{source} has {len(name)} characters, more than {MAX_NAME}", hint="choose a shorter --name")
    if name.startswith("_"):
        raise BnnError(f"{source} '{name}' starts with '_': such C identifiers are reserved",
                       hint="choose another --name")
    taken = {h.stem for h in runtime_headers()} | set(GOLDEN_FILES)
    taken |= {p.stem for p in resource_dir("targets").glob("*/*.[ch]")}
    if name in taken or name == "bnn" or name.startswith("bnn_"):
        others = ", ".join(sorted(taken - {h.stem for h in runtime_headers()}))
        raise BnnError(f"{source} '{name}' would collide with the runtime's or the golden program's files or "
                       f"symbols (bnn_*, {others})", hint="choose another --name")
    return name


def compile_to_memory(path: str | Path, name: str | None = None) -> Compiled:
    name = check_name(name) if name else check_name(default_name(path), given=False)
    imported, info = import_model(path, name=name)
    graph = check_c_limits(run_pipeline(imported))
    options = {"name": graph.name}
    banner = banner_data(info, options)
    files, plan = render(graph, banner)
    if plan.arena_bytes > MAX_BYTES:
        raise BnnError(f"the model needs an arena of {plan.arena_bytes:,} bytes; one C array holds at most 2 GiB")
    return Compiled(graph, imported, info, files, plan, banner)


# Note kinds that mean "a layer meant to be binary is not" (--require-binary refuses
# them), with what the layer became.
NOT_BINARY = {"not-binary": "real kernel", "ternary": "ternary activation",
              "ste-real": "straight-through arithmetic computed in float"}


def refuse_non_binary(graph: ir.Graph) -> None:
    """--require-binary: an error when any layer runs in float or ternary where
    the model almost certainly meant it binary (the passes' notes say which and why)."""
    notes = [n for n in graph.notes if n.kind in NOT_BINARY]
    if notes:
        which = ", ".join(f"'{n.node}' ({NOT_BINARY[n.kind]})" for n in notes)
        raise BnnError(f"--require-binary: {len(notes)} layer{'s' if len(notes) > 1 else ''} meant to be binary "
                       f"{'are' if len(notes) > 1 else 'is'} not: {which}",
                       hint="the warnings say why and what to change")


def write_compiled(compiled: Compiled, out_dir: str | Path, layout: str = "flat", force: bool = False) -> dict:
    """Write the C and its build-system files (see codegen/buildfiles.py) into
    `out_dir`; unless `force`, refuses to change existing files. Returns them."""
    files = lay_out(compiled.files, compiled.plan, compiled.banner, layout)
    write_files(files, out_dir, keep_existing=not force)
    return files


def compile_to_dir(path: str | Path, out_dir: str | Path, name: str | None = None, layout: str = "flat",
                   force: bool = False, require_binary: bool = False) -> Compiled:
    compiled = compile_to_memory(path, name)
    if require_binary:
        refuse_non_binary(compiled.graph)
    write_compiled(compiled, out_dir, layout, force)
    return compiled
