"""`bnncompile golden`: self-contained test programs with golden vectors, on the
host and on Cortex-M0/M4 boards under QEMU. They must pass as generated and
fail when a golden value is wrong."""
import os
import re
import shutil
import subprocess

import pytest
from conftest import run_cli

MLP = "examples/digits/digits_bnn.onnx"
CNN = "tests/fixtures/torch/torch_cnn_legacy.onnx"
HAVE_ARM = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))
# CI installs every tool and sets this, so these tests can never be skipped there.
REQUIRE_ARM = os.environ.get("BNN_REQUIRE_TOOLS") == "1"


def make_run(folder):
    return subprocess.run(["make", "-C", str(folder), "run"], capture_output=True, text=True, timeout=900)


def summary(result):
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("golden:")]
    return lines[-1] if lines else ""


def test_host_golden_passes_and_catches_a_wrong_value(tmp_path):
    out = tmp_path / "g"
    r = run_cli("golden", MLP, "-o", out, "--samples", "6")
    assert r.returncode == 0, r.stderr
    ok = make_run(out)
    assert ok.returncode == 0 and summary(ok) == "golden: 6 passed, 0 failed", ok.stdout + ok.stderr
    source = (out / "golden_main.c").read_text()
    # corrupt the first reference output value of sample 0
    corrupted = re.sub(r"(golden_outputs\[GOLDEN_SAMPLES\]\[\w+\] = \{\s*\{ /\* sample 0 \*/\s*)([^,]+)",
                       lambda m: m.group(1) + "0.5f", source, count=1)
    assert corrupted != source
    (out / "golden_main.c").write_text(corrupted)
    bad = make_run(out)
    assert bad.returncode != 0 and summary(bad) == "golden: 5 passed, 1 failed", bad.stdout + bad.stderr


@pytest.mark.skipif(not HAVE_ARM and not REQUIRE_ARM, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m0"])
@pytest.mark.parametrize("model", [MLP, CNN], ids=["mlp", "cnn"])
def test_cortex_m_golden_runs_under_qemu(tmp_path, target, model):
    out = tmp_path / "g"
    r = run_cli("golden", model, "-o", out, "--samples", "4", "--target", target)
    assert r.returncode == 0, r.stderr
    result = make_run(out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result) == "golden: 4 passed, 0 failed"
