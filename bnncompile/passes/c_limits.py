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


AXIS_NAMES = {2: ("row", "column"), 3: ("depth slice", "row", "column")}


def _spatial_extents(op, x: ir.Tensor, y: ir.Tensor) -> dict[str, int]:
    """The largest values the kernels' int arithmetic reaches for a convolution, a
    pooling or a zero-stuffing (2-D or 3-D)."""
    n = len(x.shape) - 1
    if isinstance(op, ir.Dilate):
        return {"rows of the stuffed map": y.shape[0] + abs(op.pads[0]),
                "columns of the stuffed map": y.shape[1] + abs(op.pads[1]),
                "output elements": y.size, "input elements": x.size}
    if isinstance(op, (ir.Conv2D, ir.Conv3D)):
        o, kernel, cg = op.kernel.shape[0], op.kernel.shape[1:-1], op.kernel.shape[-1]
        dilations = op.dilations
    else:
        kernel, o, cg, dilations = op.kernel, x.shape[-1], 1, (1,) * n
    begin, end = op.pads[:n], op.pads[n:]
    extents = {}
    for axis, name in enumerate(AXIS_NAMES[n]):
        # a tap's coordinate: i*stride - pad + a*dilation, and the window's end
        extents[f"{name}s of the padded input"] = x.shape[axis] + begin[axis] + end[axis]
        extents[f"{name} of the last tap"] = ((y.shape[axis] - 1) * op.strides[axis] +
                                              (kernel[axis] - 1) * dilations[axis] + kernel[axis] + begin[axis])
    extents.update({"kernel elements": o * int(np.prod(kernel)) * cg, "input elements": x.size,
                    "output elements": y.size})
    return extents


def _ops_with_tensors(graph: ir.Graph):
    """(op, input tensors by name, output tensor) of every op, fused layers spelled out
    (their inner tensors exist only inside the kernel, but their geometry is still C ints)."""
    for op in graph.ops:
        if isinstance(op, ir.Fused):
            tensors = {**graph.tensors, **op.inner_tensors([graph.tensors[i] for i in op.inputs])}
            for part in op.ops:
                yield part, tensors, tensors[part.output]
        else:
            yield op, graph.tensors, graph.tensors[op.output]


def check_c_limits(graph: ir.Graph) -> ir.Graph:
    for op, tensors, y in _ops_with_tensors(graph):
        x = tensors[op.inputs[0]]
        if any(tensors[i].domain == ir.Domain.FLOAT64 for i in op.inputs) or y.domain == ir.Domain.FLOAT64:
            raise BnnError("this op computes in double precision (after a Cast to DOUBLE) on a path that is not "
                           "folded into a binarizer's threshold; the generated C computes in float32 only",
                           node=op.origin, hint="cast back to float before real-valued layers and the output")
        if isinstance(op, (ir.Conv2D, ir.Pool2D, ir.Conv3D, ir.Pool3D, ir.Dilate)):
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
