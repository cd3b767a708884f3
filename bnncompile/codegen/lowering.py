"""One lowering per IR op: what each op becomes in the generated C.

A lowering takes the planner (`plan.Planner`: constant arrays and structs,
tensors, aliases) and one op, and returns a `Step` -- the C calls it makes
(function names and named arguments), whether it may write over its input,
its multiply-accumulates and its layer kind -- or None when the op moves no
data (a Reshape). `LOWERINGS` is the registry, one line per op type; the
template renders every step the same way and the report reads MACs and kinds
from the steps. Arguments are data, not C: `Arg.buffer` names a tensor whose
place in the arena is decided later, `Arg.address` a constant struct.

Adding an op: a lowering here, one line in LOWERINGS, the kernel in
runtime/, tests (README, developer guide).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import ir
from ..passes.level_layers import runs_bit_planes
from . import packing
from .literals import c_float

KIND_ENUM = {"add": "BNN_ADD", "sub": "BNN_SUB", "rsub": "BNN_RSUB", "mul": "BNN_MUL", "div": "BNN_DIV",
             "rdiv": "BNN_RDIV"}
# layer kinds of the report: what multiplies what
BINARY, BIN_WEIGHTS, BIN_INPUT, REAL, DATA = "binary", "bin-weights", "bin-input", "real", "data"
KBIT = "k-bit"  # a bit-plane layer: ternary or k-bit kernel, or k-bit / {0,1} input


@dataclass(frozen=True)
class Arg:
    """One argument of a C call. kind: "buffer" (a tensor's memory: `value` is the
    tensor, `plane` the bit plane it starts at (ir/levels.py: a ternary tensor's
    mask is plane 1), `ctype` the element type the kernel takes),
    "address" (&value, a constant struct), "null", or "value" (an integer, an
    array name or a C literal, written as is)."""

    kind: str
    value: object = None
    plane: int = 0
    ctype: str | None = None


NULL = Arg("null")


def value(v) -> Arg:
    return Arg("value", v)


@dataclass(eq=False)
class Call:
    function: str
    args: list[tuple[str, Arg]]  # (parameter name, argument), in order


@dataclass(eq=False)
class Step:
    """One step of the generated run function (validate reads `out`, `inputs`,
    `index` and `origin`, also as step["..."] )."""

    index: int
    op: str  # IR op type
    origin: str  # ONNX node(s)
    out: str
    inputs: list[str]
    kind: str  # what the step computes, e.g. "conv_xnor"
    calls: list[Call]
    in_place: bool = False  # may write its output over its first input (elementwise, same size)
    layer: str = DATA
    binary_macs: int = 0
    real_macs: int = 0

    def __getitem__(self, key: str):
        return getattr(self, key)


# ---------------------------------------------------------------- shared pieces


def geometry(x: ir.Tensor, y: ir.Tensor, op: ir.Conv2D) -> list[int]:
    """struct bnn_conv_geometry of a convolution."""
    h, w, c = x.shape
    o, kh, kw, _ = op.kernel.shape
    return [h, w, c, o, kh, kw, *op.strides, *op.dilations, op.pads[0], op.pads[1], y.shape[0], y.shape[1],
            op.groups]


def dense_geometry(x: ir.Tensor, n: int) -> list[int]:
    """A dense layer on (rows, k) as a 1x1 convolution of a (rows x 1 x k) map."""
    k = x.channels
    return [x.rows, 1, k, n, 1, 1, 1, 1, 1, 1, 0, 0, x.rows, 1, 1]


def ternary(t: ir.Tensor) -> bool:
    return t.domain == ir.Domain.TERNARY


def buf(name: str, ctype: str | None = None) -> Arg:
    return Arg("buffer", name, 0, ctype)


def mask(planner, name: str) -> Arg:
    """The mask plane of a ternary tensor (plane 1), NULL for a bipolar one."""
    return Arg("buffer", name, 1, "uint32_t") if ternary(planner.tensor(name)) else NULL


# ---------------------------------------------------------------- layers and their output transforms


@dataclass
class Output:
    """What a layer's kernel stores (struct bnn_output) and where: the output tensor,
    the residual tensor its chain adds (if any)."""

    tensor: str
    struct: list
    other: str | None = None
    ternary: bool = False


FLOAT_OP_ENUM = {**KIND_ENUM, "relu": "BNN_RELU", "clip": "BNN_CLIP", "add_tensor": "BNN_ADD_TENSOR"}


def plain_output(op: ir.Op, binary: bool) -> Output:
    """The sums themselves: int32 for a binary layer, float otherwise."""
    return Output(op.output, ["BNN_OUT_INT32" if binary else "BNN_OUT_FLOAT", 0, None, None, None, None, 0, 0])


def fused_output(planner, fused: ir.Fused) -> Output:
    """The chain of a fused layer as its output transform: float ops in order, then
    (if the chain ends in a threshold of the int32 sums) the packed decisions, or
    (if it ends in a Transpose to channels first) the floats stored channel-major."""
    stem, layer = planner.stem, fused.layer
    y = planner.tensor(layer.output)
    channels = y.channels
    ops, other = [], None
    for n, op in enumerate(fused.chain):
        if isinstance(op, ir.ChannelOp):
            c, clen = planner.per_element(op.const, planner.tensor(op.output))
            name = planner.array(f"{stem}_{n}_{op.kind}", packing.padded_channels(c.astype(np.float32), channels),
                                 "float", f"{op.origin}: {op.kind} constant")
            ops.append([KIND_ENUM[op.kind], clen, name])
        elif isinstance(op, ir.Clip):
            name = planner.array(f"{stem}_{n}_clip", np.array([max(op.lo, -3.4e38), min(op.hi, 3.4e38)]), "float",
                                 f"{op.origin}: clip bounds")
            ops.append(["BNN_CLIP", 2, name])
        elif isinstance(op, ir.Relu):
            ops.append(["BNN_RELU", 1, None])
        elif isinstance(op, ir.Add):
            other = next(i for i in fused.inputs[1:] if i in op.inputs)
            ops.append(["BNN_ADD_TENSOR", 1, None])
    ops_name = planner.struct(f"{stem}_ops", "struct bnn_float_op", ops, f"{fused.origin}: output chain",
                              count=len(ops)) if ops else None
    last = fused.chain[-1]
    if isinstance(last, ir.Transpose):  # one plane per channel: the model's own NCHW output
        plane = planner.tensor(fused.output).size // channels
        return Output(fused.output, ["BNN_OUT_FLOAT", len(ops), ops_name, None, None, None, 0, plane], other)
    if not isinstance(last, ir.Threshold):
        return Output(fused.output, ["BNN_OUT_FLOAT", len(ops), ops_name, None, None, None, 0, 0], other)
    out = planner.tensor(fused.output)
    lo, hi, flip, _ = threshold_bounds(planner, last, out)
    return Output(fused.output, ["BNN_OUT_BITS", len(ops), ops_name, lo, hi, flip, int(ternary(out)), 0], other,
                  ternary(out))


def threshold_bounds(planner, op: ir.Threshold, y: ir.Tensor) -> tuple[str, str, str, int]:
    """(lo, hi, flip, t_len) of a threshold as bounds on the value itself
    (runtime/bnn_bits.h): per channel, padded to whole blocks, or per element."""
    flip, t_zero, t_pos = op.flip.astype(bool), op.t_zero.astype(np.int64), op.t_pos.astype(np.int64)
    if all(y.per_channel(a) for a in (flip, t_zero, t_pos)):
        t_len = y.channels
        flip, t_zero, t_pos = (packing.padded_channels(np.broadcast_to(np.reshape(a, -1), (t_len,)), t_len)
                               for a in (flip, t_zero, t_pos))
    else:
        t_len = y.size
        flip, t_zero, t_pos = (np.broadcast_to(a, y.shape).reshape(-1) for a in (flip, t_zero, t_pos))
    lo, hi = packing.threshold_bounds(flip, t_zero, t_pos)
    what = "float keys" if op.float_input else "sums"
    lo_name = planner.array(f"{planner.stem}_lo", lo, "int32_t",
                            f"{op.origin}: -1 below this ({what}; from hi where flipped)", "thresholds")
    hi_name = lo_name if np.array_equal(lo, hi) else planner.array(
        f"{planner.stem}_hi", hi, "int32_t", f"{op.origin}: end of the zero interval", "thresholds")
    flip_name = planner.array(f"{planner.stem}_flip", flip.astype(np.uint8), "uint8_t",
                              f"{op.origin}: 1 = decreasing", "thresholds")
    return lo_name, hi_name, flip_name, t_len


def _bconv(planner, op: ir.Op, kind: str, signs_ohwi: np.ndarray, geom: list[int], pad_mode: int, macs: int,
           out: Output, step_op: ir.Op) -> Step:
    """A binary layer (binary input, binary kernel) as bnn_bconv2d."""
    stem = planner.stem
    o = signs_ohwi.shape[0]
    kernel = planner.array(f"{stem}_weights", packing.blocked_binary_kernel(signs_ohwi), "uint32_t",
                           f"{op.origin}: binary kernel, {o} x {signs_ohwi[0].size} bits, blocked by 16 outputs")
    popcounts = planner.array(f"{stem}_tap_popcounts", packing.tap_popcounts(signs_ohwi), "int16_t",
                              f"{op.origin}: -1 weights per tap (one padding)") if pad_mode == 1 else None
    layer = planner.struct(stem, "struct bnn_bconv2d", [geom, pad_mode, kernel, popcounts, out.struct],
                           f"{op.origin}: geometry, padding, kernel, output transform")
    y_type = "int32_t" if out.struct[0] == "BNN_OUT_INT32" else "uint32_t" if out.struct[0] == "BNN_OUT_BITS"         else "float"
    call = Call("bnn_bconv2d", [("layer", Arg("address", layer)), ("x", buf(op.inputs[0], "uint32_t")),
                                ("x_mask", mask(planner, op.inputs[0])),
                                ("other", buf(out.other, "float") if out.other else NULL),
                                ("y", buf(out.tensor, y_type)), ("y_mask", mask(planner, out.tensor))])
    return planner.step(step_op, kind, [call], layer=BINARY, binary_macs=macs)


def _fconv(planner, op: ir.Op, kind: str, kernel_ohwi: np.ndarray, binary: bool, geom: list[int],
           pad_value: float, layer_kind: str, macs: int, out: Output, step_op: ir.Op) -> Step:
    """A layer on a real input (real kernel, or binary kernel: BWN) as bnn_fconv2d."""
    stem = planner.stem
    o = kernel_ohwi.shape[0]
    if binary:
        kernel = planner.array(f"{stem}_weights", packing.blocked_binary_kernel(kernel_ohwi), "uint32_t",
                               f"{op.origin}: binary kernel, {o} x {kernel_ohwi[0].size} bits, blocked by 16 outputs")
    else:
        kernel = planner.array(f"{stem}_weights", packing.blocked_real_kernel(kernel_ohwi), "float",
                               f"{op.origin}: real kernel, {o} x {kernel_ohwi[0].size}, blocked by 16 outputs")
    layer = planner.struct(stem, "struct bnn_fconv2d",
                           [geom, c_float(pad_value), None if binary else kernel, kernel if binary else None,
                            out.struct], f"{op.origin}: geometry, pad value, kernel, output transform")
    call = Call("bnn_fconv2d", [("layer", Arg("address", layer)), ("x", buf(op.inputs[0], "float")),
                                ("other", buf(out.other, "float") if out.other else NULL),
                                ("y", buf(out.tensor, "float"))])
    return planner.step(step_op, kind, [call], layer=layer_kind, real_macs=macs)


def lower_conv2d(planner, op: ir.Conv2D, fused: ir.Fused | None = None) -> Step:
    x, y = planner.tensor(op.inputs[0]), planner.tensor(op.output)
    geom = geometry(x, y, op)
    macs = y.size * op.fan_in
    if runs_bit_planes(op, x):
        return levels_lowering.lower_kconv(planner, op, fused, "conv", op.signs, geom, int(op.pad_value), macs)
    binary = op.signs is not None and op.packed_input
    out = fused_output(planner, fused) if fused else plain_output(op, binary)
    if binary:
        if op.pad_value not in (0.0, 1.0) and any(op.pads):
            raise NotImplementedError(f"padding a binarized tensor with {op.pad_value}")
        return _bconv(planner, op, "conv_xnor", op.signs, geom, int(op.pad_value == 1.0), macs, out, fused or op)
    bwn = op.signs is not None
    return _fconv(planner, op, "conv_float", op.kernel, bwn, geom, op.pad_value, BIN_WEIGHTS if bwn else REAL, macs,
                  out, fused or op)


def lower_conv3d(planner, op: ir.Conv3D) -> Step:
    """A 3-D convolution: its kernel packed as a 2-D one with kd*kh*kw taps."""
    x, y = planner.tensor(op.inputs[0]), planner.tensor(op.output)
    stem = planner.stem
    o, kd, kh, kw, cg = op.kernel.shape
    taps = op.kernel.reshape(o, kd * kh, kw, cg)
    geom = [*x.shape, o, kd, kh, kw, *op.strides, *op.dilations, *op.pads[:3], *y.shape[:3], op.groups]
    macs = y.size * op.fan_in
    if op.signs is not None and op.packed_input:
        if op.pad_value not in (0.0, 1.0) and any(op.pads):
            raise NotImplementedError(f"padding a binarized tensor with {op.pad_value}")
        one_padding = op.pad_value == 1.0 and any(op.pads)
        kernel = planner.array(f"{stem}_weights", packing.blocked_binary_kernel(taps), "uint32_t",
                               f"{op.origin}: binary 3-D kernel, {o} x {taps[0].size} bits, blocked by 16 outputs")
        popcounts = planner.array(f"{stem}_tap_popcounts", packing.tap_popcounts(taps), "int16_t",
                                  f"{op.origin}: -1 weights per tap (one padding)") if one_padding else None
        layer = planner.struct(stem, "struct bnn_bconv3d",
                               [geom, int(one_padding), kernel, popcounts, plain_output(op, True).struct],
                               f"{op.origin}: geometry, padding, kernel, output transform")
        call = Call("bnn_bconv3d", [("layer", Arg("address", layer)), ("x", buf(op.inputs[0], "uint32_t")),
                                    ("x_mask", mask(planner, op.inputs[0])), ("y", buf(op.output, "int32_t")),
                                    ("y_mask", NULL)])
        return planner.step(op, "conv3d_xnor", [call], layer=BINARY, binary_macs=macs)
    binary = op.signs is not None
    if binary:
        kernel = planner.array(f"{stem}_weights", packing.blocked_binary_kernel(taps), "uint32_t",
                               f"{op.origin}: binary 3-D kernel, {o} x {taps[0].size} bits, blocked by 16 outputs")
    else:
        kernel = planner.array(f"{stem}_weights", packing.blocked_real_kernel(taps), "float",
                               f"{op.origin}: real 3-D kernel, {o} x {taps[0].size}, blocked by 16 outputs")
    layer = planner.struct(stem, "struct bnn_fconv3d",
                           [geom, c_float(op.pad_value), None if binary else kernel, kernel if binary else None,
                            plain_output(op, False).struct],
                           f"{op.origin}: geometry, pad value, kernel, output transform")
    call = Call("bnn_fconv3d", [("layer", Arg("address", layer)), ("x", buf(op.inputs[0], "float")),
                                ("y", buf(op.output, "float")), ("y_mask", NULL)])
    return planner.step(op, "conv3d_float", [call], layer=BIN_WEIGHTS if binary else REAL, real_macs=macs)


def lower_binary_dense(planner, op: ir.BinaryDense, fused: ir.Fused | None = None) -> Step:
    x = planner.tensor(op.inputs[0])
    n = op.signs.shape[1]
    kernel = np.ascontiguousarray(op.signs.T).reshape(n, 1, 1, op.fan_in)
    geom = dense_geometry(x, n)
    macs = x.rows * n * op.fan_in
    if runs_bit_planes(op, x):
        return levels_lowering.lower_kconv(planner, op, fused, "dense", kernel, geom, 0, macs)
    out = fused_output(planner, fused) if fused else plain_output(op, op.packed_input)
    if op.packed_input:
        return _bconv(planner, op, "dense_xnor", kernel, geom, 0, macs, out, fused or op)
    return _fconv(planner, op, "dense_bwn", kernel, True, geom, 0.0, BIN_WEIGHTS, macs, out, fused or op)


def lower_dense(planner, op: ir.Dense, fused: ir.Fused | None = None) -> Step:
    x = planner.tensor(op.inputs[0])
    k, n = op.weight.shape
    macs = x.rows * n * k
    if x.domain.is_packed:  # binary activations on a real kernel (BAN)
        w = planner.array(f"{planner.stem}_weights", np.ascontiguousarray(op.weight.T), "float",
                          f"{op.origin}: real kernel, {n} x {k}")
        call = Call("bnn_dense_ban", [("x", buf(op.inputs[0], "uint32_t")), ("x_mask", mask(planner, op.inputs[0])),
                                      ("rows", value(x.rows)), ("k_in", value(k)), ("w", value(w)),
                                      ("n", value(n)), ("y", buf(op.output, "float"))])
        return planner.step(op, "dense_ban", [call], layer=BIN_INPUT, real_macs=macs)
    kernel = np.ascontiguousarray(op.weight.T).reshape(n, 1, 1, k)
    out = fused_output(planner, fused) if fused else plain_output(op, False)
    return _fconv(planner, op, "dense_float", kernel, False, dense_geometry(x, n), 0.0, REAL, macs, out, fused or op)


def lower_fused(planner, op: ir.Fused) -> Step:
    """A layer and its chain: the layer's lowering with the chain as its output transform."""
    return LOWERINGS[type(op.layer)](planner, op.layer, op)


