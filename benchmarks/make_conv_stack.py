#!/usr/bin/env python3
"""Write the ONNX model of a stack of binary 3x3 convolutions, the way a
PyTorch BNN exports it (torch.onnx legacy exporter style), for the
microcontroller benchmark (benchmarks/mcu_footprint.py).

    .venv/bin/python benchmarks/make_conv_stack.py build/conv_stack.onnx [--layers 3 --channels 64 --size 16]

Graph (NCHW, opset 13):
    x [N, C, S, S] -> GreaterOrEqual(x, 0) + Where(1, -1)            binarize the input
    repeat `layers` times:
        Conv 3x3, C -> C, pads 1 (zero padding), no bias, latent float weights
            binarized in the graph by GreaterOrEqual(w, 0) + Where(1, -1)
        BatchNormalization (inference; random statistics, some negative scales)
        GreaterOrEqual + Where binarizer           (not after the last conv)
    output: the last batchnorm's float output [N, C, S, S]

Binary MACs: layers * S * S * C * C * 9 (3 * 16 * 16 * 64 * 64 * 9 = 28,311,552
for the defaults). Deterministic for a given --seed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_stack(layers: int = 3, channels: int = 64, size: int = 16, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def binarize(src: str, out: str) -> str:
        nodes.append(helper.make_node("GreaterOrEqual", [src, "zero"], [f"{out}_ge"], name=f"{out}_ge"))
        nodes.append(helper.make_node("Where", [f"{out}_ge", "one", "minus_one"], [out], name=out))
        return out

    const("zero", 0.0)
    const("one", 1.0)
    const("minus_one", -1.0)
    x = binarize("x", "x_sign")
    for i in range(layers):
        w = binarize(const(f"conv{i}.weight", rng.normal(size=(channels, channels, 3, 3))), f"conv{i}_wsign")
        nodes.append(helper.make_node("Conv", [x, w], [f"conv{i}"], name=f"conv{i}", kernel_shape=[3, 3],
                                      pads=[1, 1, 1, 1]))
        gamma = rng.uniform(0.3, 1.5, channels) * rng.choice([-1, 1], channels)
        bn = [const(f"bn{i}.{k}", v) for k, v in (("weight", gamma), ("bias", rng.normal(0, 1, channels)),
                                                   ("running_mean", rng.normal(0, 3, channels)),
                                                   ("running_var", rng.uniform(0.5, 4, channels)))]
        out = f"bn{i}" if i < layers - 1 else "y"
        nodes.append(helper.make_node("BatchNormalization", [f"conv{i}", *bn], [out], name=f"bn{i}",
                                      epsilon=1e-5, momentum=0.9))
        x = binarize(out, f"act{i}") if i < layers - 1 else out
    graph = helper.make_graph(
        nodes, "conv_stack",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", channels, size, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="bnncompile benchmarks/make_conv_stack.py")
    onnx.checker.check_model(model)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output", type=Path)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(conv_stack(args.layers, args.channels, args.size, args.seed), str(args.output))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
