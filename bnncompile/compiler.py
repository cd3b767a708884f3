"""The front half of every command: ONNX file -> optimised IR -> C files."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .codegen import Plan, banner_data, render, write_files
from .codegen.buildfiles import lay_out
from .errors import BnnError
from .importer import ModelInfo, import_model
from .passes import run_pipeline


@dataclass
class Compiled:
    graph: ir.Graph  # after the pass pipeline
    imported: ir.Graph  # as the importer gave it
    info: ModelInfo
    files: dict[str, str]
    plan: Plan
    banner: dict = field(default_factory=dict)  # provenance written at the top of every file


def check_name(name: str) -> str:
    if not name.isidentifier() or not name.isascii():
        raise BnnError(f"--name '{name}' is not a C identifier", hint="use letters, digits and _")
    return name


def compile_to_memory(path: str | Path, name: str | None = None) -> Compiled:
    imported, info = import_model(path, name=check_name(name) if name else None)
    graph = run_pipeline(imported)
    options = {"name": graph.name}
    banner = banner_data(info, options)
    files, plan = render(graph, banner)
    return Compiled(graph, imported, info, files, plan, banner)


# Note kinds that mean "a layer meant to be binary is not" (--require-binary refuses
# them), with what the layer became.
NOT_BINARY = {"not-binary": "real kernel", "ternary": "ternary activation"}


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
