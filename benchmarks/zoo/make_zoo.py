#!/usr/bin/env python3
"""Export randomised larq-zoo ImageNet BNNs to ONNX (benchmark inputs, NOT CI).

The models are built with ``weights=None`` (no pretrained download) at
224x224x3 and then randomised so that every BatchNormalization and every
binary kernel is non-trivial:

  * BatchNormalization: gamma = |U(0.5, 1.5)| with a random sign (about 1/3
    negative) when the layer has a scale, beta ~ U(-0.5, 0.5), moving_mean
    near the real per-channel mean of the layer's input (measured on random
    images, layer by layer in graph order so later statistics see the earlier
    changes), moving_variance = measured variance * U(0.5, 2).
  * latent kernels of every larq Quant* layer: U(-1, 1) (so sign(kernel) is a
    fresh random +-1 pattern, and magnitude-aware quantizers get non-trivial
    per-channel scales).  Full-precision layers keep their Glorot init.

Each model is exported with tf2onnx (opset 13 by default) to
``<out>/<name>.onnx``; the output folder is the first command-line argument
(default ``build/zoo/``).  The ``.onnx`` files are large (MBs) and must not be
committed.

Environment (the larq venv of tests/fixtures/make_larq.py, plus larq-zoo):

    /work/venvs/larq/bin/pip install --no-deps larq-zoo==2.4.0 zookeeper==1.4.0
    /work/venvs/larq/bin/pip install click typeguard tensorflow-datasets==4.9.10

``pip install larq-zoo==2.4.0`` WITH dependencies must be avoided: its
resolver picks tensorflow-datasets 4.8.3 and downgrades protobuf to 3.20.3 and
absl-py to 1.4.0, which breaks tensorflow 2.21.  larq_zoo imports zookeeper,
which imports click, typeguard and tensorflow_datasets at import time (none of
them are used for inference).

Run (TF_USE_LEGACY_KERAS=1 is set by the script itself):

    /work/venvs/larq/bin/python benchmarks/zoo/make_zoo.py /tmp/zoo
    /work/venvs/larq/bin/python benchmarks/zoo/make_zoo.py /tmp/zoo QuickNet XNORNet

For every model it prints build / randomise / export time, file size, op-type
counts and whether onnxruntime runs it on one random image (and how close the
result is to Keras).  A model that fails to export is reported with the full
error and the script continues with the next one.
"""
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import collections  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
import larq as lq  # noqa: E402
import larq_zoo as lqz  # noqa: E402
import tf2onnx  # noqa: E402

keras = tf.keras
assert keras.Sequential.__module__.startswith("tf_keras"), (
    "TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is imported")

SEED = 2024
OPSET = 13
SHAPE = (224, 224, 3)
MODELS = {
    "QuickNetSmall": lqz.sota.QuickNetSmall,
    "QuickNet": lqz.sota.QuickNet,
    "BiRealNet": lqz.literature.BiRealNet,
    "BinaryResNetE18": lqz.literature.BinaryResNetE18,
    "BinaryDenseNet28": lqz.literature.BinaryDenseNet28,
    "XNORNet": lqz.literature.XNORNet,
}
QUANT_LAYERS = (lq.layers.QuantConv2D, lq.layers.QuantDense,
                lq.layers.QuantDepthwiseConv2D, lq.layers.QuantSeparableConv2D)


def randomise(model, rng, n_probe=2):
    """Randomise latent binary kernels, then every BN (in graph order)."""
    n_kern = 0
    for layer in model.layers:
        if isinstance(layer, QUANT_LAYERS):
            new = []
            for w in layer.weights:
                v = w.numpy()
                if "kernel" in w.name:
                    v = rng.uniform(-1.0, 1.0, v.shape).astype(v.dtype)
                    n_kern += 1
                new.append(v)
            layer.set_weights(new)
    bns = [l for l in model.layers
           if isinstance(l, keras.layers.BatchNormalization)]
    x = rng.uniform(-1.0, 1.0, (n_probe,) + SHAPE).astype(np.float32)
    # one probe model with all BN inputs as outputs; it shares the layers, so
    # after each set_weights the later outputs reflect the change.
    probe = keras.Model(model.inputs, [l.input for l in bns])
    n_neg = n_tot = 0
    for k, layer in enumerate(bns):
        outs = probe(x, training=False)
        a = np.asarray(outs[k] if len(bns) > 1 else outs, np.float64)
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        a = np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis])
        c = a.shape[-1]
        mu, sd = a.mean(0), a.std(0) + 1e-3
        params = {}
        if layer.scale:
            mag = rng.uniform(0.5, 1.5, c)
            sgn = np.where(rng.uniform(size=c) < 0.33, -1.0, 1.0)
            params["gamma"] = mag * sgn
            n_neg += int((sgn < 0).sum())
            n_tot += c
        if layer.center:
            params["beta"] = rng.uniform(-0.5, 0.5, c)
        params["moving_mean"] = mu + rng.uniform(-0.5, 0.5, c) * sd
        params["moving_variance"] = sd ** 2 * rng.uniform(0.5, 2.0, c)
        new = []
        for w in layer.weights:
            key = w.name.split("/")[-1].split(":")[0]
            new.append(params[key].astype(np.float32).reshape(w.shape))
        layer.set_weights(new)
    return n_kern, len(bns), n_neg, n_tot


