"""The reference side of validation, as far as it touches ONNX protobufs:
the model prepared for onnxruntime (with intermediate tensors exposed as
outputs), and a numpy executor for models with QONNX custom ops, which
onnxruntime cannot run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from .loading import read_model
from .qonnx_ops import QONNX_DOMAINS, bipolar_quant


class _BipolarQuant(OpRun):
    op_domain = "qonnx.custom_op.general"

    def _run(self, x, scale):
        return (bipolar_quant(x, scale),)


class _BatchNormInference(OpRun):
    """BatchNormalization with running statistics, as onnxruntime computes it
    (onnx.reference switches to batch statistics when `momentum` is set)."""

    op_domain = ""

    def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None, training_mode=None):
        f32 = np.float32
        shape = (1, -1) + (1,) * (x.ndim - 2)
        inv_std = (f32(1) / np.sqrt(var.astype(f32) + f32(epsilon or 1e-5))).astype(f32)
        s = (scale * inv_std).astype(f32)
        b = (bias - mean * s).astype(f32)
        return ((x * s.reshape(shape)).astype(f32) + b.reshape(shape)).astype(f32),


_BatchNormInference.__name__ = "BatchNormalization"


def _op_for_domain(domain: str):
    return type("BipolarQuant", (_BipolarQuant,), {"op_domain": domain})


class ReferenceModel:
    """Loads a model once; `outputs(x, names)` gives those tensors for batch x."""

    def __init__(self, path: str | Path, extra_outputs: list[str] = ()):
        model, _ = read_model(path)
        self.uses_qonnx = any(n.domain in QONNX_DOMAINS for n in model.graph.node)
        produced = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
        existing = {o.name for o in model.graph.output}
        self.available = [n for n in extra_outputs if n in produced and n not in existing]
        for name in self.available:
            model.graph.output.append(helper.make_empty_tensor_value_info(name))
        self.output_names = [o.name for o in model.graph.output]
        self.model_outputs = self.output_names[:len(existing)]  # the model's own, in order
        initializers = {t.name for t in model.graph.initializer}
        graph_inputs = [i for i in model.graph.input if i.name not in initializers]
        self.input_names = [i.name for i in graph_inputs]
        self.input_name = self.input_names[0]
        # per-sample sizes: several inputs arrive as one flat sample, split in graph order
        self.input_shapes = [tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:]) or (1,)
                             for i in graph_inputs]
        dims = graph_inputs[0].type.tensor_type.shape.dim
        # a model exported with a fixed batch of 1 takes one sample per run
        self.fixed_batch = bool(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == 1
        if self.uses_qonnx:
            domains = {n.domain for n in model.graph.node if n.domain in QONNX_DOMAINS}
            self._evaluator = ReferenceEvaluator(
                model, new_ops=[_op_for_domain(d) for d in domains] + [_BatchNormInference])
            self.model_bytes = None
        else:
            self._evaluator = None
            self.model_bytes = model.SerializeToString()

    def feeds(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """A batch as the model's inputs: x itself, or with several inputs x's flat
        samples split into them (in graph order)."""
        if len(self.input_names) == 1:
            return {self.input_name: x}
        flat, feeds, at = x.reshape(len(x), -1), {}, 0
        for name, shape in zip(self.input_names, self.input_shapes):
            size = int(np.prod(shape))
            feeds[name] = np.ascontiguousarray(flat[:, at:at + size].reshape((len(x),) + shape))
            at += size
        return feeds

    def run_numpy(self, x: np.ndarray) -> dict[str, np.ndarray]:
        results = self._evaluator.run(None, self.feeds(x))
        return dict(zip(self.output_names, results))
