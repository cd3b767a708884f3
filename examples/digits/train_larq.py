#!/usr/bin/env python3
"""Train the bundled digits BNN with Larq and export it to ONNX with tf2onnx.

Writes examples/digits/digits_bnn.onnx (opset 13). The compiler itself never
needs TensorFlow; this script only documents where the bundled model came from
and lets you regenerate it.

How to run (from the repo root; needs PyPI access once for the venv):

    python3 -m venv /work/venvs/larq
    /work/venvs/larq/bin/pip install tensorflow-cpu tf-keras larq==0.14.0 \
        tf2onnx==1.17.0 scikit-learn onnx onnxruntime
    TF_USE_LEGACY_KERAS=1 /work/venvs/larq/bin/python examples/digits/train_larq.py

TF_USE_LEGACY_KERAS=1 is mandatory (Keras 3 breaks larq); the script also sets
it itself before importing TensorFlow. Versions that worked (no extra pins
needed; pip picked numpy<2 itself because of tf2onnx):
    tensorflow-cpu==2.21.0  tf-keras==2.21.0  larq==0.14.0  tf2onnx==1.17.0
    onnx==1.23.2  onnxruntime==1.32.0  numpy==1.26.4  protobuf==7.36.2
    scikit-learn==1.9.1
Runtime: about 15 seconds on 2 CPU cores. Seeds are fixed and the output
file is byte-reproducible on the same machine/versions.

Model (input: float32 digits.images / 16.0, shape [N, 8, 8, 1], NHWC, ONNX
input name "input", dynamic batch; output "softmax" [N, 10]):
    Flatten
    QuantDense(256, input_quantizer=None,  kernel_quantizer=ste_sign) -> BN(scale=False)
    QuantDense(256, input_quantizer=ste_sign, kernel_quantizer=ste_sign) -> BN(scale=False)
    QuantDense(10,  input_quantizer=ste_sign, kernel_quantizer=ste_sign) -> BN(scale=False)
    Softmax
All QuantDense: use_bias=False, kernel_constraint="weight_clip".
Training: fixed 80/20 split of the 1797 digits (np.random.RandomState(0)
permutation), Adam, batch 64.
"""
import argparse
import collections
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
import larq as lq  # noqa: E402
import tf2onnx  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

keras = tf.keras
assert keras.Sequential.__module__.startswith("tf_keras"), (
    "TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is imported")

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BYTES = 400 * 1024


def build(width):
    qd = dict(kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
              use_bias=False)
    return keras.Sequential(
        [
            keras.layers.Flatten(input_shape=(8, 8, 1)),
            lq.layers.QuantDense(width, input_quantizer=None, **qd),
            keras.layers.BatchNormalization(scale=False, momentum=0.9),
            lq.layers.QuantDense(width, input_quantizer="ste_sign", **qd),
            keras.layers.BatchNormalization(scale=False, momentum=0.9),
            lq.layers.QuantDense(10, input_quantizer="ste_sign", **qd),
            keras.layers.BatchNormalization(scale=False, momentum=0.9),
            keras.layers.Softmax(),
        ],
        name="digits_bnn",
    )


def canonicalise(mp):
    """Make the tf2onnx output byte-reproducible (names/order only).

    tf2onnx merges identical constants (the 0.1 of every ste_sign) into one
    shared initializer whose surviving name, like the initializer order,
    varies between runs. Rename shared initializers after their first
    consumer and sort the initializer list; values and nodes are untouched.
    """
    g = mp.graph
    uses = collections.Counter(i for n in g.node for i in n.input)
    rename = {}
    for t in g.initializer:
        if uses[t.name] > 1:
            first = next(n for n in g.node if t.name in n.input)
            rename[t.name] = f"{first.name}/shared_const"
    for t in g.initializer:
        t.name = rename.get(t.name, t.name)
    for n in g.node:
        n.input[:] = [rename.get(i, i) for i in n.input]
    inits = sorted(g.initializer, key=lambda t: t.name)
    del g.initializer[:]
    g.initializer.extend(inits)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "digits_bnn.onnx"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args(argv)

    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    perm = np.random.RandomState(0).permutation(len(x))
    n_train = int(0.8 * len(x))
    tr, te = perm[:n_train], perm[n_train:]

    model = build(args.width)
    lr = keras.optimizers.schedules.CosineDecay(
        args.lr, decay_steps=args.epochs * int(np.ceil(n_train / 64)),
        alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[tr], y[tr], batch_size=64, epochs=args.epochs, shuffle=True,
              verbose=0)
    _, acc_tr = model.evaluate(x[tr], y[tr], verbose=0)
    _, acc_te = model.evaluate(x[te], y[te], verbose=0)
    _, acc_all = model.evaluate(x, y, verbose=0)
    print(f"keras accuracy: train {acc_tr:.4f}  test(20%) {acc_te:.4f}  "
          f"all {acc_all:.4f}")

    spec = (tf.TensorSpec((None, 8, 8, 1), tf.float32, name="input"),)
    mp, _ = tf2onnx.convert.from_keras(model, input_signature=spec,
                                       opset=args.opset)
    canonicalise(mp)
    onnx.checker.check_model(mp)
    onnx.save(mp, args.out)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out} ({size} bytes, opset {args.opset})")
    assert size < MAX_BYTES, f"{args.out} is {size} bytes (> {MAX_BYTES})"

    counts = collections.Counter(n.op_type for n in mp.graph.node)
    print("op types: " + ", ".join(f"{k} x{v}" for k, v in
                                    sorted(counts.items())))

    sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    pred = out.argmax(1)
    ref = model.predict(x, verbose=0).argmax(1)
    print(f"onnxruntime accuracy: all {len(x)} digits "
          f"{(pred == y).mean():.4f}  test(20%) {(pred[te] == y[te]).mean():.4f}"
          f"  (argmax agrees with Keras on {(pred == ref).mean():.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
