"""IR ops. Each one states its typing rule (`output_tensor`) and its numpy
semantics (`reference`), so any pass can be checked by running the graph
before and after it.

Float references compute in float32 (float64 for FLOAT64 tensors), one
rounding per ONNX op as onnxruntime's kernel rounds it, in the model's own op
order: that is what makes thresholds derived from them exact with respect to
onnxruntime.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import levels as lv
from .graph import Domain, Op, Tensor
from .quantizers import Binarize, Threshold, float_key, key_to_float  # noqa: F401 (part of the op set)

F32 = np.float32
# Accumulators of binary layers are int32 with |sum| <= fan-in; below 2^24 they
# also convert to float32 exactly, as onnxruntime's float sums of +-1 are exact.
MAX_FAN_IN = (1 << 24) - 1


def _check_fan_in(k: int) -> None:
    if k > MAX_FAN_IN:
        raise TypeError(f"fan-in {k} exceeds {MAX_FAN_IN}: sums of +-1 would no longer be exact in float32")


def integer_sum_range(x: Tensor, weight_levels: lv.Levels | None, k: int, pad: int | None) -> tuple[int, int, int]:
    """(lo, hi, step) of an exact sum of k products of x's levels (integers) and
    weights (`weight_levels`: None is +-1); `pad` is the integer of padded taps
    (0: zero padding, which skips them; None: no padding)."""
    if not x.levels.reals_are_ints:
        raise TypeError(f"an integer layer reads levels that are their integers, not {x.levels.reals} "
                        f"(relabel them first)")
    w = (-1, 1) if weight_levels is None else weight_levels.ints
    xs = set(x.levels.ints) | ({pad} if pad is not None else set())
    products = [a * b for a in xs for b in w]
    lo, hi = k * min(products), k * max(products)
    if max(-lo, hi) > MAX_FAN_IN:
        raise TypeError(f"sums of {k} products reach {max(-lo, hi)}, beyond {MAX_FAN_IN}: they would no longer be "
                        f"exact in float32")
    # +-1 times +-1 over every tap: the sum has the parity of k
    bipolar = x.domain == Domain.BIPOLAR and weight_levels in (None, lv.BIPOLAR) and pad in (None, 1, -1)
    return lo, hi, 2 if bipolar else 1


def _float(t: Tensor, shape=None) -> Tensor:
    return Tensor(t.name, t.shape if shape is None else shape, Domain.FLOAT)


def _real(x) -> np.ndarray:
    """A real tensor's numpy value in its own precision: float64 stays float64
    (a FLOAT64 tensor), anything else is float32."""
    x = np.asarray(x)
    return x if x.dtype == np.float64 else x.astype(F32)


def fma_f32(x, a, b) -> np.ndarray:
    """x*a + b for float32 operands with one rounding to float32 (a fused
    multiply-add, as onnxruntime's GEMM epilogue computes alpha*acc + C).

    x*a is exact in float64 (24 + 24 bits); s = x*a + b in float64 carries an
    error e that TwoSum recovers exactly. Rounding s to odd (the neighbour with
    an odd last bit when e != 0) keeps enough information that the final
    rounding to float32 is the correct one (53 >= 2*24 + 2)."""
    p = np.asarray(x, F32).astype(np.float64) * np.asarray(a, F32).astype(np.float64)
    c = np.asarray(b, F32).astype(np.float64)
    p, c = np.broadcast_arrays(p, c)
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + c
        bp = s - c
        e = (p - bp) + (c - (s - bp))
        odd = (s.view(np.int64) & 1) == 1
        toward = np.nextafter(s, np.where(e > 0, np.inf, -np.inf))
        s = np.where((e != 0) & ~odd & np.isfinite(s), toward, s)
        return s.astype(F32)


# ---------------------------------------------------------------- binarizers and quantizers: ir/quantizers.py


# ---------------------------------------------------------------- dense layers


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """y = x @ weight over the last axis, weight [K, N] float32 (real kernel).
    A bipolar or ternary input makes it a BAN layer (binary activations)."""

    weight: np.ndarray = None

    def output_tensor(self, inputs):
        x = inputs[0]
        if x.domain in (Domain.INT, Domain.FLOAT64):
            raise TypeError(f"Dense takes a FLOAT, BIPOLAR or TERNARY input, not {x.domain.value}")
        return Tensor(self.output, x.shape[:-1] + (self.weight.shape[1],), Domain.FLOAT)

    def reference(self, x):
        return np.asarray(x, dtype=F32) @ self.weight


@dataclass(frozen=True, eq=False)
class BinaryDense(Op):
    """y = x @ signs, signs int8 [K, N] in {-1,+1} (binary kernel), or the
    integers of `weight_levels` (a ternary or k-bit kernel).
    Packed input (its levels' integers): XNOR/popcount or bit-plane kernel,
    exact INT accumulator. Float input: BWN layer, a float sum of +-x."""

    signs: np.ndarray = None
    packed_input: bool = True  # input is packed (else FLOAT: BWN)
    weight_levels: lv.Levels | None = None  # None: +-1

    @property
    def fan_in(self) -> int:
        return int(self.signs.shape[0])

    def output_tensor(self, inputs):
        x = inputs[0]
        shape = x.shape[:-1] + (self.signs.shape[1],)
        k = self.fan_in
        _check_fan_in(k)
        if x.domain.is_packed:
            return Tensor(self.output, shape, Domain.INT, integer_sum_range(x, self.weight_levels, k, None))
        if x.domain == Domain.FLOAT and self.weight_levels in (None, lv.BIPOLAR):
            return Tensor(self.output, shape, Domain.FLOAT)
        raise TypeError("BinaryDense takes a packed input, or a FLOAT input with a +-1 kernel")

    def reference(self, x):
        if self.packed_input:
            return np.asarray(x).astype(np.int64) @ self.signs.astype(np.int64)
        return np.asarray(x, dtype=F32) @ self.signs.astype(F32)


# ---------------------------------------------------------------- elementwise


@dataclass(frozen=True, eq=False)
class Cast(Op):
    """To float32 (`to` FLOAT): an INT accumulator, unpacking bipolar/ternary
    values, or rounding a FLOAT64 tensor; or to float64 (`to` FLOAT64, ONNX
    Cast to DOUBLE), which is exact from every other domain."""

    to: Domain = Domain.FLOAT

    def output_tensor(self, inputs):
        if self.to not in (Domain.FLOAT, Domain.FLOAT64):
            raise TypeError(f"Cast to {self.to.value} is not an IR cast")
        return Tensor(self.output, inputs[0].shape, self.to)

    def reference(self, x):
        return np.asarray(x).astype(self.to.numpy_dtype)


@dataclass(frozen=True, eq=False)
class ChannelOp(Op):
    """x (op) const, one rounding in the precision of `const`: float32 (a FLOAT
    tensor) or float64 (a FLOAT64 tensor, as ONNX computes ops on doubles).
    `const` broadcasts against the per-sample shape; kinds: add x+c, sub x-c,
    rsub c-x, mul x*c, div x/c, rdiv c/x."""

    kind: str = "add"
    const: np.ndarray = None
    # The per-channel scale of a +-a kernel (set by the binary-weights pass): the
    # C computes (integer sum) * a, onnxruntime sums the +-a terms in float.
    kernel_scale: bool = False

    @property
    def domain(self) -> Domain:
        return Domain.FLOAT64 if self.const.dtype == np.float64 else Domain.FLOAT

    def output_tensor(self, inputs):
        if inputs[0].domain != self.domain:
            raise TypeError(f"ChannelOp with a {self.const.dtype} constant takes a {self.domain.value} input, "
                            f"not {inputs[0].domain.value}")
        x, c = inputs[0].shape, self.const.shape
        shape = x if c == () or c == x else tuple(np.broadcast_shapes(x, c))
        return Tensor(self.output, shape, self.domain)

    def apply(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """The arithmetic in the precision of x and c (float64 for error bounds)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return {
                "add": lambda: x + c,
                "sub": lambda: x - c,
                "rsub": lambda: c - x,
                "mul": lambda: x * c,
                "div": lambda: x / c,
                "rdiv": lambda: c / x,
            }[self.kind]()

    def reference(self, x):
        dtype = self.const.dtype.type
        return self.apply(np.asarray(x, dtype=dtype), self.const).astype(dtype)


@dataclass(frozen=True, eq=False)
class MulAdd(Op):
    """y = x*scale + bias with ONE rounding to float32: onnxruntime's GEMM
    epilogue (`alpha*acc + beta*C`, a fused multiply-add; probed bit for bit,
    see tests/test_exactness.py). `scale` and `bias` broadcast per channel.

    `roundings` says how many such roundings onnxruntime may really make: its
    GEMM adds blocks of the K products into the output one block at a time
    (y = fma(alpha, block_sum, y), blocks of 128 or more), so for K above the
    first block and partial sums that are not exact in float32 its value
    depends on the input's bits, not only on their sum. 1 means the reference
    above is onnxruntime's value bit for bit; more means it is the value of one
    rounding, and onnxruntime's may differ by up to `roundings` roundings."""

    scale: np.ndarray = None
    bias: np.ndarray = None
    roundings: int = 1

    def output_tensor(self, inputs):
        if inputs[0].domain != Domain.FLOAT:
            raise TypeError("MulAdd takes a FLOAT input")
        shape = tuple(np.broadcast_shapes(inputs[0].shape, self.scale.shape, self.bias.shape))
        return Tensor(self.output, shape, Domain.FLOAT)

    def reference(self, x):
        return fma_f32(np.asarray(x, F32), self.scale, self.bias)


@dataclass(frozen=True, eq=False)
class Relu(Op):
    def output_tensor(self, inputs):
        if not inputs[0].domain.is_real:
            raise TypeError("Relu takes a FLOAT or FLOAT64 input")
        return Tensor(self.output, inputs[0].shape, inputs[0].domain)

    def reference(self, x):
        x = _real(x)
        return np.maximum(x, x.dtype.type(0))


@dataclass(frozen=True, eq=False)
class Clip(Op):
    lo: float = -np.inf
    hi: float = np.inf

    def output_tensor(self, inputs):
        if not inputs[0].domain.is_real:
            raise TypeError("Clip takes a FLOAT or FLOAT64 input")
        return Tensor(self.output, inputs[0].shape, inputs[0].domain)

    def reference(self, x):
        x = _real(x)
        t = x.dtype.type
        return np.minimum(np.maximum(x, t(self.lo)), t(self.hi))


@dataclass(frozen=True, eq=False)
class Softmax(Op):
    """Softmax (or, with `log`, LogSoftmax) over the last axis (the importer
    refuses other axes)."""

    log: bool = False

    def output_tensor(self, inputs):
        if inputs[0].domain != Domain.FLOAT:
            raise TypeError(f"Softmax takes a FLOAT input, not {inputs[0].domain.value}")
        return _float(Tensor(self.output, inputs[0].shape, Domain.FLOAT))

    def reference(self, x):
        x = np.asarray(x, dtype=F32)
        shifted = x - x.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        if self.log:
            return (shifted - np.log(e.sum(axis=-1, keepdims=True))).astype(F32)
        return (e / e.sum(axis=-1, keepdims=True)).astype(F32)


@dataclass(frozen=True, eq=False)
class Reshape(Op):
    """Same values in row-major order, new per-sample shape."""

    shape: tuple[int, ...] = ()

    def output_tensor(self, inputs):
        x = inputs[0]
        if x.domain.is_packed and tuple(self.shape[-1:]) != x.shape[-1:]:
            raise TypeError("reshaping packed bits to another row length moves data; unpack first")
        return Tensor(self.output, tuple(self.shape), x.domain, x.int_range, x.levels)

    def reference(self, x):
        return np.reshape(x, (x.shape[0],) + tuple(self.shape))




# ---------------------------------------------------------------- spatial ops (NHWC)


def _conv_out(size: int, k: int, stride: int, dilation: int, pad_begin: int, pad_end: int) -> int:
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


@dataclass(frozen=True, eq=False)
class Conv2D(Op):
    """2-D convolution on a per-sample NHWC tensor (H, W, C).

    weight: OHWI [O, KH, KW, C/groups] float32 (real kernel), or `signs` int8
    in {-1,+1} for a binary kernel (set by the binary-weights pass), or the
    integers of `weight_levels` (a ternary or k-bit kernel). The input
    is padded with `pad_value` (pads = top, left, bottom, right) before a
    VALID convolution; for a bipolar input a pad value of 0 means the padded
    taps contribute nothing (ONNX zero padding of a +-1 tensor). For a packed
    input `pad_value` is an integer of its levels' kind (or 0).
    """

    weight: np.ndarray = None
    signs: np.ndarray = None
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    pad_value: float = 0.0
    groups: int = 1
    packed_input: bool = False
    weight_levels: lv.Levels | None = None  # None: +-1 signs

    @property
    def kernel(self) -> np.ndarray:
        return self.weight if self.signs is None else self.signs

    @property
    def fan_in(self) -> int:
        o, kh, kw, cg = self.kernel.shape
        return kh * kw * cg

    def out_shape(self, shape):
        h, w, _ = shape
        o, kh, kw, _ = self.kernel.shape
        t, l, b, r = self.pads
        return (_conv_out(h, kh, self.strides[0], self.dilations[0], t, b),
                _conv_out(w, kw, self.strides[1], self.dilations[1], l, r), o)

    def output_tensor(self, inputs):
        x = inputs[0]
        if len(x.shape) != 3:
            raise TypeError("Conv2D takes a per-sample (H, W, C) tensor")
        if x.shape[2] != self.kernel.shape[3] * self.groups:
            raise TypeError(f"Conv2D: {x.shape[2]} input channels do not fit the kernel {self.kernel.shape}")
        shape = self.out_shape(x.shape)
        if min(shape) <= 0:
            raise TypeError(f"Conv2D output would be empty: {shape}")
        if self.signs is not None and x.domain.is_packed:
            k = self.fan_in
            _check_fan_in(k)
            pad = int(self.pad_value) if any(self.pads) else None
            return Tensor(self.output, shape, Domain.INT, integer_sum_range(x, self.weight_levels, k, pad))
        if self.weight_levels not in (None, lv.BIPOLAR):
            raise TypeError("a ternary or k-bit kernel reads a packed input")
        if x.domain in (Domain.INT, Domain.FLOAT64):
            raise TypeError(f"Conv2D takes a FLOAT, BIPOLAR or TERNARY input, not {x.domain.value}")
        return Tensor(self.output, shape, Domain.FLOAT)

    def reference(self, x):
        integer = self.signs is not None and self.packed_input
        dtype = np.int64 if integer else F32
        return conv2d_nhwc(np.asarray(x).astype(dtype), self.kernel.astype(dtype), self.strides, self.dilations,
                           self.pads, self.groups, self.pad_value)


def conv2d_nhwc(x, k, strides, dilations, pads, groups, pad_value):
    """Convolution of a batch of (H, W, C) maps with an OHWI kernel, in the dtype of
    x and k (int64 for exact accumulators, float32 as a reference, float64 for
    error bounds)."""
    t, l, b, r = pads
    x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=pad_value)
    o, kh, kw, cg = k.shape
    oh = _conv_out(x.shape[1] - t - b, kh, strides[0], dilations[0], t, b)
    ow = _conv_out(x.shape[2] - l - r, kw, strides[1], dilations[1], l, r)
    sh, sw = strides
    dh, dw = dilations
    og = o // groups
    y = np.zeros((x.shape[0], oh, ow, o), dtype=np.result_type(x, k))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw, :]
            for g in range(groups):
                y[..., g * og:(g + 1) * og] += patch[..., g * cg:(g + 1) * cg] @ k[g * og:(g + 1) * og, i, j, :].T
    return y


