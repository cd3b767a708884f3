"""numpy semantics of the QONNX custom ops we accept, as published by QONNX
(`qonnx.custom_op.general`). Used to fold them on constants (weights) and by
the reference executor for models onnxruntime cannot run."""
import numpy as np

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas")


def bipolar_quant(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """BipolarQuant: +1 where x >= 0 else -1, times scale (0 maps to +1)."""
    x = np.asarray(x, dtype=np.float32)
    ones = np.ones_like(x)
    return (np.where(x >= 0.0, ones, -ones) * np.asarray(scale, dtype=np.float32)).astype(np.float32)


QONNX_OPS = {"BipolarQuant": bipolar_quant}
