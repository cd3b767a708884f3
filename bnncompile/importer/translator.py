"""The state the node handlers write to while the importer walks the graph.

A `Translator` keeps, for every ONNX tensor name, one of: a constant (numpy
array), an IR tensor, or a pending comparison (`Condition`, the boolean of
`x >= c` before a `Where` or `Cast` turns it into numbers), and appends the
IR ops the handlers emit. The batch dimension is fixed to 1 and dropped: IR
shapes are per sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from .. import ir
from ..errors import BnnError
from ..limits import WEIGHTS
from .folding import FoldBudget
from .loading import printable

F32 = np.float32
MAX_ELEMENTS = 1 << 28  # per tensor; beyond this no microcontroller or test makes sense


@dataclass(frozen=True, eq=False)
class Condition:
    """Boolean tensor `x <cmp> c`; cmp in ge, gt, le, lt. `const` is a per-sample
    array broadcasting against x without growing it, in x's precision."""

    tensor: str
    cmp: str
    const: np.ndarray


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
        self.fold_budget = FoldBudget()
        self.weights = 0  # values of all Dense/Conv2D weights emitted so far
        self._label_of: onnx.NodeProto | None = None
        self._label = ""

    # ------------------------------------------------------------ emitting

    @property
    def label(self) -> str:
        """node_label of the node being translated (computed once per node)."""
        if self._label_of is not self.node:
            self._label_of, self._label = self.node, node_label(self.node)
        return self._label

    def emit(self, cls, inputs: list[ir.Tensor], out: str | None = None, **attrs) -> ir.Tensor:
        """Append an IR op; `out` names its result (default: a fresh name)."""
        for key, value in attrs.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise BnnError(f"{key} holds NaN or infinite values", node=self.label,
                               hint="the model's parameters must be finite")
        if out is None:
            self._counter += 1
            out = f"{self.node.output[0]}::{self._counter}"
        op = cls(inputs=tuple(t.name for t in inputs), output=out, origin=self.label, **attrs)
        try:
            tensor = op.output_tensor(inputs)
        except (TypeError, ValueError) as exc:
            raise BnnError(str(exc), node=self.label) from None
        if any(d <= 0 for d in tensor.shape):
            raise BnnError(f"tensor '{out}' would have shape {tensor.shape}, with no elements", node=self.label)
        if tensor.size > MAX_ELEMENTS:
            raise BnnError(f"tensor '{out}' has {tensor.size} elements, too many", node=self.label)
        weight = getattr(op, "weight", None)
        if weight is not None:
            self.weights += int(weight.size)
            WEIGHTS.check(self.weights, "the dense and convolution weights of this model", node=self.label)
        self.ops.append(op)
        self.tensors[out] = tensor
        return tensor

    def as_float(self, t: ir.Tensor) -> ir.Tensor:
        """Real values of t: INT and binarized tensors are cast to float32; FLOAT64 stays."""
        return t if t.domain.is_real else self.emit(ir.Cast, [t])

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
        """An ONNX constant broadcast against a batch-1 activation, as a per-sample array
        in the activation's precision (float64 for a FLOAT64 tensor, else float32).
        A constant that would make the result larger than x is refused."""
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
        return _broadcast_core(c).astype(np.float64 if x.domain == ir.Domain.FLOAT64 else F32)

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
        c = cond.const
        if cond.cmp in ("ge", "gt"):
            if np.any(c != 0):
                x = self.emit(ir.ChannelOp, [x], kind="sub", const=c)
        else:
            x = self.emit(ir.ChannelOp, [x], kind="rsub", const=c)
        return self.emit(ir.Binarize, [x], mode="ge" if cond.cmp in ("ge", "le") else "gt")

    def map_bipolar(self, s: ir.Tensor, hi: float, lo: float, dtype=F32) -> ir.Tensor:
        """Values hi where s is +1 and lo where s is -1, computed exactly, in
        float32 or (dtype float64, an ONNX double) float64."""
        if (hi, lo) == (1.0, -1.0) and dtype == F32:
            return s
        half_span, mid = dtype((hi - lo) / 2), dtype((hi + lo) / 2)
        for v, want in ((1.0, hi), (-1.0, lo)):
            if float(dtype(dtype(v) * half_span) + mid) != want:
                raise Unsupported(f"cannot map a binarizer to the values ({hi}, {lo}) exactly")
        y = self.emit(ir.Cast, [s], to=ir.Domain.FLOAT64 if dtype == np.float64 else ir.Domain.FLOAT)
        if half_span != 1:
            y = self.emit(ir.ChannelOp, [y], kind="mul", const=np.array(half_span, dtype))
        if mid != 0:
            y = self.emit(ir.ChannelOp, [y], kind="add", const=np.array(mid, dtype))
        return y

    def reshape(self, x: ir.Tensor, full_shape: tuple[int, ...]) -> ir.Tensor:
        if not full_shape or full_shape[0] != 1:
            raise Unsupported(f"reshape to {full_shape} mixes the batch dimension with data")
        shape = tuple(int(d) for d in full_shape[1:])
        if shape == x.shape:
            return x
        if x.domain.is_packed and shape[-1:] != x.shape[-1:]:
            perm = _unit_axes_perm(x.shape, shape)
            if perm is not None:  # e.g. one channel NHWC -> NCHW: a transpose the layout pass makes free
                return self.emit(ir.Transpose, [x], perm=perm)
            x = self.emit(ir.Cast, [x])  # repacking bits is not a no-op; unpack first
        return self.emit(ir.Reshape, [x], shape=shape)


def _unit_axes_perm(shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, ...] | None:
    """A permutation p with target = shape[p] that keeps the other axes in order
    (it moves only size-1 axes, so no value moves), or None."""
    if len(shape) != len(target) or sorted(shape) != sorted(target):
        return None
    kept = [a for a, d in enumerate(shape) if d != 1]
    units = [a for a, d in enumerate(shape) if d == 1]
    if [shape[a] for a in kept] != [d for d in target if d != 1]:
        return None
    perm = [kept.pop(0) if d != 1 else units.pop(0) for d in target]
    return tuple(perm)


def _broadcast_core(c: np.ndarray) -> np.ndarray:
    """The smallest array that broadcasts to the same values as c: every axis along
    which c is constant shrinks to size 1 (the same rank, so broadcasting against
    the activation is unchanged). A bias that PyTorch's legacy exporter expanded to
    the whole feature map (Shape -> Expand -> Add) becomes per channel again."""
    c = np.ascontiguousarray(c)
    bits = c.view(f"u{c.itemsize}")  # compare bit patterns: -0.0 stays apart from 0.0
    for axis in range(c.ndim):
        if c.shape[axis] > 1 and np.array_equal(bits, np.broadcast_to(bits.take([0], axis=axis), bits.shape)):
            c, bits = c.take([0], axis=axis), bits.take([0], axis=axis)
    return c


def attr(node: onnx.NodeProto, name: str, default=None):
    """The value of the node's attribute `name`, or `default` when it has none."""
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default
