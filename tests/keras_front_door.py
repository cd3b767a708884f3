#!/usr/bin/env python3
"""The Keras front door as a Larq user meets it, run with the Python of an
environment that has bnncompile[keras] (tests/test_keras_front_door.py runs
it with $BNN_KERAS_PYTHON; `make keras-env` builds that environment).

Builds a small Larq CNN with random batchnorm (negative scales included),
saves it as .keras, .h5 and a SavedModel folder, and for each: runs
`bnncompile compile` and `bnncompile verify` on the Keras file itself, and
compares the C (through the Python API) with Keras's own predictions.
Prints one JSON object with the results.

    python tests/keras_front_door.py OUT_DIR
"""
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import bnncompile  # noqa: E402

keras = tf.keras


def larq_cnn() -> "keras.Model":
    keras.utils.set_random_seed(7)
    binary = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
                  use_bias=False)
    model = keras.Sequential([
        keras.layers.InputLayer(input_shape=(8, 8, 1)),
        lq.layers.QuantConv2D(8, 3, padding="same", input_quantizer=None, kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", use_bias=False),
        keras.layers.BatchNormalization(),
        lq.layers.QuantConv2D(16, 3, padding="same", pad_values=1.0, **binary),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPool2D(2),
        keras.layers.Flatten(),
        lq.layers.QuantDense(10, **binary),
        keras.layers.BatchNormalization(),
        keras.layers.Softmax(),
    ], name="larq_cnn")
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n) * rng.choice([-1, 1], n), rng.normal(0, 1, n),
                               rng.normal(0, 3, n), rng.uniform(0.5, 4, n)])
    return model


def main(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    model = larq_cnn()
    x = np.random.default_rng(0).uniform(0, 1, (200, 8, 8, 1)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    saved = {"keras": out / "larq_cnn.keras", "h5": out / "larq_cnn.h5", "savedmodel": out / "larq_cnn_savedmodel"}
    model.save(saved["keras"])
    model.save(saved["h5"])
    model.save(saved["savedmodel"], save_format="tf")
    results = {}
    for kind, path in saved.items():
        cli = [sys.executable, "-m", "bnncompile"]
        built = subprocess.run(cli + ["compile", str(path), "-o", str(out / f"c_{kind}"), "--name", "net"],
                               capture_output=True, text=True)
        verified = subprocess.run(cli + ["verify", str(path), "--samples", "50"], capture_output=True, text=True)
        with bnncompile.compile(path) as compiled:
            got = compiled.run(x)
            steps = [s["kind"] for s in compiled.compiled.plan.steps]
        results[kind] = dict(
            compile_rc=built.returncode, compile_stderr=built.stderr[-2000:],
            files=sorted(p.name for p in (out / f"c_{kind}").glob("*")),
            verify_rc=verified.returncode, verify=verified.stdout.strip()[-2000:], verify_stderr=verified.stderr[-2000:],
            argmax_agree=int((got.argmax(axis=1) == expected.argmax(axis=1)).sum()), samples=len(x),
            max_abs_diff=float(np.abs(got - expected).max()), xnor_steps=steps.count("conv_xnor") +
            steps.count("dense_xnor"))
    return results


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
