"""What the generated C can hold, checked on the final IR graph before codegen.

The runtime's kernels keep geometry (sizes, strides, dilations, pads) and tap
coordinates in `int`, which is 32 bits on every target bnncompile supports
(x86-64, aarch64, Cortex-M, RISC-V rv32), and offsets in `size_t`, which is
32 bits on the microcontrollers. A model the importer accepts can still ask
for more: pads of 2^30, a stride of 2^20, an activation of 4 GB. Such a model
is refused here, naming the node, instead of becoming C that overflows `int`
(undefined behaviour) or does not link. Values only: no pass may change the
graph after this check.

`check_c_limits(graph)` returns the graph unchanged or raises BnnError.
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import BnnError

INT_MAX = (1 << 31) - 1
# One static array (the arena, one weight array) or one tensor: beyond this a
# 32-bit size_t cannot address it and x86-64's small code model cannot link it.
MAX_BYTES = (1 << 31) - 1


def _spatial_extents(op, x: ir.Tensor, y: ir.Tensor) -> dict[str, int]:
    """The largest values the kernels' int arithmetic reaches for a Conv2D or Pool2D."""
    if isinstance(op, ir.Conv2D):
        o, kh, kw, cg = op.kernel.shape
        (sh, sw), (dh, dw) = op.strides, op.dilations
    else:
        kh, kw = op.kernel
        (sh, sw), (dh, dw) = op.strides, (1, 1)
        o, cg = x.shape[2], 1
    t, left, b, r = op.pads
    h, w, c = x.shape
    oh, ow = y.shape[0], y.shape[1]
    return {
        # a tap's row/column: i*stride - pad + a*dilation, and the window's end
        "rows of the padded input": h + t + b,
        "columns of the padded input": w + left + r,
        "row of the last tap": (oh - 1) * sh + (kh - 1) * dh + kh + t,
        "column of the last tap": (ow - 1) * sw + (kw - 1) * dw + kw + left,
        "kernel elements": o * kh * kw * cg,
        "input elements": h * w * c,
        "output elements": oh * ow * y.shape[2],
    }


def check_c_limits(graph: ir.Graph) -> ir.Graph:
    for op in graph.ops:
        x = graph.tensors[op.inputs[0]]
        y = graph.tensors[op.output]
        if any(graph.tensors[i].domain == ir.Domain.FLOAT64 for i in op.inputs) or y.domain == ir.Domain.FLOAT64:
            raise BnnError("this op computes in double precision (after a Cast to DOUBLE) on a path that is not "
                           "folded into a binarizer's threshold; the generated C computes in float32 only",
                           node=op.origin, hint="cast back to float before real-valued layers and the output")
        if isinstance(op, (ir.Conv2D, ir.Pool2D)):
            for what, value in _spatial_extents(op, x, y).items():
                if value > INT_MAX:
                    raise BnnError(f"{type(op).__name__} geometry: {what} is {value:,}, beyond the C int "
                                   f"range of the kernels (2^31 - 1)", node=op.origin)
        for arr in (getattr(op, "weight", None), getattr(op, "signs", None)):
            if arr is not None and np.asarray(arr).size * 4 > MAX_BYTES:
                raise BnnError(f"a weight array of {np.asarray(arr).size:,} values does not fit one C array "
                               f"(2 GiB)", node=op.origin)
        if y.storage_bytes > MAX_BYTES:
            raise BnnError(f"tensor '{op.output}' of shape {y.shape} needs {y.storage_bytes:,} bytes, more than "
                           f"one C array can hold (2 GiB)", node=op.origin)
    return graph