# ---------------------------------------------------------------- binarizers and elementwise ops


def lower_threshold(planner, op: ir.Threshold) -> Step:
    y = planner.tensor(op.output)
    if not op.sign_like:
        return levels_lowering.lower_levels_threshold(planner, op)
    lo, hi, flip, t_len = threshold_bounds(planner, op, y)
    call = Call("bnn_threshold", [
        ("src", buf(op.inputs[0])), ("src_is_float", value(int(op.float_input))),
        ("channel_major", value(int(op.channel_major_input))), ("rows", value(y.rows)),
        ("channels", value(y.channels)), ("lo", value(lo)), ("hi", value(hi)), ("flip", value(flip)),
        ("t_len", value(t_len)), ("bits", buf(op.output, "uint32_t")), ("mask", mask(planner, op.output))])
    return planner.step(op, "threshold", [call])


def lower_cast(planner, op: ir.Cast) -> Step | None:
    x = planner.tensor(op.inputs[0])
    if x.domain == ir.Domain.INT:
        call = Call("bnn_int_to_float", [("x", buf(op.inputs[0], "int32_t")), ("n", value(x.size)),
                                         ("y", buf(op.output, "float"))])
        return planner.step(op, "int_to_float", [call], in_place=True)
    if x.domain.is_packed and not levels_lowering.is_plain(x):
        return levels_lowering.lower_unpack_levels(planner, op)
    if x.domain.is_packed:
        call = Call("bnn_unpack", [("bits", buf(op.inputs[0], "uint32_t")), ("mask", mask(planner, op.inputs[0])),
                                   ("rows", value(x.rows)), ("channels", value(x.channels)),
                                   ("out", buf(op.output, "float"))])
        return planner.step(op, "unpack", [call])
    planner.alias(op.output, op.inputs[0])
    return None


