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
from .translator import Choice, Condition, Translator, Unsupported, node_label


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
    values, input_name, input_tensor = initial_values(model)
    t = Translator(model, opset)
    t.values.update(values)
    t.values[input_name] = input_tensor
    t.tensors[input_name] = input_tensor
    nodes = topological_nodes(model.graph, set(values) | {input_name})
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
    if len(outputs) != 1:
        raise BnnError(f"the model must have exactly one output; it has {len(outputs)}")
    result = t.values.get(outputs[0])
    if isinstance(result, Condition):
        result = t.binarize_condition(result)
    if isinstance(result, Choice):
        raise BnnError(f"output '{outputs[0]}' is an integer tensor; bnncompile writes float outputs")
    if not isinstance(result, ir.Tensor):
        raise BnnError(f"output '{outputs[0]}' does not depend on the input")
    if result.domain != ir.Domain.FLOAT:
        t.node = nodes[-1]
        result = t.emit(ir.Cast, [result])
    graph = ir.rebuild(
        ir.Graph(name=name or default_name(path), tensors=dict(t.tensors), ops=(), inputs=(input_name,),
                 outputs=(result.name,), onnx_names={}),
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
