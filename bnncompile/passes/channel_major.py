"""Pass: binarize an NCHW input where it lies, and store an NCHW output from the
layer that computes it.

Before: the layout pass computes spatial layers channels last, so an NCHW model
input reaches its first binarizer through a `Transpose` (channels first ->
last: a float copy of the whole input in the arena), and the last layer's
floats reach an NCHW model output through another (channels last -> first:
the layer's channels-last floats in the arena, then the transpose). For a
binary network these two float copies are most of its RAM: the tensors between
its layers are packed bits.

After: a sign-like `Threshold` whose input is such a Transpose (its only
reader, not a graph output) reads the tensor before it, channels first
(`channel_major_input`); a `Fused` layer (or a bare layer with a real-valued
output) whose output is read only by a Transpose channels last -> first takes
that Transpose as the last op of its chain, and its kernel stores the floats
channel-major (struct bnn_output.plane). Both Transposes and their copies are
gone; every value is unchanged (the ops are the same, read or stored in
another order).
"""
from __future__ import annotations

from dataclasses import replace

from .. import ir
from .fusion import is_layer


def _channels_last(perm) -> bool:
    """(C, *spatial) -> (*spatial, C)"""
    return len(perm) >= 2 and tuple(perm) == tuple(range(1, len(perm))) + (0,)


def _channels_first(perm) -> bool:
    """(*spatial, C) -> (C, *spatial)"""
    return len(perm) >= 2 and tuple(perm) == (len(perm) - 1,) + tuple(range(len(perm) - 1))


def _only_reader(graph: ir.Graph, name: str) -> ir.Op | None:
    readers = graph.consumers(name)
    return readers[0] if len(readers) == 1 and name not in graph.outputs else None


def read_and_store_channel_major(graph: ir.Graph) -> ir.Graph:
    tensors = graph.tensors
    replaced: dict[int, ir.Op | None] = {}  # id(op) -> its replacement (None: dropped)
    for op in graph.ops:
        if not isinstance(op, ir.Transpose):
            continue
        src = graph.producer(op.inputs[0])
        reader = _only_reader(graph, op.output)
        if (_channels_last(op.perm) and isinstance(reader, ir.Threshold) and reader.sign_like
                and not reader.channel_major_input and id(reader) not in replaced):
            replaced[id(op)] = None
            replaced[id(reader)] = replace(reader, inputs=(op.inputs[0],) + reader.inputs[1:],
                                           channel_major_input=True)
        elif (_channels_first(op.perm) and src is not None and id(src) not in replaced
              and tensors[op.inputs[0]].domain == ir.Domain.FLOAT and _only_reader(graph, op.inputs[0]) is op):
            if isinstance(src, ir.Fused) and not isinstance(src.chain[-1], (ir.Threshold, ir.Transpose)):
                ops = src.ops + (op,)
            elif not isinstance(src, ir.Fused) and is_layer(src, tensors):
                ops = (src, op)
            else:
                continue
            replaced[id(src)] = None
            replaced[id(op)] = ir.Fused(inputs=src.inputs, output=op.output, origin=src.origin, ops=ops)
    if not replaced:
        return graph
    ops = [replaced.get(id(op), op) for op in graph.ops]
    return ir.rebuild(graph, [op for op in ops if op is not None])
