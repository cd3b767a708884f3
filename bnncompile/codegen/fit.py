"""Does a model fit a board? Flash = weights + thresholds + code, RAM = arena
+ the caller's input and output arrays (float32) + stack, against the board's
flash and RAM (bnncompile.boards) or the user's --flash/--ram budget.

Weights, thresholds and the arena come from the plan (exact); code and stack
are measured by validate.footprint with the board core's cross compiler. When
that toolchain is missing, only the plan's part is known: a model whose plan
alone overflows does not fit, otherwise the answer is unknown (None).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from ..boards import Board, format_size
from ..errors import BnnError
from .plan import Plan
from .report import layer_rows


def plan_constants(plan: Plan) -> set[str]:
    """Names of the model's constant arrays (weights, thresholds, geometry)."""
    return {a.name for a in plan.arrays} | {s.name for s in plan.structs}


@dataclass(frozen=True)
class Footprint:
    """What one model needs, in bytes."""
    weights: int  # weights and other constant arrays
    thresholds: int
    code: int | None  # None: not measured
    arena: int
    stack: int | None
    io: int  # the caller's float input and output arrays (NAME_run's arguments)
    toolchain: str | None  # what measured code and stack

    @property
    def flash(self) -> int:
        return self.weights + self.thresholds + (self.code or 0)

    @property
    def ram(self) -> int:
        return self.arena + self.io + (self.stack or 0)

    @property
    def measured(self) -> bool:
        return self.code is not None and self.stack is not None


def footprint(graph: ir.Graph, plan: Plan, measured: dict) -> Footprint:
    """`measured` is validate.footprint.measure's result ({} when not measured)."""
    rows = layer_rows(graph, plan)
    return Footprint(sum(r.weight_bytes for r in rows), sum(r.threshold_bytes for r in rows),
                     measured.get("code"), plan.arena_bytes, measured.get("stack"), plan.io_bytes,
                     measured.get("toolchain"))


@dataclass(frozen=True)
class Fit:
    need: Footprint
    board: Board

    @property
    def flash_margin(self) -> int:
        """Bytes of flash left (negative: over)."""
        return self.board.flash - self.need.flash

    @property
    def ram_margin(self) -> int:
        return self.board.ram - self.need.ram

    @property
    def fits(self) -> bool | None:
        """False if it cannot fit, True if it fits, None if code and stack were not measured."""
        if self.flash_margin < 0 or self.ram_margin < 0:
            return False
        return True if self.need.measured else None


def _parts(need: Footprint) -> tuple[str, str]:
    flash = f"weights {need.weights:,d} B + thresholds {need.thresholds:,d} B"
    flash += f" + code {need.code:,d} B" if need.code is not None else " + code (not measured)"
    ram = f"arena {need.arena:,d} B + input/output arrays {need.io:,d} B"
    ram += f" + stack {need.stack:,d} B" if need.stack is not None else " + stack (not measured)"
    return flash, ram


def _budget_line(what: str, need: int, have: int, parts: str) -> str:
    margin = have - need
    verdict = f"{margin:,d} B free" if margin >= 0 else f"{-margin:,d} B over"
    return f"{what} {need:,d} B of {have:,d} B ({verdict}; {parts})"


def format_fit(fit: Fit) -> str:
    """Two or three lines for the text report."""
    b, need = fit.board, fit.need
    flash_parts, ram_parts = _parts(need)
    verdict = {True: "fits", False: "does NOT fit", None: "fits so far"}[fit.fits]
    return "\n".join([
        f"target {b.name} ({b.summary}): flash {format_size(b.flash)}, RAM {format_size(b.ram)}",
        f"{verdict}: {_budget_line('flash', need.flash, b.flash, flash_parts)}",
        f"{' ' * len(verdict)}  {_budget_line('RAM', need.ram, b.ram, ram_parts)}",
    ])


def require_fit(fit: Fit) -> None:
    """A clear error (BnnError) naming both figures when the model cannot fit."""
    if fit.fits is not False:
        return
    b, need = fit.board, fit.need
    flash_parts, ram_parts = _parts(need)
    problems = []
    if fit.ram_margin < 0:
        problems.append(f"RAM needs {need.ram:,d} B ({ram_parts}) but {b.name} has {b.ram:,d} B "
                        f"({-fit.ram_margin:,d} B over)")
    if fit.flash_margin < 0:
        problems.append(f"flash needs {need.flash:,d} B ({flash_parts}) but {b.name} has {b.flash:,d} B "
                        f"({-fit.flash_margin:,d} B over)")
    raise BnnError(f"the model does not fit {b.name} ({b.summary}): " + "; ".join(problems),
                   hint=f"`bnncompile report MODEL --target {b.name}` shows what each layer needs; choose "
                        "a board with more memory or a smaller model")
