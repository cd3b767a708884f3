"""Real exported fixtures (Larq/tf2onnx, torch.onnx legacy and dynamo, Brevitas
QONNX): compile, build with -Werror, run on all 1797 digits, and hold the C to
the exactness contract against the reference."""
import re

import numpy as np
import onnxruntime as ort
import pytest
from builders import shift_one_threshold_array
from conftest import EXPORTED_FIXTURES, digits_for, run_cli

from bnncompile.compiler import compile_to_memory
from bnncompile.validate import ATOL, RTOL, NativeModel, verify


def test_fixture_set_covers_every_exporter():
    names = {p.parent.name for p in EXPORTED_FIXTURES}
    assert names == {"larq", "torch", "brevitas"}
    assert any("dynamo" in p.name for p in EXPORTED_FIXTURES if p.parent.name == "torch")
    assert any(p.with_name(p.name + ".data").exists() for p in EXPORTED_FIXTURES)  # external data


@pytest.mark.parametrize("path", EXPORTED_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_matches_reference_on_all_digits(path, digits):
    images, labels = digits
    x = digits_for(path, images)
    compiled = compile_to_memory(path)
    report = verify(compiled, x)
    assert report.ok, report.verdict()
    assert report.samples == 1797
    assert not report.ambiguous_samples and not report.real_mismatch_samples
    assert report.argmax_agree == 1797
    assert report.max_abs_err <= ATOL
    # Every binarized layer was compared, and all of them agree bit for bit.
    binarized = [r for r in report.layers if r.compared and r.domain in ("bipolar", "ternary")]
    assert binarized and all(r.values_differing == 0 for r in binarized)


@pytest.mark.parametrize("path", [p for p in EXPORTED_FIXTURES if p.parent.name != "brevitas"],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_argmax_agrees_with_default_onnxruntime_too(path, digits):
    """Users run onnxruntime with its default (fusing) optimisations; arg-max must not care."""
    images, _ = digits
    x = digits_for(path, images)
    compiled = compile_to_memory(path)
    native = NativeModel(compiled.files, compiled.plan)
    try:
        c_out = native.run(x)
    finally:
        native.close()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.array_equal(c_out.argmax(axis=1), ref.argmax(axis=1))
    assert np.all(np.abs(c_out - ref) <= ATOL + RTOL * np.abs(ref))


def test_verify_catches_a_perturbed_threshold(tmp_path, digits):
    """Shift every accumulator threshold of one layer by one step in the shipped C:
    `verify --c-dir` fails before running a sample, naming the file and line; and
    judged on samples, that C fails too and the first differing layer is named."""
    model = "tests/fixtures/larq/larq_mlp_op13.onnx"
    out = tmp_path / "c"
    assert run_cli("compile", model, "-o", out, "--name", "net").returncode == 0
    np.save(tmp_path / "x.npy", digits_for(model, digits[0]))
    ok = run_cli("verify", model, "--name", "net", "--c-dir", out, "--inputs", tmp_path / "x.npy")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (out / "net.c").write_text(shift_one_threshold_array((out / "net.c").read_text()))
    bad = run_cli("verify", model, "--name", "net", "--c-dir", out, "--inputs", tmp_path / "x.npy")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert re.search(r"^FAIL: .*no sample was run", bad.stdout, re.M) and re.search(r"net\.c:\d+: is ", bad.stdout)

    compiled = compile_to_memory(model, name="net")
    compiled.files["net.c"] = shift_one_threshold_array(compiled.files["net.c"])
    report = verify(compiled, digits_for(model, digits[0]))
    assert report.status == "FAIL" and report.real_mismatch_samples and report.first_bad_layer, report.verdict()
