"""Compile-time bombs and the limits of the generated C (issue 8, items 7 and 8):
small files that ask for huge work or memory are refused with one clean error
naming the limit (and the variable that raises it), before the work happens;
models whose geometry would overflow the C's int are refused naming the node."""
from __future__ import annotations

import os
import random
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from builders import GraphBuilder, random_bn, signs
from onnx import TensorProto, helper

from bnncompile.compiler import compile_to_memory
from bnncompile.errors import BnnError
from bnncompile.importer.translate import topological_nodes

F32 = np.float32


def compile_with(path, out, **env):
    return subprocess.run([sys.executable, "-m", "bnncompile", "compile", str(path), "-o", str(out)],
                          capture_output=True, text=True, env=dict(os.environ, **env))


def refused(tmp_path, builder: GraphBuilder, pattern: str, **env):
    r = compile_with(builder.save(tmp_path / "bomb.onnx"), tmp_path / "out", **env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("bnncompile: error:") and r.stderr.count("\n") == 1, r.stderr
    assert re.search(pattern, r.stderr), r.stderr
    assert not (tmp_path / "out").exists()


def test_loop_on_constants_is_refused_without_running_it(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
        [onnx.numpy_helper.from_array(np.ones(1, F32), "one")])
    b = GraphBuilder([1])
    loop = b.node("Loop", [b.const(np.array(10 ** 12)), b.const(np.array(True)), b.const(np.zeros(1, F32))],
                  body=body)
    b.node("Add", ["x", loop])
    refused(tmp_path, b, r"Loop is control flow")


def test_matmul_of_constants_is_refused_before_allocating(tmp_path):
    b = GraphBuilder([4])
    big = b.node("MatMul", [b.const(np.ones((65536, 1), F32)), b.const(np.ones((1, 65536), F32))])
    b.node("Add", ["x", b.node("ReduceSum", [big], keepdims=0)])
    refused(tmp_path, b, r"MatMul on constants needs 4,294,967,296 elements.*BNN_MAX_FOLD_ELEMENTS")


def test_constant_of_shape_bomb_is_refused(tmp_path):
    b = GraphBuilder([4])
    big = b.node("ConstantOfShape", [b.const(np.array([1 << 20, 1 << 20]))])
    b.node("Add", ["x", b.node("ReduceMax", [big], keepdims=0)])
    refused(tmp_path, b, r"ConstantOfShape on constants needs .* elements")


def test_folding_budget_is_global_and_can_be_raised(tmp_path):
    """Many medium constants together break the budget as one big one would."""
    b = GraphBuilder([4])
    acc = "x"
    for _ in range(8):
        filled = b.node("ConstantOfShape", [b.const(np.array([1000, 1000]))])
        acc = b.node("Add", [acc, b.node("ReduceMax", [filled], keepdims=0)])
    refused(tmp_path, b, r"needs .* elements, more than the limit of 5,000,000.*BNN_MAX_FOLD_ELEMENTS",
            BNN_MAX_FOLD_ELEMENTS="5000000")
    assert compile_with(tmp_path / "bomb.onnx", tmp_path / "ok", BNN_MAX_FOLD_ELEMENTS="20000000").returncode == 0


def test_threshold_enumeration_has_a_limit_naming_its_variable(tmp_path):
    rng = np.random.default_rng(0)
    b = GraphBuilder([64])
    b.where_sign()
    b.matmul(signs(rng, (64, 32)))
    b.batchnorm(*random_bn(rng, 32))  # per-channel constants: one threshold per channel
    b.where_sign()
    b.matmul(signs(rng, (32, 4)))
    refused(tmp_path, b, r"thresholds of this binarizer \(65 accumulator values x 32 channels\).*"
                         r"BNN_MAX_THRESHOLD_EVALS", BNN_MAX_THRESHOLD_EVALS="1000")


def test_declared_initializer_sizes_are_checked_before_reading_external_data(tmp_path):
    b = GraphBuilder([64])
    b.matmul(np.ones((64, 64), F32))
    model = b.model()
    onnx.save(model, tmp_path / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.onnx.data", size_threshold=0)
    r = compile_with(tmp_path / "ext.onnx", tmp_path / "out", BNN_MAX_WEIGHTS="1000")
    assert r.returncode == 2 and "initializers needs 4,096 values" in r.stderr and "BNN_MAX_WEIGHTS" in r.stderr


@pytest.mark.parametrize("pads,strides,dilations,kh,what", [
    ([1 << 30, 0, 1 << 30, 0], [1 << 20, 1], [1, 1], 1, "rows of the padded input"),
    ([(1 << 31) + 5, 0, 0, 0], [1 << 20, 1], [1, 1], 1, "rows of the padded input"),
    ([1 << 30, 0, 0, 0], [1, 1], [1 << 30, 1], 2, "row of the last tap"),
])
def test_convolution_geometry_beyond_c_int_is_refused_naming_the_node(tmp_path, pads, strides, dilations, kh, what):
    b = GraphBuilder([1, 4, 4])
    b.node("Conv", ["x", b.const(np.ones((1, 1, kh, 1), F32))], pads=pads, strides=strides, dilations=dilations)
    b.node("GlobalMaxPool", [b.last])
    refused(tmp_path, b, rf"node 'Conv_\d+': Conv2D geometry: {what} is [\d,]+, beyond the C int range")


def test_an_arena_beyond_two_gigabytes_is_refused(tmp_path):
    b = GraphBuilder([1 << 28])
    a = b.node("Relu", ["x"])
    n = b.node("Neg", ["x"])
    b.node("Add", [a, n])
    refused(tmp_path, b, r"arena of [\d,]+ bytes; one C array holds at most 2 GiB")


# ------------------------------------------------------------------ graph walk


def _naive_order(graph: onnx.GraphProto, known: set[str]) -> list[str]:
    """The old wave-by-wave walk, quadratic but obviously right."""
    pending, available, ordered = list(graph.node), set(known) | {""}, []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        assert ready
        for n in ready:
            ordered.append(n.name)
            available.update(n.output)
        pending = [n for n in pending if n not in ready]
    return ordered


@pytest.mark.parametrize("seed", range(5))
def test_linear_graph_walk_gives_the_wave_order(seed):
    rng = random.Random(seed)
    nodes, tensors = [], ["x"]
    for k in range(300):
        ins = rng.sample(tensors, min(len(tensors), rng.randint(1, 3)))
        nodes.append(helper.make_node("Sum", ins, [f"t{k}"], name=f"n{k}"))
        tensors.append(f"t{k}")
    rng.shuffle(nodes)
    graph = helper.make_graph(nodes, "g", [], [])
    assert [n.name for n in topological_nodes(graph, {"x"})] == _naive_order(graph, {"x"})


def test_graph_walk_still_finds_cycles_and_missing_inputs():
    cycle = helper.make_graph([helper.make_node("Relu", ["b"], ["a"], name="first"),
                               helper.make_node("Relu", ["a"], ["b"], name="second")], "g", [], [])
    with pytest.raises(BnnError, match="node 'first': the graph has a cycle"):
        topological_nodes(cycle, {"x"})
    missing = helper.make_graph([helper.make_node("Relu", ["nowhere"], ["a"], name="reader")], "g", [], [])
    with pytest.raises(BnnError, match="node 'reader': tensor 'nowhere' is used but never produced"):
        topological_nodes(missing, {"x"})


@pytest.mark.slow
def test_a_50000_node_chain_compiles(tmp_path):
    """Once quadratic (50k nodes > 2 min); timings are in the README, not asserted."""
    b = GraphBuilder([8])
    for _ in range(50_000):
        b.node("Add", [b.last, b.const(F32(0.5))])
    compiled = compile_to_memory(b.save(tmp_path / "chain.onnx"))
    assert len(compiled.plan.steps) == 50_000


@pytest.mark.slow
def test_a_fan_in_of_2_to_the_24_is_enumerated_in_bounded_memory(tmp_path):
    """The largest exact fan-in: 2^25 accumulator values enumerated in chunks
    (it used to allocate gigabytes and die with MemoryError)."""
    k = (1 << 24) - 1
    b = GraphBuilder([k])
    x = b.where_sign()
    w = b.node("Expand", [b.const(np.array([[1.0, -1.0]], F32)), b.const(np.array([k, 2]))])
    b.node("MatMul", [x, w])
    b.batchnorm([0.5, -2.0], [0.1, 0.2], [3.0, -7.0], [1.0, 2.0])
    b.where_sign()
    compiled = compile_to_memory(b.save(tmp_path / "wide.onnx"))
    assert any(type(op).__name__ == "Threshold" for op in compiled.graph.ops)


def test_constant_folding_has_a_time_budget(tmp_path):
    b = GraphBuilder([4])
    acc = b.const(np.zeros(4, F32))
    for _ in range(300):
        acc = b.node("Add", [acc, b.const(np.ones(4, F32))])
    b.node("Add", ["x", acc])
    refused(tmp_path, b, r"constant folding \(up to this node\) needs [\d.]+ seconds, more than the limit of "
                         r"0.01 \(set BNN_MAX_FOLD_SECONDS", BNN_MAX_FOLD_SECONDS="0.01")


def test_external_data_is_part_of_the_model_hash(tmp_path):
    import hashlib

    from bnncompile.importer import import_model

    b = GraphBuilder([64])
    b.matmul(np.ones((64, 64), F32))
    onnx.save(b.model(), tmp_path / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.onnx.data", size_threshold=0)
    _, info = import_model(tmp_path / "ext.onnx")
    want = hashlib.sha256((tmp_path / "ext.onnx").read_bytes() + (tmp_path / "ext.onnx.data").read_bytes())
    assert info.sha256 == want.hexdigest()


def test_out_of_memory_is_a_clean_error(monkeypatch, capsys):
    from bnncompile import cli, compiler

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(compiler, "compile_to_memory", exhausted)
    assert cli.main(["compile", "model.onnx", "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bnncompile: error: out of memory") and err.count("\n") == 1
