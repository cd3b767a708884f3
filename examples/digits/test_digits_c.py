"""An example regression test for a project that ships the C of a BNN: copy it
next to your own tests and change MODEL, the inputs and FIRMWARE_C.

    pip install bnncompile scikit-learn pytest
    pytest examples/digits/test_digits_c.py

`assert_c_matches` fails (with verify's verdict and the layer-by-layer table)
unless the C reproduces the model exactly; the `bnncompile_model` fixture
(a pytest plugin installed with bnncompile) compiles a model into the test's
tmp_path and cleans up afterwards.
"""
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import bnncompile
from bnncompile.testing import assert_c_matches

MODEL = Path(__file__).with_name("digits_bnn.onnx")
FIRMWARE_C = None  # in your project: the folder of generated C you commit, e.g. Path("firmware/model")


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.images / 16.0).astype(np.float32).reshape(-1, 8, 8, 1), d.target  # the model's input layout


def test_fresh_c_matches_the_model_on_real_data(digits):
    x, _ = digits
    assert_c_matches(MODEL, x[:300])


def test_the_shipped_c_is_from_this_model_and_still_matches(digits, tmp_path):
    """Fails when someone retrains the model but forgets to regenerate the C."""
    firmware_c = FIRMWARE_C or tmp_path / "model"
    if FIRMWARE_C is None:  # this example has no firmware tree: make one
        bnncompile.compile(MODEL, firmware_c, name="digits").close()
    x, _ = digits
    assert_c_matches(MODEL, x[:100], c_dir=firmware_c, name="digits")


def test_the_c_keeps_its_accuracy(bnncompile_model, digits):
    x, labels = digits
    model = bnncompile_model(MODEL, name="digits")
    assert (model.run(x).argmax(axis=1) == labels).mean() >= 0.99
