"""Fused output transforms: a binary layer and its chain to the next binarizer
become one step that writes packed bits, a chain that ends in a real value is
applied in the same pass, thresholds move above max pools, and a dense layer
after a Flatten of bits stays XNOR. Each rewrite keeps the graph's numpy
semantics and the C's agreement with onnxruntime, and the arena shrinks."""
import numpy as np
import pytest
from builders import GraphBuilder, random_bn
from test_conv_graphs import binary_conv, bn_sign, check

from bnncompile import ir
from bnncompile.codegen import make_plan
from bnncompile.compiler import compile_to_memory
from bnncompile.importer import import_model
from bnncompile.passes import PIPELINE, fuse_output_transforms, run_pipeline, threshold_before_max_pool

F32 = np.float32
LARQ_CNN = "tests/fixtures/larq/larq_cnn_op13.onnx"
TORCH_CNN = "tests/fixtures/torch/torch_cnn_legacy.onnx"


def residual_block_graph(rng, channels=16):
    """QuickNet-style: x -> sign -> binary conv -> relu -> batchnorm -> + x, twice, then a dense head."""
    b = GraphBuilder([channels, 6, 6])
    x = b.node("Conv", ["x", b.const(rng.normal(size=(channels, channels, 1, 1)).astype(F32))], kernel_shape=[1, 1])
    for _ in range(2):
        b.larq_sign(x)
        binary_conv(b, rng, channels, channels)
        b.node("Relu", [b.last])
        b.batchnorm(*random_bn(rng, channels))
        x = b.node("Add", [b.last, x])
    b.node("GlobalAveragePool", [x])
    b.node("Flatten", [b.last], axis=1)
    b.matmul(rng.normal(size=(channels, 5)).astype(F32))
    return b


def pool_after_conv_graph(rng):
    """A max pool on a binary convolution's sums, then batchnorm (scales of both signs) and a sign."""
    b = GraphBuilder([8, 8, 8])
    b.where_sign()
    binary_conv(b, rng, 8, 20)
    b.node("MaxPool", [b.last], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    bn_sign(b, rng, 20)
    binary_conv(b, rng, 20, 6)
    return b


def onnx_values(graph: ir.Graph, values: dict) -> dict:
    """The graph's reference values of ONNX tensors, by ONNX name, in the ONNX layout."""
    out = {}
    for name, onnx_name in graph.onnx_names.items():
        if name in values:
            perm = graph.onnx_layouts.get(name)
            v = np.asarray(values[name], F32)
            out[onnx_name] = np.transpose(v, (0,) + tuple(p + 1 for p in perm)) if perm else v
    return out


def two_chains_join_graph(rng, channels=8):
    """Bi-Real style: two binary convolutions of one input, each with its batchnorm, added:
    the Add may join only one of the two chains."""
    b = GraphBuilder([channels, 6, 6])
    b.node("Conv", ["x", b.const(rng.normal(size=(channels, channels, 1, 1)).astype(F32))], kernel_shape=[1, 1])
    signed = b.where_sign()
    outs = []
    for _ in range(2):
        b.last = signed
        binary_conv(b, rng, channels, channels)
        outs.append(b.batchnorm(*random_bn(rng, channels)))
    b.node("Add", outs)
    b.where_sign()
    binary_conv(b, rng, channels, 4)
    return b


@pytest.mark.parametrize("make", [residual_block_graph, pool_after_conv_graph, two_chains_join_graph])
def test_every_pass_keeps_the_reference_semantics_of_conv_graphs(tmp_path, make):
    rng = np.random.default_rng(3)
    graph, _ = import_model(make(rng).save(tmp_path / "m.onnx"))
    x = rng.uniform(-1, 1, (20,) + graph.tensors[graph.inputs[0]].shape).astype(F32)
    before = onnx_values(graph, graph.run_reference(x, keep=True))
    for p in PIPELINE:
        graph = p(graph)
        after = onnx_values(graph, graph.run_reference(x, keep=True))
        assert after, p.__name__
        for name, value in after.items():
            assert np.array_equal(value.reshape(before[name].shape), before[name]), (p.__name__, name)


def test_a_residual_chain_is_one_step_and_matches_onnxruntime(tmp_path):
    rng = np.random.default_rng(4)
    compiled = check(residual_block_graph(rng), tmp_path, rng, (16, 6, 6))
    fused = [op for op in compiled.graph.ops if isinstance(op, ir.Fused)]
    chains = [[type(o).__name__ for o in op.chain] for op in fused if isinstance(op.layer, ir.Conv2D)
              and op.layer.packed_input]
    # (a Reshape that keeps the channels moves no bytes and may join the chain too)
    assert [[n for n in c if n != "Reshape"] for c in chains] == [["Cast", "Relu", "ChannelOp", "ChannelOp", "Add"]] * 2
    # nothing but the fused steps touches the sums: no int32 buffer in the plan
    assert all(compiled.graph.tensors[s.out].domain != ir.Domain.INT for s in compiled.plan.steps)


def test_an_add_of_two_chains_joins_one_of_them(tmp_path):
    rng = np.random.default_rng(6)
    compiled = check(two_chains_join_graph(rng), tmp_path, rng, (8, 6, 6))
    adds = [op for op in ir.unfused(compiled.graph.ops) if isinstance(op, ir.Add)]
    assert len(adds) == 1
    joined = [op for op in compiled.graph.ops if isinstance(op, ir.Fused) and adds[0] in op.chain]
    assert len(joined) == 1


def test_a_binary_layer_and_its_binarizer_write_bits(tmp_path):
    compiled = compile_to_memory(LARQ_CNN)
    bits_out = [op for op in compiled.graph.ops if isinstance(op, ir.Fused) and isinstance(op.chain[-1], ir.Threshold)]
    assert len(bits_out) == 3  # the three binary convolutions followed by a binarizer
    for op in bits_out:
        assert compiled.graph.tensors[op.output].domain == ir.Domain.BIPOLAR


def test_a_threshold_moves_above_a_max_pool_and_decreasing_channels_take_the_min(tmp_path):
    rng = np.random.default_rng(5)
    compiled = check(pool_after_conv_graph(rng), tmp_path, rng, (8, 8, 8))
    pool = next(op for op in compiled.graph.ops if isinstance(op, ir.Pool2D))
    assert compiled.graph.tensors[pool.inputs[0]].domain == ir.Domain.BIPOLAR
    assert pool.min_channels is not None and 0 < pool.min_channels.sum() < 20  # both directions occur


def test_a_dense_layer_after_a_flatten_of_bits_stays_xnor():
    compiled = compile_to_memory(TORCH_CNN)
    kinds = [s.kind for s in compiled.plan.steps]
    assert "unpack" not in kinds and "dense_bwn" not in kinds
    head = compiled.graph.ops[-1]
    assert isinstance(head, ir.Fused) and isinstance(head.layer, ir.Conv2D) and head.layer.kernel.shape[1:3] == (2, 2)


@pytest.mark.parametrize("model", [LARQ_CNN, TORCH_CNN])
def test_the_arena_shrinks(model):
    imported, _ = import_model(model)
    unfused = [p for p in PIPELINE if p not in (fuse_output_transforms, threshold_before_max_pool)]
    before = make_plan(run_pipeline(imported, unfused)).arena_bytes
    after = make_plan(run_pipeline(imported)).arena_bytes
    assert after < before, (before, after)
