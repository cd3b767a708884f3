"""Pass: split the Gemm epilogues that no threshold absorbed.

Before: `MulAdd` ops (onnxruntime's fused `alpha*acc + C`, one rounding) may
remain where a real-valued tensor is used by something other than a
binarizer chain (the model's output, a residual sum).

After: each such `MulAdd` is a `ChannelOp` mul followed by a `ChannelOp` add,
two float32 roundings. The C has no fused multiply-add on purpose (no build
may change a result by contracting `a*b + c`, so every target gives the same
bits), so a real value moves by at most one rounding: within the output
tolerance. Binarized decisions do not move: the threshold pass, which runs
before this one, derived them from the one-rounding reference.
"""
from __future__ import annotations

import numpy as np

from .. import ir


def split_epilogues(graph: ir.Graph) -> ir.Graph:
    ops: list[ir.Op] = []
    for op in graph.ops:
        if not isinstance(op, ir.MulAdd):
            ops.append(op)
            continue
        steps = [(kind, c) for kind, c, identity in (("mul", op.scale, 1), ("add", op.bias, 0))
                 if np.any(c != identity)] or [("add", op.bias)]
        src = op.inputs[0]
        for i, (kind, c) in enumerate(steps):
            out = op.output if i == len(steps) - 1 else f"{op.output}::scaled"
            ops.append(ir.ChannelOp(inputs=(src,), output=out, origin=op.origin, kind=kind, const=c))
            src = out
    return ir.rebuild(graph, ops)
