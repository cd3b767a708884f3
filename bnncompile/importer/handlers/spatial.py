"""Handlers of the spatial ops: Conv, MaxPool/AveragePool (and their global
forms) and Pad."""
from __future__ import annotations

import numpy as np

from ... import ir
from ...errors import BnnError
from ..loading import printable
from ..translator import F32, Translator, Unsupported, attr, node_label


# ------------------------------------------------------------------ spatial ops
# ONNX works in NCHW; the IR's spatial ops work in NHWC (bits are packed along
# channels). Each spatial node is bracketed by IR Transposes here; the layout
# pass cancels the pairs that meet.

TO_NHWC, TO_NCHW = (1, 2, 0), (2, 0, 1)


def _spatial_input(t: Translator, x, what: str) -> ir.Tensor:
    if not isinstance(x, ir.Tensor) or len(x.shape) != 3:
        raise Unsupported(f"{what} needs a 4-D (N, C, H, W) activation")
    return t.emit(ir.Transpose, [x], perm=TO_NHWC)


def _pads_2d(node, shape_hw, kernel, strides, dilations) -> tuple[int, int, int, int]:
    for what, v in (("kernel_shape", kernel), ("strides", strides), ("dilations", dilations)):
        if len(v) != 2 or any(int(d) <= 0 for d in v):
            raise BnnError(f"{what} {list(v)} must be two positive integers", node=node_label(node))
    auto_pad = attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode(errors="replace") if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise BnnError(f"unknown auto_pad '{printable(auto_pad)}'", node=node_label(node))
    if auto_pad in ("NOTSET", ""):
        p = list(attr(node, "pads", [0, 0, 0, 0]))
        if len(p) != 4:
            raise Unsupported("only 2-D spatial padding is supported")
        if any(d < 0 for d in p):
            raise BnnError(f"negative pads {p}", node=node_label(node))
        return (p[0], p[1], p[2], p[3])
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    begin, end = [], []
    for size, k, s, d in zip(shape_hw, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else big)
        end.append(big if auto_pad == "SAME_UPPER" else small)
    return (begin[0], begin[1], end[0], end[1])


def h_conv(t: Translator, node, ins):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    if not isinstance(w, np.ndarray) or w.ndim != 4:
        raise Unsupported("only 2-D convolutions with a constant kernel are supported")
    if bias is not None and not isinstance(bias, np.ndarray):
        raise Unsupported("the bias of a convolution must be a constant")
    x = t.as_float(x) if isinstance(x, ir.Tensor) and x.domain == ir.Domain.INT else x
    xt = _spatial_input(t, x, "Conv")
    strides = tuple(attr(node, "strides", [1, 1]))
    dilations = tuple(attr(node, "dilations", [1, 1]))
    kernel = w.shape[2:]
    if attr(node, "kernel_shape") is not None and tuple(attr(node, "kernel_shape")) != kernel:
        raise BnnError(f"kernel_shape {attr(node, 'kernel_shape')} does not match the kernel {w.shape}",
                       node=node_label(node))
    pads = _pads_2d(node, xt.shape[:2], kernel, strides, dilations)
    y = t.emit(ir.Conv2D, [xt], weight=np.ascontiguousarray(w.transpose(0, 2, 3, 1), dtype=F32),
               strides=strides, dilations=dilations, pads=pads, groups=int(attr(node, "group", 1)),
               packed_input=xt.domain.is_packed)
    if bias is not None:
        y = t.emit(ir.ChannelOp, [y], kind="add", const=np.asarray(bias, F32).reshape(-1))
    t.finish(node, t.emit(ir.Transpose, [y], perm=TO_NCHW))


def h_pool(t: Translator, node, ins):
    x = ins[0]
    kind = "max" if "Max" in node.op_type else "avg"
    if kind == "avg" and isinstance(x, ir.Tensor):
        x = t.as_float(x)
    xt = _spatial_input(t, x, node.op_type)
    if node.op_type.startswith("Global"):
        kernel, strides, pads, include = xt.shape[:2], (1, 1), (0, 0, 0, 0), False
    else:
        if attr(node, "kernel_shape") is None:
            raise BnnError(f"{node.op_type} has no kernel_shape", node=node_label(node))
        kernel = tuple(attr(node, "kernel_shape"))
        strides = tuple(attr(node, "strides", [1, 1]))
        if any(d != 1 for d in attr(node, "dilations", [1, 1])):
            raise Unsupported("dilated pooling")
        pads = _pads_2d(node, xt.shape[:2], kernel, strides, (1, 1))
        if attr(node, "ceil_mode", 0):
            h, w = xt.shape[:2]
            for size, k, s, b, e in ((h, kernel[0], strides[0], pads[0], pads[2]),
                                     (w, kernel[1], strides[1], pads[1], pads[3])):
                if (size + b + e - k) % s:
                    raise Unsupported("ceil_mode pooling that changes the output size")
        include = bool(attr(node, "count_include_pad", 0))
    y = t.emit(ir.Pool2D, [xt], kind=kind, kernel=tuple(kernel), strides=strides, pads=pads,
               count_include_pad=include)
    t.finish(node, t.emit(ir.Transpose, [y], perm=TO_NCHW))


def h_pad(t: Translator, node, ins):
    x = ins[0]
    mode = attr(node, "mode", b"constant")
    if (mode.decode(errors="replace") if isinstance(mode, bytes) else mode) != "constant":
        raise Unsupported("only constant padding")
    if t.opset < 11:
        pads, value = list(attr(node, "pads")), float(attr(node, "value", 0.0))
    else:
        if not isinstance(ins[1], np.ndarray) or (len(ins) > 2 and ins[2] is not None
                                                 and not isinstance(ins[2], np.ndarray)):
            raise Unsupported("pads and value must be constants")
        if np.ndim(ins[1]) != 1 or (len(ins) > 3 and ins[3] is not None and np.ndim(ins[3]) != 1):
            raise BnnError("Pad pads and axes must be 1-D", node=node_label(node))
        pads = [int(p) for p in ins[1]]
        value = float(np.asarray(ins[2]).reshape(-1)[0]) if len(ins) > 2 and ins[2] is not None \
            and np.asarray(ins[2]).size else 0.0
        if len(ins) > 3 and ins[3] is not None:
            full = len(x.shape) + 1
            axes = [int(a) % full for a in ins[3]]
            if len(pads) != 2 * len(axes):
                raise BnnError(f"{len(pads)} pads for {len(axes)} axes (need {2 * len(axes)})", node=node_label(node))
            expanded = [0] * (2 * full)
            for i, a in enumerate(axes):
                expanded[a], expanded[a + full] = pads[i], pads[i + len(axes)]
            pads = expanded
    n = len(x.shape) + 1
    if len(pads) != 2 * n:
        raise BnnError(f"{len(pads)} pads for a rank-{n} tensor (need {2 * n})", node=node_label(node))
    if pads[0] or pads[n] or any(p < 0 for p in pads):
        raise Unsupported("padding of the batch axis or negative padding")
    per_sample = tuple(pads[1:n]) + tuple(pads[n + 1:])
    if not any(per_sample):
        t.bind(node.output[0], x)
        return
    t.finish(node, t.emit(ir.Pad, [x], pads=per_sample, value=value))