def lower_channel_op(planner, op: ir.ChannelOp) -> Step:
    y = planner.tensor(op.output)
    c, clen = planner.per_element(op.const, y)
    const = planner.array(f"{planner.stem}_{op.kind}", c.astype(np.float32), "float", f"{op.origin}: {op.kind} constant")
    call = Call("bnn_channel_op", [("x", buf(op.inputs[0], "float")), ("n", value(y.size)), ("c", value(const)),
                                   ("c_len", value(clen)), ("kind", value(KIND_ENUM[op.kind])),
                                   ("y", buf(op.output, "float"))])
    return planner.step(op, "channel_op", [call], in_place=True)


def lower_relu(planner, op: ir.Relu) -> Step:
    n = planner.tensor(op.output).size
    call = Call("bnn_relu", [("x", buf(op.inputs[0], "float")), ("n", value(n)), ("y", buf(op.output, "float"))])
    return planner.step(op, "relu", [call], in_place=True)


def lower_prelu(planner, op: ir.PRelu) -> Step:
    y = planner.tensor(op.output)
    s, slen = planner.per_element(op.slope, y)
    slope = planner.array(f"{planner.stem}_slope", s.astype(np.float32), "float", f"{op.origin}: PRelu slope")
    call = Call("bnn_prelu", [("x", buf(op.inputs[0], "float")), ("n", value(y.size)), ("s", value(slope)),
                              ("s_len", value(slen)), ("y", buf(op.output, "float"))])
    return planner.step(op, "prelu", [call], in_place=True)


