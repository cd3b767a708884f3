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
