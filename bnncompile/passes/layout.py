"""Pass: cancel layout transposes.

Before: the importer brackets every spatial op (convolution, pooling) in
Transposes NCHW -> NHWC -> NCHW, and tf2onnx adds its own pairs around them.

After: every Transpose that could be moved has been pushed forward through
elementwise ops (their constants, pads and thresholds permuted to match),
composed with the next Transpose, and dropped when the composition is the
identity; a Transpose that only moves size-1 axes is a Reshape. What remains
really moves data (for example before a Flatten; see
`fold_flatten_into_dense`). Values are unchanged: the same function of the
input, computed in another layout.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir

MOVABLE = (ir.ChannelOp, ir.Binarize, ir.Relu, ir.Clip, ir.Cast, ir.Pad)


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _permute_const(c: np.ndarray, perm, rank: int) -> np.ndarray:
    """A constant broadcast against y = transpose(x, perm), re-expressed against x."""
    c = np.asarray(c)
    c = c.reshape((1,) * (rank - c.ndim) + c.shape)
    return np.ascontiguousarray(np.transpose(c, _inverse(perm)))


def _moved_below(op: ir.Op, perm, rank: int) -> ir.Op:
    if isinstance(op, ir.ChannelOp):
        return replace(op, const=_permute_const(op.const, perm, rank))
    if isinstance(op, ir.Pad):
        begin, end = op.pads[:rank], op.pads[rank:]
        inv = _inverse(perm)
        return replace(op, pads=tuple(begin[inv[a]] for a in range(rank)) + tuple(end[inv[a]] for a in range(rank)))
    return op


def _order_preserving(shape, perm) -> bool:
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def cancel_transposes(graph: ir.Graph) -> ir.Graph:
    ops = list(graph.ops)
    names = {n: (o, graph.onnx_layouts.get(n)) for n, o in graph.onnx_names.items()}
    while _forward_step(graph, ops, names):
        pass
    # What is left and moves bits (e.g. an NCHW input binarized before its
    # first convolution) moves up above the binarizer: moving floats is cheap.
    while _backward_step(graph, ops, names):
        pass
    graph = graph.replace(onnx_names={n: o for n, (o, _) in names.items()},
                          onnx_layouts={n: p for n, (_, p) in names.items() if p is not None})
    return _drop_identity_reshapes(ir.rebuild(graph, ops))


def _record(names, new: str, old: str, perm) -> None:
    """`new` holds ONNX tensor `old`'s values up to transposing by perm."""
    if old in names:
        onnx, inner = names[old]
        names[new] = (onnx, tuple(perm[i] for i in inner) if inner else tuple(perm))


def _index(ops):
    consumers: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        for name in op.inputs:
            consumers.setdefault(name, []).append(i)
    return consumers, {op.output: i for i, op in enumerate(ops)}


def _simplify(graph, ops, i, x) -> bool:
    """Identity or size-1-only transposes become reshapes; transposes of transposes compose."""
    op = ops[i]
    shape = tuple(x.shape[p] for p in op.perm)
    # bits are packed per innermost row: for them a reshape is free only if that row stays
    if _order_preserving(x.shape, op.perm) and (not x.domain.is_packed or shape[-1] == x.shape[-1]):
        ops[i] = ir.Reshape(inputs=op.inputs, output=op.output, origin=op.origin, shape=shape)
        return True
    producers = {o.output: k for k, o in enumerate(ops)}
    j = producers.get(op.inputs[0])
    if j is not None and isinstance(ops[j], ir.Transpose):
        inner = ops[j]
        ops[i] = replace(op, inputs=inner.inputs, perm=tuple(inner.perm[p] for p in op.perm))
        return True
    return False


def _forward_step(graph, ops, names) -> bool:
    consumers, producers = _index(ops)
    tensors = _types(graph, ops)
    for i, op in enumerate(ops):
        if not isinstance(op, ir.Transpose):
            continue
        x = tensors[op.inputs[0]]
        if _simplify(graph, ops, i, x):
            return True
        users = consumers.get(op.output, [])
        if op.output in graph.outputs or not users:
            continue
        if len(users) == 1 and isinstance(ops[users[0]], MOVABLE):
            # push below the single elementwise consumer
            k = users[0]
            user = ops[k]
            moved_out = f"{user.output}::pre_t"
            ops[i] = replace(_moved_below(user, op.perm, len(x.shape)), inputs=(op.inputs[0],), output=moved_out)
            ops[k] = replace(op, inputs=(moved_out,), output=user.output)
            _record(names, moved_out, user.output, op.perm)
            return True
        if len(users) > 1:
            # several consumers: give each its own copy, so each can move on
            for n, k in enumerate(users[1:], start=1):
                copy = replace(op, output=f"{op.output}::c{n}")
                ops[k] = replace(ops[k], inputs=tuple(copy.output if v == op.output else v for v in ops[k].inputs))
                ops.insert(i + 1, copy)
            return True
    for i, op in enumerate(ops):
        # Add / Concat whose inputs all come from the same transpose: one transpose after
        if isinstance(op, (ir.Add, ir.Concat)):
            sources = [ops[producers[n]] if n in producers else None for n in op.inputs]
            if all(isinstance(s, ir.Transpose) and s.perm == sources[0].perm for s in sources) and \
                    all(len(consumers[n]) == 1 for n in op.inputs):
                perm = sources[0].perm
                joined = f"{op.output}::pre_t"
                new = replace(op, inputs=tuple(s.inputs[0] for s in sources), output=joined)
                if isinstance(op, ir.Concat):
                    new = replace(new, axis=perm[op.axis % len(perm)])
                ops[i] = new
                ops.insert(i + 1, ir.Transpose(inputs=(joined,), output=op.output, origin=op.origin, perm=perm))
                return True
    return False


