"""C literals that parse back to exactly the value they were made from."""
import numpy as np


def c_float(value) -> str:
    """A C float literal for float32(value), shortest form that round-trips."""
    v = np.float32(value)
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return np.format_float_scientific(v, unique=True, trim="-") + "f"