def lower_clip(planner, op: ir.Clip) -> Step:
    n = planner.tensor(op.output).size
    call = Call("bnn_clip", [("x", buf(op.inputs[0], "float")), ("n", value(n)),
                             ("lo", value(c_float(max(op.lo, -3.4e38)))), ("hi", value(c_float(min(op.hi, 3.4e38)))),
                             ("y", buf(op.output, "float"))])
    return planner.step(op, "clip", [call], in_place=True)


def lower_softmax(planner, op: ir.Softmax) -> Step:
    y = planner.tensor(op.output)
    planner.plan.needs_softmax = True
    call = Call("bnn_softmax", [("x", buf(op.inputs[0], "float")), ("rows", value(y.rows)),
                                ("channels", value(y.channels)), ("log", value(int(op.log))),
                                ("y", buf(op.output, "float"))])
    return planner.step(op, "softmax", [call], in_place=True)


# ---------------------------------------------------------------- data movement


def lower_reshape(planner, op: ir.Reshape) -> None:
    planner.alias(op.output, op.inputs[0])
    return None


POOL_DIVISOR = {"sum": "BNN_POOL_SUM", "avg": "BNN_POOL_AVG"}


def pool_geometry(x: ir.Tensor, y: ir.Tensor, op) -> list[int]:
    """struct bnn_pool_geometry of a Pool2D (depth 1) or Pool3D."""
    if isinstance(op, ir.Pool3D):
        (d, h, w, c), (od, oh, ow, _) = x.shape, y.shape
        (kd, kh, kw), (sd, sh, sw) = op.kernel, op.strides
        pf, pt, pl, pk, pb, pr = op.pads
    else:
        (h, w, c), (oh, ow, _) = x.shape, y.shape
        (kh, kw), (sh, sw) = op.kernel, op.strides
        pt, pl, pb, pr = op.pads
        d = kd = sd = od = 1
        pf = pk = 0
    return [h, w, c, kh, kw, sh, sw, pt, pl, oh, ow, pb, pr, d, kd, sd, pf, od, pk]


