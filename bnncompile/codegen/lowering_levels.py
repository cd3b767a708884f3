"""Lowerings of the ops on k-bit levels (and of packed tensors in codings
other than plain +-1): multi-thresholds, unpacking to the model's values, max
pooling, packed concatenation and the bit-plane layers. lowering.py hands
them the ops whose tensors need them; runtime/bnn_levels.h and
runtime/bnn_ref_kbit.h are the kernels.
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..ir import levels as lv
from . import packing
from .lowering import BINARY, KBIT, NULL, Arg, Call, buf, fused_output, value


def is_plain(t: ir.Tensor) -> bool:
    """A bipolar or ternary tensor whose values are its integers (-1, 0, +1): the
    binary kernels read and write it as it is."""
    return t.domain in (ir.Domain.BIPOLAR, ir.Domain.TERNARY) and t.levels.reals_are_ints


def coding_struct(levels: lv.Levels) -> list:
    """struct bnn_coding: planes, base, coefficients (bnn_bits.h)."""
    return [levels.planes, levels.base, list(levels.coeffs) + [0] * (lv.MAX_PLANES - levels.planes)]


def threshold_rows(op: ir.Threshold, y: ir.Tensor) -> tuple[np.ndarray, np.ndarray, int]:
    """(bounds [t_len, L-1], flip [t_len], t_len) of a multi-threshold, per channel
    (padded to whole blocks) or per element, as bounds on v (bnn_level_of)."""
    flip, steps = np.asarray(op.flip).astype(bool), np.asarray(op.steps, np.int64)
    n = steps.shape[-1]
    if op.per_channel(y):
        t_len = y.channels
        flip = np.broadcast_to(np.reshape(flip, -1), (t_len,))
        steps = np.broadcast_to(steps.reshape(-1, n), (t_len, n))
    else:
        t_len = y.size
        flip = np.broadcast_to(flip, y.shape).reshape(-1)
        steps = np.broadcast_to(steps, y.shape + (n,)).reshape(-1, n)
    bounds = np.where(flip[:, None], 1 - steps, steps)
    assert np.all(np.abs(bounds) < 2 ** 31)
    if t_len == y.channels:  # fast kernels may read whole blocks of channels
        flip = packing.padded_channels(flip, t_len)
        bounds = np.concatenate([bounds, np.zeros((len(flip) - t_len, n), np.int64)])
    return bounds.astype(np.int32), flip.astype(np.uint8), t_len


def levels_out(planner, op: ir.Threshold, y: ir.Tensor) -> tuple[list, int]:
    """struct bnn_levels_out of a multi-threshold and its t_len."""
    bounds, flip, t_len = threshold_rows(op, y)
    levels = op.out_levels
    if levels.count < op.levels.count:  # sign-like ternary whose 0 is never reached: one step to +-1
        assert np.all(bounds[:, :1] == bounds), "collapsed levels need equal steps"
        bounds = np.ascontiguousarray(bounds[:, :1])
    what = "float keys" if op.float_input else "sums"
    bounds_name = planner.array(f"{planner.stem}_bounds", bounds, "int32_t",
                                f"{op.origin}: {bounds.shape[1]} steps per row on the {what} "
                                f"(a value passes one when >= it, or < it where flipped)", "thresholds")
    flip_name = planner.array(f"{planner.stem}_flip", flip, "uint8_t", f"{op.origin}: 1 = decreasing", "thresholds")
    codes = planner.array(f"{planner.stem}_codes", np.array(levels.codes), "uint8_t",
                          f"{op.origin}: code of each level ({levels.describe()}, values {list(levels.reals)})",
                          "thresholds")
    return [bounds.shape[1], bounds_name, flip_name, codes, levels.planes], t_len


def lower_levels_threshold(planner, op: ir.Threshold):
    y = planner.tensor(op.output)
    out, t_len = levels_out(planner, op, y)
    struct = planner.struct(f"{planner.stem}_levels", "struct bnn_levels_out", out,
                            f"{op.origin}: multi-threshold into {op.out_levels.describe()} levels")
    call = Call("bnn_levels_threshold", [
        ("src", buf(op.inputs[0])), ("src_is_float", value(int(op.float_input))), ("rows", value(y.rows)),
        ("channels", value(y.channels)), ("levels", Arg("address", struct)), ("t_len", value(t_len)),
        ("y", buf(op.output, "uint32_t"))])
    return planner.step(op, "threshold_levels", [call])


def lower_unpack_levels(planner, op: ir.Cast):
    x = planner.tensor(op.inputs[0])
    table = planner.array(f"{planner.stem}_values", x.levels.real_table(), "float",
                          f"{op.origin}: the value of each code ({x.levels.describe()})")
    call = Call("bnn_unpack_levels", [("x", buf(op.inputs[0], "uint32_t")), ("rows", value(x.rows)),
                                      ("channels", value(x.channels)), ("planes", value(x.levels.planes)),
                                      ("table", value(table)), ("out", buf(op.output, "float"))])
    return planner.step(op, "unpack_levels", [call])


def lower_maxpool_levels(planner, op: ir.Pool2D, geometry: tuple):
    x = planner.tensor(op.inputs[0])
    coding = planner.struct(f"{planner.stem}_coding", "struct bnn_coding", coding_struct(x.levels),
                            f"{op.origin}: {x.levels.describe()} levels")
    call = Call("bnn_maxpool_levels", [geometry, ("x", buf(op.inputs[0], "uint32_t")),
                                       ("coding", Arg("address", coding)), ("y", buf(op.output, "uint32_t"))])
    return planner.step(op, "maxpool_levels", [call])


def lower_concat_bits(planner, op: ir.Concat):
    """Packed inputs stay packed: rows (or bit ranges of rows, along the channels) copied in place."""
    y = planner.tensor(op.output)
    axis = op.axis % len(y.shape)
    last = len(y.shape) - 1
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    calls, offset = [], 0
    for name in op.inputs:
        x = planner.tensor(name)
        if axis == last:  # along the channels: one row per block, this input's bits at an offset
            x_rows = y_rows = 1
            bits, y_bits, row_offset, bit_offset = x.channels, y.channels, 0, offset
            offset += x.channels
        else:  # whole rows
            inner = int(np.prod(y.shape[axis + 1:last], dtype=np.int64))
            x_rows, y_rows = x.shape[axis] * inner, y.shape[axis] * inner
            bits = y_bits = y.channels
            row_offset, bit_offset = offset, 0
            offset += x_rows
        calls.append(Call("bnn_concat_bits", [
            ("x", buf(name, "uint32_t")), ("planes", value(y.levels.planes)), ("outer", value(outer)),
            ("x_rows", value(x_rows)), ("x_bits", value(bits)), ("y_rows", value(y_rows)),
            ("y_bits", value(y_bits)), ("row_offset", value(row_offset)), ("bit_offset", value(bit_offset)),
            ("y", buf(op.output, "uint32_t"))]))
    return planner.step(op, "concat_bits", calls)


def _kernel_words(levels: lv.Levels) -> str:
    if lv.standard(levels) == "ternary":
        return "ternary kernel, 2 bits per weight (sign and mask planes)"
    return f"{levels.name} kernel, {levels.planes} bit{'s' if levels.planes > 1 else ''} per weight"


def lower_kconv(planner, op, fused, what: str, ints_ohwi: np.ndarray, geom: list, pad: int, macs: int):
    """A layer on packed levels with a ternary or k-bit kernel (or levels that are not plain
    +-1: {0,1}, k-bit) as bnn_kconv2d; fused, its chain is the output transform: a multi-threshold
    into packed levels, or float ops."""
    stem = planner.stem
    x = planner.tensor(op.inputs[0])
    w_levels = op.weight_levels or lv.BIPOLAR
    o = ints_ohwi.shape[0]
    kernel = planner.array(f"{stem}_weights", packing.blocked_level_kernel(ints_ohwi, w_levels), "uint32_t",
                           f"{op.origin}: {_kernel_words(w_levels)}, {o} x {ints_ohwi[0].size}, blocked by 16 outputs")
    sign_mask = {lv.standard(x.levels), lv.standard(w_levels)} <= {"bipolar", "ternary"}
    sums = planner.array(f"{stem}_tap_sums", packing.tap_sums(ints_ohwi), "int32_t",
                         f"{op.origin}: sum of the weights of each tap") \
        if pad or (x.levels.base and not sign_mask) else None
    last = fused.chain[-1] if fused else None
    other = None
    no_levels = [0, None, None, None, 0]
    if isinstance(last, ir.Threshold):
        levels, _ = levels_out(planner, last, planner.tensor(fused.output))
        out, y_type = ["BNN_OUT_LEVELS", 0, None, None, None, None, 0, 0], "uint32_t"
    elif fused:
        chain = fused_output(planner, fused)
        levels, out, other, y_type = no_levels, chain.struct, chain.other, "float"
    else:
        levels, out, y_type = no_levels, ["BNN_OUT_INT32", 0, None, None, None, None, 0, 0], "int32_t"
    layer = planner.struct(stem, "struct bnn_kconv2d",
                           [geom, coding_struct(x.levels), coding_struct(w_levels), pad, kernel, sums, out, levels],
                           f"{op.origin}: geometry, input and kernel codings, pad, kernel, tap sums, output")
    out_name = fused.output if fused else op.output
    call = Call("bnn_kconv2d", [("layer", Arg("address", layer)), ("x", buf(op.inputs[0], "uint32_t")),
                                ("other", buf(other, "float") if other else NULL), ("y", buf(out_name, y_type))])
    kind = f"{what}_{'xnor_mask' if sign_mask else 'planes'}"
    return planner.step(fused or op, kind, [call], layer=layer_kind(x.levels, w_levels), binary_macs=macs)


def layer_kind(x: lv.Levels, w: lv.Levels) -> str:
    """The report's kind of a bit-plane layer, with the bits per weight and per activation:
    `binary` (1 and 1: {0,1} or +-1 operands), `ternary w2a1` (sign and mask planes), `k-bit w2a2`."""
    if w.planes == 1 and x.planes == 1:
        return BINARY
    family = "ternary" if lv.standard(w) == "ternary" else KBIT
    return f"{family} w{w.planes}a{x.planes}"


__all__ = ["lower_kconv", "layer_kind", "is_plain", "lower_levels_threshold", "lower_unpack_levels", "lower_maxpool_levels",
           "lower_concat_bits", "coding_struct", "levels_out"]