@dataclass(frozen=True, eq=False)
class Pool2D(Op):
    """Max, average or sum pooling on (H, W, C). Max keeps the domain (on bits
    it is an AND: max(+1,-1) = +1 is bit 0); average and sum need a FLOAT input.
    Padding never contributes to a max; `count_include_pad` says whether it
    counts in an average. A kernel equal to the input size is a global pool
    (sum: ONNX ReduceSum over the spatial axes).
    `min_channels` (max pooling only, bool per channel) marks channels that take
    the minimum instead (a decreasing threshold moved above the pool; on bits
    an OR).

    `ceil_mode` (ONNX): the output size rounds up, as long as the last window
    starts inside the input or its top/left padding; the part of that window
    beyond the bottom/right padding is no padding at all (never counted)."""

    kind: str = "max"
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    count_include_pad: bool = False
    min_channels: np.ndarray | None = None
    ceil_mode: bool = False

    def out_shape(self, shape):
        h, w, c = shape
        t, l, b, r = self.pads
        return (_pool_out(h, self.kernel[0], self.strides[0], t, b, self.ceil_mode),
                _pool_out(w, self.kernel[1], self.strides[1], l, r, self.ceil_mode), c)

    def overhang(self, shape) -> tuple[int, int]:
        """Rows and columns the last window reaches beyond the bottom/right padding (ceil_mode)."""
        (h, w, _), (oh, ow, _) = shape, self.out_shape(shape)
        t, l, b, r = self.pads
        return (max(0, (oh - 1) * self.strides[0] + self.kernel[0] - (h + t + b)),
                max(0, (ow - 1) * self.strides[1] + self.kernel[1] - (w + l + r)))

    def output_tensor(self, inputs):
        x = inputs[0]
        if len(x.shape) != 3:
            raise TypeError("Pool2D takes a per-sample (H, W, C) tensor")
        if self.kind != "max" and x.domain != Domain.FLOAT:
            raise TypeError(f"{self.kind} pooling takes a FLOAT input")
        return Tensor(self.output, self.out_shape(x.shape), x.domain, x.int_range, x.levels)

    def reference(self, x):
        x = np.asarray(x)
        if self.min_channels is not None:
            plain = replace(self, min_channels=None)
            return np.where(self.min_channels, -plain.reference(-x), plain.reference(x)).astype(x.dtype)
        t, l, b, r = self.pads
        eh, ew = self.overhang(x.shape[1:])
        fill = -np.inf if self.kind == "max" else 0
        xp = np.pad(x.astype(np.float64), ((0, 0), (t, b + eh), (l, r + ew), (0, 0)), constant_values=fill)
        ones = np.pad(np.ones(x.shape[1:3]), ((t, b + eh), (l, r + ew)))
        padded = np.ones(ones.shape)
        padded[x.shape[1] + t + b:, :] = 0  # the ceil_mode overhang is no padding
        padded[:, x.shape[2] + l + r:] = 0
        oh, ow, _ = self.out_shape(x.shape[1:])
        sh, sw = self.strides
        kh, kw = self.kernel
        out = np.full((x.shape[0], oh, ow, x.shape[3]), -np.inf if self.kind == "max" else 0.0)
        count = np.zeros((oh, ow, 1))
        for i in range(kh):
            for j in range(kw):
                window = (slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw))
                patch = xp[(slice(None),) + window]
                if self.kind == "max":
                    out = np.maximum(out, patch)
                else:
                    out = out + patch
                    count += (padded if self.count_include_pad else ones)[window][..., None]
        if self.kind == "avg":
            out = out / count
        if self.kind != "max":
            return out.astype(np.float64 if x.dtype == np.float64 else F32)
        return out.astype(x.dtype)


