"""Slow tier: `bnncompile compile model.keras|.h5|SavedModel` for Larq users,
with TensorFlow, tf-keras, Larq and tf2onnx (bnncompile[keras]) in their own
environment: `make keras-env` builds it and `make test-slow` points
$BNN_KERAS_PYTHON at it. The work happens in tests/keras_front_door.py, run
with that Python; this test judges its results."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def keras_python() -> str:
    python = os.environ.get("BNN_KERAS_PYTHON")
    if python:
        assert Path(python).exists(), f"BNN_KERAS_PYTHON={python} does not exist: run `make keras-env`"
        return python
    probe = subprocess.run([sys.executable, "-c", "import tensorflow, tf_keras, tf2onnx, larq"], capture_output=True)
    if probe.returncode != 0:
        if os.environ.get("BNN_REQUIRE_TOOLS") == "1":
            pytest.fail("no TensorFlow environment: run `make keras-env` and set BNN_KERAS_PYTHON (make test-slow does)")
        pytest.skip("needs bnncompile[keras]: `make keras-env`, then BNN_KERAS_PYTHON=.venv-zoo/bin/python")
    return sys.executable


@pytest.mark.slow
def test_keras_h5_and_savedmodel_compile_verify_and_match_keras(tmp_path):
    r = subprocess.run([keras_python(), str(HERE / "keras_front_door.py"), str(tmp_path)], capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(results) == {"keras", "h5", "savedmodel"}
    for kind, res in results.items():
        assert res["compile_rc"] == 0, (kind, res["compile_stderr"])
        assert {"net.c", "net.h", "CMakeLists.txt", "net.mk"} <= set(res["files"]), kind
        assert res["verify_rc"] == 0 and res["verify"].splitlines()[-1].startswith("PASS: 50 samples"), (kind, res)
        assert res["xnor_steps"] == 2, kind  # the binary conv and the binary dense run as XNOR/popcount
        # against Keras itself (not only onnxruntime): same decisions, outputs within float noise
        assert res["argmax_agree"] == res["samples"], (kind, res)
        assert res["max_abs_diff"] <= 1e-4, (kind, res)
