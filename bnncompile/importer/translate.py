"""ONNX nodes -> IR ops.

Walks the graph in topological order keeping, for every ONNX tensor name,
one of: a constant (numpy array), an IR tensor, or a pending comparison
(`Condition`, the boolean of `x >= c` before a `Where` or `Cast` turns it
into numbers). Nodes whose inputs are all constants are folded; this is how
exporter clutter (Shape/ConstantOfShape/Neg) and quantizers applied to
latent weights disappear. The batch dimension is fixed to 1 and dropped:
IR shapes are per sample.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import onnx
from onnx import numpy_helper

from .. import ir
from ..errors import BnnError
from .folding import fold_node
from .loading import check_types, printable
from .qonnx_ops import QONNX_DOMAINS

F32 = np.float32
MAX_ELEMENTS = 1 << 28  # per tensor; beyond this no microcontroller or test makes sense


@dataclass(frozen=True)
class Condition:
    """Boolean tensor `x <cmp> c` for a scalar constant c; cmp in ge, gt, le, lt."""

    tensor: str
    cmp: str
    const: float


NEGATED = {"ge": "lt", "gt": "le", "le": "gt", "lt": "ge"}
COMPARE_OPS = {"GreaterOrEqual": "ge", "Greater": "gt", "LessOrEqual": "le", "Less": "lt"}
SWAPPED = {"ge": "le", "gt": "lt", "le": "ge", "lt": "gt"}


class Unsupported(Exception):
    """A node we cannot translate; collected so that one message lists all."""


def node_label(node: onnx.NodeProto) -> str:
    """The node's name for messages and the C comments (made printable: it is untrusted text)."""
    return printable(node.name or f"{node.op_type}->{node.output[0] if node.output else '?'}")


