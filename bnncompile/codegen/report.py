"""Static footprint of a generated model, per step and in total: what each
layer computes (binary or real multiply-accumulates), the constant bytes it
puts in flash, the activation bytes it writes, and the arena plan against
its lower bound."""
from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from .plan import Plan

CTYPE_BYTES = {"float": 4, "uint32_t": 4, "int32_t": 4, "int": 4, "int16_t": 2, "int8_t": 1, "uint8_t": 1}


@dataclass
class LayerRow:
    index: int
    kind: str
    step: str
    origin: str
    in_shape: tuple
    out_shape: tuple
    binary_macs: int
    real_macs: int
    weight_bytes: int
    threshold_bytes: int
    activation_bytes: int
    reason: str = ""  # why a layer is not what the model meant (the compile notes on its node)


def _struct_bytes(value) -> int:
    """Bytes of a constant struct's initializer, counting every number and pointer as 4."""
    if isinstance(value, list):
        return sum(_struct_bytes(v) for v in value)
    return 4


def constant_bytes(plan: Plan) -> dict[str, tuple[int, bool]]:
    """name -> (bytes, is it a threshold table) of every constant array and struct."""
    sizes = {a.name: (len(a.values) * CTYPE_BYTES[a.ctype], a.role == "thresholds") for a in plan.arrays}
    sizes.update({s.name: (_struct_bytes(s.value), False) for s in plan.structs})
    return sizes


def _names(step) -> set[str]:
    return {a.value for call in step.calls for _, a in call.args if a.kind in ("value", "address")
            and isinstance(a.value, str)}


def layer_rows(graph: ir.Graph, plan: Plan) -> list[LayerRow]:
    sizes = constant_bytes(plan)
    referenced = {s.name: _struct_names(s.value) for s in plan.structs}
    rows = []
    for s in plan.steps:
        names, todo = set(), list(_names(s))
        while todo:  # a struct may name arrays and other structs (a layer's chain of float ops)
            name = todo.pop()
            if name not in names:
                names.add(name)
                todo += referenced.get(name, ())
        used = [sizes[n] for n in names if n in sizes]
        weights = sum(b for b, is_threshold in used if not is_threshold)
        thresholds = sum(b for b, is_threshold in used if is_threshold)
        rows.append(LayerRow(s.index, s.layer, s.kind, s.origin, graph.tensors[s.inputs[0]].shape,
                             graph.tensors[s.out].shape, s.binary_macs, s.real_macs, weights, thresholds,
                             plan.buffers[s.out].nbytes))
    return rows


def explain(rows: list[LayerRow], graph: ir.Graph) -> list[LayerRow]:
    """Give each row the compile notes (ir.Note) on its node: why it runs in
    float or ternary, for example."""
    for r in rows:
        r.reason = "; ".join(n.message for n in graph.notes if n.node == r.origin)
    return rows


def _struct_names(value) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_struct_names(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def arena_lower_bound(plan: Plan) -> int:
    """Largest total size of arena buffers alive at one step: no plan of the
    same buffers and lifetimes can use less."""
    owners = {id(b): b for b in plan.buffers.values() if b.where == "arena" and b.owner is None}.values()
    return max([sum(b.nbytes for b in owners if b.first <= i <= b.last) for i in range(len(plan.steps))] + [0])


def format_report(graph: ir.Graph, plan: Plan, measured: dict | None = None) -> str:
    rows = explain(layer_rows(graph, plan), graph)
    header = (f"{'#':>3} {'kind':12s} {'step':16s} {'input':>13s} {'output':>13s} {'binary MACs':>12s} "
              f"{'real MACs':>11s} {'weights B':>10s} {'thresh B':>9s} {'activ. B':>9s}  origin")
    lines = [f"model {plan.name}: {len(rows)} steps", header]
    for r in rows:
        lines.append(f"{r.index:3d} {r.kind:12s} {r.step:16s} {str(r.in_shape):>13s} {str(r.out_shape):>13s} "
                     f"{r.binary_macs:12,d} {r.real_macs:11,d} {r.weight_bytes:10,d} {r.threshold_bytes:9,d} "
                     f"{r.activation_bytes:9,d}  {r.origin}")
    reasons = {}
    for r in rows:
        if r.reason:
            reasons.setdefault((r.origin, r.reason), []).append(r.index)
    if reasons:
        lines.append("notes:")
        lines += [f"  step {', '.join(map(str, steps))} ({origin}): {reason}"
                  for (origin, reason), steps in reasons.items()]
    weights = sum(r.weight_bytes for r in rows)
    thresholds = sum(r.threshold_bytes for r in rows)
    lines.append(f"total: {sum(r.binary_macs for r in rows):,d} binary MACs, {sum(r.real_macs for r in rows):,d} "
                 f"real MACs")
    flash = f"flash: weights and constants {weights:,d} B, thresholds {thresholds:,d} B"
    if measured and "code" in measured:
        flash += f", code {measured['code']:,d} B ({measured['toolchain']})"
        flash += f" = {weights + thresholds + measured['code']:,d} B"
    lines.append(flash)
    ram = (f"ram: arena {plan.arena_bytes:,d} B (lower bound {arena_lower_bound(plan):,d} B), "
           f"input/output arrays {plan.io_bytes:,d} B")
    if measured and "stack" in measured:
        ram += f", stack {measured['stack']:,d} B ({measured['toolchain']}, -fstack-usage)"
        ram += f" = {plan.arena_bytes + plan.io_bytes + measured['stack']:,d} B"
    lines.append(ram)
    return "\n".join(lines)
