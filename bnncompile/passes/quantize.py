"""Pass: a Round whose input is bounded is a k-bit quantizer.

Before: `Round` ops (ONNX Round, halves to even) on real tensors. Larq's
DoReFa quantizer writes clip(x, 0, 1) * (2^k - 1) -> Round -> * 1/(2^k - 1).

After: every Round whose input stays within [a, b] for every value the start
of its chain can take (the chain of monotone elementwise ops the threshold
pass would fold, so its ends bound it: evaluated at the accumulator's extreme
values, or at -inf and +inf for a float start) is a `Quantize` to the
integers round(a)..round(b), which clips, then rounds. On every input the
model can see the two are the same function (round is monotone, so an input
in [a, round(a)) already rounds to round(a)); the output is now packed
levels (under the Round's name), read by the ops after it through a `Cast`
to float, and the threshold pass folds the chain into a multi-threshold. A
Round that is not bounded this way (or would need more than
levels.MAX_PLANES bits) stays a Round: the codegen refuses it.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir
from ..ir.quantizers import quantizer_levels
from .thresholds import KEY_MAX, _footprint, _probe, _run_flagging_nan, find_chain


def _input_range(chain: list[ir.Op], start: ir.Tensor) -> tuple[float, float] | None:
    """min and max of the chain's output over every value of its start (None: unknown)."""
    footprint = _footprint(chain, len(start.shape))
    if start.domain == ir.Domain.INT:
        lo, hi, _ = start.int_range
        ends = np.array([lo, hi], np.int64)
    else:
        ends = ir.key_to_float(np.array([-KEY_MAX - 1, KEY_MAX + 1], np.int64))  # -inf, +inf
    out, nan = _run_flagging_nan(chain, _probe(ends, footprint))
    if nan.any() or not np.all(np.isfinite(out)):
        return None
    return float(out.min()), float(out.max())


def bound_rounds(graph: ir.Graph) -> ir.Graph:
    producers: dict[str, ir.Op] = {}
    ops: list[ir.Op] = []
    as_float: dict[str, str] = {}  # a Round's output -> the Cast of its levels that later ops read
    for op in graph.ops:
        if as_float and any(i in as_float for i in op.inputs):
            op = replace(op, inputs=tuple(as_float.get(i, i) for i in op.inputs))
        if isinstance(op, ir.Round) and op.output not in graph.outputs:
            start, chain = find_chain(producers, graph.tensors, op)
            found = _input_range(chain[:-1], graph.tensors[start]) if len(chain) > 1 else None
            if found is not None:
                dtype = graph.tensors[op.inputs[0]].domain.numpy_dtype
                lo, hi = (int(op.reference(np.array([v], dtype))[0]) for v in found)
                levels = quantizer_levels(lo, hi) if hi > lo else None
                if levels is not None:
                    op = ir.Quantize(inputs=op.inputs, output=op.output, origin=op.origin, lo=lo, hi=hi,
                                     mode="ROUND", levels=levels)
                    cast = ir.Cast(inputs=(op.output,), output=f"{op.output}::float", origin=op.origin)
                    as_float[op.output] = cast.output
                    producers[op.output] = op
                    ops += [op, cast]
                    continue
        producers[op.output] = op
        ops.append(op)
    return ir.rebuild(graph, ops)

