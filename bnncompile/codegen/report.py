"""Static footprint of a generated model, per step and in total: what each
layer computes (binary or real multiply-accumulates), the constant bytes it
puts in flash, the activation bytes it writes, and the arena plan against
its lower bound."""
from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from .plan import Plan

CTYPE_BYTES = {"float": 4, "uint32_t": 4, "int32_t": 4, "int": 4, "int16_t": 2, "int8_t": 1, "uint8_t": 1}
# step kind -> (layer kind, are the MACs binary?)
KINDS = {
    "dense_xnor": ("binary", True), "conv_xnor": ("binary", True),
    "dense_bwn": ("bin-weights", False), "dense_ban": ("bin-input", False),
    "dense_float": ("real", False), "conv_float": ("real", False),
}


def _layer_kind(step: dict) -> tuple[str, bool]:
    if step["kind"] == "conv_float" and step.get("binary"):
        return "bin-weights", False
    return KINDS.get(step["kind"], ("data", False))


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


def _macs(step: dict, graph: ir.Graph) -> int:
    """Multiply-accumulates of a dense or convolution step: outputs x fan-in."""
    if "fan_in" in step:
        return graph.tensors[step["out"]].size * step["fan_in"]
    return 0


def layer_rows(graph: ir.Graph, plan: Plan) -> list[LayerRow]:
    sizes = {a.name: len(a.values) * CTYPE_BYTES[a.ctype] for a in plan.arrays}
    sizes.update({s.name: 4 * len(s.values) for s in plan.structs})
    rows = []
    for s in plan.steps:
        kind, binary = _layer_kind(s)
        macs = _macs(s, graph)
        weights = sum(sizes[v] for k, v in s.items() if k in ("weights", "const", "geometry", "dims", "perm"))
        thresholds = sum(sizes[s[k]] for k in ("t_zero", "t_pos", "flip") if s.get(k))
        rows.append(LayerRow(s["index"], kind, s["kind"], s["origin"], graph.tensors[s["inputs"][0]].shape,
                             graph.tensors[s["out"]].shape, macs if binary else 0, 0 if binary else macs,
                             weights, thresholds, plan.buffers[s["out"]].nbytes))
    return rows


def explain(rows: list[LayerRow], graph: ir.Graph) -> list[LayerRow]:
    """Give each row the compile notes (ir.Note) on its node: why it runs in
    float or ternary, for example."""
    for r in rows:
        r.reason = "; ".join(n.message for n in graph.notes if n.node == r.origin)
    return rows


def arena_lower_bound(plan: Plan) -> int:
    """Largest total size of arena buffers alive at one step: no plan of the
    same buffers and lifetimes can use less."""
    owners = {id(b): b for b in plan.buffers.values() if b.where == "arena" and b.owner is None}.values()
    return max([sum(b.nbytes for b in owners if b.first <= i <= b.last) for i in range(len(plan.steps))] + [0])


def format_report(graph: ir.Graph, plan: Plan, measured: dict | None = None) -> str:
    rows = explain(layer_rows(graph, plan), graph)
    header = (f"{'#':>3} {'kind':11s} {'step':13s} {'input':>13s} {'output':>13s} {'binary MACs':>12s} "
              f"{'real MACs':>11s} {'weights B':>10s} {'thresh B':>9s} {'activ. B':>9s}  origin")
    lines = [f"model {plan.name}: {len(rows)} steps", header]
    for r in rows:
        lines.append(f"{r.index:3d} {r.kind:11s} {r.step:13s} {str(r.in_shape):>13s} {str(r.out_shape):>13s} "
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
    ram = f"ram: arena {plan.arena_bytes:,d} B (lower bound {arena_lower_bound(plan):,d} B)"
    if measured and "stack" in measured:
        ram += f", stack {measured['stack']:,d} B ({measured['toolchain']}, -fstack-usage)"
        ram += f" = {plan.arena_bytes + measured['stack']:,d} B"
    lines.append(ram)
    return "\n".join(lines)
