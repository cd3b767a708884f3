"""ONNX nodes -> IR ops: the graph walk.

Walks the graph in topological order; nodes whose inputs are all constants
are folded (this is how exporter clutter such as Shape/ConstantOfShape/Neg
and quantizers applied to latent weights disappear), every other node goes to
its handler in `handlers.HANDLERS`, which emits IR ops into the `Translator`.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from .. import ir
from ..errors import BnnError
from .folding import fold_within_budget
from .handlers import HANDLERS
from .loading import check_types, printable
from .qonnx_ops import QONNX_DOMAINS
from .translator import MAX_ELEMENTS, Condition, Translator, Unsupported, attr, node_label


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


def _translate(t: Translator, node: onnx.NodeProto, ins: list) -> None:
    if all(v is None or isinstance(v, np.ndarray) for v in ins):
        try:
            folded = fold_within_budget(node, ins, t.opset, t.fold_budget, node_label(node))
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
        start, end = attr(node, "start", 0), attr(node, "end", None)
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


def initial_values(model: onnx.ModelProto) -> tuple[dict[str, object], list[ir.Tensor]]:
    """Constants from initializers and the real inputs (batch fixed to 1), in graph order."""
    g = model.graph
    values: dict[str, object] = {}
    for init in g.initializer:
        try:
            values[init.name] = numpy_helper.to_array(init)
        except Exception as exc:
            raise BnnError(f"initializer '{init.name}' cannot be read: {exc}") from None
    real_inputs = [i for i in g.input if i.name not in values]
    if not real_inputs:
        raise BnnError("the model has no input that is not an initializer")
    tensors = [_input_tensor(i) for i in real_inputs]
    check_types(model)
    return values, tensors


def _input_tensor(inp) -> ir.Tensor:
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
    return ir.Tensor(inp.name, shape, ir.Domain.FLOAT)


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
    # Kahn's algorithm in O(nodes + edges). A node's wave is one more than the
    # latest wave among the producers of its inputs; nodes are returned by wave,
    # in file order within a wave (the order of the earlier wave-by-wave walk).
    users: dict[str, list[int]] = {}
    waiting = [0] * len(pending)
    missing: set[str] = set()
    for k, n in enumerate(pending):
        for i in set(n.input):
            if i in available:
                continue
            if i not in producer:
                missing.add(i)
            users.setdefault(i, []).append(k)
            waiting[k] += 1
    if missing:
        first = min(missing)
        raise BnnError(f"tensor '{printable(first)}' is used but never produced (missing initializer?)",
                       node=node_label(next(n for n in pending if first in n.input)))
    wave = [0] * len(pending)
    ready = [k for k in range(len(pending)) if waiting[k] == 0]
    done = 0
    while done < len(ready):
        k = ready[done]
        done += 1
        for o in dict.fromkeys(pending[k].output):
            for user in users.get(o, ()) if o else ():
                wave[user] = max(wave[user], wave[k] + 1)
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
    if len(ready) < len(pending):
        stuck = min(set(range(len(pending))) - set(ready))
        raise BnnError("the graph has a cycle", node=node_label(pending[stuck]))
    return [pending[k] for k in sorted(range(len(pending)), key=lambda k: (wave[k], k))]