def lower_pool(planner, op: ir.Pool2D | ir.Pool3D) -> Step:
    x, y = planner.tensor(op.inputs[0]), planner.tensor(op.output)
    geom = planner.struct(f"{planner.stem}_geometry", "struct bnn_pool_geometry", pool_geometry(x, y, op),
                          f"{op.origin}: h w c, window, strides, pad top/left, oh ow, pad bottom/right, "
                          f"depth d kd sd, pad front, od, pad back")
    g = ("g", Arg("address", geom))
    if op.kind != "max":
        divisor = "BNN_POOL_AVG_INCLUDE_PAD" if op.kind == "avg" and op.count_include_pad else POOL_DIVISOR[op.kind]
        call = Call("bnn_sumpool_float", [g, ("x", buf(op.inputs[0], "float")), ("divisor", value(divisor)),
                                          ("y", buf(op.output, "float"))])
        return planner.step(op, f"{op.kind}pool", [call])
    if x.domain.is_packed and ir.levels.standard(x.levels) is None:
        return levels_lowering.lower_maxpool_levels(planner, op, g)
    if x.domain.is_packed:
        take_min = NULL
        if op.min_channels is not None:
            words = packing.pack_rows(np.where(op.min_channels, -1, 1))
            take_min = value(planner.array(f"{planner.stem}_min", words, "uint32_t",
                                           f"{op.origin}: channels that take the minimum (a decreasing threshold)"))
        call = Call("bnn_maxpool_bits", [g, ("x", buf(op.inputs[0], "uint32_t")), ("x_mask", mask(planner, op.inputs[0])),
                                         ("min_words", take_min), ("y", buf(op.output, "uint32_t")),
                                         ("y_mask", mask(planner, op.output))])
        return planner.step(op, "maxpool_bits", [call])
    is_float = x.domain == ir.Domain.FLOAT
    call = Call("bnn_maxpool_words", [g, ("x", buf(op.inputs[0])), ("is_float", value(int(is_float))),
                                      ("y", buf(op.output))])
    return planner.step(op, "maxpool_float" if is_float else "maxpool_int", [call])


