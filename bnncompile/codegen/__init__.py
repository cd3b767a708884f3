"""Codegen: IR graph -> C files (`NAME.h`, `NAME.c`, runtime headers).

The C comes from jinja2 templates (`templates/`) and the hand-written
runtime (`runtime/`); this module only prepares data and writes files.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import jinja2

from .. import __version__, ir
from ..errors import BnnError
from ..importer.loading import printable
from ..resources import resource_dir, runtime_headers
from .plan import Plan, make_plan


def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["c_comment"] = lambda text: printable(str(text))  # model text inside C comments
    return env


def render(graph: ir.Graph, banner: dict) -> tuple[dict[str, str], Plan]:
    """All files of the generated library: {file name: text}."""
    try:
        plan = make_plan(graph)
    except NotImplementedError as exc:
        raise BnnError(f"cannot generate C: {exc}") from None
    env = template_environment()
    context = dict(
        banner=banner, name=plan.name, NAME=plan.name.upper(), arrays=plan.arrays, steps=plan.steps,
        buffers=plan.buffers, structs=plan.structs, arena_bytes=plan.arena_bytes, needs_softmax=plan.needs_softmax,
        input_shape=plan.input_shape, output_shape=plan.output_shape, inputs=plan.inputs, outputs=plan.outputs,
        input_size=sum(p.size for p in plan.inputs), output_size=sum(p.size for p in plan.outputs),
    )
    files = {
        f"{plan.name}.h": env.get_template("model.h.j2").render(context),
        f"{plan.name}.c": env.get_template("model.c.j2").render(context),
    }
    for header in runtime_headers():
        files[header.name] = header.read_text()
    return files, plan


def banner_data(info, options: dict) -> dict:
    return dict(
        version=__version__, model_file=Path(info.path).name, sha256=info.sha256,
        producer=info.producer or "unknown", opset=info.opset,
        options=" ".join(f"{k}={v}" for k, v in sorted(options.items())) or "defaults",
    )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_files(files: dict[str, str], out_dir: str | Path, keep_existing: bool = False) -> list[Path]:
    """Write all files or none: they go to a temporary folder beside `out_dir`
    first and are moved into place only when every one was written. Names may
    hold '/' (subfolders). Folders get the usual permissions (0777 less the
    umask). With `keep_existing`, an existing file that would change is an
    error, raised before anything is written (`compile` without --force)."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise BnnError(f"cannot write to '{out_dir}': it is a file")
    existing = next(p for p in [out, *out.parents] if p.exists())
    if not existing.is_dir():
        raise BnnError(f"cannot write to '{out_dir}': '{existing}' is a file")
    if keep_existing:
        changed = [n for n, text in files.items() if (out / n).exists()
                   and (not (out / n).is_file() or (out / n).read_bytes() != text.encode())]
        if changed:
            more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
            raise BnnError(f"'{out / sorted(changed)[0]}'{more} already exist{'s' if not more else ''} "
                           f"with other contents", hint="use --force (force=True in Python) to overwrite")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=existing))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(staging, out)
                return [out / n for n in files]
            except OSError:
                if not out.is_dir():
                    raise
                # another bnncompile created the folder meanwhile: move file by file below
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out / name)
        return [out / n for n in files]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


__all__ = ["render", "write_files", "banner_data", "make_plan", "Plan"]