def weight_summary(mp):
    """How the binary kernels, BN, padding and binarizers appear in the graph."""
    g = mp.graph
    inits = {t.name: t for t in g.initializer}
    kinds = collections.Counter()
    for n in g.node:
        if n.op_type not in ("Conv", "MatMul", "Gemm") or n.input[1] not in inits:
            continue
        w = onnx.numpy_helper.to_array(inits[n.input[1]])
        a = np.abs(w)
        if np.all(a == 1.0):
            k = "+-1"
        else:
            oax = 0 if n.op_type == "Conv" else w.ndim - 1
            red = tuple(i for i in range(w.ndim) if i != oax)
            k = ("+-a per out channel" if np.all(a == a.max(axis=red, keepdims=True))
                 else "real")
        grp = [at.i for at in n.attribute if at.name == "group"]
        tag = f"{n.op_type}{'(group>1)' if grp and grp[0] > 1 else ''} {k}"
        kinds[tag] += 1
    pads = collections.Counter()
    for n in g.node:
        if n.op_type == "Pad":
            cv = n.input[2] if len(n.input) > 2 else ""
            v = (onnx.numpy_helper.to_array(inits[cv]).item()
                 if cv in inits else ("none" if not cv else "dynamic"))
            pads[f"constant_value={v}"] += 1
    conv_pads = sum(1 for n in g.node if n.op_type == "Conv" and any(
        at.name == "pads" and any(at.ints) for at in n.attribute))
    return {"weights": dict(kinds), "pad_nodes": dict(pads),
            "conv_with_pads_attr": conv_pads}


def export_one(name, fn, out_dir, opset):
    res = {"model": name}
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    rng = np.random.RandomState(SEED)
    t0 = time.time()
    model = fn(input_shape=SHAPE, weights=None)
    res["build_s"] = round(time.time() - t0, 1)
    res["params"] = int(model.count_params())
    t0 = time.time()
    n_kern, n_bn, n_neg, n_tot = randomise(model, rng)
    res["randomise_s"] = round(time.time() - t0, 1)
    res["quant_kernels_randomised"] = n_kern
    res["bn_layers"] = n_bn
    res["negative_gammas"] = f"{n_neg}/{n_tot}"
    path = os.path.join(out_dir, f"{name}.onnx")
    spec = (tf.TensorSpec((None,) + SHAPE, tf.float32, name="input"),)
    t0 = time.time()
    try:
        mp, _ = tf2onnx.convert.from_keras(model, input_signature=spec,
                                           opset=opset, output_path=path)
    except Exception as e:  # report and continue
        res["export_s"] = round(time.time() - t0, 1)
        res["export_error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()
        return res
    res["export_s"] = round(time.time() - t0, 1)
    res["bytes"] = os.path.getsize(path)
    g = mp.graph
    res["nodes"] = len(g.node)
    res["op_counts"] = dict(sorted(collections.Counter(
        (n.domain + ":" if n.domain else "") + n.op_type for n in g.node).items()))
    res["inputs"] = [(i.name, [d.dim_param or d.dim_value for d in
                               i.type.tensor_type.shape.dim]) for i in g.input]
    res.update(weight_summary(mp))
    try:
        onnx.checker.check_model(path)
        res["onnx_checker"] = "ok"
    except Exception as e:
        res["onnx_checker"] = f"{type(e).__name__}: {e}"
    x = np.random.RandomState(SEED + 1).uniform(
        -1.0, 1.0, (1,) + SHAPE).astype(np.float32)
    try:
        t0 = time.time()
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        res["ort_s"] = round(time.time() - t0, 1)
        ref = model(x, training=False).numpy()
        res["ort_runs"] = True
        res["ort_output_shape"] = list(out.shape)
        res["ort_vs_keras_max_abs_diff"] = float(np.abs(out - ref).max())
        res["ort_vs_keras_argmax_equal"] = bool(out.argmax() == ref.argmax())
        res["ort_max_prob"] = float(out.max())
        # softmax outputs hide differences: also compare the logits
        sm = [n for n in mp.graph.node if n.op_type == "Softmax"]
        if sm and model.layers[-1].__class__.__name__ in ("Activation", "Softmax"):
            logit_name = sm[-1].input[0]
            m2 = onnx.load(path)
            m2.graph.output.append(
                onnx.helper.make_empty_tensor_value_info(logit_name))
            s2 = ort.InferenceSession(m2.SerializeToString(),
                                      providers=["CPUExecutionProvider"])
            lo = s2.run([logit_name], {s2.get_inputs()[0].name: x})[0]
            lref = keras.Model(model.inputs, model.layers[-1].input)(
                x, training=False).numpy()
            res["logits_range"] = [float(lref.min()), float(lref.max())]
            res["ort_vs_keras_logits_max_abs_diff"] = float(
                np.abs(lo.reshape(lref.shape) - lref).max())
    except Exception as e:
        res["ort_runs"] = False
        res["ort_error"] = f"{type(e).__name__}: {e}"
    return res


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else "build/zoo/"
    names = argv[2:] or list(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    print(f"tf {tf.__version__}, larq {getattr(lq, '__version__', '?')}, larq-zoo "
          f"{lqz.__version__}, tf2onnx {tf2onnx.__version__}, onnx "
          f"{onnx.__version__}, onnxruntime {ort.__version__}", flush=True)
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        try:
            r = export_one(name, MODELS[name], out_dir, OPSET)
        except Exception as e:
            r = {"model": name, "error": f"{type(e).__name__}: {e}",
                 "traceback": traceback.format_exc()}
        results.append(r)
        for k, v in r.items():
            if k != "traceback":
                print(f"  {k}: {v}", flush=True)
        if "traceback" in r:
            print(r["traceback"], flush=True)
    with open(os.path.join(out_dir, "zoo_report.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("== summary")
    for r in results:
        status = ("EXPORT FAILED" if "export_error" in r or "error" in r
                  else f"ort {'ok' if r.get('ort_runs') else 'FAILED'}")
        print(f"  {r['model']:18s} export {r.get('export_s', '-')} s  "
              f"{r.get('bytes', 0) / 1e6:7.2f} MB  {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