def lower_transpose(planner, op: ir.Transpose) -> Step:
    x = planner.tensor(op.inputs[0])
    if x.domain.is_packed:
        raise NotImplementedError(f"transposing the binarized tensor {op.inputs[0]} ({op.origin})")
    if len(x.shape) > 4:
        raise NotImplementedError("transpose of more than 4 axes")
    dims = planner.array(f"{planner.stem}_dims", np.array(x.shape), "int", f"{op.origin}: input dims")
    perm = planner.array(f"{planner.stem}_perm", np.array(op.perm), "int", f"{op.origin}: permutation")
    call = Call("bnn_transpose", [("x", buf(op.inputs[0], "uint32_t")), ("rank", value(len(x.shape))),
                                  ("dims", value(dims)), ("perm", value(perm)), ("y", buf(op.output, "uint32_t"))])
    return planner.step(op, "transpose", [call])


def lower_pad(planner, op: ir.Pad) -> Step:
    x = planner.tensor(op.inputs[0])
    if x.domain != ir.Domain.FLOAT or len(x.shape) != 3 or op.pads[2] or op.pads[5]:
        raise NotImplementedError(f"a Pad that is not a spatial pad of real values ({op.origin})")
    h, w, c = x.shape
    call = Call("bnn_pad_hw", [("x", buf(op.inputs[0], "float")), ("h", value(h)), ("w", value(w)), ("c", value(c)),
                               ("pt", value(op.pads[0])), ("pl", value(op.pads[1])), ("pb", value(op.pads[3])),
                               ("pr", value(op.pads[4])), ("value", value(c_float(op.value))),
                               ("y", buf(op.output, "float"))])
    return planner.step(op, "pad", [call])


