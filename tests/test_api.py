"""The Python API mirrors the command line; front doors from torch (both
exporters) and Keras; the pytest helper and fixture users' tests rely on."""
import re
import subprocess
import sys

import numpy as np
import pytest
from builders import shift_one_threshold_array
from conftest import ROOT, digits_for

import bnncompile
from bnncompile.errors import BnnError
from bnncompile.testing import assert_c_matches

MLP = "examples/digits/digits_bnn.onnx"
LARQ_MLP = "tests/fixtures/larq/larq_mlp_op13.onnx"


def test_compile_returns_an_object_with_paths_run_verify_report_golden(tmp_path, digits):
    x = digits_for(MLP, digits[0][:40])
    with bnncompile.compile(MLP, tmp_path / "c", name="net") as model:
        assert model.header == tmp_path / "c" / "net.h" and model.source == tmp_path / "c" / "net.c"
        assert {p.name for p in model.files} >= {"net.h", "net.c", "CMakeLists.txt", "net.mk", "bnn_runtime.h"}
        assert all(p.is_file() for p in model.files)
        assert model.input_shape == (8, 8, 1) and model.output_shape == (10,) and model.notes == ()
        y = model.run(x)
        assert y.shape == (40, 10) and (y.argmax(axis=1) == digits[1][:40]).mean() > 0.9
        report = model.verify(x)
        assert report.ok and report.samples == 40, report.verdict()
        assert model.verify(samples=7).samples == 7
        text = model.report(measure=False)
        assert "total: 68,096 binary MACs" in text
        page = model.html_report(tmp_path / "net.html", measure=False)
        assert "<svg" in page.read_text()
        written = model.golden(tmp_path / "golden", samples=3)
        assert {p.name for p in written} >= {"golden_main.c", "Makefile"}
    run = subprocess.run(["make", "-C", str(tmp_path / "golden"), "run"], capture_output=True, text=True)
    assert run.returncode == 0 and "golden: 3 passed, 0 failed" in run.stdout, run.stdout + run.stderr


def test_compile_in_memory_and_the_arduino_layout(tmp_path):
    with bnncompile.compile(MLP) as model:  # no folder: nothing written
        assert model.files == [] and model.header is None
        assert model.run(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)
    with bnncompile.compile(MLP, tmp_path / "lib", name="net", layout="arduino") as model:
        assert model.header == tmp_path / "lib" / "src" / "net.h"
    with pytest.raises(BnnError, match="already exist .*--force"):
        bnncompile.compile(LARQ_MLP, tmp_path / "lib", name="net", layout="arduino")
    bnncompile.compile(LARQ_MLP, tmp_path / "lib", name="net", layout="arduino", force=True).close()


# ---------------------------------------------------------------- from_torch


def torch_net(torch, weight_binarizer="where", zero_latents=0):
    """A small BNN written the way BNN repos write them: latent weights binarized in
    forward, batchnorm, a where(x >= 0) STE on activations."""
    nn = torch.nn

    def binarize(w):
        return torch.sign(w) if weight_binarizer == "sign" else torch.where(w >= 0, 1.0, -1.0)

    class BinaryLinear(nn.Linear):
        def forward(self, x):
            return nn.functional.linear(x, binarize(self.weight))

    class DigitsBNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = BinaryLinear(64, 48, bias=False)
            self.bn1 = nn.BatchNorm1d(48)
            self.fc2 = BinaryLinear(48, 10, bias=False)
            self.bn2 = nn.BatchNorm1d(10)

        def forward(self, x):
            x = torch.where(self.bn1(self.fc1(x.flatten(1))) >= 0, 1.0, -1.0)
            return self.bn2(self.fc2(x))

    torch.manual_seed(0)
    net = DigitsBNN()
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.running_mean.normal_(0, 2)
            bn.running_var.uniform_(0.5, 3)
            bn.weight.uniform_(-1.5, 1.5)
            bn.bias.normal_()
        net.fc1.weight.view(-1)[:zero_latents] = 0.0
    return net


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_from_torch_exports_compiles_and_matches(tmp_path, digits, dynamo):
    torch = pytest.importorskip("torch")
    net = torch_net(torch)
    x = digits[0][:300].reshape(-1, 64)
    with bnncompile.from_torch(net, torch.from_numpy(x[:1]), tmp_path / "c", dynamo=dynamo) as model:
        assert model.name == "digitsbnn" and model.header.name == "digitsbnn.h"
        assert model.onnx_path.is_file()
        report = model.verify(x)  # 300 samples: the exported batch dimension stayed dynamic
        assert report.ok and report.samples == 300, report.verdict()
        with torch.no_grad():
            expected = net.eval()(torch.from_numpy(x)).numpy()
        assert np.allclose(model.run(x), expected, atol=1e-4)
        exported = model.onnx_path
    assert not exported.exists()  # the temporary export went away with the model
    assert net.training is False  # eval() above; from_torch itself restores the mode it found


