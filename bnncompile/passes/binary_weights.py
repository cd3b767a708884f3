"""Pass: recognise binary kernels.

Before: `Dense` ops hold float weights as the importer found them: latent
weights already folded through their quantizer, so a binary kernel shows up
as +-1 constants or, when an exporter folded a batchnorm or quantizer scale
into it, as +-a_j on every row of output column j.

After: every such `Dense` is a `BinaryDense` on the sign matrix. With a
bipolar or ternary input it yields an exact INT accumulator followed by a
`Cast`; with a float input (BWN) a float sum. A column scale a_j != 1 follows
as a `ChannelOp(mul, a)`: the C then computes (integer sum) * a_j, one
rounding, at least as close to the real value as onnxruntime's float sum of
+-a_j. `Dense` ops with real kernels are left alone. The output keeps the
ONNX tensor name, so later ops and layer checks still find it.

A kernel that is +-a_j only up to float rounding (`near_scales`) is binary
too, with a "near-binary" note saying by how much.

Notes: a kernel that is +-a_j except for a few entries that are exactly 0
(torch.sign of a latent weight that is 0) stays real, and the graph gets a
"not-binary" note naming the node, the count and the remedy.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir

F32 = np.float32


U32 = 2.0 ** -24  # float32 unit roundoff


def column_scales(w: np.ndarray) -> np.ndarray | None:
    """a_j if every entry of column j is +-a_j with a_j > 0, or +-a_j up to
    float rounding (`near_scales`), else None."""
    a = np.abs(w[0])
    if np.any(a == 0):
        return None
    if np.all(np.abs(w) == a):
        return a.astype(F32)
    return near_scales(w)


def near_scales(w: np.ndarray) -> np.ndarray | None:
    """a_j (the median |w| of column j) when no entry is 0 and the entries differ
    from +-a_j by at most u*sum_i |w_ij| in all (u = 2^-24), else None.

    Straight-through arithmetic on weights leaves such kernels: Bi-Real Net's
    `scale*sign(w) - clip(w) + clip(w)` rounds a few entries of every channel by
    an ulp or two. With a bipolar input the C computes (integer sum) * a_j, which
    then differs from the model's real-number sum by less than one rounding of
    it, far inside what onnxruntime's own float sum of K terms may move it
    (2*K*u*sum|w|, the bound verify judges by)."""
    mag = np.abs(np.asarray(w, np.float64))
    if np.any(mag == 0):
        return None
    a = np.median(mag, axis=0).astype(F32)
    deviation = np.abs(mag - a.astype(np.float64)).sum(axis=0)
    if np.any(a == 0) or np.any(deviation > U32 * mag.sum(axis=0)):
        return None
    return a


def output_channel_scales(w: np.ndarray) -> np.ndarray | None:
    """For an OHWI kernel: a_o if every entry of output channel o is +-a_o, else None."""
    return column_scales(w.reshape(w.shape[0], -1).T)


# A kernel with more exact zeros than this is ternary on purpose (TWN), not a binary one gone wrong.
MAX_STRAY_ZERO_FRACTION = 0.25


def stray_zeros(w: np.ndarray) -> int:
    """How many entries of `w` [K, N] are exactly 0 while every other entry of
    column j is +-a_j (a binary kernel with a few zeros), else 0."""
    nonzero = w != 0
    zeros = int(w.size - np.count_nonzero(nonzero))
    if zeros == 0 or zeros > MAX_STRAY_ZERO_FRACTION * w.size:
        return 0
    a = np.abs(w).max(axis=0)
    return zeros if np.all((np.abs(w) == a) | ~nonzero) else 0


def _kernel_columns(op: ir.Op) -> np.ndarray | None:
    """A real kernel as [fan-in, outputs], one column per output channel, or None."""
    if isinstance(op, ir.Dense):
        return op.weight
    if isinstance(op, (ir.Conv2D, ir.Conv3D)) and op.signs is None:
        return op.weight.reshape(op.weight.shape[0], -1).T
    return None


def _not_binary_note(op: ir.Op, w: np.ndarray, packed: bool) -> ir.Note | None:
    zeros = stray_zeros(w)
    if not zeros:
        return None
    kernel = ("a real kernel on binary inputs instead of XNOR/popcount" if packed else
              "a float kernel (32-bit weights, multiplications) instead of a binary one (1 bit, additions)")
    return ir.Note("not-binary", op.origin,
                   f"{zeros} of {w.size} weights are exactly 0 (all others are +-1 or +-a per output channel): "
                   f"this layer runs as {kernel}. A binarizer like Sign maps a latent weight of 0 to 0; "
                   f"binarize with x >= 0 instead (e.g. torch.where(w >= 0, 1.0, -1.0))")


def _near_binary_note(op: ir.Op, w: np.ndarray, scales: np.ndarray) -> ir.Note:
    off = int(np.count_nonzero(np.abs(w) != scales))
    ulps = float(np.max(np.abs(np.abs(w) - scales) / np.spacing(scales)))
    return ir.Note("near-binary", op.origin,
                   f"{off} of {w.size} weights differ from +-a per output channel by up to {ulps:.0f} ulp (float "
                   f"rounding, e.g. of straight-through arithmetic on the weights): this layer runs as a binary "
                   f"kernel with scale a, a difference below onnxruntime's own rounding of its sums")


def fold_binary_weights(graph: ir.Graph) -> ir.Graph:
    ops: list[ir.Op] = []
    notes: list[ir.Note] = []
    for op in graph.ops:
        packed = graph.tensors[op.inputs[0]].domain.is_packed
        columns = _kernel_columns(op)
        if columns is not None and column_scales(columns) is None:
            notes += filter(None, [_not_binary_note(op, columns, packed)])
        if isinstance(op, ir.Dense):
            scales = column_scales(op.weight)
            binary = (ir.BinaryDense, dict(signs=np.sign(op.weight).astype(np.int8), packed_input=packed)) \
                if scales is not None else None
        elif isinstance(op, (ir.Conv2D, ir.Conv3D)) and op.signs is None:
            scales = output_channel_scales(op.weight)
            binary = (type(op), dict(weight=None, signs=np.sign(op.weight).astype(np.int8), strides=op.strides,
                                     dilations=op.dilations, pads=op.pads, pad_value=op.pad_value,
                                     groups=op.groups, packed_input=packed)) if scales is not None else None
            if scales is None and packed:  # BAN convolution: unpack, then a real convolution
                unpacked = ir.Cast(inputs=op.inputs, output=f"{op.output}::unpacked", origin=op.origin)
                ops += [unpacked, replace(op, inputs=(unpacked.output,), packed_input=False)]
                continue
        else:
            binary = None
        if binary is None:
            ops.append(op)
            continue
        kernel = _kernel_columns(op)
        if not np.all(np.abs(kernel) == np.abs(kernel[0])):
            notes.append(_near_binary_note(op, kernel, scales))
        chain = [binary]
        if packed:
            chain.append((ir.Cast, {}))
        if np.any(scales != 1):
            chain.append((ir.ChannelOp, dict(kind="mul", const=scales, kernel_scale=True)))
        src = op.inputs[0]
        for i, (cls, attrs) in enumerate(chain):
            out = op.output if i == len(chain) - 1 else f"{op.output}::w{i}"
            ops.append(cls(inputs=(src,), output=out, origin=op.origin, **attrs))
            src = out
    return ir.rebuild(graph, ops).replace(notes=graph.notes + tuple(notes))


def xnor_after_flatten(graph: ir.Graph) -> ir.Graph:
    """Pass: a binary dense layer after a Flatten of packed bits stays XNOR.

    Before: packed bits (H, W, C) are unpacked (`Cast` to float) and flattened
    (`Reshape` to one axis, NHWC order: the layout pass permuted the dense
    weights to it) for a `BinaryDense` on the float +-1 (or 0) values: a BWN
    layer, adds and subtracts.

    After: a `Conv2D` whose kernel covers the whole (H, W) map reads the bits
    themselves (kernel[n, h, w, c] = the weight of input (h*W + w)*C + c), its
    int32 sums are reshaped to the dense output and cast to float. The sums are
    the same integers (a float sum of +-1 and 0 is exact), and nothing is
    unpacked or repacked at run time.
    """
    ops: list[ir.Op] = []
    for op in graph.ops:
        flat = graph.producer(op.inputs[0]) if isinstance(op, ir.BinaryDense) and not op.packed_input else None
        cast = graph.producer(flat.inputs[0]) if isinstance(flat, ir.Reshape) else None
        bits = graph.tensors[cast.inputs[0]] if isinstance(cast, ir.Cast) else None
        if (bits is None or not bits.domain.is_packed or len(bits.shape) != 3 or len(flat.shape) != 1
                or len(graph.consumers(flat.output)) != 1 or len(graph.consumers(cast.output)) != 1
                or op.fan_in != bits.size):
            ops.append(op)
            continue
        h, w, c = bits.shape
        n = op.signs.shape[1]
        conv = ir.Conv2D(inputs=(bits.name,), output=f"{op.output}::xnor", origin=op.origin,
                         signs=np.ascontiguousarray(op.signs.T).reshape(n, h, w, c), packed_input=True)
        sums = ir.Reshape(inputs=(conv.output,), output=f"{op.output}::acc", origin=op.origin,
                          shape=graph.tensors[op.output].shape)
        ops += [conv, sums, ir.Cast(inputs=(sums.output,), output=op.output, origin=op.origin)]
    return ir.rebuild(graph, ops)
