"""Random convolution / dense kernel cases for tests/c/kernel_driver.c, with
numpy's statement of what each must compute.

A case holds the layer's constants packed exactly as the compiler packs them
(bnncompile.codegen.packing), an input, an output transform, and `expected`:
the output planes as bytes, computed here in numpy (int32 sums, float32 chains
one rounding per op, decisions packed with pack_rows). Float cases with
`exact=False` use random floats: their sums depend on the summation order, so
they are compared between kernel variants only, not with numpy.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from bnncompile import ir
from bnncompile.codegen import packing
from bnncompile.ir import levels as lv

BCONV, FCONV, THRESHOLD, KCONV, LEVELS_THRESHOLD = 1, 2, 3, 4, 5
OUT_INT32, OUT_FLOAT, OUT_BITS, OUT_LEVELS = 0, 1, 2, 3
OPS = {"add": 0, "sub": 1, "rsub": 2, "mul": 3, "div": 4, "rdiv": 5, "relu": 6, "clip": 7, "add_tensor": 8}
F32 = np.float32


@dataclass
class Case:
    name: str
    kind: int
    geometry: list[int]
    pad_mode: int = 0
    pad_value: float = 0.0
    binary_kernel: int = 0
    out_kind: int = OUT_INT32
    ternary_out: int = 0
    channel_major: int = 0  # FLOAT/INT32 outputs stored y[o][pixel]; a threshold reading src[c][row]
    ops: list = field(default_factory=list)  # (name, constants or None)
    kernel: np.ndarray | None = None
    tap_popcounts: np.ndarray | None = None
    x: np.ndarray | None = None
    x_mask: np.ndarray | None = None
    other: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    flip: np.ndarray | None = None
    y_bytes: int = 0
    expected: bytes | None = None  # None: compare variants only
    # bit-plane layers (KCONV) and multi-thresholds (LEVELS_THRESHOLD)
    out_planes: int = 1
    x_coding: list | None = None  # struct bnn_coding: planes, base, coeffs
    w_coding: list | None = None
    pad_int: int = 0
    tap_sums: np.ndarray | None = None
    steps: np.ndarray | None = None  # levels out: bounds [t_len, n_steps]
    codes: np.ndarray | None = None

    @property
    def planes(self) -> int:
        if self.kind in (KCONV, LEVELS_THRESHOLD):
            return 1  # y_bytes covers every plane
        return 2 if self.ternary_out else 1

    def record(self) -> bytes:
        def blob(a):
            if a is None:
                return struct.pack("<i", 0)
            raw = np.ascontiguousarray(a).tobytes()
            return struct.pack("<i", len(raw)) + raw

        if self.kind == LEVELS_THRESHOLD:
            rows, channels, is_float, t_len = self.geometry
            return (struct.pack("<7i", LEVELS_THRESHOLD, rows, channels, is_float, t_len, self.steps.shape[1],
                                self.out_planes)
                    + blob(self.x) + blob(self.steps.astype(np.int32)) + blob(self.flip) + blob(self.codes)
                    + struct.pack("<i", self.y_bytes))
        if self.kind == KCONV:
            out = struct.pack("<i", KCONV) + struct.pack("<15i", *self.geometry)
            for coding in (self.x_coding, self.w_coding):
                out += struct.pack("<10i", coding[0], coding[1], *coding[2])
            out += struct.pack("<5i", self.pad_int, self.out_kind, self.channel_major, len(self.ops),
                               0 if self.steps is None else self.steps.shape[1])
            out += struct.pack("<i", self.out_planes)
            for name, const in self.ops:
                c = None if const is None else np.asarray(const, F32)
                out += struct.pack("<i", OPS[name]) + blob(c) + struct.pack("<i", 1 if c is None else c.size)
            for a in (self.kernel, self.tap_sums, self.x, self.other,
                      None if self.steps is None else self.steps.astype(np.int32), self.flip, self.codes):
                out += blob(a)
            return out + struct.pack("<i", self.y_bytes)
        if self.kind == THRESHOLD:
            rows, channels, is_float, t_len = self.geometry
            x = np.ascontiguousarray(self.x.T) if self.channel_major else self.x
            return (struct.pack("<7i", THRESHOLD, rows, channels, is_float, t_len, self.ternary_out,
                                self.channel_major) + blob(x)
                    + blob(self.lo) + blob(self.hi) + blob(self.flip) + struct.pack("<i", self.y_bytes))
        out = struct.pack("<i", self.kind) + struct.pack("<15i", *self.geometry)
        out += struct.pack("<i", self.pad_mode) + struct.pack("<f", self.pad_value)
        out += struct.pack("<5i", self.binary_kernel, self.out_kind, self.ternary_out, self.channel_major,
                           len(self.ops))
        for name, const in self.ops:
            c = None if const is None else np.asarray(const, F32)
            out += struct.pack("<i", OPS[name]) + blob(c) + struct.pack("<i", 1 if c is None else c.size)
        for a in (self.kernel, self.tap_popcounts, self.x, self.x_mask, self.other, self.lo, self.hi, self.flip):
            out += blob(a)
        return out + struct.pack("<i", self.y_bytes)


# ---------------------------------------------------------------- numpy semantics of the output transform


def apply_ops(ops, v: np.ndarray, other: np.ndarray | None) -> np.ndarray:
    """The float chain, float32, one rounding per op, constants per output channel (last axis)."""
    for name, c in ops:
        c = None if c is None else np.asarray(c, F32)
        with np.errstate(all="ignore"):
            if name == "add":
                v = v + c
            elif name == "sub":
                v = v - c
            elif name == "rsub":
                v = c - v
            elif name == "mul":
                v = v * c
            elif name == "div":
                v = v / c
            elif name == "rdiv":
                v = c / v
            elif name == "relu":
                v = np.where(v > 0, v, F32(0))
            elif name == "clip":
                v = np.minimum(np.maximum(v, c[0]), c[1])
            elif name == "add_tensor":
                v = v + other
        v = v.astype(F32)
    return v


def decide(v: np.ndarray, lo, hi, flip) -> tuple[np.ndarray, np.ndarray]:
    """(sign plane, mask plane) words of packed decisions on int values v [..., O]."""
    negative = np.where(flip.astype(bool), v >= hi, v < lo)
    zero = (lo <= v) & (v < hi)
    o = v.shape[-1]
    sign = packing.pack_rows(np.where(negative, -1, 1).reshape(-1, o))
    nonzero = packing.pack_rows(np.where(~zero | negative, -1, 1).reshape(-1, o))
    return sign, nonzero


def finish(case: Case, sums: np.ndarray, is_int: bool, rng) -> Case:
    """Fills the output transform's tables and `expected` from the layer's sums [oh, ow, O]."""
    o = sums.shape[-1]

    def stored(values):  # as the kernel lays them out: channels innermost, or one plane per channel
        return np.moveaxis(values, -1, 0) if case.channel_major else values

    if case.out_kind == OUT_INT32:
        case.y_bytes = sums.size * 4
        case.expected = np.ascontiguousarray(stored(sums.astype(np.int32))).tobytes()
        return case
    if any(name == "add_tensor" for name, _ in case.ops):
        case.other = rng.normal(0, 4, sums.shape).astype(F32)
    values = apply_ops(case.ops, sums.astype(F32), case.other) if case.out_kind == OUT_FLOAT else sums
    # the C reads 16 lanes of per-channel tables: padded to whole blocks, as the compiler pads them
    case.ops = [(name, c if c is None or name == "clip" else packing.padded_channels(np.asarray(c, F32), o))
                for name, c in case.ops]
    if case.out_kind == OUT_FLOAT:
        case.y_bytes = values.size * 4
        case.expected = np.ascontiguousarray(stored(np.asarray(values, F32))).tobytes()
        return case
    assert is_int and not case.ops, "packed decisions are made on the int32 sums of a binary layer"
    v = values.astype(np.int64)
    # thresholds near the values actually taken, so decisions go both ways
    pick = v.reshape(-1, o)[rng.integers(0, v.size // o, o), np.arange(o)]
    lo = pick + rng.integers(-1, 1, o)
    hi = lo + (rng.integers(0, 3, o) if case.ternary_out else 0)
    flip = rng.integers(0, 2, o).astype(np.uint8)
    case.lo = packing.padded_channels(lo.astype(np.int32), o)
    case.hi = packing.padded_channels(hi.astype(np.int32), o)
    case.flip = packing.padded_channels(flip, o)
    sign, nonzero = decide(v, lo, hi, flip)
    case.y_bytes = sign.size * 4
    case.expected = sign.tobytes() + (nonzero.tobytes() if case.ternary_out else b"")
    return case


# ---------------------------------------------------------------- cases


def conv_geometry(h, w, c, o, kh, kw, stride, dilation, pads, groups):
    op = ir.Conv2D(inputs=("x",), output="y", origin="t", weight=np.zeros((o, kh, kw, c // groups), F32),
                   strides=stride, dilations=dilation, pads=pads, groups=groups)
    oh, ow, _ = op.out_shape((h, w, c))
    return [h, w, c, o, kh, kw, *stride, *dilation, pads[0], pads[1], oh, ow, groups], (oh, ow)


def bn_edges(rng, o: int) -> list:
    """A batchnorm (multiply, add) whose constants hit the soft-float chain's hard cases
    (runtime/bnn_softfloat.h): exact and near cancellation of the product by the bias,
    halfway products, products that overflow or fall below the normal range, subnormal,
    zero and signed-zero constants."""
    scale = np.array([2.0 ** -3, 1.0, 3.0, 1e38, 2.0 ** -140, 0.1, 1 / 3, -0.7, 2.0 ** -126, 1.5, -2.0, 7.0,
                      0.75, 1 + 2.0 ** -23, 1 - 2.0 ** -24, 3e-39, 2.0 ** 100, -1e-30, 0.0, -0.0], F32)
    scale = np.concatenate([scale, rng.normal(0, 1, o - scale.size).astype(F32)])
    k = rng.choice([0, 2, 4, -6, 8, -10], o).astype(F32)
    k[3] = 0.0
    bias = (-scale * k).astype(F32)  # the product of a sum k cancels exactly
    bias[3] = F32(1.0)  # (not -inf: inf - inf is a NaN whose bits differ between soft and hard float)
    bias[1::5] = np.nextafter(bias[1::5], F32(1))  # nearly
    bias[2] = F32(0.0)
    bias[4] = F32(-0.0)
    bias[6] = F32(2.0 ** -126)
    bias[9] = F32(1e-45)  # subnormal
    bias[11] = F32(3.4e38)
    bias[13] = F32(0.5)  # 1 + 2^-23 times an odd sum: halfway cases
    bias[16] = F32(-1e38)
    return [("mul", scale), ("add", bias)]


def bconv_case(rng, name, h, w, c, o, kh, kw, stride=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0), groups=1,
               pad_mode=0, ternary_in=False, out_kind=OUT_INT32, ops=(), ternary_out=False, channel_major=False) -> Case:
    geometry, _ = conv_geometry(h, w, c, o, kh, kw, stride, dilation, pads, groups)
    signs = rng.choice([-1, 1], (o, kh, kw, c // groups)).astype(np.int8)
    x = rng.choice([-1, 1], (h, w, c))
    if ternary_in:
        x = x * rng.choice([0, 1], x.shape, p=[0.3, 0.7])
    op = ir.Conv2D(inputs=("x",), output="y", origin="t", signs=signs, strides=stride, dilations=dilation,
                   pads=pads, groups=groups, pad_value=float(pad_mode), packed_input=True)
    sums = op.reference(x[None].astype(F32))[0]
    case = Case(name, BCONV, geometry, pad_mode=pad_mode, out_kind=out_kind, ternary_out=int(ternary_out),
                channel_major=int(channel_major),
                ops=list(ops), kernel=packing.blocked_binary_kernel(signs),
                tap_popcounts=packing.tap_popcounts(signs) if pad_mode else None,
                x=packing.pack_rows(x), x_mask=packing.pack_rows(np.where(x != 0, -1, 1)) if ternary_in else None)
    return finish(case, sums, True, rng)


def fconv_case(rng, name, h, w, c, o, kh, kw, stride=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0), groups=1,
               binary=False, pad_value=0.0, exact=True, out_kind=OUT_FLOAT, ops=(), ternary_out=False,
               channel_major=False) -> Case:
    geometry, _ = conv_geometry(h, w, c, o, kh, kw, stride, dilation, pads, groups)
    shape = (o, kh, kw, c // groups)
    if binary:
        kernel = rng.choice([-1, 1], shape).astype(np.int8)
        packed = packing.blocked_binary_kernel(kernel)
    else:
        kernel = (rng.integers(-4, 5, shape) if exact else rng.normal(0, 1, shape)).astype(F32)
        packed = packing.blocked_real_kernel(kernel)
    x = (rng.integers(-8, 9, (h, w, c)) if exact else rng.normal(0, 2, (h, w, c))).astype(F32)
    op = ir.Conv2D(inputs=("x",), output="y", origin="t", weight=kernel.astype(F32), strides=stride,
                   dilations=dilation, pads=pads, groups=groups, pad_value=pad_value)
    sums = op.reference(x[None])[0]  # exact for small integers, whatever the order
    case = Case(name + ("-exact" if exact else ""), FCONV, geometry, pad_value=pad_value, binary_kernel=int(binary),
                out_kind=out_kind, ternary_out=int(ternary_out), ops=list(ops), kernel=packed, x=x,
                channel_major=int(channel_major))
    case = finish(case, sums, False, rng)
    if not exact:
        case.expected = None
    return case


def threshold_case(rng, name, rows, channels, is_float, per_element=False, ternary_out=False,
                   channel_major=False) -> Case:
    """A threshold of int32 sums or of floats (on their keys), bounds per channel (padded) or per element."""
    if is_float:
        x = rng.normal(0, 3, (rows, channels)).astype(F32)
        x.reshape(-1)[:4] = [0.0, -0.0, np.inf, -np.inf]
        v = ir.float_key(x)
    else:
        x = rng.integers(-50, 51, (rows, channels)).astype(np.int32)
        v = x.astype(np.int64)
    shape = (rows, channels) if per_element else (channels,)
    lo = v.reshape(-1)[rng.integers(0, v.size, shape)] + rng.integers(-1, 1, shape)
    hi = lo + (rng.integers(0, 3, shape) if ternary_out else 0)
    flip = rng.integers(0, 2, shape).astype(np.uint8)
    sign, nonzero = decide(v, np.broadcast_to(lo, v.shape), np.broadcast_to(hi, v.shape), np.broadcast_to(flip, v.shape))
    pad = (lambda a: a.reshape(-1)) if per_element else (lambda a: packing.padded_channels(a, channels))
    return Case(name, THRESHOLD, [rows, channels, int(is_float), lo.size], ternary_out=int(ternary_out), x=x,
                channel_major=int(channel_major),
                lo=pad(lo.astype(np.int32)), hi=pad(hi.astype(np.int32)), flip=pad(flip), y_bytes=sign.size * 4,
                expected=sign.tobytes() + (nonzero.tobytes() if ternary_out else b""))


def coding_of(levels) -> list:
    return [levels.planes, levels.base, list(levels.coeffs) + [0] * (lv.MAX_PLANES - levels.planes)]


def multi_threshold(rng, v: np.ndarray, levels, per_element: bool = False):
    """Random multi-threshold rows near the values v [..., C] takes: (bounds [t_len, L-1] on v,
    flip [t_len], the packed output planes as bytes). Steps t_k are on u = flip ? -v : v; the
    kernels hold bounds on v itself: t_k, or 1 - t_k where flipped (v < 1 - t <=> -v >= t)."""
    c = v.shape[-1]
    n = levels.count - 1
    shape = v.shape if per_element else (c,)
    flip = rng.integers(0, 2, shape).astype(np.uint8)
    u = np.where(flip.astype(bool), -v, v)
    flat = u.reshape(-1)
    steps = np.sort(flat[rng.integers(0, flat.size, shape + (n,))] + rng.integers(-1, 2, shape + (n,)), axis=-1)
    count = (u[..., None] >= steps).sum(axis=-1)
    bounds = np.where(flip.astype(bool)[..., None], 1 - steps, steps)
    planes = levels.encode(np.asarray(levels.reals, F32)[count].reshape(-1, c))
    return bounds.reshape(-1, n), flip.reshape(-1), planes.tobytes()


def kconv_case(rng, name, h, w, c, o, kh, kw, x_levels, w_levels, stride=(1, 1), dilation=(1, 1),
               pads=(0, 0, 0, 0), pad=0, out_kind=OUT_INT32, ops=(), out_levels=None, channel_major=False) -> Case:
    """A bit-plane layer: input and kernel random levels of the given codings."""
    geometry, _ = conv_geometry(h, w, c, o, kh, kw, stride, dilation, pads, 1)
    ints = rng.choice(np.asarray(w_levels.ints), (o, kh, kw, c)).astype(np.int8)
    x = rng.choice(np.asarray(x_levels.ints), (h, w, c))
    op = ir.Conv2D(inputs=("x",), output="y", origin="t", signs=ints, strides=stride, dilations=dilation,
                   pads=pads, pad_value=float(pad), packed_input=True, weight_levels=w_levels)
    sums = op.reference(x[None].astype(F32))[0].astype(np.int64)
    case = Case(name, KCONV, geometry, out_kind=out_kind, ops=list(ops), pad_int=pad, channel_major=int(channel_major),
                kernel=packing.blocked_level_kernel(ints, w_levels), tap_sums=packing.tap_sums(ints),
                x=x_levels.encode(x.astype(F32)), x_coding=coding_of(x_levels), w_coding=coding_of(w_levels))
    if out_kind != OUT_LEVELS:
        return finish(case, sums, True, rng)
    bounds, flip, planes = multi_threshold(rng, sums, out_levels)
    case.steps = np.concatenate([bounds, np.zeros((len(packing.padded_channels(flip, o)) - o, bounds.shape[1]),
                                                  np.int64)])
    case.flip, case.codes = packing.padded_channels(flip, o), np.asarray(out_levels.codes, np.uint8)
    case.out_planes, case.y_bytes, case.expected = out_levels.planes, len(planes), planes
    return case


def levels_threshold_case(rng, name, rows, channels, is_float, levels, per_element=False) -> Case:
    if is_float:
        x = rng.normal(0, 3, (rows, channels)).astype(F32)
        x[0, :4] = [0.0, -0.0, np.inf, -np.inf]
        v = ir.float_key(x)
    else:
        x = rng.integers(-50, 51, (rows, channels)).astype(np.int32)
        v = x.astype(np.int64)
    bounds, flip, planes = multi_threshold(rng, v, levels, per_element)
    return Case(name, LEVELS_THRESHOLD, [rows, channels, int(is_float), flip.size], x=x, steps=bounds, flip=flip,
                codes=np.asarray(levels.codes, np.uint8), out_planes=levels.planes, y_bytes=len(planes),
                expected=planes)


def all_cases(seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)

    def bn(o):
        return [("mul", rng.normal(1, 0.5, o)), ("add", rng.normal(0, 2, o))]

    cases = []
    # binary convolutions: channel counts with tails, strides, dilation, both paddings, groups, ternary
    for i, (c, o, k, s, d, pads, pm) in enumerate([
        (32, 32, 3, 1, 1, (1, 1, 1, 1), 1), (32, 32, 3, 1, 1, (1, 1, 1, 1), 0), (64, 48, 3, 2, 1, (1, 1, 1, 1), 1),
        (5, 7, 3, 1, 1, (1, 1, 1, 1), 0), (33, 17, 3, 1, 2, (2, 2, 2, 2), 1), (70, 40, 3, 2, 1, (0, 1, 1, 0), 0),
        (100, 16, 1, 1, 1, (0, 0, 0, 0), 0), (256, 64, 3, 1, 1, (1, 1, 1, 1), 1), (16, 24, 5, 1, 1, (2, 2, 2, 2), 1),
        (40, 9, 2, 3, 1, (0, 0, 1, 1), 0), (512, 32, 3, 1, 1, (1, 1, 1, 1), 1), (32, 16, 3, 1, 1, (3, 0, 0, 3), 1),
    ]):
        h, w = (7, 7) if c >= 256 else (int(rng.integers(5, 12)), int(rng.integers(5, 14)))
        cases.append(bconv_case(rng, f"bconv{i}-c{c}-o{o}-k{k}-s{s}-d{d}-pm{pm}", h, w, c, o, k, k, (s, s), (d, d),
                                pads, pad_mode=pm))
    cases += [
        bconv_case(rng, "bconv-rect-kernel", 9, 8, 24, 20, 3, 2, (2, 1), (1, 2), (1, 0, 1, 2), pad_mode=1),
        bconv_case(rng, "bconv-pad-beyond-input", 3, 3, 32, 16, 3, 3, pads=(3, 3, 3, 3), pad_mode=1),
        bconv_case(rng, "bconv-zero-pad-beyond-input", 3, 3, 32, 16, 3, 3, pads=(3, 3, 3, 3), pad_mode=0),
        bconv_case(rng, "bconv-ternary", 6, 7, 45, 20, 3, 3, pads=(1, 1, 1, 1), ternary_in=True),
        bconv_case(rng, "bconv-ternary-one-pad", 6, 7, 64, 16, 3, 3, pads=(1, 1, 1, 1), pad_mode=1, ternary_in=True),
        bconv_case(rng, "bconv-grouped", 7, 6, 12, 6, 3, 3, pads=(0, 1, 1, 0), groups=3, ternary_in=True),
        bconv_case(rng, "bconv-depthwise", 7, 7, 8, 8, 3, 3, pads=(1, 1, 1, 1), groups=8, pad_mode=1),
        bconv_case(rng, "bconv-depthwise-c40-zero-pad-s2", 9, 8, 40, 40, 3, 3, (2, 2), pads=(1, 0, 1, 1), groups=40,
                   out_kind=OUT_BITS),
        # long runs of words: a flush of the microcontrollers' byte counts within a pixel, 5 kernel rows
        bconv_case(rng, "bconv-c200-long-runs", 5, 5, 200, 20, 3, 3, pads=(1, 1, 1, 1), out_kind=OUT_BITS),
        bconv_case(rng, "bconv-c100-5x5-one-pad", 7, 6, 100, 17, 5, 5, pads=(2, 2, 2, 2), pad_mode=1),
        bconv_case(rng, "bconv-depthwise-c36-one-pad-dilated", 8, 9, 36, 36, 3, 2, (1, 2), (2, 1), pads=(2, 1, 1, 2),
                   groups=36, pad_mode=1, out_kind=OUT_BITS, ternary_out=True),
        bconv_case(rng, "bconv-groups-aligned", 5, 5, 64, 32, 3, 3, pads=(1, 1, 1, 1), groups=2, pad_mode=1),
        # dense layers: 1x1 convolutions of (rows x 1 x k), and a dense layer after a Flatten
        bconv_case(rng, "dense-k257-n10", 1, 1, 257, 10, 1, 1),
        bconv_case(rng, "dense-rows3-k64-n33", 3, 1, 64, 33, 1, 1),
        bconv_case(rng, "dense-after-flatten", 2, 2, 20, 10, 2, 2),
        # output transforms: bits (with flips), ternary bits, floats through a chain, residual
        bconv_case(rng, "bconv-bits", 8, 9, 32, 32, 3, 3, pads=(1, 1, 1, 1), pad_mode=1, out_kind=OUT_BITS),
        bconv_case(rng, "bconv-bits-o40", 6, 6, 64, 40, 3, 3, pads=(1, 1, 1, 1), out_kind=OUT_BITS),
        bconv_case(rng, "bconv-bits-ternary", 6, 5, 33, 50, 3, 3, pads=(1, 1, 1, 1), out_kind=OUT_BITS,
                   ternary_out=True),
        bconv_case(rng, "bconv-float-bn-residual", 8, 8, 64, 64, 3, 3, pads=(1, 1, 1, 1), pad_mode=1,
                   out_kind=OUT_FLOAT, ops=[("relu", None)] + bn(64) + [("add_tensor", None)]),
        bconv_case(rng, "bconv-float-scalar-ops", 5, 5, 32, 20, 3, 3, out_kind=OUT_FLOAT,
                   ops=[("sub", [0.5]), ("div", rng.normal(3, 1, 20)), ("clip", [-2.0, 3.0]), ("rsub", [1.0])]),
        bconv_case(rng, "bconv-float-o24", 6, 6, 32, 24, 3, 3, pads=(1, 1, 1, 1), out_kind=OUT_FLOAT,
                   ops=[("mul", rng.normal(0, 1, 24)), ("add", [0.25])]),
        bconv_case(rng, "bconv-float-bn-edges", 6, 6, 16, 32, 3, 3, pads=(1, 1, 1, 1), out_kind=OUT_FLOAT,
                   ops=bn_edges(rng, 32)),
        bconv_case(rng, "dense-bits", 1, 1, 256, 256, 1, 1, out_kind=OUT_BITS),
    ]
    # thresholds of tensors (float streams: residual sums, real layers' outputs)
    cases += [
        threshold_case(rng, "threshold-float-c32", 50, 32, True),
        threshold_case(rng, "threshold-float-c70-ternary", 9, 70, True, ternary_out=True),
        threshold_case(rng, "threshold-int-c5", 11, 5, False),
        threshold_case(rng, "threshold-float-per-element", 4, 20, True, per_element=True),
        threshold_case(rng, "threshold-int-c512", 3, 512, False, ternary_out=True),
    ]
    # bit-plane layers: ternary kernels on bipolar/ternary maps (XNOR form), k-bit x k-bit (plane form),
    # {0,1} maps (bipolar bits read as 0 and 1), padding with an integer, every output kind
    zero_one = lv.BIPOLAR.relabel((0, 1))
    u2, s2, o2, s2n = lv.unsigned(2), lv.signed(2), lv.odd(2), lv.signed(2, narrow=True)
    cases += [
        kconv_case(rng, "kconv-ternary-w", 6, 7, 45, 20, 3, 3, lv.BIPOLAR, lv.TERNARY, pads=(1, 1, 1, 1)),
        kconv_case(rng, "kconv-ternary-both", 5, 6, 70, 33, 3, 3, lv.TERNARY, lv.TERNARY, pads=(1, 0, 1, 2)),
        kconv_case(rng, "kconv-ternary-one-pad", 5, 5, 32, 16, 3, 3, lv.BIPOLAR, lv.TERNARY, pads=(1, 1, 1, 1),
                   pad=1),
        kconv_case(rng, "kconv-u2-s2", 7, 6, 16, 32, 3, 3, u2, s2, pads=(1, 1, 1, 1)),
        kconv_case(rng, "kconv-u2-odd2-stride", 9, 8, 40, 20, 3, 3, u2, o2, (2, 2), pads=(0, 0, 1, 1)),
        kconv_case(rng, "kconv-s2-narrow", 6, 6, 33, 17, 3, 3, s2, s2n, dilation=(2, 1), pads=(2, 1, 2, 1)),
        kconv_case(rng, "kconv-u2-bipolar-w", 5, 5, 64, 16, 3, 3, u2, lv.BIPOLAR, pads=(1, 1, 1, 1)),
        kconv_case(rng, "kconv-zero-one", 6, 6, 24, 40, 3, 3, zero_one, lv.BIPOLAR, pads=(1, 1, 1, 1)),
        kconv_case(rng, "kconv-u4-s3", 4, 4, 20, 12, 2, 2, lv.unsigned(4), lv.signed(3), pads=(0, 0, 1, 1), pad=3),
        kconv_case(rng, "kdense-u2-s2", 1, 1, 300, 21, 1, 1, u2, s2),
        kconv_case(rng, "kdense-rows-ternary", 3, 1, 64, 33, 1, 1, lv.BIPOLAR, lv.TERNARY),
        kconv_case(rng, "kconv-levels-out", 6, 7, 32, 40, 3, 3, u2, s2, pads=(1, 1, 1, 1), out_kind=OUT_LEVELS,
                   out_levels=u2),
        kconv_case(rng, "kconv-levels-ternary-out", 5, 5, 16, 20, 3, 3, lv.BIPOLAR, lv.TERNARY, pads=(1, 1, 1, 1),
                   out_kind=OUT_LEVELS, out_levels=lv.TERNARY),
        kconv_case(rng, "kconv-float-chain", 6, 6, 32, 24, 3, 3, u2, o2, pads=(1, 1, 1, 1), out_kind=OUT_FLOAT,
                   ops=bn(24) + [("relu", None), ("add_tensor", None)]),
        kconv_case(rng, "kdense-levels-out", 1, 1, 128, 10, 1, 1, u2, s2, out_kind=OUT_LEVELS, out_levels=s2),
    ]
    cases += [
        levels_threshold_case(rng, "levels-threshold-int-u2", 7, 40, False, u2),
        levels_threshold_case(rng, "levels-threshold-float-s3", 5, 33, True, lv.signed(3)),
        levels_threshold_case(rng, "levels-threshold-per-element", 4, 20, True, u2, per_element=True),
    ]
    # real-valued layers: real kernel, binary kernel (BWN), depthwise, grouped, pad values
    for exact in (True, False):
        cases += [
            fconv_case(rng, "fconv-stem", 11, 10, 3, 8, 3, 3, (2, 2), pads=(1, 1, 1, 1), exact=exact),
            fconv_case(rng, "fconv-1x1", 7, 7, 40, 70, 1, 1, exact=exact, ops=bn(70)),
            fconv_case(rng, "fconv-3x3-dil", 9, 9, 17, 33, 3, 3, dilation=(2, 1), pads=(2, 1, 2, 1), exact=exact),
            fconv_case(rng, "fconv-bwn", 8, 8, 5, 16, 3, 3, binary=True, pads=(1, 1, 1, 1), exact=exact),
            fconv_case(rng, "fconv-bwn-c40", 6, 6, 40, 20, 3, 3, binary=True, pads=(0, 1, 1, 0), exact=exact),
            fconv_case(rng, "fconv-depthwise", 9, 8, 40, 40, 3, 3, (2, 2), pads=(1, 1, 1, 1), groups=40, exact=exact,
                       ops=[bn(40)[0], ("add", [0.5])]),
            fconv_case(rng, "fconv-grouped", 6, 6, 8, 12, 3, 3, pads=(1, 1, 1, 1), groups=4, exact=exact),
            fconv_case(rng, "fconv-pad-value", 6, 6, 4, 5, 3, 3, pads=(1, 1, 1, 1), pad_value=1.5, exact=exact),
            fconv_case(rng, "fconv-relu-scale", 6, 6, 12, 20, 3, 3, pads=(1, 1, 1, 1), exact=exact,
                       ops=[("relu", None), ("mul", rng.normal(0, 1, 20))]),
            fconv_case(rng, "dense-float", 1, 1, 300, 21, 1, 1, exact=exact, ops=[("add_tensor", None)]),
            fconv_case(rng, "dense-bwn", 2, 1, 64, 40, 1, 1, binary=True, exact=exact),
        ]
    # channel-major stores and reads: the last layer of an NCHW model writes the model's output
    # itself; a binarizer reads an NCHW input where it lies (own generator: the cases above keep
    # their values)
    rng = np.random.default_rng(seed + 1)
    cases += [
        bconv_case(rng, "bconv-float-bn-channel-major", 16, 16, 64, 64, 3, 3, pads=(1, 1, 1, 1), out_kind=OUT_FLOAT,
                   ops=bn(64), channel_major=True),
        bconv_case(rng, "bconv-float-residual-o40-channel-major", 6, 7, 32, 40, 3, 3, pads=(1, 1, 1, 1),
                   pad_mode=1, out_kind=OUT_FLOAT, ops=bn(40) + [("add_tensor", None)], channel_major=True),
        bconv_case(rng, "bconv-int32-channel-major", 5, 6, 33, 20, 3, 3, (2, 1), pads=(1, 1, 1, 1),
                   channel_major=True),
        bconv_case(rng, "dense-rows3-float-channel-major", 3, 1, 64, 33, 1, 1, out_kind=OUT_FLOAT, ops=bn(33),
                   channel_major=True),
        fconv_case(rng, "fconv-stem-channel-major", 11, 10, 3, 8, 3, 3, (2, 2), pads=(1, 1, 1, 1), ops=bn(8),
                   channel_major=True),
        fconv_case(rng, "fconv-depthwise-channel-major", 9, 8, 40, 40, 3, 3, pads=(1, 1, 1, 1), groups=40,
                   channel_major=True),
        kconv_case(rng, "kconv-float-chain-channel-major", 6, 6, 32, 24, 3, 3, u2, o2, pads=(1, 1, 1, 1),
                   out_kind=OUT_FLOAT, ops=bn(24) + [("relu", None)], channel_major=True),
        threshold_case(rng, "threshold-float-c64-channel-major", 256, 64, True, channel_major=True),
        threshold_case(rng, "threshold-float-c3-channel-major", 50, 3, True, channel_major=True),
        threshold_case(rng, "threshold-int-c70-ternary-channel-major", 9, 70, False, ternary_out=True,
                       channel_major=True),
    ]
    return cases
