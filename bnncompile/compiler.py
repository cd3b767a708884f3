"""The front half of every command: ONNX file -> optimised IR -> C files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import ir
from .codegen import Plan, banner_data, render, write_files
from .errors import BnnError
from .importer import ModelInfo, default_name, import_model
from .passes import run_pipeline
from .passes.c_limits import MAX_BYTES, check_c_limits
from .resources import resource_dir, runtime_headers

MAX_NAME = 64  # characters of a C prefix: file names and identifiers stay short on every toolchain
# Files the generated library and the golden program write beside NAME.c and NAME.h
# (the golden program's target files come from targets/cortex-m).
GOLDEN_FILES = ("golden_main", "startup", "semihost")


@dataclass
class Compiled:
    graph: ir.Graph  # after the pass pipeline
    imported: ir.Graph  # as the importer gave it
    info: ModelInfo
    files: dict[str, str]
    plan: Plan


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
    taken |= {p.stem for p in (resource_dir("targets") / "cortex-m").glob("*.[ch]")}
    if name in taken or name == "bnn" or name.startswith("bnn_"):
        raise BnnError(f"{source} '{name}' would collide with the runtime's or the golden program's files or "
                       f"symbols (bnn_*, {', '.join(GOLDEN_FILES)})", hint="choose another --name")
    return name


def compile_to_memory(path: str | Path, name: str | None = None) -> Compiled:
    name = check_name(name) if name else check_name(default_name(path), given=False)
    imported, info = import_model(path, name=name)
    graph = check_c_limits(run_pipeline(imported))
    options = {"name": graph.name}
    files, plan = render(graph, banner_data(info, options))
    if plan.arena_bytes > MAX_BYTES:
        raise BnnError(f"the model needs an arena of {plan.arena_bytes:,} bytes; one C array holds at most 2 GiB")
    return Compiled(graph, imported, info, files, plan)


def compile_to_dir(path: str | Path, out_dir: str | Path, name: str | None = None) -> Compiled:
    compiled = compile_to_memory(path, name)
    write_files(compiled.files, out_dir)
    return compiled
