"""Spatial IR ops beyond Conv2D and Pool2D (ops.py): the zero-stuffing that
turns a transposed convolution into an ordinary one, and 3-D convolution
and pooling. Per-sample tensors are channels-last: (H, W, C) and (D, H, W, C).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Domain, Op, Tensor
from .ops import F32, _check_fan_in, _conv_out, _pool_out, conv2d_nhwc


@dataclass(frozen=True, eq=False)
class Dilate(Op):
    """The input of a transposed convolution written as an ordinary one: the
    values of an (H, W, C) map placed `strides` apart with zeros between them,
    and `pads` (top, left, bottom, right) zero rows and columns around; a
    negative pad crops. Output row i holds input row (i - top) / stride_h when
    that is an integer in range, else zeros (and likewise for columns).

    Zeros in a bipolar map make it ternary (a mask plane marks the values); the
    convolution that follows skips the zero taps, as it skips zero padding."""

    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)

    def out_shape(self, shape):
        h, w, c = shape
        t, l, b, r = self.pads
        return ((h - 1) * self.strides[0] + 1 + t + b, (w - 1) * self.strides[1] + 1 + l + r, c)

    def output_tensor(self, inputs):
        x = inputs[0]
        if len(x.shape) != 3:
            raise TypeError("Dilate takes a per-sample (H, W, C) tensor")
        if x.domain not in (Domain.FLOAT, Domain.BIPOLAR, Domain.TERNARY):
            raise TypeError(f"Dilate takes a FLOAT, BIPOLAR or TERNARY input, not {x.domain.value}")
        shape = self.out_shape(x.shape)
        if min(shape) <= 0:
            raise TypeError(f"Dilate output would be empty: {shape}")
        return Tensor(self.output, shape, Domain.FLOAT if x.domain == Domain.FLOAT else Domain.TERNARY)

    def reference(self, x):
        x = np.asarray(x)
        n, h, w, c = x.shape
        (sh, sw), (t, l, b, r) = self.strides, self.pads
        full = np.zeros((n, (h - 1) * sh + 1 + max(t, 0) + max(b, 0), (w - 1) * sw + 1 + max(l, 0) + max(r, 0), c),
                        x.dtype)
        full[:, max(t, 0):max(t, 0) + (h - 1) * sh + 1:sh, max(l, 0):max(l, 0) + (w - 1) * sw + 1:sw] = x
        oh, ow, _ = self.out_shape(x.shape[1:])
        return full[:, max(-t, 0):max(-t, 0) + oh, max(-l, 0):max(-l, 0) + ow]


def _pad_nd(x: np.ndarray, begin, end, value) -> np.ndarray:
    """A batch of channels-last maps padded along its spatial axes."""
    widths = [(0, 0)] + [(b, e) for b, e in zip(begin, end)] + [(0, 0)]
    return np.pad(x, widths, constant_values=value)


@dataclass(frozen=True, eq=False)
class Conv3D(Op):
    """3-D convolution on a per-sample (D, H, W, C) tensor: Conv2D (ops.py) with
    a depth axis. weight: ODHWI [O, KD, KH, KW, C/groups] float32, or `signs`
    int8 in {-1,+1} for a binary kernel; strides, dilations (d, h, w); pads
    (front, top, left, back, bottom, right), filled with `pad_value` (for a
    bipolar input 0 means the padded taps contribute nothing).

    Its numpy meaning is the sum, over the kernel's depth taps, of 2-D
    convolutions of depth slices of the padded input."""

    weight: np.ndarray = None
    signs: np.ndarray = None
    strides: tuple[int, int, int] = (1, 1, 1)
    dilations: tuple[int, int, int] = (1, 1, 1)
    pads: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
    pad_value: float = 0.0
    groups: int = 1
    packed_input: bool = False

    @property
    def kernel(self) -> np.ndarray:
        return self.weight if self.signs is None else self.signs

    @property
    def fan_in(self) -> int:
        return int(np.prod(self.kernel.shape[1:]))

    def out_shape(self, shape):
        return tuple(_conv_out(shape[i], self.kernel.shape[1 + i], self.strides[i], self.dilations[i], self.pads[i],
                               self.pads[i + 3]) for i in range(3)) + (self.kernel.shape[0],)

    def output_tensor(self, inputs):
        x = inputs[0]
        if len(x.shape) != 4:
            raise TypeError("Conv3D takes a per-sample (D, H, W, C) tensor")
        if x.shape[3] != self.kernel.shape[4] * self.groups:
            raise TypeError(f"Conv3D: {x.shape[3]} input channels do not fit the kernel {self.kernel.shape}")
        shape = self.out_shape(x.shape)
        if min(shape) <= 0:
            raise TypeError(f"Conv3D output would be empty: {shape}")
        if self.signs is not None and x.domain.is_packed:
            k = self.fan_in
            _check_fan_in(k)
            exact_parity = x.domain == Domain.BIPOLAR and (self.pad_value != 0 or not any(self.pads))
            return Tensor(self.output, shape, Domain.INT, (-k, k, 2 if exact_parity else 1))
        if x.domain not in (Domain.FLOAT, Domain.BIPOLAR, Domain.TERNARY):
            raise TypeError(f"Conv3D takes a FLOAT, BIPOLAR or TERNARY input, not {x.domain.value}")
        return Tensor(self.output, shape, Domain.FLOAT)

    def reference(self, x):
        integer = self.signs is not None and self.packed_input
        dtype = np.int64 if integer else F32
        return conv3d_ndhwc(np.asarray(x).astype(dtype), self.kernel.astype(dtype), self.strides, self.dilations,
                            self.pads, self.groups, self.pad_value)


def conv3d_ndhwc(x, k, strides, dilations, pads, groups, pad_value):
    """3-D convolution of a batch of (D, H, W, C) maps with an ODHWI kernel, as the
    sum over depth taps of 2-D convolutions (in the dtype of x and k)."""
    xp = _pad_nd(x, pads[:3], pads[3:], pad_value)
    kd = k.shape[1]
    od = _conv_out(x.shape[1], kd, strides[0], dilations[0], pads[0], pads[3])
    slices = []
    for d in range(od):
        total = None
        for a in range(kd):
            part = conv2d_nhwc(xp[:, d * strides[0] + a * dilations[0]], k[:, a], strides[1:], dilations[1:],
                               (0, 0, 0, 0), groups, pad_value)
            total = part if total is None else total + part
        slices.append(total)
    return np.stack(slices, axis=1)


@dataclass(frozen=True, eq=False)
class Pool3D(Op):
    """Max, average or sum pooling on (D, H, W, C): Pool2D (ops.py) with a depth
    axis; pads (front, top, left, back, bottom, right), ceil_mode as there."""

    kind: str = "max"
    kernel: tuple[int, int, int] = (1, 1, 1)
    strides: tuple[int, int, int] = (1, 1, 1)
    pads: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
    count_include_pad: bool = False
    ceil_mode: bool = False

    def out_shape(self, shape):
        return tuple(_pool_out(shape[i], self.kernel[i], self.strides[i], self.pads[i], self.pads[i + 3],
                               self.ceil_mode) for i in range(3)) + (shape[3],)

    def output_tensor(self, inputs):
        x = inputs[0]
        if len(x.shape) != 4:
            raise TypeError("Pool3D takes a per-sample (D, H, W, C) tensor")
        if self.kind != "max" and x.domain != Domain.FLOAT:
            raise TypeError(f"{self.kind} pooling takes a FLOAT input")
        return Tensor(self.output, self.out_shape(x.shape), x.domain, x.int_range)

    def reference(self, x):
        x = np.asarray(x)
        spatial = x.shape[1:4]
        out = self.out_shape(x.shape[1:])
        over = [max(0, (o - 1) * s + k - (n + b + e))
                for o, s, k, n, b, e in zip(out, self.strides, self.kernel, spatial, self.pads[:3], self.pads[3:])]
        ends = [e + v for e, v in zip(self.pads[3:], over)]
        fill = -np.inf if self.kind == "max" else 0.0
        xp = _pad_nd(x.astype(np.float64), self.pads[:3], ends, fill)
        real = _pad_nd(np.ones((1,) + spatial + (1,)), self.pads[:3], ends, 0.0)[0, ..., 0]
        counted = np.zeros(real.shape)
        counted[tuple(slice(0, n + b + e) for n, b, e in zip(spatial, self.pads[:3], self.pads[3:]))] = 1
        weights = counted if self.count_include_pad else real
        acc = np.full((x.shape[0],) + out[:3] + (x.shape[4],), fill)
        count = np.zeros(out[:3] + (1,))
        for taps in np.ndindex(*self.kernel):
            window = tuple(slice(t, t + s * (o - 1) + 1, s) for t, s, o in zip(taps, self.strides, out[:3]))
            patch = xp[(slice(None),) + window]
            if self.kind == "max":
                acc = np.maximum(acc, patch)
            else:
                acc = acc + patch
                count += weights[window][..., None]
        if self.kind == "max":
            return acc.astype(x.dtype)
        if self.kind == "avg":
            acc = acc / count
        return acc.astype(np.float64 if x.dtype == np.float64 else F32)
