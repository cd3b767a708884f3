"""Run the compiled digits BNN (a native executable built from the generated C)
on all 1797 scikit-learn digits beside onnxruntime, and report accuracy and
agreement. Called by `make demo` after it compiled and built the C."""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits

ATOL = RTOL = 1e-4


def main(model: str, executable: str) -> int:
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "digits.f32"
        x.tofile(samples)
        raw = subprocess.run([executable, str(samples)], check=True, capture_output=True).stdout
    c_out = np.frombuffer(raw, dtype=np.float32).reshape(len(x), -1)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    ref = session.run(None, {session.get_inputs()[0].name: x})[0]
    c_pred, ref_pred = c_out.argmax(axis=1), ref.argmax(axis=1)
    err = np.abs(c_out - ref)
    within = bool(np.all(err <= ATOL + RTOL * np.abs(ref)))
    print(f"digits: {len(x)} samples")
    print(f"  accuracy of the C:           {np.mean(c_pred == digits.target):.4f}")
    print(f"  accuracy of onnxruntime:     {np.mean(ref_pred == digits.target):.4f}")
    print(f"  arg-max agreement:           {np.sum(c_pred == ref_pred)}/{len(x)}")
    print(f"  max |C - onnxruntime|:       {err.max():.3g} (tolerance {ATOL:g} + {RTOL:g}*|ref|: "
          f"{'within' if within else 'EXCEEDED'})")
    return 0 if within and np.array_equal(c_pred, ref_pred) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
