#!/usr/bin/env python3
"""Host speed of the generated C beside onnxruntime, one inference at a time
(the embedded use: batch 1), in one run so both see the same machine load.

    .venv/bin/python benchmarks/host_speed.py [MODEL.onnx ...] [--rounds 5]

For each model: compile with bnncompile, build the C with the system compiler
(-O2, plus -march=native when --native is given), load it with cffi; run
`rounds` alternating rounds of N single-sample calls through the C and through
onnxruntime (default session options, one thread), and report the median time
per inference of each and their ratio. Both sides pay a Python call per
sample (about a microsecond for cffi, more for onnxruntime's run()), which
favours the C only on tiny models; the ratio, not the absolute time, is the
figure to quote (the machine is shared and noisy).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnncompile.compiler import compile_to_memory  # noqa: E402
from bnncompile.inputs import random_inputs  # noqa: E402
from bnncompile.validate.build import NativeModel  # noqa: E402

DEFAULT_MODELS = ["examples/digits/digits_bnn.onnx", "tests/fixtures/larq/larq_cnn_op13.onnx",
                  "tests/fixtures/torch/torch_cnn_legacy.onnx"]


def per_call(fn, xs) -> float:
    start = time.perf_counter()
    for x in xs:
        fn(x)
    return (time.perf_counter() - start) / len(xs)


def bench(path: str, rounds: int, native_flags: list[str]) -> dict:
    compiled = compile_to_memory(path, name="net")
    shape = compiled.graph.tensors[compiled.graph.inputs[0]].shape
    native = NativeModel(compiled.files, compiled.plan, extra_flags=native_flags)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    probe = random_inputs(shape, 1)
    t0 = time.perf_counter()
    native.run(probe)
    n = max(3, min(300, int(0.3 / max(time.perf_counter() - t0, 1e-6))))
    xs = [x[None] for x in random_inputs(shape, n, seed=1)]
    c_times, ort_times = [], []
    for _ in range(rounds):
        c_times.append(per_call(native.run, xs))
        ort_times.append(per_call(lambda x: session.run(None, {name: x}), xs))
    native.close()
    c, o = statistics.median(c_times), statistics.median(ort_times)
    return dict(model=Path(path).name, samples=n, c_us=c * 1e6, ort_us=o * 1e6, ratio=o / c)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--native", action="store_true", help="build the C with -march=native")
    args = p.parse_args(argv)
    flags = ["-march=native"] if args.native else []
    print("| model | samples x rounds | C (us/inference) | onnxruntime (us/inference) | onnxruntime / C |")
    print("|---|---|---|---|---|")
    for model in args.models:
        r = bench(model, args.rounds, flags)
        print(f"| {r['model']} | {r['samples']} x {args.rounds} | {r['c_us']:,.1f} | {r['ort_us']:,.1f} "
              f"| {r['ratio']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
