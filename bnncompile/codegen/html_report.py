"""`bnncompile report --html FILE`: one self-contained page (no scripts, no
network) with the per-layer table of `report` and pictures read faster than
numbers: MACs and bytes per layer, the arena's occupancy over the steps
(which tensor lives where, from the plan's buffers), flash split by layer.

This module computes plain data (rows, rectangles in chart coordinates);
templates/report/report.html.j2 turns it into HTML and inline SVG, with
autoescaping on, since node names come from the model file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from .. import __version__
from ..errors import BnnError
from ..resources import resource_dir
from .plan import Plan
from .report import LayerRow, arena_lower_bound, explain, layer_rows

# what a buffer holds, by its C element type
HOLDS = {"uint32_t": "bits", "float": "float", "int32_t": "int32"}
CHART_WIDTH, ARENA_HEIGHT, FLASH_HEIGHT = 960, 320, 36


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    title: str


def _arena_rects(plan: Plan) -> list[Rect]:
    """One rectangle per arena buffer: steps first..last across, bytes offset..offset+nbytes down."""
    owners = [b for b in plan.buffers.values() if b.where == "arena" and b.owner is None]
    owners = list({id(b): b for b in owners}.values())
    sharing: dict[int, list[str]] = {}
    for b in plan.buffers.values():
        if b.owner is not None and b.tensor != b.owner.tensor:
            sharing.setdefault(id(b.owner), []).append(b.tensor)
    steps = max(len(plan.steps), 1)
    scale = ARENA_HEIGHT / max(plan.arena_bytes, 1)
    rects = []
    for b in sorted(owners, key=lambda b: (b.first, b.offset)):
        also = sharing.get(id(b), [])
        title = (f"{b.tensor}: {b.nbytes:,d} B of {HOLDS.get(b.ctype, b.ctype)} at offset {b.offset:,d}, "
                 f"alive from step {b.first} to {b.last}")
        if also:
            title += f"; then, in place: {', '.join(sorted(set(also)))}"
        rects.append(Rect(CHART_WIDTH * b.first / steps, b.offset * scale,
                          CHART_WIDTH * (b.last - b.first + 1) / steps, max(b.nbytes * scale, 1.0),
                          HOLDS.get(b.ctype, "other"), title))
    return rects


def _flash_rects(rows: list[LayerRow], code: int | None) -> list[Rect]:
    """Flash as one bar: each layer's weights and thresholds, then the code if measured."""
    parts = [(f"step {r.index} {r.origin}", r.weight_bytes + r.threshold_bytes, r.kind) for r in rows
             if r.weight_bytes + r.threshold_bytes]
    if code:
        parts.append(("code (measured)", code, "code"))
    total = sum(n for _, n, _ in parts) or 1
    rects, x = [], 0.0
    for label, nbytes, kind in parts:
        w = CHART_WIDTH * nbytes / total
        rects.append(Rect(x, 0, w, FLASH_HEIGHT, kind, f"{label}: {nbytes:,d} B ({100 * nbytes / total:.1f}%)"))
        x += w
    return rects


def html_report(compiled, measured: dict | None = None) -> str:
    graph, plan = compiled.graph, compiled.plan
    measured = measured or {}
    rows = explain(layer_rows(graph, plan), graph)
    macs = max([r.binary_macs + r.real_macs for r in rows] + [1])
    nbytes = max([max(r.weight_bytes + r.threshold_bytes, r.activation_bytes) for r in rows] + [1])
    weights = sum(r.weight_bytes for r in rows)
    thresholds = sum(r.threshold_bytes for r in rows)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("templates"))), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report/report.html.j2").render(
        version=__version__, name=plan.name, banner=compiled.banner, rows=rows, max_macs=macs, max_bytes=nbytes,
        binary_macs=sum(r.binary_macs for r in rows), real_macs=sum(r.real_macs for r in rows),
        weights=weights, thresholds=thresholds, measured=measured,
        arena_bytes=plan.arena_bytes, lower_bound=arena_lower_bound(plan), steps=len(plan.steps),
        arena=_arena_rects(plan), flash=_flash_rects(rows, measured.get("code")),
        width=CHART_WIDTH, arena_height=ARENA_HEIGHT, flash_height=FLASH_HEIGHT,
        notes=graph.notes,
    )


def write_html_report(compiled, path, measured: dict | None = None) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / f"{compiled.plan.name}_report.html"
    if not path.parent.is_dir():
        raise BnnError(f"cannot write '{path}': folder '{path.parent}' does not exist")
    path.write_text(html_report(compiled, measured), encoding="utf-8")
    return path
