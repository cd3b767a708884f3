"""The typed graph every stage after the importer works on.

A `Graph` is immutable: passes build a new one with `Graph.replace(...)`.
Tensors are per-sample (the batch dimension is dropped by the importer) and
row-major in the ONNX model's own layout. Each tensor carries a value domain:

- `FLOAT`   float32
- `FLOAT64` float64, between an ONNX Cast to DOUBLE and the next binarizer or
            Cast back to float: computed in float64 as onnxruntime does; the
            C never holds it (such ops fold into thresholds or are refused)
- `INT`     int32 accumulator of a binary layer; `int_range` (lo, hi, step)
            lists every value it can take, which is what makes exact
            threshold folding possible
- `BIPOLAR` {-1,+1}, one bit per value in C (bit 1 means -1)
- `TERNARY` {-1,0,+1}, a sign bit plus a non-zero mask bit per value

The numpy representation used by op references is float32 for FLOAT,
BIPOLAR and TERNARY (the values themselves), float64 for FLOAT64 and int64
for INT.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Mapping

import numpy as np


class Domain(enum.Enum):
    FLOAT = "float32"
    FLOAT64 = "float64"
    INT = "int32"
    BIPOLAR = "bipolar"
    TERNARY = "ternary"

    @property
    def is_packed(self) -> bool:
        return self in (Domain.BIPOLAR, Domain.TERNARY)

    @property
    def is_real(self) -> bool:
        return self in (Domain.FLOAT, Domain.FLOAT64)

    @property
    def numpy_dtype(self):
        """dtype of the numpy representation of a real tensor (float32 or float64)."""
        return np.float64 if self == Domain.FLOAT64 else np.float32


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    domain: Domain
    int_range: tuple[int, int, int] | None = None  # (lo, hi, step) for INT

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def channels(self) -> int:
        """Length of the innermost axis: the axis bits are packed along."""
        return self.shape[-1] if self.shape else 1

    @property
    def rows(self) -> int:
        return self.size // max(self.channels, 1)

    @property
    def storage_bytes(self) -> int:
        """Bytes the C keeps this tensor in: bits packed 32 to a uint32_t word
        along the innermost axis (ternary: a sign plane and a mask plane),
        4 bytes per float32 or int32 value, 8 per float64."""
        if self.domain.is_packed:
            planes = 2 if self.domain == Domain.TERNARY else 1
            return 4 * self.rows * ((self.channels + 31) // 32) * planes
        return (8 if self.domain == Domain.FLOAT64 else 4) * self.size

    def per_channel(self, const) -> bool:
        """Is `const` (broadcast against this tensor) one value, or one value per channel?"""
        shape = np.shape(const)
        return len(shape) <= len(self.shape) and all(d == 1 for d in shape[:-1]) and \
            (not shape or shape[-1] in (1, self.channels))


@dataclass(frozen=True, eq=False)
class Op:
    """Base of every IR op: named inputs, one output, the ONNX node(s) it came from."""

    inputs: tuple[str, ...]
    output: str
    origin: str  # ONNX node name(s), for error messages and layer reports

    def output_tensor(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def reference(self, *xs: np.ndarray) -> np.ndarray:
        """numpy semantics on a batch (axis 0 is the batch)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Note:
    """A compile-time diagnostic a pass (or the importer) wants the user to see:
    `kind` is a stable key (e.g. "float-tie", "not-binary") that options such as
    `--require-binary` select on; `node` names the ONNX node."""

    kind: str
    node: str
    message: str


@dataclass(frozen=True, eq=False)
class Graph:
    name: str
    tensors: Mapping[str, Tensor]
    ops: tuple[Op, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # IR tensor name -> ONNX tensor name holding the same values (for layer checks),
    # and, where the IR keeps them in another layout, the permutation p with
    # onnx_value = transpose(ir_value, p) (per-sample axes)
    onnx_names: Mapping[str, str] = field(default_factory=dict)
    onnx_layouts: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # diagnostics for the user; passes return graph.replace(notes=graph.notes + (...))
    notes: tuple[Note, ...] = ()

    def replace(self, **changes) -> "Graph":
        return replace(self, **changes)

    @cached_property
    def _producers(self) -> dict[str, Op]:
        return {op.output: op for op in self.ops}

    @cached_property
    def _consumers(self) -> dict[str, list[Op]]:
        users: dict[str, list[Op]] = {}
        for op in self.ops:
            for name in dict.fromkeys(op.inputs):
                users.setdefault(name, []).append(op)
        return users

    # The indexes are built once per graph (a Graph never changes), so a pass
    # that asks about every tensor stays linear in the size of the graph.
    def producer(self, tensor: str) -> Op | None:
        return self._producers.get(tensor)

    def consumers(self, tensor: str) -> list[Op]:
        return list(self._consumers.get(tensor, ()))

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample as the tools (and the C) take it: the input's own
        shape, or, with several inputs, all of them flattened one after another."""
        if len(self.inputs) == 1:
            return self.tensors[self.inputs[0]].shape
        return (sum(self.tensors[n].size for n in self.inputs),)

    def input_values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """A batch of samples (N, *sample_shape) as one array per graph input."""
        x = np.asarray(x, dtype=np.float32)
        if len(self.inputs) == 1:
            return {self.inputs[0]: x}
        flat, values, at = x.reshape(len(x), -1), {}, 0
        for name in self.inputs:
            t = self.tensors[name]
            values[name] = flat[:, at:at + t.size].reshape((len(x),) + t.shape)
            at += t.size
        return values

    def run_reference(self, x: np.ndarray, keep: bool = False) -> dict[str, np.ndarray]:
        """Run every op's numpy reference on a batch; returns outputs (or all tensors)."""
        values: dict[str, np.ndarray] = self.input_values(x)
        for op in self.ops:
            values[op.output] = op.reference(*(values[i] for i in op.inputs))
        if keep:
            return values
        return {name: values[name] for name in self.outputs}


def rebuild(graph: Graph, ops: list[Op], extra_tensors: dict[str, Tensor] | None = None) -> Graph:
    """New graph with `ops` (topologically ordered): re-derives every op output
    tensor, then drops ops whose results nobody uses."""
    tensors = {name: graph.tensors[name] for name in graph.inputs}
    if extra_tensors:
        tensors.update(extra_tensors)
    for op in ops:
        tensors[op.output] = op.output_tensor([tensors[i] for i in op.inputs])
    live = set(graph.outputs)
    kept: list[Op] = []
    for op in reversed(ops):
        if op.output in live:
            kept.append(op)
            live.update(op.inputs)
    kept.reverse()
    used = set(graph.inputs) | {op.output for op in kept}
    return graph.replace(
        ops=tuple(kept),
        tensors={n: t for n, t in tensors.items() if n in used},
        onnx_names={n: o for n, o in graph.onnx_names.items() if n in used},
        onnx_layouts={n: p for n, p in graph.onnx_layouts.items() if n in used},
    )
