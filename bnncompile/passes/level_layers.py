"""Pass: layers on packed activations compute with integers.

Before: `Dense` and `Conv2D` ops hold the kernels the importer found (real
values), and read a packed tensor P -- bipolar, ternary or k-bit levels --
either directly or through a `Cast` to float, scalar `ChannelOp`s (DoReFa's
* 1/3, a Brevitas scale) and, for a dense layer, a `Reshape` that flattens
the map.

After: where
- the values x_k the layer sees for the levels of P are a*n_k for a scale
  a > 0 and small integers n_k (0 and 1 for `(x > 0).float()`, +-1 for +-s,
  0..3 for DoReFa's {0, 1/3, 2/3, 1}), and
- every output channel's kernel is a_o * m with small integers m sharing
  one coding for the whole kernel (+-1, ternary {-1, 0, +1}, k-bit, odd),
the layer is an integer layer on P's bits: a `Relabel` reads P's levels as
the integers n, a `Conv2D`/`BinaryDense` with `weight_levels` sums n*m exactly
(int32; a bit-plane kernel, or XNOR with a mask for a ternary kernel), and a
`Cast` and one `ChannelOp` multiply by a*a_o. The algebra:
    sum_k x_k w_k = sum_k (a n_k)(a_o m_k) = a a_o sum_k n_k m_k,
with zero padding a tap of value 0 = a*0 (skipped) and Larq's one padding a
tap of value p = a*(p/a). A dense layer after a flatten becomes a
convolution whose kernel covers the map (no unpacking, no repacking).

Exactness: where the x_k and the weights are exactly a*n and a_o*m (every
binarizer spelling, Brevitas' 2-bit weights, ternary kernels) the integer sum
is the model's real-number sum, which onnxruntime rounds and the C scales
once. DoReFa's levels are a*n only up to float32 rounding (1.0 is not
3 * float32(1/3)), and so are kernels with a batchnorm folded in; such
values are accepted within `NEAR` ulps, far inside the rounding verify
allows onnxruntime's own sums of K terms (2*K*2^-24*sum|x*w|, K >= 9 here).
The scale is marked `kernel_scale` wherever onnxruntime's float sum is not
exact, so the threshold pass reports decisions at exact float ties.

Left alone: plain +-1/ternary inputs with +-a kernels (fold_binary_weights
makes those XNOR layers), real kernels, grouped convolutions; a dense layer
left reading levels that are not plain +-1/0 gets a `Cast` to floats first.
Notes: a kernel that is +-a except for a few exact zeros (`stray_zeros`)
now runs as a ternary kernel; it gets a "ternary-weights" note.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir
from ..ir import levels as lv
from .binary_weights import stray_zeros

F32 = np.float32
NEAR = 8  # ulps (of 2^-24, relative) a level may be from a * integer
# A +-a kernel with at most this share of exact zeros was almost certainly meant binary
# (torch.sign of a latent weight that is 0); more zeros are ternary on purpose (TWN, ste_tern).
STRAY_ZEROS = 0.05
MAX_DENOMINATOR = 1 << lv.MAX_PLANES


def integer_scale(values: np.ndarray) -> tuple[float, np.ndarray] | None:
    """(a, n) with values == a*n (within NEAR ulps each), a > 0 and integers n as
    small as possible, or None."""
    v = np.asarray(values, np.float64).reshape(-1)
    mags = np.unique(np.abs(v[v != 0]))
    if not mags.size:
        return None
    tol = NEAR * 2.0 ** -24
    for d in range(1, MAX_DENOMINATOR + 1):
        a = mags[0] / d
        n = np.round(v / a)
        if np.all(np.abs(v - a * n) <= tol * np.abs(v)) and np.max(np.abs(n)) < 1 << lv.MAX_PLANES:
            return a, n.astype(np.int64)
    return None


def kernel_levels(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, lv.Levels] | None:
    """A kernel [fan-in, outputs] as (scales a_o [outputs], integers m [fan-in, outputs], their
    coding), a_o possibly negative so that every column fits the coding with the fewest planes."""
    scales, ints = [], []
    for column in columns.T:
        found = integer_scale(column)
        if found is None:
            if np.any(column != 0):
                return None
            found = (1.0, np.zeros(len(column), np.int64))  # an all-zero output channel
        scales.append(found[0])
        ints.append(found[1])
    sets = [set(m.tolist()) for m in ints]
    for coding in lv._candidates():
        allowed = set(coding.ints)
        if all(s <= allowed or {-i for i in s} <= allowed for s in sets):
            flip = np.array([not s <= allowed for s in sets])
            m = np.stack(ints, axis=1) * np.where(flip, -1, 1)
            a = np.array(scales) * np.where(flip, -1, 1)
            return a, m, lv.for_ints(np.unique(m)) if np.unique(m).size else coding
    return None


def _level_source(graph: ir.Graph, producers, name: str, allow_flatten: bool):
    """(P, ops from P to `name`, the flatten Reshape or None) when `name` is a packed tensor P
    seen through Cast, scalar ChannelOps and (dense layers) one flattening Reshape."""
    chain, flatten = [], None
    while not graph.tensors[name].domain.is_packed:
        op = producers.get(name)
        if isinstance(op, ir.ChannelOp) and op.const.size == 1 and op.kind in ("add", "sub", "mul", "div") \
                and op.domain == ir.Domain.FLOAT:
            chain.append(op)
        elif isinstance(op, ir.Reshape) and allow_flatten and flatten is None and len(op.shape) == 1:
            flatten = op
        elif isinstance(op, ir.Cast) and graph.tensors[op.inputs[0]].domain.is_packed and \
                op.to == ir.Domain.FLOAT:
            chain.append(op)
        else:
            return None
        name = op.inputs[0]
    chain.reverse()
    return name, chain, flatten


def _is_plain(t: ir.Tensor) -> bool:
    return t.domain in (ir.Domain.BIPOLAR, ir.Domain.TERNARY) and t.levels.reals_are_ints


def runs_bit_planes(op: ir.Op, x: ir.Tensor) -> bool:
    """Does this integer layer need the bit-plane kernel (bnn_kconv2d) rather than
    the XNOR one (bnn_bconv2d: plain +-1/0 input, +-1 kernel, zero or one padding)?"""
    if not isinstance(op, (ir.Conv2D, ir.BinaryDense)) or op.signs is None or not op.packed_input:
        return False
    one_or_zero = not isinstance(op, ir.Conv2D) or not any(op.pads) or op.pad_value in (0.0, 1.0)
    return op.weight_levels not in (None, lv.BIPOLAR) or not _is_plain(x) or not one_or_zero


def _layer_columns(op: ir.Op) -> np.ndarray | None:
    if isinstance(op, ir.Dense):
        return op.weight
    if isinstance(op, ir.Conv2D) and op.signs is None and op.groups == 1:
        return op.weight.reshape(op.weight.shape[0], -1).T
    return None


def fold_level_layers(graph: ir.Graph) -> ir.Graph:
    producers = {op.output: op for op in graph.ops}
    ops: list[ir.Op] = []
    notes: list[ir.Note] = []
    for op in graph.ops:
        columns = _layer_columns(op)
        source = _level_source(graph, producers, op.inputs[0], isinstance(op, ir.Dense)) \
            if columns is not None else None
        rewritten = _rewrite(graph, op, columns, source, notes) if source is not None else None
        if rewritten is not None:
            ops += rewritten
        elif isinstance(op, (ir.Dense, ir.Conv2D)) and graph.tensors[op.inputs[0]].domain.is_packed and \
                not _is_plain(graph.tensors[op.inputs[0]]):
            # a real kernel on levels that are not +-1/0: read them as floats
            unpacked = ir.Cast(inputs=op.inputs, output=f"{op.output}::unpacked", origin=op.origin)
            changes = {"packed_input": False} if isinstance(op, ir.Conv2D) else {}
            ops += [unpacked, replace(op, inputs=(unpacked.output,), **changes)]
        else:
            ops.append(op)
    return ir.rebuild(graph, ops).replace(notes=graph.notes + tuple(notes))


def _rewrite(graph: ir.Graph, op: ir.Op, columns: np.ndarray, source, notes: list) -> list[ir.Op] | None:
    p_name, chain, flatten = source
    p = graph.tensors[p_name]
    values = np.asarray(p.levels.reals, F32)
    for c in chain:
        values = np.asarray(c.reference(values))
    if np.any(np.diff(values.astype(np.float64)) <= 0):
        return None
    if not np.all(np.isfinite(values)) or (flatten is not None and len(p.shape) != 3):
        return None
    activation = integer_scale(values)
    kernel = kernel_levels(columns)
    if activation is None or kernel is None:
        return None
    a_x, n = activation
    a_o, m, w_levels = kernel
    if _is_plain(p) and all(isinstance(c, ir.Cast) for c in chain) and lv.standard(w_levels) == "bipolar" \
            and w_levels.count == 2:
        return None  # +-a on +-1: fold_binary_weights (xnor_after_flatten after a Flatten) makes it an XNOR layer
    pad = 0
    if isinstance(op, ir.Conv2D) and any(op.pads):
        pad = op.pad_value / a_x
        if pad != round(pad):
            return None
        pad = int(round(pad))
    try:
        x_levels = p.levels.relabel(n)
    except ValueError:
        return None
    zeros = stray_zeros(columns)
    if zeros and zeros <= STRAY_ZEROS * columns.size and lv.standard(w_levels) == "ternary":
        notes.append(ir.Note("ternary-weights", op.origin,
                             f"{zeros} of {columns.size} weights are exactly 0 (all others are +-1 or +-a per output "
                             f"channel): this layer runs as a ternary kernel (2 bits per weight, XNOR with a mask) "
                             f"instead of a binary one (1 bit). A binarizer like Sign maps a latent weight of 0 to 0; "
                             f"binarize with x >= 0 instead (e.g. torch.where(w >= 0, 1.0, -1.0))"))
    out: list[ir.Op] = []
    src = p_name
    if x_levels != p.levels:
        out.append(ir.Relabel(inputs=(p_name,), output=f"{op.output}::ints", origin=op.origin, source=p.levels,
                              levels=x_levels))
        src = out[-1].output
    signs = m.astype(np.int8)
    if isinstance(op, ir.Conv2D):
        layer = ir.Conv2D(inputs=(src,), output=f"{op.output}::acc", origin=op.origin, strides=op.strides,
                          dilations=op.dilations, pads=op.pads, pad_value=float(pad), packed_input=True,
                          signs=np.ascontiguousarray(signs.T.reshape(op.weight.shape)), weight_levels=w_levels)
        out.append(layer)
    elif flatten is not None:  # the dense layer reads the map: a convolution whose kernel covers it
        h, w, c = p.shape
        out.append(ir.Conv2D(inputs=(src,), output=f"{op.output}::xnor", origin=op.origin, packed_input=True,
                             signs=np.ascontiguousarray(signs.T).reshape(-1, h, w, c), weight_levels=w_levels))
        out.append(ir.Reshape(inputs=(out[-1].output,), output=f"{op.output}::acc", origin=op.origin,
                              shape=graph.tensors[op.output].shape))
    else:
        out.append(ir.BinaryDense(inputs=(src,), output=f"{op.output}::acc", origin=op.origin, signs=signs,
                                  packed_input=True, weight_levels=w_levels))
    scale = (a_x * a_o).astype(F32)
    out.append(ir.Cast(inputs=(out[-1].output,), output=op.output if np.all(scale == 1) else f"{op.output}::sum",
                       origin=op.origin))
    if np.any(scale != 1):
        exact = np.all(values == np.round(values)) and np.all(columns == np.round(columns))
        out.append(ir.ChannelOp(inputs=(out[-1].output,), output=op.output, origin=op.origin, kind="mul",
                                const=scale, kernel_scale=not exact))
    return out