def _backward_step(graph, ops, names) -> bool:
    consumers, producers = _index(ops)
    tensors = _types(graph, ops)
    for i, op in enumerate(ops):
        if not isinstance(op, ir.Transpose):
            continue
        x = tensors[op.inputs[0]]
        if _simplify(graph, ops, i, x):
            return True
        j = producers.get(op.inputs[0])
        if not x.domain.is_packed or j is None or not isinstance(ops[j], MOVABLE):
            continue
        if len(consumers[op.inputs[0]]) != 1 or op.inputs[0] in graph.outputs:
            continue
        # y = T(E(w))  ->  y = E'(T(w)), E' seeing its constants in the transposed layout
        producer = ops[j]
        w = tensors[producer.inputs[0]]
        moved_in = f"{producer.inputs[0]}::t_{op.output}"
        ops[j] = replace(op, inputs=producer.inputs, output=moved_in)
        ops[i] = replace(_moved_below(producer, _inverse(op.perm), len(w.shape)), inputs=(moved_in,),
                         output=op.output)
        _record(names, op.output, producer.output, _inverse(op.perm))
        return True
    return False


def _drop_identity_reshapes(graph: ir.Graph) -> ir.Graph:
    """Reshapes to the same shape (left by cancelled transposes) read straight through."""
    alias: dict[str, str] = {}
    ops = []
    for op in graph.ops:
        op = replace(op, inputs=tuple(alias.get(i, i) for i in op.inputs))
        if (isinstance(op, ir.Reshape) and graph.tensors[op.inputs[0]].shape == tuple(op.shape)
                and op.output not in graph.outputs):
            alias[op.output] = op.inputs[0]
            continue
        ops.append(op)
    return ir.rebuild(graph, ops)


def _types(graph: ir.Graph, ops: list[ir.Op]) -> dict[str, ir.Tensor]:
    tensors = {n: graph.tensors[n] for n in graph.inputs}
    for op in ops:
        tensors[op.output] = op.output_tensor([tensors[i] for i in op.inputs])
    return tensors


def fuse_pad_into_conv(graph: ir.Graph) -> ir.Graph:
    """Before: a `Pad` of the two spatial axes of an (H, W, C) tensor feeding
    only a `Conv2D`. After: the convolution pads by itself (`pads`,
    `pad_value`), which for a bipolar input is exact for both zero padding
    (padded taps skipped) and Larq's one padding (`pad_values=1`)."""
    ops = list(graph.ops)
    users: dict[str, list[ir.Op]] = {}
    for op in ops:
        for name in op.inputs:
            users.setdefault(name, []).append(op)
    producers = {op.output: op for op in ops}
    out = []
    for op in ops:
        pad = producers.get(op.inputs[0]) if isinstance(op, ir.Conv2D) else None
        if (isinstance(pad, ir.Pad) and len(pad.pads) == 6 and pad.pads[2] == 0 and pad.pads[5] == 0
                and len(users[pad.output]) == 1 and pad.output not in graph.outputs
                and (not any(op.pads) or op.pad_value == pad.value)):
            t, l, b, r = op.pads
            op = replace(op, inputs=pad.inputs, pad_value=pad.value,
                         pads=(t + pad.pads[0], l + pad.pads[1], b + pad.pads[3], r + pad.pads[4]),
                         packed_input=graph.tensors[pad.inputs[0]].domain.is_packed)
        out.append(op)
    return ir.rebuild(graph, out)


def fold_flatten_into_dense(graph: ir.Graph) -> ir.Graph:
    """Before: Transpose -> Reshape to one axis -> Dense (an NHWC tensor
    flattened in NCHW order, as ONNX Flatten after a convolution does).
    After: the Dense reads the NHWC data directly, its weight rows permuted to
    match; no data moves at run time."""
    ops = list(graph.ops)
    producers = {op.output: op for op in ops}
    users: dict[str, int] = {}
    for op in ops:
        for name in op.inputs:
            users[name] = users.get(name, 0) + 1
    out = []
    for op in ops:
        if isinstance(op, ir.Dense):
            flat = producers.get(op.inputs[0])
            tr = producers.get(flat.inputs[0]) if isinstance(flat, ir.Reshape) else None
            if (isinstance(tr, ir.Transpose) and len(flat.shape) == 1 and users[flat.output] == 1
                    and users[tr.output] == 1):
                src = graph.tensors[tr.inputs[0]]
                # flat[q] = src.ravel()[m[q]]: so the row for source element m[q] is weight row q
                m = np.transpose(np.arange(src.size).reshape(src.shape), tr.perm).reshape(-1)
                weight = np.empty_like(op.weight)
                weight[m] = op.weight
                reshaped = ir.Reshape(inputs=tr.inputs, output=f"{flat.output}::nhwc", origin=flat.origin,
                                      shape=(src.size,))
                out.append(reshaped)
                op = replace(op, inputs=(reshaped.output,), weight=weight)
        out.append(op)
    return ir.rebuild(graph, out)
