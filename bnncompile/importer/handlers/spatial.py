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
    """An (N, C, *spatial) activation with 1 or 2 spatial axes as the (H, W, C)
    tensor the IR's 2-D ops take: 1-D data (C, L) becomes (1, L, C)."""
    if not isinstance(x, ir.Tensor) or len(x.shape) not in (2, 3):
        raise Unsupported(f"{what} needs a 3-D (N, C, L) or 4-D (N, C, H, W) activation")
    if len(x.shape) == 2:
        c, length = x.shape
        return t.reshape(t.emit(ir.Transpose, [x], perm=(1, 0)), (1, 1, length, c))
    return t.emit(ir.Transpose, [x], perm=TO_NHWC)


def _spatial_output(t: Translator, y: ir.Tensor, rank: int) -> ir.Tensor:
    """The IR's (H, W, C) result back in ONNX layout: (C, H, W), or (C, L) for 1-D."""
    if rank == 1:
        _, length, c = y.shape
        return t.emit(ir.Transpose, [t.reshape(y, (1, length, c))], perm=(1, 0))
    return t.emit(ir.Transpose, [y], perm=TO_NCHW)


def _as_2d(values, rank: int, fill: int) -> tuple[int, ...]:
    """Per-axis attributes of a 1-D op as the 2-D op over (1, L): `fill` for the added axis."""
    return tuple(int(v) for v in values) if rank == 2 else (fill, int(values[0]))


