"""Truth: the ONNX model as onnxruntime executes it, with graph optimisations
off so that it runs the model's own ops in the model's own order (fusions
such as MatMul+Add->Gemm change float rounding). QONNX models run on our
numpy semantics of their custom ops instead."""
from __future__ import annotations

import numpy as np

from ..errors import BnnError
from ..importer.reference_model import ReferenceModel


class Reference:
    def __init__(self, path, extra_outputs=()):
        self.model = ReferenceModel(path, list(extra_outputs))
        self.session = None
        if not self.model.uses_qonnx:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            options.log_severity_level = 3
            try:
                self.session = ort.InferenceSession(self.model.model_bytes, options,
                                                    providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own, unrelated types
                raise BnnError(f"onnxruntime cannot load this model, so it cannot be the reference: "
                               f"{str(exc).splitlines()[0][:300]}") from None

    @property
    def name(self) -> str:
        return "numpy (QONNX semantics)" if self.session is None else "onnxruntime"

    @property
    def available(self) -> list[str]:
        return self.model.available

    def run(self, x: np.ndarray, batch: int = 256) -> dict[str, np.ndarray]:
        """All outputs (the model's and the exposed intermediates) for batch x."""
        parts: list[dict[str, np.ndarray]] = []
        batch = 1 if self.model.fixed_batch else batch
        for start in range(0, len(x), batch):
            chunk = np.ascontiguousarray(x[start:start + batch], dtype=np.float32)
            try:
                if self.session is not None:
                    values = self.session.run(None, self.model.feeds(chunk))
                    parts.append(dict(zip(self.model.output_names, values)))
                else:
                    parts.append(self.model.run_numpy(chunk))
            except BnnError:
                raise
            except Exception as exc:
                raise BnnError(f"the reference ({self.name}) cannot run this model: "
                               f"{str(exc).splitlines()[0][:300]}") from None
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def outputs(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output(s) from `run`'s values: the one output as it is, or
        several flattened one after another per sample (as NAME_run writes them)."""
        names = self.model.model_outputs
        if len(names) == 1:
            return values[names[0]]
        return np.concatenate([values[n].reshape(len(values[n]), -1) for n in names], axis=1)