def test_from_torch_restores_training_mode_and_keeps_the_file_when_asked(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch_net(torch).train()
    with bnncompile.from_torch(net, torch.zeros(4, 64), dynamo=False, onnx_path=tmp_path / "net.onnx") as model:
        assert model.onnx_path == tmp_path / "net.onnx"
    assert net.training and (tmp_path / "net.onnx").is_file()


def test_from_torch_warns_about_latent_zeros_under_sign_and_require_binary_refuses(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch_net(torch, weight_binarizer="sign", zero_latents=3)
    with bnncompile.from_torch(net, torch.zeros(2, 64), dynamo=False) as model:
        notes = [(n.kind, n.message.split(":")[0]) for n in model.notes]
        assert notes == [("not-binary", "3 of 3072 weights are exactly 0 (all others are +-1 or +-a per output "
                                        "channel)")]
        assert "fc1" in model.notes[0].node
        assert re.search(r"^\s*0 real\s+dense_float .*fc1", model.report(measure=False), re.M)  # not binary
    with pytest.raises(BnnError, match=r"--require-binary: 1 layer meant to be binary is not: '.*fc1.*' \(real"):
        bnncompile.from_torch(net, torch.zeros(2, 64), dynamo=False, require_binary=True)
    with bnncompile.from_torch(torch_net(torch, weight_binarizer="sign"), torch.zeros(2, 64), dynamo=False) as m:
        assert m.notes == ()  # no zeros, no note


def test_a_missing_extra_is_one_clear_error(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    with pytest.raises(BnnError, match=r"needs the Python package 'onnxscript'.*pip install 'bnncompile\[torch\]'"):
        bnncompile.from_torch(torch_net(torch), torch.zeros(2, 64), dynamo=True)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes(b"PK")
    with pytest.raises(BnnError, match=r"model.keras.*needs the Python package 'tensorflow'.*bnncompile\[keras\]"):
        bnncompile.compile(keras_file, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- testing helpers


def test_assert_c_matches_passes_then_catches_drifted_c(tmp_path, digits):
    x = digits_for(LARQ_MLP, digits[0][:200])
    report = assert_c_matches(LARQ_MLP, x)
    assert report.ok and report.samples == 200
    bnncompile.compile(LARQ_MLP, tmp_path / "fw", name="net").close()
    assert_c_matches(LARQ_MLP, x, c_dir=tmp_path / "fw", name="net")
    source = tmp_path / "fw" / "net.c"
    source.write_text(shift_one_threshold_array(source.read_text()))
    # the generator is deterministic: the drifted line is named before any sample runs
    with pytest.raises(AssertionError, match=r"is not what bnncompile generates(.|\n)*net\.c:\d+: is "):
        assert_c_matches(LARQ_MLP, x, c_dir=tmp_path / "fw", name="net")
    with pytest.raises(BnnError, match="different model"):
        assert_c_matches(MLP, digits_for(MLP, digits[0][:5]), c_dir=tmp_path / "fw", name="net")


def test_the_example_regression_test_passes_with_the_plugin_fixture():
    """examples/digits/test_digits_c.py as a user runs it: pytest finds the
    `bnncompile_model` fixture through the installed plugin entry point."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                        str(ROOT / "examples"), "examples/digits/test_digits_c.py"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed" in r.stdout
