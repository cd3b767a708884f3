"""The front half of every command: ONNX file -> optimised IR -> C files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import ir
from .codegen import Plan, banner_data, render, write_files
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


def check_name(name: str) -> str:
    if not name.isidentifier() or not name.isascii():
        raise BnnError(f"--name '{name}' is not a C identifier", hint="use letters, digits and _")
    return name


def compile_to_memory(path: str | Path, name: str | None = None) -> Compiled:
    imported, info = import_model(path, name=check_name(name) if name else None)
    graph = run_pipeline(imported)
    options = {"name": graph.name}
    files, plan = render(graph, banner_data(info, options))
    return Compiled(graph, imported, info, files, plan)


def compile_to_dir(path: str | Path, out_dir: str | Path, name: str | None = None) -> Compiled:
    compiled = compile_to_memory(path, name)
    write_files(compiled.files, out_dir)
    return compiled