def _pool_out(size: int, k: int, stride: int, pad_begin: int, pad_end: int, ceil_mode: bool) -> int:
    """ONNX pooling output size: floor, or with ceil_mode rounded up unless the last
    window would start beyond the input and its begin padding."""
    span = size + pad_begin + pad_end - k
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + pad_begin else out


@dataclass(frozen=True, eq=False)
class Transpose(Op):
    """Permute the per-sample axes (batch stays first)."""

    perm: tuple[int, ...] = ()

    def output_tensor(self, inputs):
        x = inputs[0]
        return Tensor(self.output, tuple(x.shape[p] for p in self.perm), x.domain, x.int_range, x.levels)

    def reference(self, x):
        return np.transpose(x, (0,) + tuple(p + 1 for p in self.perm))


@dataclass(frozen=True, eq=False)
class Pad(Op):
    """Constant padding of the per-sample axes: pads = (begin..., end...)."""

    pads: tuple[int, ...] = ()
    value: float = 0.0

    def output_tensor(self, inputs):
        x = inputs[0]
        n = len(x.shape)
        shape = tuple(d + self.pads[i] + self.pads[i + n] for i, d in enumerate(x.shape))
        if not x.domain.is_packed or not any(self.pads):
            return Tensor(self.output, shape, x.domain, None, x.levels)
        levels = lv.with_value(x.levels, self.value)
        if levels is None:
            raise TypeError(f"padding a binarized tensor with {self.value}, which is none of its levels")
        return Tensor(self.output, shape, Domain.of_levels(levels), levels=levels)

    def reference(self, x):
        n = x.ndim - 1
        widths = [(0, 0)] + [(self.pads[i], self.pads[i + n]) for i in range(n)]
        return np.pad(x, widths, constant_values=self.value)


