"""Pass: choose where data lives so that layout transposes cost nothing.

Before: the importer brackets every spatial op (convolution, pooling) in
Transposes NCHW -> NHWC -> NCHW, and tf2onnx adds its own pairs around them.
Every tensor is stored in its logical (ONNX) layout.

After: each tensor is stored in a physical layout of its own, a permutation
L of its logical axes (physical = transpose(logical, L)), chosen walking
forward from the input: a Transpose becomes free (its output keeps its input's
bytes, only L changes); elementwise ops keep their input's layout (their
constants and pads are permuted to it); ops that need their logical layout
(convolution, pooling, dense, reshape, softmax, the graph output) get an
explicit Transpose only where the data really is elsewhere, and two inputs of
an Add or Concat are brought to one layout. Transposes left on bits move up
above their binarizer onto floats, where moving is cheap. Values are
unchanged; `graph.onnx_layouts` records L for the layer checks.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir

MOVABLE = (ir.ChannelOp, ir.MulAdd, ir.Binarize, ir.Relu, ir.Clip, ir.PRelu, ir.Cast, ir.Pad)


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
    if isinstance(op, ir.MulAdd):
        return replace(op, scale=_permute_const(op.scale, perm, rank), bias=_permute_const(op.bias, perm, rank))
    if isinstance(op, ir.PRelu):
        return replace(op, slope=_permute_const(op.slope, perm, rank))
    if isinstance(op, ir.Pad):
        begin, end = op.pads[:rank], op.pads[rank:]
        inv = _inverse(perm)
        return replace(op, pads=tuple(begin[inv[a]] for a in range(rank)) + tuple(end[inv[a]] for a in range(rank)))
    return op


def _order_preserving(shape, perm) -> bool:
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def assign_layouts(graph: ir.Graph) -> ir.Graph:
    names = {n: (o, graph.onnx_layouts.get(n)) for n, o in graph.onnx_names.items()}
    ops = _forward_walk(graph, names)
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


def _forward_walk(graph: ir.Graph, names) -> list[ir.Op]:
    """One forward walk: the physical layout of every tensor, and the ops rewritten to it."""
    layout: dict[str, tuple[int, ...]] = {}  # logical tensor -> L
    where: dict[str, str] = {}  # logical tensor -> the tensor holding its bytes
    converted: dict[tuple[str, tuple], str] = {}
    ops: list[ir.Op] = []

    def identity(name):
        return tuple(range(len(graph.tensors[name].shape)))

    def fetch(name, target):
        """The bytes of logical tensor `name` in layout `target` (a Transpose if need be)."""
        current = layout[name]
        if current == target:
            return where[name]
        key = (name, target)
        if key not in converted:
            inv = _inverse(current)
            out = f"{name}::as_{'_'.join(map(str, target))}"
            ops.append(ir.Transpose(inputs=(where[name],), output=out, origin=f"layout of {name}",
                                    perm=tuple(inv[t] for t in target)))
            converted[key] = out
        return converted[key]

    for name in graph.inputs:
        layout[name], where[name] = identity(name), name
    for op in graph.ops:
        x = op.inputs[0]
        if isinstance(op, ir.Transpose):  # free: same bytes, new layout
            inv_perm = _inverse(op.perm)
            layout[op.output] = tuple(inv_perm[a] for a in layout[x])
            where[op.output] = where[x]
            continue
        if isinstance(op, ir.Reshape):
            free = _unit_axes_layout(graph.tensors[x], tuple(op.shape), layout[x])
            if free is not None:  # only size-1 axes come or go: the same bytes in a new layout
                ops.append(replace(op, inputs=(where[x],), shape=tuple(op.shape[p] for p in free)))
                layout[op.output], where[op.output] = free, op.output
                continue
        if isinstance(op, MOVABLE):
            current = layout[x]
            ops.append(replace(_moved_below(op, _inverse(current), len(current)), inputs=(where[x],)))
            layout[op.output] = current
        elif isinstance(op, (ir.Add, ir.Arith, ir.Concat)):
            target = layout[x]
            new = replace(op, inputs=tuple(fetch(i, target) for i in op.inputs))
            if isinstance(op, ir.Concat):
                new = replace(new, axis=_inverse(target)[op.axis % len(target)])
            ops.append(new)
            layout[op.output] = target
        else:
            ops.append(replace(op, inputs=tuple(fetch(i, identity(i)) for i in op.inputs)))
            layout[op.output] = identity(op.output)
        where[op.output] = op.output
    for name in graph.outputs:
        if layout[name] != identity(name) or where[name] != name:
            # the bytes are elsewhere or in another layout: keep them under a new
            # name and let a final Transpose (or copy) produce the output itself
            held = where[name]
            renamed = f"{held}::phys"
            ops[:] = [replace(o, output=renamed if o.output == held else o.output,
                              inputs=tuple(renamed if i == held else i for i in o.inputs)) for o in ops]
            inv = _inverse(layout[name])
            ops.append(ir.Transpose(inputs=(renamed,), output=name, origin=f"layout of {name}",
                                    perm=tuple(inv[t] for t in identity(name))))
    for name, perm in layout.items():
        holder = where.get(name)
        if holder == name and perm != identity(name):
            _record(names, name, name, _inverse(perm))
        elif holder is not None and holder != name and name in names and holder not in names:
            # an ONNX tensor whose transpose became free: its bytes live in `holder`
            _record(names, holder, name, _inverse(perm))
    return ops


def _unit_axes_layout(x: ir.Tensor, shape: tuple[int, ...], layout: tuple[int, ...]) -> tuple[int, ...] | None:
    """The layout under which Reshape(x -> shape) moves no data, when the reshape only
    inserts or removes size-1 axes (Squeeze, Unsqueeze, 1-D data as 2-D): the other
    axes keep their physical order, the size-1 axes go first; None otherwise. Packed
    bits qualify only when they are in logical order and stay packed along the same
    innermost axis."""
    kept_in = [a for a, d in enumerate(x.shape) if d != 1]
    kept_out = [a for a, d in enumerate(shape) if d != 1]
    if [x.shape[a] for a in kept_in] != [shape[a] for a in kept_out]:
        return None
    to_out = dict(zip(kept_in, kept_out))
    order = [to_out[a] for a in layout if x.shape[a] != 1]
    new = tuple(a for a, d in enumerate(shape) if d == 1) + tuple(order)
    if order == sorted(order):
        new = tuple(range(len(shape)))  # the data is in logical order anyway
    if x.domain.is_packed and (new != tuple(range(len(shape))) or x.shape[layout[-1]] == 1 or shape[-1] == 1):
        # bits in another order would need a real transpose later: leave it to the
        # usual rule, which moves such transposes above their binarizer onto floats
        return None
    return new


def _index(ops):
    consumers: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        for name in op.inputs:
            consumers.setdefault(name, []).append(i)
    return consumers, {op.output: i for i, op in enumerate(ops)}


def _simplify(ops, i, x) -> bool:
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


def _backward_step(graph, ops, names) -> bool:
    consumers, producers = _index(ops)
    tensors = _types(graph, ops)
    for i, op in enumerate(ops):
        if not isinstance(op, ir.Transpose):
            continue
        x = tensors[op.inputs[0]]
        if _simplify(ops, i, x):
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
    """Before: a `Pad` of the spatial axes of an (H, W, C) or (D, H, W, C) tensor
    feeding only a `Conv2D` or `Conv3D`, possibly through a Reshape that only adds size-1 axes
    (tf2onnx pads Larq's 1-D maps (L, C) before making them (1, L, C)).
    After: the convolution pads by itself (`pads`, `pad_value`), which for a
    bipolar input is exact for both zero padding (padded taps skipped) and
    Larq's one padding (`pad_values=1`)."""
    ops = list(graph.ops)
    users: dict[str, list[ir.Op]] = {}
    for op in ops:
        for name in op.inputs:
            users.setdefault(name, []).append(op)
    producers = {op.output: op for op in ops}

    def single_use(name):
        return len(users[name]) == 1 and name not in graph.outputs

    out = []
    for op in ops:
        source = producers.get(op.inputs[0]) if isinstance(op, (ir.Conv2D, ir.Conv3D)) else None
        reshape = source if isinstance(source, ir.Reshape) and single_use(source.output) else None
        pad = producers.get(reshape.inputs[0]) if reshape else source
        if not isinstance(pad, ir.Pad) or not single_use(pad.output):
            out.append(op)
            continue
        pads = _pads_through_reshape(pad, graph.tensors[pad.output].shape, reshape) if reshape else pad.pads
        rank = len(graph.tensors[op.inputs[0]].shape)  # spatial axes, then channels
        if (pads is not None and len(pads) == 2 * rank and pads[rank - 1] == 0 and pads[-1] == 0
                and (not any(op.pads) or op.pad_value == pad.value)):
            src = pad.inputs[0]
            if reshape:  # the same Reshape, of the unpadded tensor
                unpadded = tuple(d - pads[i] - pads[i + rank] for i, d in enumerate(reshape.shape))
                out.append(replace(reshape, inputs=pad.inputs, output=f"{reshape.output}::unpadded", shape=unpadded))
                src = out[-1].output
            n = rank - 1
            begin = tuple(a + b for a, b in zip(op.pads[:n], pads[:n]))
            end = tuple(a + b for a, b in zip(op.pads[n:], pads[rank:rank + n]))
            op = replace(op, inputs=(src,), pad_value=pad.value, pads=begin + end,
                         packed_input=graph.tensors[pad.inputs[0]].domain.is_packed)
        out.append(op)
    return ir.rebuild(graph, out)


def _pads_through_reshape(pad: ir.Pad, padded: tuple[int, ...], reshape: ir.Reshape) -> tuple[int, ...] | None:
    """The Pad's widths on the axes of the Reshape's output, when the Reshape only
    adds or removes size-1 axes that are not padded; None otherwise."""
    rank = len(padded)
    kept_in = [a for a, d in enumerate(padded) if d != 1]
    kept_out = [a for a, d in enumerate(reshape.shape) if d != 1]
    if [padded[a] for a in kept_in] != [reshape.shape[a] for a in kept_out]:
        return None
    if any((pad.pads[a] or pad.pads[a + rank]) and a not in kept_in for a in range(rank)):
        return None
    to_in = dict(zip(kept_out, kept_in))
    n = len(reshape.shape)
    begin = [pad.pads[to_in[a]] if a in to_in else 0 for a in range(n)]
    end = [pad.pads[to_in[a] + rank] if a in to_in else 0 for a in range(n)]
    return tuple(begin + end)


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
