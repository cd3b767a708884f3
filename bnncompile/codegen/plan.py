"""From an IR graph to plain data the templates render: constant arrays,
buffers in one static arena, and a list of kernel calls (steps).

Nothing here is C syntax: a buffer is {where, ctype, offset}, a step is
{kind, ...arguments}; `templates/model.c.j2` turns them into C.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ir
from .literals import c_float

CTYPE = {ir.Domain.FLOAT: "float", ir.Domain.INT: "int32_t", ir.Domain.BIPOLAR: "uint32_t",
         ir.Domain.TERNARY: "uint32_t"}
# Kernels that may write their output over their input (elementwise, same element size).
IN_PLACE = {"channel_op", "int_to_float", "relu", "clip", "softmax"}
KIND_ENUM = {"add": "BNN_ADD", "sub": "BNN_SUB", "rsub": "BNN_RSUB", "mul": "BNN_MUL", "div": "BNN_DIV",
             "rdiv": "BNN_RDIV"}


def smallest_int_type(values: np.ndarray) -> tuple[str, int]:
    lo, hi = int(np.min(values)), int(np.max(values))
    for ctype, nbytes in (("int8_t", 1), ("int16_t", 2)):
        bound = 1 << (8 * nbytes - 1)
        if -bound <= lo and hi < bound:
            return ctype, nbytes
    return "int32_t", 4


def words(n: int) -> int:
    return (n + 31) // 32


def tensor_bytes(t: ir.Tensor) -> int:
    if t.domain.is_packed:
        planes = 2 if t.domain == ir.Domain.TERNARY else 1
        return 4 * t.rows * words(t.channels) * planes
    return 4 * t.size


def pack_rows(values: np.ndarray) -> np.ndarray:
    """+-1 array [..., K] -> uint32 words [..., ceil(K/32)]: bit 1 where the value is -1, LSB first."""
    values = np.asarray(values)
    k = values.shape[-1]
    padded = np.zeros(values.shape[:-1] + (words(k) * 32,), dtype=np.uint64)
    padded[..., :k] = values < 0
    bits = padded.reshape(values.shape[:-1] + (words(k), 32))
    return (bits << np.arange(32, dtype=np.uint64)).sum(axis=-1).astype(np.uint32)


@dataclass
class Buffer:
    tensor: str
    where: str  # "input", "output" or "arena"
    ctype: str
    nbytes: int
    offset: int = 0
    first: int = 0
    last: int = 0
    mask_offset_words: int = 0  # ternary: the mask plane follows the sign plane
    owner: "Buffer | None" = None  # written in place over this buffer


@dataclass
class Array:
    name: str
    ctype: str
    values: list[str]
    comment: str


@dataclass
class Struct:
    name: str
    ctype: str
    values: list[int]
    comment: str


@dataclass
class Plan:
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    arrays: list[Array] = field(default_factory=list)
    structs: list[Struct] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    buffers: dict[str, Buffer] = field(default_factory=dict)
    arena_bytes: int = 0
    needs_softmax: bool = False


class Planner:
    def __init__(self, graph: ir.Graph):
        self.g = graph
        self.plan = Plan(graph.name, graph.tensors[graph.inputs[0]].shape, graph.tensors[graph.outputs[0]].shape)
        self.alias: dict[str, str] = {}

    # constant data ------------------------------------------------------
    def array(self, stem: str, values: np.ndarray, ctype: str, comment: str) -> str:
        name = f"{self.plan.name}_{stem}"
        flat = np.asarray(values).ravel()
        if ctype == "float":
            text = [c_float(v) for v in flat]
        elif ctype == "uint32_t":
            text = [f"0x{int(v):08x}u" for v in flat]
        else:
            text = [str(int(v)) for v in flat]
        self.plan.arrays.append(Array(name, ctype, text, comment))
        return name

    def per_element(self, arr: np.ndarray, t: ir.Tensor) -> tuple[np.ndarray, int]:
        """A broadcastable constant as (values, length) for index i % length."""
        arr = np.asarray(arr)
        shape = tuple(np.broadcast_shapes(arr.shape, (1,) * len(t.shape)))
        arr = arr.reshape(shape) if arr.ndim < len(shape) else arr
        if arr.size == 1:
            return arr.reshape(1), 1
        if all(d == 1 for d in shape[:-1]) and shape[-1] == t.channels:
            return arr.reshape(-1), t.channels
        return np.broadcast_to(arr, t.shape).reshape(-1), t.size

    def struct(self, stem: str, ctype: str, values: list[int], comment: str) -> str:
        name = f"{self.plan.name}_{stem}"
        self.plan.structs.append(Struct(name, ctype, [int(v) for v in values], comment))
        return name

    # steps ----------------------------------------------------------------
    def root(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def step(self, op: ir.Op, kind: str, **args) -> None:
        args.update(kind=kind, origin=op.origin, op=type(op).__name__, out=op.output,
                    inputs=[self.root(i) for i in op.inputs], index=len(self.plan.steps))
        self.plan.steps.append(args)

    def build(self) -> Plan:
        g, n = self.g, 0
        for op in g.ops:
            n += 1
            x = g.tensors[op.inputs[0]]
            y = g.tensors[op.output]
            stem = f"l{n}"
            if isinstance(op, ir.Reshape):
                self.alias[op.output] = self.root(op.inputs[0])
            elif isinstance(op, ir.BinaryDense):
                w = self.array(f"{stem}_weights", pack_rows(op.signs.T), "uint32_t",
                               f"{op.origin}: binary kernel, {op.signs.shape[1]} x {op.fan_in} bits, packed along inputs")
                kind = "dense_xnor" if op.packed_input else "dense_bwn"
                self.step(op, kind, rows=x.rows, k=op.fan_in, fan_in=op.fan_in, n=op.signs.shape[1], weights=w,
                          ternary=x.domain == ir.Domain.TERNARY)
            elif isinstance(op, ir.Dense):
                w = self.array(f"{stem}_weights", np.ascontiguousarray(op.weight.T), "float",
                               f"{op.origin}: real kernel, {op.weight.shape[1]} x {op.weight.shape[0]}")
                kind = "dense_ban" if x.domain.is_packed else "dense_float"
                self.step(op, kind, rows=x.rows, k=op.weight.shape[0], fan_in=op.weight.shape[0],
                          n=op.weight.shape[1], weights=w,
                          ternary=x.domain == ir.Domain.TERNARY)
            elif isinstance(op, ir.Threshold):
                tz, tlen = self.per_element(op.t_zero, y)
                tp, _ = self.per_element(op.t_pos, y)
                fl, _ = self.per_element(op.flip.astype(np.uint8), y)
                what = "float keys" if op.float_input else "accumulator values"
                ctype, nbytes = smallest_int_type(np.concatenate([tz, tp]))
                ternary = y.domain == ir.Domain.TERNARY
                self.step(op, "threshold", rows=y.rows, channels=y.channels, t_len=tlen, t_bytes=nbytes,
                          src_is_float=int(op.float_input), ternary=ternary,
                          t_zero=self.array(f"{stem}_t_zero", tz, ctype, f"{op.origin}: zero step, {what}")
                          if ternary else None,
                          t_pos=self.array(f"{stem}_t_pos", tp, ctype, f"{op.origin}: +1 step, {what}"),
                          flip=self.array(f"{stem}_flip", fl, "uint8_t", f"{op.origin}: 1 = decreasing"))
            elif isinstance(op, ir.Cast):
                if x.domain == ir.Domain.INT:
                    self.step(op, "int_to_float", n=x.size)
                elif x.domain.is_packed:
                    self.step(op, "unpack", rows=x.rows, channels=x.channels,
                              ternary=x.domain == ir.Domain.TERNARY)
                else:
                    self.alias[op.output] = self.root(op.inputs[0])
            elif isinstance(op, ir.ChannelOp):
                c, clen = self.per_element(op.const, y)
                self.step(op, "channel_op", n=y.size, c_len=clen, op_enum=KIND_ENUM[op.kind],
                          const=self.array(f"{stem}_{op.kind}", c.astype(np.float32), "float",
                                           f"{op.origin}: {op.kind} constant"))
            elif isinstance(op, ir.Relu):
                self.step(op, "relu", n=y.size)
            elif isinstance(op, ir.Clip):
                self.step(op, "clip", n=y.size, lo=c_float(max(op.lo, -3.4e38)), hi=c_float(min(op.hi, 3.4e38)))
            elif isinstance(op, ir.Conv2D):
                h, w, c = x.shape
                o, kh, kw, cg = op.kernel.shape
                geometry = self.struct(f"{stem}_geometry", "struct bnn_conv_geometry",
                                       [h, w, c, o, kh, kw, *op.strides, *op.dilations, op.pads[0], op.pads[1],
                                        y.shape[0], y.shape[1], op.groups],
                                       f"{op.origin}: h w c, o kh kw, strides, dilations, pad top/left, oh ow, groups")
                if op.signs is not None:
                    kernel = self.array(f"{stem}_weights", pack_rows(op.signs), "uint32_t",
                                        f"{op.origin}: binary kernel OHWI {op.signs.shape}, packed along inputs")
                else:
                    kernel = self.array(f"{stem}_weights", op.weight, "float",
                                        f"{op.origin}: real kernel OHWI {op.weight.shape}")
                if op.signs is not None and op.packed_input:
                    if op.pad_value not in (0.0, 1.0) and any(op.pads):
                        raise NotImplementedError(f"padding a binarized tensor with {op.pad_value}")
                    self.step(op, "conv_xnor", geometry=geometry, weights=kernel, fan_in=op.fan_in,
                              pad_mode=int(op.pad_value == 1.0),
                              ternary=x.domain == ir.Domain.TERNARY)
                else:
                    self.step(op, "conv_float", geometry=geometry, weights=kernel, fan_in=op.fan_in,
                              binary=op.signs is not None,
                              pad_value=c_float(op.pad_value))
            elif isinstance(op, ir.Pool2D):
                h, w, c = x.shape
                geometry = self.struct(f"{stem}_geometry", "struct bnn_pool_geometry",
                                       [h, w, c, *op.kernel, *op.strides, op.pads[0], op.pads[1], y.shape[0],
                                        y.shape[1]], f"{op.origin}: h w c, window, strides, pad top/left, oh ow")
                if op.kind == "avg":
                    self.step(op, "avgpool", geometry=geometry, include_pad=int(op.count_include_pad))
                elif x.domain.is_packed:
                    self.step(op, "maxpool_bits", geometry=geometry, ternary=x.domain == ir.Domain.TERNARY)
                else:
                    self.step(op, "maxpool_int" if x.domain == ir.Domain.INT else "maxpool_float", geometry=geometry)
            elif isinstance(op, ir.Transpose):
                if x.domain.is_packed:
                    raise NotImplementedError(f"transposing the binarized tensor {op.inputs[0]} ({op.origin})")
                if len(x.shape) > 4:
                    raise NotImplementedError("transpose of more than 4 axes")
                dims = self.array(f"{stem}_dims", np.array(x.shape), "int", f"{op.origin}: input dims")
                perm = self.array(f"{stem}_perm", np.array(op.perm), "int", f"{op.origin}: permutation")
                self.step(op, "transpose", rank=len(x.shape), dims=dims, perm=perm)
            elif isinstance(op, ir.Pad):
                if x.domain != ir.Domain.FLOAT or len(x.shape) != 3 or op.pads[2] or op.pads[5]:
                    raise NotImplementedError(f"a Pad that is not a spatial pad of real values ({op.origin})")
                self.step(op, "pad", h=x.shape[0], w=x.shape[1], c=x.shape[2], pads=[op.pads[0], op.pads[1],
                          op.pads[3], op.pads[4]], value=c_float(op.value))
            elif isinstance(op, ir.Add):
                self.step(op, "add", n=y.size)
            elif isinstance(op, ir.Concat):
                axis = op.axis % len(y.shape)
                outer = int(np.prod(y.shape[:axis], dtype=np.int64))
                inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
                parts, offset = [], 0
                for name in op.inputs:
                    chunk = self.g.tensors[name].shape[axis] * inner
                    parts.append(dict(src=self.root(name), chunk=chunk, offset=offset))
                    offset += chunk
                self.step(op, "concat", outer=outer, y_chunk=y.shape[axis] * inner, parts=parts)
            elif isinstance(op, ir.Softmax):
                self.plan.needs_softmax = True
                self.step(op, "softmax", rows=y.rows, channels=y.channels, log=int(op.log))
            else:
                raise NotImplementedError(f"no C kernel for IR op {type(op).__name__}")
        self._place_buffers()
        return self.plan

    # memory -----------------------------------------------------------------
    def _place_buffers(self) -> None:
        g, plan = self.g, self.plan
        out_root = self.root(g.outputs[0])
        if out_root == self.root(g.inputs[0]) or not any(s["out"] == out_root for s in plan.steps):
            raise NotImplementedError("the model's output is its input")
        buffers: dict[str, Buffer] = {}
        last_use: dict[str, int] = {}
        for i, s in enumerate(plan.steps):
            for name in s["inputs"]:
                last_use[name] = i
        for i, s in enumerate(plan.steps):
            t = g.tensors[s["out"]]
            where = "output" if s["out"] == out_root else "arena"
            src = buffers.get(s["inputs"][0]) if s["inputs"] else None
            if (s["kind"] in IN_PLACE and src is not None and src.where == "arena" and where == "arena"
                    and last_use.get(s["inputs"][0]) == i and src.nbytes == tensor_bytes(t)):
                # elementwise, same size, input dead afterwards: write over the input
                owner = src.owner or src
                owner.last = i
                buffers[s["out"]] = Buffer(s["out"], "arena", CTYPE[t.domain], tensor_bytes(t), first=i, last=i,
                                           owner=owner)
                for name in s["inputs"]:
                    if name in buffers:
                        (buffers[name].owner or buffers[name]).last = i
                continue
            b = Buffer(s["out"], where, CTYPE[t.domain], tensor_bytes(t), first=i, last=i)
            if t.domain == ir.Domain.TERNARY:
                b.mask_offset_words = t.rows * words(t.channels)
            buffers[s["out"]] = b
            for name in s["inputs"]:
                if name in buffers:
                    (buffers[name].owner or buffers[name]).last = i
        root_in = self.root(g.inputs[0])
        buffers[root_in] = Buffer(root_in, "input", "float", 4 * g.tensors[g.inputs[0]].size, first=-1, last=-1)
        # Greedy by size (as TFLite Micro): biggest first, each at the lowest
        # offset that does not overlap a placed buffer alive at the same time.
        placed: list[Buffer] = []
        owners = [b for b in buffers.values() if b.where == "arena" and b.owner is None]
        for b in sorted(owners, key=lambda b: (-b.nbytes, b.first)):
            offset = 0
            for other in sorted(placed, key=lambda o: o.offset):
                if other.last < b.first or b.last < other.first:
                    continue
                if offset + b.nbytes <= other.offset:
                    break
                offset = max(offset, other.offset + other.nbytes)
            b.offset = offset
            placed.append(b)
        for b in buffers.values():
            if b.owner is not None:
                b.offset = b.owner.offset
        plan.arena_bytes = max([b.offset + b.nbytes for b in placed] + [4])
        plan.buffers = buffers
        for name in g.tensors:
            if name not in buffers and self.root(name) in buffers:
                buffers[name] = buffers[self.root(name)]


def make_plan(graph: ir.Graph) -> Plan:
    return Planner(graph).build()