def lower_dilate(planner, op: ir.Dilate) -> Step:
    x, y = planner.tensor(op.inputs[0]), planner.tensor(op.output)
    h, w, c = x.shape
    geom = [("h", value(h)), ("w", value(w)), ("c", value(c)), ("sh", value(op.strides[0])),
            ("sw", value(op.strides[1])), ("pt", value(op.pads[0])), ("pl", value(op.pads[1])),
            ("oh", value(y.shape[0])), ("ow", value(y.shape[1]))]
    if x.domain.is_packed:
        call = Call("bnn_stuff_bits", [("x", buf(op.inputs[0], "uint32_t")), ("x_mask", mask(planner, op.inputs[0])),
                                       *geom, ("y", buf(op.output, "uint32_t")), ("y_mask", mask(planner, op.output))])
    else:
        call = Call("bnn_stuff_float", [("x", buf(op.inputs[0], "float")), *geom, ("y", buf(op.output, "float"))])
    return planner.step(op, "stuff", [call])


def lower_add(planner, op: ir.Add) -> Step:
    n = planner.tensor(op.output).size
    call = Call("bnn_add", [("a", buf(op.inputs[0], "float")), ("b", buf(op.inputs[1], "float")), ("n", value(n)),
                            ("y", buf(op.output, "float"))])
    return planner.step(op, "add", [call])


