"""From an IR graph to plain data the templates render: constant arrays and
structs, buffers in one static arena, and a list of steps (kernel calls).

Nothing here is C syntax: a buffer is {where, ctype, offset}, a step is a
`lowering.Step` (calls with named arguments); `templates/model.c.j2` turns
them into C. What each op becomes is in `lowering.py` (one lowering per op);
this module keeps the constant data and plans the memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ir
from .literals import c_float
from .lowering import LOWERINGS, Call, Step

CTYPE = {ir.Domain.FLOAT: "float", ir.Domain.INT: "int32_t", ir.Domain.BIPOLAR: "uint32_t",
         ir.Domain.TERNARY: "uint32_t", ir.Domain.LEVELS: "uint32_t"}


def tensor_bytes(t: ir.Tensor) -> int:
    return t.storage_bytes


@dataclass
class Buffer:
    tensor: str
    where: str  # "input", "output" or "arena"
    ctype: str
    nbytes: int
    offset: int = 0  # bytes from the start of the arena, or of the input or output array
    first: int = 0
    last: int = 0
    plane_words: int = 0  # packed: words of one bit plane; plane p starts p * plane_words words in
    owner: "Buffer | None" = None  # written in place over this buffer


@dataclass
class Array:
    name: str
    ctype: str
    values: list[str]
    comment: str
    role: str = "weights"  # or "thresholds" (for the report)


@dataclass
class Struct:
    """A constant struct (or, with `count`, an array of them): `value` is its
    initializer as nested lists of ints, names and C literals (str), None for NULL."""

    name: str
    ctype: str
    value: list
    comment: str
    count: int | None = None


@dataclass
class Port:
    """One model input or output: its ONNX name, per-sample shape and where its
    floats start in the `input` (or `output`) array of NAME_run."""

    name: str
    shape: tuple[int, ...]
    offset: int  # floats

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Plan:
    name: str
    input_shape: tuple[int, ...]  # of the whole input array: all inputs one after another
    output_shape: tuple[int, ...]
    inputs: list[Port] = field(default_factory=list)
    outputs: list[Port] = field(default_factory=list)
    arrays: list[Array] = field(default_factory=list)
    structs: list[Struct] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    buffers: dict[str, Buffer] = field(default_factory=dict)
    arena_bytes: int = 0
    needs_softmax: bool = False

    @property
    def io_bytes(self) -> int:
        """The caller's float input and output arrays (NAME_run's arguments)."""
        return 4 * (int(np.prod(self.input_shape)) + int(np.prod(self.output_shape)))


class Planner:
    """Builds the plan of one graph; the lowerings call back into it for data."""

    def __init__(self, graph: ir.Graph):
        self.g = graph
        self.plan = Plan(graph.name, graph.sample_shape, _array_shape(graph, graph.outputs),
                         _ports(graph, graph.inputs), _ports(graph, graph.outputs))
        self.alias_of: dict[str, str] = {}
        self.stem = ""  # prefix of the current op's constants: l1, l2, ...
        self.inner: dict[str, ir.Tensor] = {}  # the tensors inside the fused op being lowered

    def tensor(self, name: str) -> ir.Tensor:
        return self.g.tensors[name] if name in self.g.tensors else self.inner[name]

    # constant data ------------------------------------------------------
    def array(self, stem: str, values: np.ndarray, ctype: str, comment: str, role: str = "weights") -> str:
        name = f"{self.plan.name}_{stem}"
        flat = np.asarray(values).ravel()
        if ctype == "float":
            text = [c_float(v) for v in flat]
        elif ctype == "uint32_t":
            text = [f"0x{int(v):08x}u" for v in flat]
        else:
            text = [str(int(v)) for v in flat]
        self.plan.arrays.append(Array(name, ctype, text, comment, role))
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

    def struct(self, stem: str, ctype: str, value: list, comment: str, count: int | None = None) -> str:
        name = f"{self.plan.name}_{stem}"
        self.plan.structs.append(Struct(name, ctype, value, comment, count))
        return name

    # steps ----------------------------------------------------------------
    def root(self, name: str) -> str:
        while name in self.alias_of:
            name = self.alias_of[name]
        return name

    def alias(self, name: str, same_as: str) -> None:
        """`name` holds the same bytes as `same_as` (no step)."""
        self.alias_of[name] = self.root(same_as)

    def step(self, op: ir.Op, kind: str, calls: list[Call], *, in_place: bool = False, layer: str = "data",
             binary_macs: int = 0, real_macs: int = 0) -> Step:
        return Step(index=len(self.plan.steps), op=type(op).__name__, origin=op.origin, out=op.output,
                    inputs=[self.root(i) for i in op.inputs], kind=kind, calls=calls, in_place=in_place,
                    layer=layer, binary_macs=binary_macs, real_macs=real_macs)

    def build(self) -> Plan:
        for n, op in enumerate(self.g.ops, start=1):
            lowering = LOWERINGS.get(type(op))
            if lowering is None:
                raise NotImplementedError(f"no C kernel for IR op {type(op).__name__}")
            self.stem = f"l{n}"
            self.inner = op.inner_tensors([self.tensor(i) for i in op.inputs]) if isinstance(op, ir.Fused) else {}
            step = lowering(self, op)
            if step is not None:
                self.plan.steps.append(step)
        self._place_buffers()
        return self.plan

    # memory -----------------------------------------------------------------
    def _place_buffers(self) -> None:
        g, plan = self.g, self.plan
        in_roots = {self.root(p.name): p for p in plan.inputs}
        out_roots = {self.root(p.name): p for p in plan.outputs}
        written = {s.out for s in plan.steps}
        if len(out_roots) < len(plan.outputs) or any(r in in_roots or r not in written for r in out_roots):
            raise NotImplementedError("a model output is its input, or two outputs hold the same values")
        buffers: dict[str, Buffer] = {}
        last_use: dict[str, int] = {}
        for i, s in enumerate(plan.steps):
            for name in s.inputs:
                last_use[name] = i
        for i, s in enumerate(plan.steps):
            t = g.tensors[s.out]
            where = "output" if s.out in out_roots else "arena"
            src = buffers.get(s.inputs[0]) if s.inputs else None
            if (s.in_place and src is not None and src.where == "arena" and where == "arena"
                    and last_use.get(s.inputs[0]) == i and src.nbytes == tensor_bytes(t)):
                # elementwise, same size, input dead afterwards: write over the input
                owner = src.owner or src
                owner.last = i
                buffers[s.out] = Buffer(s.out, "arena", CTYPE[t.domain], tensor_bytes(t), first=i, last=i,
                                           owner=owner)
                for name in s.inputs:
                    if name in buffers:
                        (buffers[name].owner or buffers[name]).last = i
                continue
            b = Buffer(s.out, where, CTYPE[t.domain], tensor_bytes(t), first=i, last=i,
                       offset=4 * out_roots[s.out].offset if where == "output" else 0)
            if t.domain.is_packed:
                b.plane_words = t.plane_words
            buffers[s.out] = b
            for name in s.inputs:
                if name in buffers:
                    (buffers[name].owner or buffers[name]).last = i
        for root_in, port in in_roots.items():
            buffers[root_in] = Buffer(root_in, "input", "float", 4 * g.tensors[port.name].size, offset=4 * port.offset,
                                      first=-1, last=-1)
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


def _ports(graph: ir.Graph, names) -> list[Port]:
    ports, at = [], 0
    for name in names:
        ports.append(Port(name, graph.tensors[name].shape, at))
        at += graph.tensors[name].size
    return ports


def _array_shape(graph: ir.Graph, names) -> tuple[int, ...]:
    """The shape of one input or output array: the tensor's own, or flat for several."""
    if len(names) == 1:
        return graph.tensors[names[0]].shape
    return (sum(graph.tensors[n].size for n in names),)


def make_plan(graph: ir.Graph) -> Plan:
    return Planner(graph).build()
