"""Pass: fuse each convolution or dense layer with the elementwise chain after it.

Before: a `Conv2D`, `BinaryDense` or `Dense` on a real input writes a tensor
of sums, and a chain of elementwise ops reads it one tensor after another:
`Cast` of int32 sums to float, `ChannelOp`s with per-channel or scalar
constants (bias, batchnorm, scale), `Relu`, `Clip`, an `Add` of another
tensor (a residual shortcut), and at the end maybe a `Threshold` of the int32
sums (the next binarizer, folded by the threshold pass; after a bit-plane
layer any multi-threshold into k-bit levels); a `Reshape` that keeps
the channels (the last axis) moves no data and may sit anywhere in it.

After: the layer and the longest such chain whose intermediate tensors have
no other reader and are not graph outputs are one `Fused` op, placed where
the chain ended. Its kernel applies the chain to each sum as it comes out of
the accumulators (runtime/bnn_layer.h, the output transform), so the sums and
the intermediate tensors never exist in memory: a binary layer followed by its
binarizer goes from packed bits to packed bits. Values are unchanged: the
chain's own ops, in order, one rounding each.

What ends a chain: a second reader of a tensor, an op whose constants vary
along another axis than the channels, a second residual Add, anything that
moves data (pooling, a Reshape of the channels), and a Threshold on floats -- `verify` reads the
float a decision is made on to tell rounding-ambiguous decisions from real
mismatches, so that float must stay a tensor.
"""
from __future__ import annotations

from .. import ir
from .level_layers import runs_bit_planes


def is_layer(op: ir.Op, tensors) -> bool:
    if isinstance(op, (ir.Conv2D, ir.BinaryDense)):
        return True
    return isinstance(op, ir.Dense) and tensors[op.inputs[0]].domain == ir.Domain.FLOAT


def _extends(op: ir.Op, current: str, tensors, residuals: int) -> bool:
    """Can `op`, the only reader of `current`, join the chain?"""
    t = tensors[current]
    if isinstance(op, ir.Reshape):  # same bytes, as long as rows keep their channels
        return tuple(op.shape[-1:]) == t.shape[-1:]
    if isinstance(op, ir.Cast):
        return t.domain == ir.Domain.INT
    if t.domain != ir.Domain.FLOAT:
        return isinstance(op, ir.Threshold) and op.sign_like and not op.float_input and all(
            t.per_channel(a) for a in (op.t_zero, op.t_pos, op.flip))
    if isinstance(op, ir.ChannelOp):
        return t.per_channel(op.const) and tensors[op.output].shape == t.shape
    if isinstance(op, ir.Add):
        return residuals == 0 and op.inputs[0] != op.inputs[1]
    return isinstance(op, (ir.Relu, ir.Clip))


def _levels_threshold(layer: ir.Op, op: ir.Op, current: str, tensors) -> bool:
    """A multi-threshold on the int32 sums of a bit-plane layer: its kernel writes packed levels."""
    return (isinstance(op, ir.Threshold) and not op.float_input and tensors[current].domain == ir.Domain.INT
            and op.per_channel(tensors[current]) and runs_bit_planes(layer, tensors[layer.inputs[0]]))


def fuse_output_transforms(graph: ir.Graph) -> ir.Graph:
    tensors = graph.tensors
    fused_into: dict[int, ir.Fused] = {}  # id of the chain's last op -> the fused op replacing it
    absorbed: set[int] = set()
    for op in graph.ops:
        if not is_layer(op, tensors) or id(op) in absorbed:
            continue
        chain, others, current = [], [], op.output
        while current not in graph.outputs and len(graph.consumers(current)) == 1:
            nxt = graph.consumers(current)[0]
            if id(nxt) in absorbed or (not _extends(nxt, current, tensors, len(others))
                                       and not _levels_threshold(op, nxt, current, tensors)):
                break  # (an Add of two chains joins the first one; the other ends before it)
            if isinstance(nxt, ir.Add):
                others.append(nxt.inputs[1] if nxt.inputs[0] == current else nxt.inputs[0])
            chain.append(nxt)
            current = nxt.output
            if isinstance(nxt, ir.Threshold):
                break
        if not chain:
            continue
        fused = ir.Fused(inputs=(op.inputs[0], *others), output=current, origin=op.origin, ops=(op, *chain))
        absorbed.update(id(o) for o in (op, *chain))
        fused_into[id(chain[-1])] = fused
    ops = [fused_into.get(id(op), op) for op in graph.ops if id(op) not in absorbed or id(op) in fused_into]
    return ir.rebuild(graph, ops)
