"""numpy semantics of the QONNX custom ops we accept, as published by QONNX
(`qonnx.custom_op.general`: bipolar_quant.py, intquant.py). Used to fold them
on constants (weights) and by the reference executor for models onnxruntime
cannot run."""
import numpy as np

from ..ir.quantizers import ROUNDING

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas")
QONNX_ARITY = {"BipolarQuant": (2, 2, 1, 1), "Quant": (4, 4, 1, 1)}  # min/max inputs, min/max outputs


def bipolar_quant(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """BipolarQuant: +1 where x >= 0 else -1, times scale (0 maps to +1)."""
    x = np.asarray(x, dtype=np.float32)
    ones = np.ones_like(x)
    return (np.where(x >= 0.0, ones, -ones) * np.asarray(scale, dtype=np.float32)).astype(np.float32)


def quant(x, scale, zeropt, bitwidth, signed=1, narrow=0, rounding_mode="ROUND") -> np.ndarray:
    """Quant (QONNX's int_quant): y = x / scale + zeropt, clamped to the integer range
    of `bitwidth` bits (signed, narrow), rounded, then (y - zeropt) * scale; 1-bit
    signed is bipolar (y >= 0 ? 1 : -1). Float32 throughout, as QONNX computes it."""
    x, scale, zeropt = (np.asarray(a, np.float32) for a in (x, scale, zeropt))
    bits = float(np.asarray(bitwidth).reshape(-1)[0])
    mode = rounding_mode.decode() if isinstance(rounding_mode, bytes) else str(rounding_mode)
    y = x / scale
    y = y + zeropt
    if bits == 1 and signed:
        ones = np.ones(y.shape, dtype=y.dtype)
        y = np.where(y >= 0.0, ones, -ones)
    else:
        if signed:
            lo, hi = -(2 ** (bits - 1)) + int(bool(narrow)), 2 ** (bits - 1) - 1
        else:
            lo, hi = 0, 2 ** bits - 1 - int(bool(narrow))
        y = np.where(y > hi, np.float32(hi), y)
        y = np.where(y < lo, np.float32(lo), y)
        y = ROUNDING[mode.upper()](y)
    return ((y - zeropt) * scale).astype(np.float32)


QONNX_OPS = {"BipolarQuant": bipolar_quant, "Quant": quant}