def _pads(node, shape, kernel, strides, dilations) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(begin, end) padding of each spatial axis, from `pads` or `auto_pad`."""
    rank = len(shape)
    for what, v in (("kernel_shape", kernel), ("strides", strides), ("dilations", dilations)):
        if len(v) != rank or any(int(d) <= 0 for d in v):
            raise BnnError(f"{what} {list(v)} must be {rank} positive integers", node=node_label(node))
    auto_pad = attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode(errors="replace") if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise BnnError(f"unknown auto_pad '{printable(auto_pad)}'", node=node_label(node))
    if auto_pad in ("NOTSET", ""):
        p = [int(v) for v in attr(node, "pads", [0] * (2 * rank))]
        if len(p) != 2 * rank:
            raise BnnError(f"pads {p} must have {2 * rank} entries for {rank} spatial axes", node=node_label(node))
        if any(d < 0 for d in p):
            raise BnnError(f"negative pads {p}", node=node_label(node))
        return tuple(p[:rank]), tuple(p[rank:])
    if auto_pad == "VALID":
        return (0,) * rank, (0,) * rank
    begin, end = [], []
    for size, k, s, d in zip(shape, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else big)
        end.append(big if auto_pad == "SAME_UPPER" else small)
    return tuple(begin), tuple(end)


def _spatial_attrs(node, x: ir.Tensor, kernel) -> tuple:
    """strides, dilations, pads (top, left, bottom, right) of a 1-D or 2-D op, as the 2-D op takes them."""
    rank = len(x.shape) - 1
    strides = tuple(attr(node, "strides", [1] * rank))
    dilations = tuple(attr(node, "dilations", [1] * rank))
    begin, end = _pads(node, x.shape[1:], kernel, strides, dilations)
    pads = _as_2d(begin, rank, 0) + _as_2d(end, rank, 0)
    return _as_2d(strides, rank, 1), _as_2d(dilations, rank, 1), pads


def h_conv(t: Translator, node, ins):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    if not isinstance(w, np.ndarray):
        raise Unsupported("the kernel of a convolution must be a constant")
    if bias is not None and not isinstance(bias, np.ndarray):
        raise Unsupported("the bias of a convolution must be a constant")
    if not isinstance(x, ir.Tensor) or w.ndim != len(x.shape) + 1 or w.ndim not in (3, 4, 5):
        raise BnnError(f"Conv kernel of shape {w.shape} does not fit an input of rank "
                       f"{len(x.shape) + 1 if isinstance(x, ir.Tensor) else '?'} (1 to 3 spatial axes)",
                       node=node_label(node))
    if attr(node, "kernel_shape") is not None and tuple(attr(node, "kernel_shape")) != w.shape[2:]:
        raise BnnError(f"kernel_shape {attr(node, 'kernel_shape')} does not match the kernel {w.shape}",
                       node=node_label(node))
    x = t.as_float(x) if x.domain == ir.Domain.INT else x
    if w.ndim == 5:
        return h_conv3d(t, node, x, w, bias)
    rank = w.ndim - 2
    strides, dilations, pads = _spatial_attrs(node, x, w.shape[2:])
    xt = _spatial_input(t, x, "Conv")
    kernel = w.reshape(w.shape[:2] + (1,) * (4 - w.ndim) + w.shape[2:])  # 1-D: [O, I, 1, k]
    y = t.emit(ir.Conv2D, [xt], weight=np.ascontiguousarray(kernel.transpose(0, 2, 3, 1), dtype=F32),
               strides=strides, dilations=dilations, pads=pads, groups=int(attr(node, "group", 1)),
               packed_input=xt.domain.is_packed)
    if bias is not None:
        y = t.emit(ir.ChannelOp, [y], kind="add", const=np.asarray(bias, F32).reshape(-1))
    t.finish(node, _spatial_output(t, y, rank))


def h_conv_transpose(t: Translator, node, ins):
    """ConvTranspose (1-D or 2-D) as a convolution: the input's values placed
    `strides` apart with zeros between them, padded by dilation*(k-1) less the
    op's pads (plus output_padding at the end), convolved at stride 1 with the
    kernel flipped and its in/out axes swapped. The stuffed zeros make a binary
    input ternary; the XNOR kernel skips zero taps like zero padding, so a
    binary input and kernel stay exact XNOR/popcount."""
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    if not isinstance(w, np.ndarray) or (bias is not None and not isinstance(bias, np.ndarray)):
        raise Unsupported("the kernel and bias of a transposed convolution must be constants")
    if not isinstance(x, ir.Tensor) or w.ndim != len(x.shape) + 1 or w.ndim not in (3, 4):
        raise Unsupported("only 1-D and 2-D transposed convolutions are supported")
    rank, groups = w.ndim - 2, int(attr(node, "group", 1))
    channels = x.shape[0]
    if w.shape[0] != channels or channels % groups:
        raise BnnError(f"ConvTranspose kernel {w.shape} does not fit {channels} input channels in {groups} group(s)",
                       node=node_label(node))
    kernel, spatial = w.shape[2:], x.shape[1:]
    strides = tuple(int(v) for v in attr(node, "strides", [1] * rank))
    dilations = tuple(int(v) for v in attr(node, "dilations", [1] * rank))
    extra = tuple(int(v) for v in attr(node, "output_padding", [0] * rank))
    for what, v, low in (("strides", strides, 1), ("dilations", dilations, 1), ("output_padding", extra, 0)):
        if len(v) != rank or any(d < low for d in v):
            raise BnnError(f"{what} {list(v)} must be {rank} integers >= {low}", node=node_label(node))
    if any(e >= max(s, d) for e, s, d in zip(extra, strides, dilations)):
        raise BnnError(f"output_padding {list(extra)} must be below the stride or dilation", node=node_label(node))
    full = [(n - 1) * s + e + (k - 1) * d + 1 for n, s, e, k, d in zip(spatial, strides, extra, kernel, dilations)]
    begin, end = _transposed_pads(node, spatial, full, strides)
    if any(b + e >= f for b, e, f in zip(begin, end, full)):
        raise BnnError(f"pads {list(begin) + list(end)} leave no output", node=node_label(node))
    x = t.as_float(x) if x.domain == ir.Domain.INT else x
    xt = _spatial_input(t, x, "ConvTranspose")
    reach = [(k - 1) * d for k, d in zip(kernel, dilations)]
    stuffed_pads = _as_2d([r - b for r, b in zip(reach, begin)], rank, 0) + \
        _as_2d([r - e + o for r, e, o in zip(reach, end, extra)], rank, 0)
    stuffed = t.emit(ir.Dilate, [xt], strides=_as_2d(strides, rank, 1), pads=stuffed_pads)
    # kernel [I, O/g, *k] -> OHWI [O, *k, I/g]: flipped taps, in/out swapped within each group
    cin_g, cout_g = channels // groups, w.shape[1]
    per_group = w.reshape((groups, cin_g, cout_g) + kernel)
    flipped = np.flip(per_group, axis=tuple(range(3, 3 + rank)))
    conv = np.swapaxes(flipped, 1, 2).reshape((groups * cout_g, cin_g) + kernel)
    conv = conv.reshape(conv.shape[:2] + (1,) * (2 - rank) + kernel)
    y = t.emit(ir.Conv2D, [stuffed], weight=np.ascontiguousarray(conv.transpose(0, 2, 3, 1), dtype=F32),
               dilations=_as_2d(dilations, rank, 1), groups=groups, packed_input=stuffed.domain.is_packed)
    if bias is not None:
        y = t.emit(ir.ChannelOp, [y], kind="add", const=np.asarray(bias, F32).reshape(-1))
    t.finish(node, _spatial_output(t, y, rank))


def _transposed_pads(node, spatial, full, strides) -> tuple[list[int], list[int]]:
    """(begin, end) pads of a ConvTranspose: given, or from output_shape or auto_pad
    SAME_* (output = input * stride), split as ONNX says."""
    rank = len(spatial)
    auto_pad = attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode(errors="replace") if isinstance(auto_pad, bytes) else auto_pad
    output_shape = attr(node, "output_shape")
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [n * s for n, s in zip(spatial, strides)]
    if output_shape is not None:
        output_shape = [int(v) for v in output_shape][-rank:]
        total = [f - o for f, o in zip(full, output_shape)]
        if any(v < 0 for v in total):
            raise Unsupported(f"output_shape {output_shape} larger than the transposed convolution makes")
        if auto_pad == "SAME_UPPER":
            return [v // 2 for v in total], [v - v // 2 for v in total]
        return [v - v // 2 for v in total], [v // 2 for v in total]
    if auto_pad not in ("NOTSET", "", "VALID"):
        raise BnnError(f"unknown auto_pad '{printable(auto_pad)}'", node=node_label(node))
    p = [int(v) for v in attr(node, "pads", [0] * (2 * rank))] if auto_pad != "VALID" else [0] * (2 * rank)
    if len(p) != 2 * rank or any(v < 0 for v in p):
        raise BnnError(f"pads {p} must be {2 * rank} integers >= 0", node=node_label(node))
    return p[:rank], p[rank:]


def h_pool(t: Translator, node, ins):
    x = ins[0]
    kind = "max" if "Max" in node.op_type else "avg"
    if kind == "avg" and isinstance(x, ir.Tensor):
        x = t.as_float(x)
    if node.op_type.startswith("Global"):
        if not isinstance(x, ir.Tensor) or len(x.shape) < 2:
            raise Unsupported(f"{node.op_type} needs an (N, C, ...) activation with spatial axes")
        return _global_pool(t, node, x, kind, tuple(range(1, len(x.shape))), keepdims=True)
    if isinstance(x, ir.Tensor) and len(x.shape) == 4:
        return h_pool3d(t, node, x, kind)
    if attr(node, "kernel_shape") is None:
        raise BnnError(f"{node.op_type} has no kernel_shape", node=node_label(node))
    kernel = tuple(attr(node, "kernel_shape"))
    if not isinstance(x, ir.Tensor) or len(x.shape) - 1 != len(kernel):
        raise Unsupported(f"{node.op_type} with a {len(kernel)}-D kernel needs an activation with "
                          f"{len(kernel)} spatial axes")
    rank = len(kernel)
    if any(d != 1 for d in attr(node, "dilations", [1] * rank)):
        raise Unsupported("dilated pooling")
    strides, _, pads = _spatial_attrs(node, x, kernel)
    xt = _spatial_input(t, x, node.op_type)
    y = t.emit(ir.Pool2D, [xt], kind=kind, kernel=_as_2d(kernel, rank, 1), strides=strides, pads=pads,
               count_include_pad=bool(attr(node, "count_include_pad", 0)),
               ceil_mode=bool(attr(node, "ceil_mode", 0)))
    t.finish(node, _spatial_output(t, y, rank))


def _global_pool(t: Translator, node, x: ir.Tensor, kind: str, axes: tuple[int, ...], keepdims: bool):
    """A pool whose window is the whole extent of `axes` (per-sample, contiguous):
    the other axes move last, the reduced ones are flattened into one window,
    and one global Pool2D sums (and averages) them in row-major order."""
    shape = x.shape
    kept = [a for a in range(len(shape)) if a not in axes]
    perm = tuple(axes) + tuple(kept)
    xt = t.emit(ir.Transpose, [x], perm=perm) if perm != tuple(range(len(shape))) else x
    window = int(np.prod([shape[a] for a in axes]))
    channels = int(np.prod([shape[a] for a in kept]))
    if window == 1:
        y = x
    else:
        y = t.emit(ir.Pool2D, [t.reshape(xt, (1, window, 1, channels))], kind=kind, kernel=(window, 1))
    result = tuple(1 if a in axes else d for a, d in enumerate(shape)) if keepdims else \
        tuple(shape[a] for a in kept)
    t.finish(node, t.reshape(y, (1,) + (result or (1,))))


TO_NDHWC, TO_NCDHW = (1, 2, 3, 0), (3, 0, 1, 2)


def _attrs_3d(node, x: ir.Tensor, kernel) -> tuple:
    strides = tuple(int(v) for v in attr(node, "strides", [1, 1, 1]))
    dilations = tuple(int(v) for v in attr(node, "dilations", [1, 1, 1]))
    begin, end = _pads(node, x.shape[1:], kernel, strides, dilations)
    return strides, dilations, begin + end


def h_conv3d(t: Translator, node, x: ir.Tensor, w: np.ndarray, bias):
    """Conv over (N, C, D, H, W): a Conv3D on the (D, H, W, C) volume."""
    strides, dilations, pads = _attrs_3d(node, x, w.shape[2:])
    xt = t.emit(ir.Transpose, [x], perm=TO_NDHWC)
    y = t.emit(ir.Conv3D, [xt], weight=np.ascontiguousarray(w.transpose(0, 2, 3, 4, 1), dtype=F32),
               strides=strides, dilations=dilations, pads=pads, groups=int(attr(node, "group", 1)),
               packed_input=xt.domain.is_packed)
    if bias is not None:
        y = t.emit(ir.ChannelOp, [y], kind="add", const=np.asarray(bias, F32).reshape(-1))
    t.finish(node, t.emit(ir.Transpose, [y], perm=TO_NCDHW))


def h_pool3d(t: Translator, node, x: ir.Tensor, kind: str):
    """MaxPool / AveragePool over (N, C, D, H, W): a Pool3D on the (D, H, W, C) volume."""
    if attr(node, "kernel_shape") is None:
        raise BnnError(f"{node.op_type} has no kernel_shape", node=node_label(node))
    kernel = tuple(int(v) for v in attr(node, "kernel_shape"))
    if any(d != 1 for d in attr(node, "dilations", [1, 1, 1])):
        raise Unsupported("dilated pooling")
    strides, _, pads = _attrs_3d(node, x, kernel)
    xt = t.emit(ir.Transpose, [x], perm=TO_NDHWC)
    y = t.emit(ir.Pool3D, [xt], kind=kind, kernel=kernel, strides=strides, pads=pads,
               count_include_pad=bool(attr(node, "count_include_pad", 0)),
               ceil_mode=bool(attr(node, "ceil_mode", 0)))
    t.finish(node, t.emit(ir.Transpose, [y], perm=TO_NCDHW))


def h_reduce(t: Translator, node, ins):
    """ReduceMean / ReduceSum over per-sample axes (global pooling, e.g. x.mean((2, 3))
    or tf2onnx's GlobalAveragePooling2D at opset 18): a global average or sum pool."""
    x = ins[0]
    if not isinstance(x, ir.Tensor):
        raise Unsupported(f"{node.op_type} of something other than an activation")
    x = t.as_float(x)
    if x.domain != ir.Domain.FLOAT:
        raise Unsupported(f"{node.op_type} in double precision")
    axes_input = node.op_type == "ReduceSum" and t.opset >= 13 or t.opset >= 18
    if axes_input:
        axes = ins[1] if len(ins) > 1 else None
        if axes is not None and not isinstance(axes, np.ndarray):
            raise Unsupported("axes must be a constant")
        if axes is not None and (np.ndim(axes) != 1 or axes.dtype.kind not in "iu"):
            raise BnnError(f"{node.op_type} axes must be a 1-D integer tensor", node=node_label(node))
        axes = None if axes is None or axes.size == 0 else [int(a) for a in axes]
    else:
        axes = attr(node, "axes", None)
    full = len(x.shape) + 1
    if axes is None:
        if attr(node, "noop_with_empty_axes", 0):
            t.bind(node.output[0], x)
            return
        axes = list(range(full))
    if any(not -full <= a < full for a in axes) or len({a % full for a in axes}) != len(axes):
        raise BnnError(f"{node.op_type} axes {axes} are repeated or out of range for rank {full}",
                       node=node_label(node))
    axes = sorted(a % full for a in axes)
    if 0 in axes:
        raise Unsupported(f"{node.op_type} over the batch axis")
    per_sample = tuple(a - 1 for a in axes)
    if per_sample != tuple(range(per_sample[0], per_sample[-1] + 1)):
        raise Unsupported(f"{node.op_type} over axes {axes} that are not next to each other")
    _global_pool(t, node, x, "avg" if node.op_type == "ReduceMean" else "sum", per_sample,
                 keepdims=bool(attr(node, "keepdims", 1)))


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