def lower_arith(planner, op: ir.Arith) -> Step:
    y = planner.tensor(op.output)
    if len(y.shape) > 5:
        raise NotImplementedError(f"arithmetic between activations of rank {len(y.shape)} ({op.origin})")
    steps = []
    for name in op.inputs:  # element strides, 0 along broadcast axes
        shape = planner.tensor(name).shape
        strides = np.cumprod((1,) + shape[:0:-1])[::-1]
        steps.append(np.where(np.array(shape) == 1, 0, strides))
    dims = planner.array(f"{planner.stem}_dims", np.array(y.shape), "int", f"{op.origin}: output dims")
    a_step = planner.array(f"{planner.stem}_a_step", steps[0], "int", f"{op.origin}: strides of the first input")
    b_step = planner.array(f"{planner.stem}_b_step", steps[1], "int", f"{op.origin}: strides of the second input")
    call = Call("bnn_arith", [("a", buf(op.inputs[0], "float")), ("b", buf(op.inputs[1], "float")),
                              ("kind", value(KIND_ENUM[op.kind])), ("rank", value(len(y.shape))),
                              ("dims", value(dims)), ("a_step", value(a_step)), ("b_step", value(b_step)),
                              ("y", buf(op.output, "float"))])
    return planner.step(op, "arith", [call], in_place=True)


def lower_concat(planner, op: ir.Concat) -> Step:
    y = planner.tensor(op.output)
    if y.domain.is_packed:
        return levels_lowering.lower_concat_bits(planner, op)
    axis = op.axis % len(y.shape)
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
    calls, offset = [], 0
    for name in op.inputs:
        chunk = planner.tensor(name).shape[axis] * inner
        calls.append(Call("bnn_concat_part", [("x", buf(name, "float")), ("outer", value(outer)),
                                              ("chunk", value(chunk)), ("y_chunk", value(y.shape[axis] * inner)),
                                              ("offset", value(offset)), ("y", buf(op.output, "float"))]))
        offset += chunk
    return planner.step(op, "concat", calls)


def lower_round(planner, op: ir.Round) -> Step:
    raise NotImplementedError(f"Round of a value that is not bounded ({op.origin}): bnncompile takes Round "
                              f"as a quantizer, after a clip (as DoReFa writes it)")


from . import lowering_levels as levels_lowering  # noqa: E402 (its lowerings build on the pieces above)

Lowering = Callable[..., "Step | None"]

LOWERINGS: dict[type, Lowering] = {
    ir.Reshape: lower_reshape,
    ir.BinaryDense: lower_binary_dense,
    ir.Dense: lower_dense,
    ir.Conv2D: lower_conv2d,
    ir.Conv3D: lower_conv3d,
    ir.Threshold: lower_threshold,
    ir.Cast: lower_cast,
    ir.ChannelOp: lower_channel_op,
    ir.Relu: lower_relu,
    ir.Clip: lower_clip,
    ir.PRelu: lower_prelu,
    ir.Softmax: lower_softmax,
    ir.Pool2D: lower_pool,
    ir.Pool3D: lower_pool,
    ir.Transpose: lower_transpose,
    ir.Pad: lower_pad,
    ir.Add: lower_add,
    ir.Arith: lower_arith,
    ir.Dilate: lower_dilate,
    ir.Concat: lower_concat,
    ir.Fused: lower_fused,
    ir.Round: lower_round,
    ir.Relabel: lower_reshape,  # the same bits
}
