"""`bnncompile report --json`: the report as one JSON object, for CI scripts.

    {"model": "digits",
     "layers": [{"index": 0, "kind": "bin-weights", "step": "dense_bwn", "origin": "...",
                 "in_shape": [64], "out_shape": [256], "binary_macs": 0, "real_macs": 16384,
                 "weight_bytes": 2048, "threshold_bytes": 1024, "activation_bytes": 32}, ...],
     "totals": {"binary_macs": ..., "real_macs": ..., "weight_bytes": ..., "threshold_bytes": ...,
                "code_bytes": ... | null, "flash_bytes": ..., "arena_bytes": ..., "arena_lower_bound": ...,
                "stack_bytes": ... | null, "io_bytes": ..., "ram_bytes": ...},
     "measured_with": "arm-none-eabi-gcc -O2, cortex-m0" | null,
     "target": {"name": ..., "summary": ..., "core": ..., "flash_bytes": ..., "ram_bytes": ...} | null,
     "fits": true | false | null,
     "flash_margin": ... | null, "ram_margin": ... | null}

`io_bytes` are the caller's float input and output arrays, counted in
`ram_bytes` (arena + io + stack). Bytes are integers; a margin is what is left (negative: over). `fits` is
null without a target, and when code and stack could not be measured (their
toolchain is missing) but the rest fits.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from .fit import Fit, Footprint
from .plan import Plan
from .report import arena_lower_bound, layer_rows


def report_dict(graph: ir.Graph, plan: Plan, need: Footprint, fit: Fit | None) -> dict:
    rows = layer_rows(graph, plan)
    layers = [{**dataclasses.asdict(r), "in_shape": list(r.in_shape), "out_shape": list(r.out_shape)}
              for r in rows]
    totals = dict(
        binary_macs=sum(r.binary_macs for r in rows), real_macs=sum(r.real_macs for r in rows),
        weight_bytes=need.weights, threshold_bytes=need.thresholds, code_bytes=need.code,
        flash_bytes=need.flash, arena_bytes=need.arena, arena_lower_bound=arena_lower_bound(plan),
        stack_bytes=need.stack, io_bytes=need.io, ram_bytes=need.ram,
    )
    target = None
    if fit is not None:
        b = fit.board
        target = dict(name=b.name, summary=b.summary, core=b.core.name, flash_bytes=b.flash, ram_bytes=b.ram)
    return dict(
        model=plan.name, layers=layers, totals=totals, measured_with=need.toolchain, target=target,
        fits=fit.fits if fit else None,
        flash_margin=fit.flash_margin if fit else None, ram_margin=fit.ram_margin if fit else None,
    )