@dataclass(frozen=True, eq=False)
class Add(Op):
    """Sum of two activations of the same shape (residual shortcuts)."""

    def output_tensor(self, inputs):
        a, b = inputs
        if a.shape != b.shape or a.domain != Domain.FLOAT or b.domain != Domain.FLOAT:
            raise TypeError(f"Add of two activations needs equal FLOAT shapes, got {a.shape} and {b.shape}")
        return Tensor(self.output, a.shape, Domain.FLOAT)

    def reference(self, a, b):
        return (np.asarray(a, F32) + np.asarray(b, F32)).astype(F32)


@dataclass(frozen=True, eq=False)
class Concat(Op):
    """Concatenation of FLOAT activations, or of packed ones with the same levels
    (they stay packed), along per-sample `axis`."""

    axis: int = -1

    def output_tensor(self, inputs):
        axis = self.axis % len(inputs[0].shape)
        base, first = inputs[0].shape, inputs[0]
        for t in inputs:
            if t.domain != first.domain or t.levels != first.levels or len(t.shape) != len(base) or \
                    any(d != e for i, (d, e) in enumerate(zip(t.shape, base)) if i != axis):
                raise TypeError("Concat needs inputs of one domain and levels that agree outside the axis")
        if first.domain != Domain.FLOAT and not first.domain.is_packed:
            raise TypeError(f"Concat of {first.domain.value} tensors")
        shape = list(base)
        shape[axis] = sum(t.shape[axis] for t in inputs)
        return Tensor(self.output, tuple(shape), first.domain, levels=first.levels)

    def reference(self, *xs):
        return np.concatenate([np.asarray(x, F32) for x in xs], axis=(self.axis % (xs[0].ndim - 1)) + 1)



