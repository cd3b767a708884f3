"""The importer: the only code that reads ONNX protobufs.

`import_model(path)` gives a typed `ir.Graph` plus facts about the file
(hash, producer, opset) that the codegen writes into its provenance banner.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ir
from ..errors import BnnError
from .loading import default_opset, read_model
from .translate import initial_values, topological_nodes, translate_node
from .translator import Condition, Translator, Unsupported, node_label


@dataclass(frozen=True)
class ModelInfo:
    path: str
    sha256: str
    producer: str
    opset: int
    uses_qonnx: bool


def default_name(path: str | Path) -> str:
    stem = Path(path).name.split(".")[0]
    name = re.sub(r"[^0-9a-zA-Z_]", "_", stem).lower() or "model"
    return name if not name[0].isdigit() else f"m_{name}"


def import_model(path: str | Path, name: str | None = None) -> tuple[ir.Graph, ModelInfo]:
    model, digest = read_model(path)
    opset = default_opset(model)
    values, input_tensors = initial_values(model)
    t = Translator(model, opset)
    t.values.update(values)
    for tensor in input_tensors:
        t.values[tensor.name] = tensor
        t.tensors[tensor.name] = tensor
    input_names = tuple(tensor.name for tensor in input_tensors)
    nodes = topological_nodes(model.graph, set(values) | set(input_names))
    problems: list[str] = []
    poisoned: set[str] = set()
    for node in nodes:
        if any(i in poisoned for i in node.input):
            poisoned.update(node.output)
            continue
        try:
            translate_node(t, node)
        except Unsupported as exc:
            problems.append(f"  {node_label(node)} ({node.op_type}): {exc}")
            poisoned.update(node.output)
    if problems:
        raise BnnError("unsupported node(s):\n" + "\n".join(problems) +
                       "\nsee the README's list of supported ONNX patterns")
    outputs = [o.name for o in model.graph.output]
    if not outputs:
        raise BnnError("the model has no output")
    results = []
    for output in outputs:
        result = t.values.get(output)
        t.node = nodes[-1] if nodes else None
        if isinstance(result, Condition):
            result = t.binarize_condition(result)
        if not isinstance(result, ir.Tensor):
            raise BnnError(f"output '{output}' does not depend on the input")
        if result.name in input_names:
            raise BnnError(f"output '{output}' is the model's input itself", hint="nothing to compile")
        if result.domain != ir.Domain.FLOAT:
            result = t.emit(ir.Cast, [result])
        if result.name in (r.name for r in results):
            raise BnnError(f"output '{output}' holds the same values as an earlier output",
                           hint="give the model distinct outputs")
        results.append(result)
    graph = ir.rebuild(
        ir.Graph(name=name or default_name(path), tensors=dict(t.tensors), ops=(), inputs=input_names,
                 outputs=tuple(r.name for r in results), onnx_names={}),
        t.ops,
        extra_tensors=t.tensors,
    )
    onnx_names = {n: n for n in graph.tensors if "::" not in n}
    info = ModelInfo(
        path=str(path), sha256=digest, producer=f"{model.producer_name} {model.producer_version}".strip(),
        opset=opset, uses_qonnx=any(n.domain not in ("", "ai.onnx") for n in model.graph.node),
    )
    return graph.replace(onnx_names=onnx_names), info


__all__ = ["import_model", "ModelInfo", "BnnError", "default_name"]
