"""The issue-11 fixtures (tests/fixtures/modern/, made by the make_modern_*.py
scripts: PyTorch legacy and dynamo exporters, Larq + tf2onnx at opsets 13 and
18) for the layers modern BNNs are made of: each compiles, runs the layers
meant to be binary as binary kernels, and is exact on the 360 held-out digits
(every binarized activation bit for bit; the dynamo files have a fixed batch of
1, which verify runs sample by sample)."""
from collections import Counter

import numpy as np
import pytest
from conftest import FIXTURES

from bnncompile.compiler import compile_to_memory
from bnncompile.validate import verify

MODERN = FIXTURES / "modern"
HELD_OUT = 360

# fixture stem -> the binary kernels its report must show (kind: count)
BINARY = {
    "torch_reactnet": {"conv_xnor": 5},
    "torch_bireal": {"conv_xnor": 4},
    "torch_conv1d": {"conv_xnor": 2},
    "torch_convtranspose": {"conv_xnor": 3},
    "torch_ceilpool": {"conv_xnor": 2},  # the dense layer after the Flatten runs as XNOR too
    "torch_leakyrelu": {"conv_xnor": 1},
    "torch_ste_detach": {},  # not a binarizer for real inputs above 2^24: float, with a note (below)
    "larq_conv1d_pad0": {"conv_xnor": 2, "dense_xnor": 1},
    "larq_conv1d_pad1": {"conv_xnor": 2, "dense_xnor": 1},
    "larq_conv2d_1ch_pad1": {"conv_xnor": 2, "dense_xnor": 1},
    "larq_conv2dtranspose": {"conv_xnor": 3, "dense_xnor": 1},
    "larq_conv3d": {"conv3d_xnor": 2, "dense_xnor": 1},
    "larq_gap": {"conv_xnor": 3},
}
FILES = sorted(p for p in MODERN.glob("*/*.onnx") if any(p.stem.startswith(s + "_") for s in BINARY))


def stem(path) -> str:
    return next(s for s in BINARY if path.stem.startswith(s + "_"))


def held_out(images, shape):
    """The last 360 digits as the model takes them (the conv3d fixture: the digit
    rolled right by 0..3 pixels as 4 frames, as its script made them)."""
    x = images[-HELD_OUT:]
    if len(shape) == 4:
        return np.stack([np.roll(x, s, axis=2) for s in range(4)], axis=1)[..., None]
    return x.reshape((len(x),) + tuple(shape))


def test_the_fixtures_of_every_layer_and_exporter_are_here():
    exporters = Counter(p.stem.rsplit("_", 1)[1] for p in FILES)
    assert exporters == {"legacy": 7, "dynamo": 7, "op13": 6, "op18": 6}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_modern_fixture_is_exact_with_binary_kernels(path, digits):
    compiled = compile_to_memory(path)
    x = held_out(digits[0], compiled.graph.sample_shape)
    report = verify(compiled, x)
    assert report.status == "PASS", report.verdict()
    assert report.samples == HELD_OUT and report.argmax_agree == HELD_OUT
    binarized = [r for r in report.layers if r.compared and r.domain in ("bipolar", "ternary")]
    assert binarized and all(r.values_differing == 0 for r in binarized)
    kernels = Counter(s.kind for s in compiled.plan.steps if s.layer == "binary")
    assert kernels == Counter(BINARY[stem(path)]), kernels
    if stem(path) == "torch_ste_detach":
        assert [n.node for n in compiled.graph.notes if n.kind == "ste-real"]


@pytest.mark.parametrize("path", [p for p in FILES if "reactnet" in p.stem or "bireal" in p.stem],
                         ids=lambda p: p.stem)
def test_real_streams_before_binarizers_are_judged_on_random_inputs(path):
    """Real shortcuts, RPReLU and the approx-sign arithmetic on inputs far from the
    digits: never a mismatch (a decision within rounding of the reference's own
    sum would be set aside as ambiguous, not silently passed)."""
    compiled = compile_to_memory(path)
    rng = np.random.default_rng(0)
    shape = compiled.graph.sample_shape
    x = np.concatenate([rng.normal(0, 1, (60,) + shape), rng.normal(0, 50, (20,) + shape)]).astype(np.float32)
    report = verify(compiled, x)
    assert report.status != "FAIL", report.verdict()