class Translator:
    def __init__(self, model: onnx.ModelProto, opset: int):
        self.model = model
        self.opset = opset
        self.values: dict[str, object] = {}
        self.tensors: dict[str, ir.Tensor] = {}
        self.ops: list[ir.Op] = []
        self.node: onnx.NodeProto | None = None
        self._counter = 0

    # ------------------------------------------------------------ emitting

    def emit(self, cls, inputs: list[ir.Tensor], out: str | None = None, **attrs) -> ir.Tensor:
        """Append an IR op; `out` names its result (default: a fresh name)."""
        for f in fields(cls):
            value = attrs.get(f.name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise BnnError(f"{f.name} holds NaN or infinite values", node=node_label(self.node),
                               hint="the model's parameters must be finite")
        if out is None:
            self._counter += 1
            out = f"{self.node.output[0]}::{self._counter}"
        op = cls(inputs=tuple(t.name for t in inputs), output=out, origin=node_label(self.node), **attrs)
        try:
            tensor = op.output_tensor(inputs)
        except (TypeError, ValueError) as exc:
            raise BnnError(str(exc), node=node_label(self.node)) from None
        if any(d <= 0 for d in tensor.shape):
            raise BnnError(f"tensor '{out}' would have shape {tensor.shape}, with no elements",
                           node=node_label(self.node))
        if tensor.size > MAX_ELEMENTS:
            raise BnnError(f"tensor '{out}' has {tensor.size} elements, too many", node=node_label(self.node))
        self.ops.append(op)
        self.tensors[out] = tensor
        return tensor

    def as_float(self, t: ir.Tensor) -> ir.Tensor:
        return t if t.domain == ir.Domain.FLOAT else self.emit(ir.Cast, [t])

    def bind(self, name: str, value) -> None:
        self.values[name] = value

    def rename_last(self, onnx_name: str) -> ir.Tensor:
        """Give the last emitted op's output the ONNX name (so layer checks can find it)."""
        op = self.ops[-1]
        old = self.tensors.pop(op.output)
        object.__setattr__(op, "output", onnx_name)
        t = ir.Tensor(onnx_name, old.shape, old.domain, old.int_range)
        self.tensors[onnx_name] = t
        return t

    def finish(self, node: onnx.NodeProto, result: ir.Tensor, index: int = 0) -> None:
        """Bind ONNX output `index` to `result`, naming the IR tensor after it when it is fresh."""
        name = node.output[index]
        if self.ops and self.ops[-1].output == result.name and "::" in result.name:
            result = self.rename_last(name)
        self.bind(name, result)

    # ------------------------------------------------------------ helpers

    def per_sample_const(self, c: np.ndarray, x: ir.Tensor) -> np.ndarray:
        """An ONNX constant broadcast against a batch-1 activation, as a per-sample array."""
        c = np.asarray(c)
        if c.dtype.kind not in "fiu":
            raise Unsupported(f"constant of type {c.dtype}")
        full_rank = len(x.shape) + 1
        if c.ndim > full_rank or (c.ndim == full_rank and c.shape[0] != 1):
            raise Unsupported("constant would broadcast over the batch dimension")
        if c.ndim == full_rank:
            c = c.reshape(c.shape[1:])
        try:
            grown = tuple(np.broadcast_shapes(x.shape, c.shape))
        except ValueError:
            raise BnnError(f"constant of shape {c.shape} does not broadcast against activation of shape {x.shape}",
                           node=node_label(self.node)) from None
        if grown != x.shape:
            raise Unsupported(f"constant of shape {c.shape} would grow activation of shape {x.shape}")
        return c.astype(F32)

    def scalar(self, c: np.ndarray, what: str) -> float:
        c = np.asarray(c)
        if c.size == 0 or not np.all(c == c.flat[0]):
            raise Unsupported(f"{what} must be a single value")
        return float(c.flat[0])

    def binarize_condition(self, cond: Condition) -> ir.Tensor:
        """Bipolar tensor that is +1 exactly where `cond` holds.

        For floats, x - c >= 0 iff x >= c (subtraction keeps the sign and is
        zero only for x == c), so the comparison becomes a binarizer."""
        x = self.as_float(self.tensors[cond.tensor])
        c = F32(cond.const)
        if cond.cmp in ("ge", "gt"):
            if c != 0:
                x = self.emit(ir.ChannelOp, [x], kind="sub", const=np.array(c, F32))
        else:
            x = self.emit(ir.ChannelOp, [x], kind="rsub", const=np.array(c, F32))
        return self.emit(ir.Binarize, [x], mode="ge" if cond.cmp in ("ge", "le") else "gt")

    def map_bipolar(self, s: ir.Tensor, hi: float, lo: float) -> ir.Tensor:
        """Values hi where s is +1 and lo where s is -1, computed exactly."""
        if (hi, lo) == (1.0, -1.0):
            return s
        half_span, mid = F32((hi - lo) / 2), F32((hi + lo) / 2)
        for v, want in ((1.0, hi), (-1.0, lo)):
            if float(F32(F32(v) * half_span) + mid) != want:
                raise Unsupported(f"cannot map a binarizer to the values ({hi}, {lo}) exactly")
        y = self.emit(ir.Cast, [s])
        if half_span != 1:
            y = self.emit(ir.ChannelOp, [y], kind="mul", const=np.array(half_span, F32))
        if mid != 0:
            y = self.emit(ir.ChannelOp, [y], kind="add", const=np.array(mid, F32))
        return y

    def reshape(self, x: ir.Tensor, full_shape: tuple[int, ...]) -> ir.Tensor:
        if not full_shape or full_shape[0] != 1:
            raise Unsupported(f"reshape to {full_shape} mixes the batch dimension with data")
        shape = tuple(int(d) for d in full_shape[1:])
        if shape == x.shape:
            return x
        if x.domain.is_packed and shape[-1:] != x.shape[-1:]:
            x = self.emit(ir.Cast, [x])  # repacking bits is not a no-op; unpack first
        return self.emit(ir.Reshape, [x], shape=shape)


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


# ------------------------------------------------------------------ handlers
# Each handler gets the translator, the node and its resolved inputs
# (np.ndarray for constants, ir.Tensor, Condition, or None for an empty name).


def h_matmul(t: Translator, node, ins):
    x, w = ins
    if not isinstance(x, ir.Tensor) or not isinstance(w, np.ndarray) or w.ndim != 2:
        raise Unsupported("only activation @ constant 2-D weight is supported")
    x = t.as_float(x) if x.domain == ir.Domain.INT else x
    if x.shape[-1] != w.shape[0]:
        raise BnnError(f"MatMul shapes {x.shape} and {w.shape} do not fit", node=node_label(node))
    t.finish(node, t.emit(ir.Dense, [x], weight=w.astype(F32)))


def h_gemm(t: Translator, node, ins):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    if not isinstance(a, ir.Tensor) or not isinstance(b, np.ndarray) or _attr(node, "transA", 0):
        raise Unsupported("only Gemm(activation, constant weight) without transA is supported")
    if b.ndim != 2:
        raise BnnError(f"Gemm weight of shape {b.shape} is not 2-D", node=node_label(node))
    w = b.T if _attr(node, "transB", 0) else b
    if a.shape[-1] != w.shape[0]:
        raise BnnError(f"Gemm shapes {a.shape} and {b.shape} do not fit", node=node_label(node))
    a = t.as_float(a) if a.domain == ir.Domain.INT else a
    y = t.emit(ir.Dense, [a], weight=np.ascontiguousarray(w, dtype=F32))
    alpha, beta = F32(_attr(node, "alpha", 1.0)), F32(_attr(node, "beta", 1.0))
    if alpha != 1:
        y = t.emit(ir.ChannelOp, [y], kind="mul", const=np.array(alpha, F32))
    if c is not None:
        if not isinstance(c, np.ndarray):
            raise Unsupported("Gemm bias must be a constant")
        bias = np.asarray(c, F32) * beta if beta != 1 else np.asarray(c, F32)
        y = t.emit(ir.ChannelOp, [y], kind="add", const=t.per_sample_const(bias, y))
    t.finish(node, y)


def h_batchnorm(t: Translator, node, ins):
    x, scale, bias, mean, var = ins[:5]
    if _attr(node, "training_mode", 0):
        raise Unsupported("BatchNormalization in training mode")
    if not isinstance(x, ir.Tensor) or not all(isinstance(p, np.ndarray) for p in (scale, bias, mean, var)):
        raise Unsupported("BatchNormalization parameters must be constants")
    x = t.as_float(x)
    for what, p in zip(("scale", "B", "input_mean", "input_var"), (scale, bias, mean, var)):
        if p.shape != (x.shape[0],):
            raise BnnError(f"BatchNormalization {what} has shape {p.shape}, not ({x.shape[0]},) for "
                           f"{x.shape[0]} channels", node=node_label(node))
    eps = F32(_attr(node, "epsilon", 1e-5))
    # onnxruntime's inference kernel: inv_std = 1/sqrt(var+eps), s = scale*inv_std,
    # b = bias - mean*s, y = x*s + b (each a float32 rounding; checked bitwise in tests).
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_std = (F32(1) / np.sqrt(var.astype(F32) + eps)).astype(F32)
    if not np.all(np.isfinite(inv_std)):
        raise BnnError("BatchNormalization input_var + epsilon must be positive and finite "
                       f"(1/sqrt(var + eps) is {inv_std[~np.isfinite(inv_std)][0]} for a channel)",
                       node=node_label(node))
    s = (scale.astype(F32) * inv_std).astype(F32)
    b = (bias.astype(F32) - (mean.astype(F32) * s).astype(F32)).astype(F32)
    shape = (x.shape[0],) + (1,) * (len(x.shape) - 1)
    y = t.emit(ir.ChannelOp, [x], kind="mul", const=s.reshape(shape))
    t.finish(node, t.emit(ir.ChannelOp, [y], kind="add", const=b.reshape(shape)))


def _arith(kind_x_c: str, kind_c_x: str):
    def handler(t: Translator, node, ins):
        a, b = ins
        if isinstance(a, ir.Tensor) and isinstance(b, np.ndarray):
            x, c, kind = a, b, kind_x_c
        elif isinstance(b, ir.Tensor) and isinstance(a, np.ndarray):
            x, c, kind = b, a, kind_c_x
        else:
            raise Unsupported("elementwise op between two activations")
        x = t.as_float(x)
        t.finish(node, t.emit(ir.ChannelOp, [x], kind=kind, const=t.per_sample_const(c, x)))

    return handler


def h_neg(t: Translator, node, ins):
    x = t.as_float(ins[0])
    t.finish(node, t.emit(ir.ChannelOp, [x], kind="mul", const=np.array(-1, F32)))


def h_sign(t: Translator, node, ins):
    t.finish(node, t.emit(ir.Binarize, [t.as_float(ins[0])], mode="sign"))


def h_bipolar_quant(t: Translator, node, ins):
    x, scale = ins
    if not isinstance(scale, np.ndarray):
        raise Unsupported("BipolarQuant scale must be a constant")
    y = t.emit(ir.Binarize, [t.as_float(x)], mode="ge")
    if np.any(scale != 1):
        y = t.emit(ir.ChannelOp, [t.emit(ir.Cast, [y])], kind="mul", const=t.per_sample_const(scale, y))
    t.finish(node, y)


def h_compare(t: Translator, node, ins):
    a, b = ins
    cmp = COMPARE_OPS[node.op_type]
    if isinstance(a, ir.Tensor) and isinstance(b, np.ndarray):
        t.bind(node.output[0], Condition(a.name, cmp, t.scalar(b, "comparison constant")))
    elif isinstance(b, ir.Tensor) and isinstance(a, np.ndarray):
        t.bind(node.output[0], Condition(b.name, SWAPPED[cmp], t.scalar(a, "comparison constant")))
    else:
        raise Unsupported("comparison must be between an activation and a constant")


def h_not(t: Translator, node, ins):
    c = ins[0]
    if not isinstance(c, Condition):
        raise Unsupported("Not of something other than a comparison")
    t.bind(node.output[0], Condition(c.tensor, NEGATED[c.cmp], c.const))


def h_where(t: Translator, node, ins):
    cond, hi, lo = ins
    if not isinstance(cond, Condition) or not isinstance(hi, np.ndarray) or not isinstance(lo, np.ndarray):
        raise Unsupported("only Where(activation compared with a constant, constant, constant) is supported")
    s = t.binarize_condition(cond)
    t.finish(node, t.map_bipolar(s, t.scalar(hi, "Where value"), t.scalar(lo, "Where value")))


def h_cast(t: Translator, node, ins):
    x = ins[0]
    to = _attr(node, "to")
    if to is None:
        raise BnnError("Cast has no 'to' attribute", node=node_label(node))
    if to not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
        name = onnx.TensorProto.DataType.Name(to) if to in onnx.TensorProto.DataType.values() else to
        raise Unsupported(f"Cast to {name}")
    if isinstance(x, Condition):
        t.finish(node, t.map_bipolar(t.binarize_condition(x), 1.0, 0.0))
    else:
        t.bind(node.output[0], x)


def h_identity(t: Translator, node, ins):
    t.bind(node.output[0], ins[0])


def h_relu(t: Translator, node, ins):
    t.finish(node, t.emit(ir.Relu, [t.as_float(ins[0])]))


def h_clip(t: Translator, node, ins):
    x = t.as_float(ins[0])
    if t.opset < 11:
        lo, hi = _attr(node, "min", -np.inf), _attr(node, "max", np.inf)
    else:
        bounds = [ins[i] if len(ins) > i else None for i in (1, 2)]
        if any(b is not None and not isinstance(b, np.ndarray) for b in bounds):
            raise Unsupported("Clip bounds must be constants")
        lo = -np.inf if bounds[0] is None else t.scalar(bounds[0], "Clip min")
        hi = np.inf if bounds[1] is None else t.scalar(bounds[1], "Clip max")
    t.finish(node, t.emit(ir.Clip, [x], lo=float(lo), hi=float(hi)))


def h_softmax(t: Translator, node, ins):
    x = t.as_float(ins[0])
    rank = len(x.shape) + 1
    axis = _attr(node, "axis", -1 if t.opset >= 13 else 1)
    axis = axis + rank if axis < 0 else axis
    if axis != rank - 1 and not (t.opset < 13 and axis == 1 and rank == 2):
        raise Unsupported(f"{node.op_type} over axis {axis} (only the last axis is supported)")
    t.finish(node, t.emit(ir.Softmax, [x], log=node.op_type == "LogSoftmax"))


def h_flatten(t: Translator, node, ins):
    x = ins[0]
    axis = _attr(node, "axis", 1)
    full = (1,) + x.shape
    if not -len(full) <= axis <= len(full):
        raise BnnError(f"Flatten axis {axis} is out of range for rank {len(full)}", node=node_label(node))
    axis = axis + len(full) if axis < 0 else axis
    if axis == 0:
        raise Unsupported("Flatten with axis 0 mixes the batch dimension with data")
    new = (int(np.prod(full[:axis])), int(np.prod(full[axis:])))
    t.finish(node, t.reshape(x, new))


def h_reshape(t: Translator, node, ins):
    x, shape = ins[0], ins[1]
    if not isinstance(shape, np.ndarray):
        raise Unsupported("Reshape target shape must be a constant")
    if shape.ndim != 1 or shape.dtype.kind not in "iu":
        raise BnnError(f"Reshape target must be a 1-D integer tensor, not {shape.dtype} of shape {shape.shape}",
                       node=node_label(node))
    target = [int(d) for d in shape]
    full = (1,) + x.shape
    if not _attr(node, "allowzero", 0):
        target = [full[i] if d == 0 else d for i, d in enumerate(target)]
    try:
        new = np.empty(full, dtype=np.uint8).reshape(target).shape
    except ValueError:
        raise BnnError(f"cannot reshape {full} to {target}", node=node_label(node)) from None
    t.finish(node, t.reshape(x, new))


def _squeeze_axes(t: Translator, node, ins):
    if t.opset >= 13 and len(ins) > 1 and ins[1] is not None:
        if not isinstance(ins[1], np.ndarray):
            raise Unsupported("axes must be a constant")
        if np.ndim(ins[1]) != 1 or ins[1].dtype.kind not in "iu":
            raise BnnError(f"{node.op_type} axes must be a 1-D integer tensor", node=node_label(node))
        return [int(a) for a in ins[1]]
    return _attr(node, "axes", None)


def h_squeeze(t: Translator, node, ins):
    x = ins[0]
    full = list((1,) + x.shape)
    axes = _squeeze_axes(t, node, ins)
    if axes is None:
        axes = [i for i, d in enumerate(full) if d == 1 and i > 0]
    if any(not -len(full) <= a < len(full) or full[a] != 1 for a in axes):
        raise BnnError(f"Squeeze axes {list(axes)} do not name size-1 axes of {tuple(full)}", node=node_label(node))
    axes = [a + len(full) if a < 0 else a for a in axes]
    if 0 in axes:
        raise Unsupported("Squeeze of the batch dimension")
    t.finish(node, t.reshape(x, tuple(d for i, d in enumerate(full) if i not in axes)))


def h_unsqueeze(t: Translator, node, ins):
    x = ins[0]
    full = list((1,) + x.shape)
    axes = _squeeze_axes(t, node, ins)
    rank = len(full) + len(axes or ())
    if not axes or any(not -rank <= a < rank for a in axes) or \
            len({a % rank for a in axes}) != len(axes):
        raise BnnError(f"Unsqueeze axes {axes} are missing, repeated or out of range for rank {rank}",
                       node=node_label(node))
    for a in sorted(a + rank if a < 0 else a for a in axes):
        if a == 0:
            raise Unsupported("Unsqueeze before the batch dimension")
        full.insert(a, 1)
    t.finish(node, t.reshape(x, tuple(full)))


def h_transpose(t: Translator, node, ins):
    x = ins[0]
    full = (1,) + x.shape
    perm = _attr(node, "perm", list(reversed(range(len(full)))))
    if sorted(perm) != list(range(len(full))):
        raise BnnError(f"Transpose perm {list(perm)} is not a permutation of the {len(full)} axes",
                       node=node_label(node))
    # Only permutations that keep the row-major order of the data (they move
    # size-1 axes, e.g. NHWC <-> NCHW with one channel) are free reshapes.
    if perm[0] != 0:
        raise Unsupported("Transpose that moves the batch axis")
    moved = [p for p in perm if full[p] != 1]
    if moved == sorted(moved):  # only size-1 axes move: the data keeps its order
        t.finish(node, t.reshape(x, tuple(full[p] for p in perm)))
        return
    t.finish(node, t.emit(ir.Transpose, [x], perm=tuple(p - 1 for p in perm[1:])))


def h_dropout(t: Translator, node, ins):
    t.bind(node.output[0], ins[0])


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
    auto_pad = _attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode(errors="replace") if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise BnnError(f"unknown auto_pad '{printable(auto_pad)}'", node=node_label(node))
    if auto_pad in ("NOTSET", ""):
        p = list(_attr(node, "pads", [0, 0, 0, 0]))
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
    strides = tuple(_attr(node, "strides", [1, 1]))
    dilations = tuple(_attr(node, "dilations", [1, 1]))
    kernel = w.shape[2:]
    if _attr(node, "kernel_shape") is not None and tuple(_attr(node, "kernel_shape")) != kernel:
        raise BnnError(f"kernel_shape {_attr(node, 'kernel_shape')} does not match the kernel {w.shape}",
                       node=node_label(node))
    pads = _pads_2d(node, xt.shape[:2], kernel, strides, dilations)
    y = t.emit(ir.Conv2D, [xt], weight=np.ascontiguousarray(w.transpose(0, 2, 3, 1), dtype=F32),
               strides=strides, dilations=dilations, pads=pads, groups=int(_attr(node, "group", 1)),
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
        if _attr(node, "kernel_shape") is None:
            raise BnnError(f"{node.op_type} has no kernel_shape", node=node_label(node))
        kernel = tuple(_attr(node, "kernel_shape"))
        strides = tuple(_attr(node, "strides", [1, 1]))
        if any(d != 1 for d in _attr(node, "dilations", [1, 1])):
            raise Unsupported("dilated pooling")
        pads = _pads_2d(node, xt.shape[:2], kernel, strides, (1, 1))
        if _attr(node, "ceil_mode", 0):
            h, w = xt.shape[:2]
            for size, k, s, b, e in ((h, kernel[0], strides[0], pads[0], pads[2]),
                                     (w, kernel[1], strides[1], pads[1], pads[3])):
                if (size + b + e - k) % s:
                    raise Unsupported("ceil_mode pooling that changes the output size")
        include = bool(_attr(node, "count_include_pad", 0))
    y = t.emit(ir.Pool2D, [xt], kind=kind, kernel=tuple(kernel), strides=strides, pads=pads,
               count_include_pad=include)
    t.finish(node, t.emit(ir.Transpose, [y], perm=TO_NCHW))


def h_pad(t: Translator, node, ins):
    x = ins[0]
    mode = _attr(node, "mode", b"constant")
    if (mode.decode(errors="replace") if isinstance(mode, bytes) else mode) != "constant":
        raise Unsupported("only constant padding")
    if t.opset < 11:
        pads, value = list(_attr(node, "pads")), float(_attr(node, "value", 0.0))
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


def h_add_or_arith(t: Translator, node, ins):
    a, b = ins
    if isinstance(a, ir.Tensor) and isinstance(b, ir.Tensor):
        a, b = t.as_float(a), t.as_float(b)
        if a.shape != b.shape:
            raise Unsupported(f"broadcasting Add of activations {a.shape} and {b.shape}")
        t.finish(node, t.emit(ir.Add, [a, b]))
        return
    _arith("add", "add")(t, node, ins)


def h_concat(t: Translator, node, ins):
    if not all(isinstance(v, ir.Tensor) for v in ins):
        raise Unsupported("Concat with constants")
    axis = _attr(node, "axis")
    full = len(ins[0].shape) + 1
    if axis is None or not -full <= axis < full:
        raise BnnError(f"Concat axis {axis} is missing or out of range for rank {full}", node=node_label(node))
    axis = axis % full
    if axis == 0:
        raise Unsupported("Concat along the batch axis")
    t.finish(node, t.emit(ir.Concat, [t.as_float(v) for v in ins], axis=axis - 1))


HANDLERS = {
    "MatMul": h_matmul,
    "Gemm": h_gemm,
    "BatchNormalization": h_batchnorm,
    "Add": h_add_or_arith,
    "Sub": _arith("sub", "rsub"),
    "Mul": _arith("mul", "mul"),
    "Div": _arith("div", "rdiv"),
    "Neg": h_neg,
    "Sign": h_sign,
    "BipolarQuant": h_bipolar_quant,
    "GreaterOrEqual": h_compare,
    "Greater": h_compare,
    "LessOrEqual": h_compare,
    "Less": h_compare,
    "Not": h_not,
    "Where": h_where,
    "Cast": h_cast,
    "Identity": h_identity,
    "Relu": h_relu,
    "Clip": h_clip,
    "Softmax": h_softmax,
    "LogSoftmax": h_softmax,
    "Flatten": h_flatten,
    "Reshape": h_reshape,
    "Squeeze": h_squeeze,
    "Unsqueeze": h_unsqueeze,
    "Transpose": h_transpose,
    "Dropout": h_dropout,
    "Conv": h_conv,
    "MaxPool": h_pool,
    "AveragePool": h_pool,
    "GlobalAveragePool": h_pool,
    "GlobalMaxPool": h_pool,
    "Pad": h_pad,
    "Concat": h_concat,
}


def _check_arity(node: onnx.NodeProto, opset: int) -> None:
    """Input and output counts and attribute types the op's schema allows (unknown ops are reported later)."""
    schema = None
    if node.domain in QONNX_DOMAINS and node.op_type == "BipolarQuant":
        limits = (2, 2, 1, 1)
    else:
        try:
            schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
        except Exception:  # not a standard op at this opset
            if node.domain in ("", "ai.onnx") and node.op_type in HANDLERS:
                raise Unsupported(f"{node.op_type} does not exist in ONNX opset {opset}") from None
            return
        limits = (schema.min_input, schema.max_input, schema.min_output, schema.max_output)
    if not limits[0] <= len(node.input) <= limits[1] or not limits[2] <= len(node.output) <= limits[3]:
        raise BnnError(f"{node.op_type} has {len(node.input)} input(s) and {len(node.output)} output(s); "
                       f"it takes {limits[0]}..{limits[1]} inputs and {limits[2]}..{limits[3]} outputs",
                       node=node_label(node))
    for a in node.attribute if schema is not None else ():
        spec = schema.attributes.get(a.name)
        if spec is None:
            raise BnnError(f"{node.op_type} has no attribute '{printable(a.name)}'", node=node_label(node),
                           hint="onnxruntime refuses unknown attributes too")
        if int(spec.type) != a.type:
            kind = onnx.AttributeProto.AttributeType.Name(a.type) \
                if a.type in onnx.AttributeProto.AttributeType.values() else f"type {a.type}"
            raise BnnError(f"attribute '{printable(a.name)}' is {kind}; {node.op_type} takes {spec.type.name}",
                           node=node_label(node))


def translate_node(t: Translator, node: onnx.NodeProto) -> None:
    _check_arity(node, t.opset)
    ins = [t.values[name] if name else None for name in node.input]
    t.node = node
    # Overflow/NaN in parameters is refused by emit() with the node's name; numpy's
    # RuntimeWarnings on the way there would only add noise to the one-line error.
    with np.errstate(all="ignore"):
        _translate(t, node, ins)


def _folded_size(node: onnx.NodeProto, ins: list) -> float:
    """Elements the ops that make big constants from small ones would allocate (0: not one of them)."""
    try:
        if node.op_type == "ConstantOfShape":
            return float(np.prod(ins[0].astype(np.float64)))
        if node.op_type == "Expand":
            return float(np.prod(np.broadcast_shapes(ins[0].shape, tuple(int(d) for d in ins[1])), dtype=np.float64))
        if node.op_type == "Tile":
            return ins[0].size * float(np.prod(ins[1].astype(np.float64)))
        if node.op_type == "Range":
            return float((ins[1].astype(np.float64) - ins[0]) / ins[2])
    except Exception:  # malformed: the evaluator says what is wrong
        pass
    return 0.0


def _translate(t: Translator, node: onnx.NodeProto, ins: list) -> None:
    if all(v is None or isinstance(v, np.ndarray) for v in ins):
        if _folded_size(node, ins) > MAX_ELEMENTS:
            raise BnnError(f"{node.op_type} on constants would make {_folded_size(node, ins):.3g} elements, too many",
                           node=node_label(node))
        try:
            folded = fold_node(node, ins, t.opset)
        except (ValueError, TypeError, IndexError) as exc:  # QONNX numpy semantics on ill-shaped constants
            raise BnnError(f"cannot evaluate {node.op_type} on constants: {exc}", node=node_label(node)) from None
        for name, value in zip(node.output, folded):
            if np.asarray(value).size > MAX_ELEMENTS:
                raise BnnError(f"{node.op_type} on constants made {np.asarray(value).size} elements, too many",
                               node=node_label(node))
            t.bind(name, value)
        return
    if node.op_type == "Shape" and isinstance(ins[0], ir.Tensor):
        full = np.array((1,) + ins[0].shape, dtype=np.int64)
        start, end = _attr(node, "start", 0), _attr(node, "end", None)
        if not isinstance(start, int) or not isinstance(end, (int, type(None))):
            raise BnnError("Shape start and end must be integers", node=node_label(node))
        t.bind(node.output[0], full[start:end])
        return
    if node.op_type == "BipolarQuant":  # a QONNX op: not in the standard domain
        known_domain = node.domain in QONNX_DOMAINS
    else:
        known_domain = node.domain in ("", "ai.onnx")
    handler = HANDLERS.get(node.op_type) if known_domain else None
    if handler is None:
        raise Unsupported("this op is not supported")
    for v in ins:
        if isinstance(v, Condition) and node.op_type not in ("Where", "Cast", "Not"):
            raise Unsupported("boolean input to an op that needs numbers")
    handler(t, node, ins)


def initial_values(model: onnx.ModelProto) -> tuple[dict[str, object], str, ir.Tensor]:
    """Constants from initializers and the one real input (batch fixed to 1)."""
    g = model.graph
    values: dict[str, object] = {}
    for init in g.initializer:
        try:
            values[init.name] = numpy_helper.to_array(init)
        except Exception as exc:
            raise BnnError(f"initializer '{init.name}' cannot be read: {exc}") from None
    real_inputs = [i for i in g.input if i.name not in values]
    if len(real_inputs) != 1:
        names = ", ".join(i.name for i in real_inputs) or "none"
        raise BnnError(f"the model must have exactly one input that is not an initializer; it has: {names}")
    inp = real_inputs[0]
    ttype = inp.type.tensor_type
    if not inp.type.HasField("tensor_type") or ttype.elem_type != onnx.TensorProto.FLOAT:
        kind = "non-tensor" if not inp.type.HasField("tensor_type") else (
            onnx.TensorProto.DataType.Name(ttype.elem_type) if ttype.elem_type in onnx.TensorProto.DataType.values()
            else f"of unknown element type {ttype.elem_type}")
        raise BnnError(f"input '{inp.name}' is {kind}; bnncompile takes float32 inputs")
    dims = []
    for i, d in enumerate(ttype.shape.dim):
        if d.HasField("dim_value") and (d.dim_value == 0 or (d.dim_value < 0 and i > 0)):
            raise BnnError(f"input '{printable(inp.name)}' has dimension {i} of size {d.dim_value}",
                           hint="every dimension but the batch must be positive")
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif i == 0:
            dims.append(1)
        else:
            raise BnnError(f"input '{inp.name}' has a dynamic dimension {i}; only the batch may be dynamic")
    if not dims:
        raise BnnError(f"input '{inp.name}' has no shape")
    if dims[0] != 1:
        raise BnnError(f"input '{inp.name}' has a fixed batch of {dims[0]}",
                       hint="export with batch 1 or a dynamic batch dimension")
    shape = tuple(dims[1:]) or (1,)
    if int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
        raise BnnError(f"input '{inp.name}' of shape {dims} is absurdly large")
    check_types(model)
    return values, inp.name, ir.Tensor(inp.name, shape, ir.Domain.FLOAT)


def topological_nodes(graph: onnx.GraphProto, known: set[str]) -> list[onnx.NodeProto]:
    """Nodes in dependency order; a cycle or a missing input is an error."""
    pending = list(graph.node)
    available = set(known) | {""}
    producer: dict[str, onnx.NodeProto] = {}
    named: dict[str, onnx.NodeProto] = {}
    for n in pending:
        if n.name and named.setdefault(n.name, n) is not n:
            raise BnnError("two nodes have this name", node=node_label(n))
        for o in n.output:
            if o and (o in known or producer.setdefault(o, n) is not n):
                raise BnnError(f"tensor '{printable(o)}' is produced twice (by this node and by "
                               f"{'an initializer or the input' if o in known else repr(node_label(producer[o]))})",
                               node=node_label(n))
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            missing = sorted({i for n in pending for i in n.input if i not in available
                              and not any(i in m.output for m in pending)})
            if missing:
                raise BnnError(f"tensor '{missing[0]}' is used but never produced (missing initializer?)",
                               node=node_label(next(n for n in pending if missing[0] in n.input)))
            raise BnnError("the graph has a cycle", node=node_label(pending[0]))
        ready_ids = {id(n) for n in ready}
        for n in ready:
            ordered.append(n)
            available.update(n.output)
        pending = [n for n in pending if id(n) not in ready_ids]
    return ordered