# ---------------------------------------------------------------- fused layers


@dataclass(frozen=True, eq=False)
class Fused(Op):
    """A convolution or dense layer and the elementwise chain after it, computed
    in one pass (built by the fusion pass, never by the importer), so the
    layer's sums never exist as a tensor.

    `ops` is the layer followed by its chain, each op with its own inputs and
    output as they were in the graph: `Cast` (int -> float), per-channel or
    scalar `ChannelOp`, `Relu`, `Clip`, `Add` of another tensor (a residual
    shortcut), `Reshape`s that keep the channels and, last, a `Threshold` on
    the int32 sums or a `Transpose` that brings the channels first (the
    kernel stores the floats channel-major). `inputs` are the
    layer's input and the tensors the chain adds; `output` is the last op's.
    The meaning is exactly the chain's: each op's reference in order.
    """

    ops: tuple[Op, ...] = ()

    @property
    def layer(self) -> Op:
        return self.ops[0]

    @property
    def chain(self) -> tuple[Op, ...]:
        return self.ops[1:]

    def inner_tensors(self, inputs) -> dict[str, Tensor]:
        """Every tensor of the chain (the ones the fusion removed from the graph), by name."""
        tensors = dict(zip(self.inputs, inputs))
        for op in self.ops:
            tensors[op.output] = op.output_tensor([tensors[i] for i in op.inputs])
        return tensors

    def output_tensor(self, inputs):
        return replace(self.inner_tensors(inputs)[self.ops[-1].output], name=self.output)

    def reference(self, *xs):
        values = dict(zip(self.inputs, xs))
        for op in self.ops:
            values[op.output] = op.reference(*(values[i] for i in op.inputs))
        return values[self.ops[-1].output]


def unfused(ops) -> list[Op]:
    """The ops of a graph with every fused layer spelled out as the ops it fuses."""
    return [part for op in ops for part in (op.ops if isinstance(op, Fused) else (op,))]
