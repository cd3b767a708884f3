"""Per-pass checks: each pass keeps the graph's numpy semantics, and the
folded thresholds agree with onnxruntime on every reachable value."""
import numpy as np
import onnxruntime as ort
import pytest
from builders import GraphBuilder, larq_mlp, random_bn, signs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnncompile import ir
from bnncompile.errors import BnnError
from bnncompile.importer import import_model
from bnncompile.passes import PIPELINE, run_pipeline
from bnncompile.passes.binary_weights import fold_binary_weights
from bnncompile.passes.thresholds import _run_flagging_nan, float_thresholds, int_thresholds
from bnncompile.validate.compare import _ir_layout

F32 = np.float32


def ort_run(model, x):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def every_pass_graph(rng) -> GraphBuilder:
    """One model on which every pass of the pipeline has work to do: NCHW
    convolutions (layouts), a Larq one-padding Pad (pad fusion), a Flatten before
    a Gemm (flatten folding), straight-through arithmetic after a binary layer
    (STE), +-1 and +-a kernels (binary weights; a a power of two, so the float
    sums of the reference before the pass are exact too), batchnorm then max
    pooling (accumulator pooling), binarizers (thresholds) and a Gemm epilogue on
    the real output (epilogue splitting)."""
    b = GraphBuilder([3, 8, 8])
    b.where_sign()
    b.node("Pad", [b.last, b.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), b.const(F32(1.0))])
    b.node("Conv", [b.last, b.const(signs(rng, (6, 3, 3, 3)))], kernel_shape=[3, 3])
    gamma, beta, mean, var = random_bn(rng, 6, negative=False)
    b.batchnorm(gamma, beta, mean, var)
    b.node("MaxPool", [b.last], kernel_shape=[2, 2], strides=[2, 2])
    x = b.last
    b.node("Add", [x, b.node("Sub", [b.node("Sign", [x]), x])])  # x + (sign(x) - x).detach()
    scale = (2.0 ** rng.integers(-3, 2, (8, 1, 1, 1))).astype(F32)
    b.node("Conv", [b.last, b.const(signs(rng, (8, 6, 3, 3)) * scale)], kernel_shape=[3, 3], pads=[1] * 4)
    b.batchnorm(*random_bn(rng, 8))
    b.where_sign()
    b.node("Flatten", [b.last], axis=1)
    b.node("Gemm", [b.last, b.const(signs(rng, (5, 8 * 16))), b.const(rng.normal(size=5).astype(F32))],
           transB=1, alpha=0.3, beta=0.7)
    return b


def _signature(graph):
    return [(type(op).__name__, op.inputs, op.output) for op in graph.ops]


def test_every_pass_changes_this_graph_and_keeps_the_reference_semantics(tmp_path):
    """Each pass in PIPELINE rewrites the graph (so the check below can fail) and keeps
    the numpy semantics of every ONNX-named tensor: binarized ones bit for bit; real
    ones exactly too, except where a pass says a value moves by one rounding (the
    Gemm epilogue computed as mul then add)."""
    rng = np.random.default_rng(0)
    b = every_pass_graph(rng)
    graph, _ = import_model(b.save(tmp_path / "m.onnx"))
    x = rng.uniform(-1, 1, (300, 3, 8, 8)).astype(F32)
    before = graph.run_reference(x, keep=True)
    assert np.array_equal(before[graph.outputs[0]], ort_run(b.model(), x))
    checked, split = 0, False
    for p in PIPELINE:
        split = split or p.__name__ == "split_epilogues"  # real values moved by one rounding stay moved after it
        changed = p(graph)
        assert _signature(changed) != _signature(graph), f"{p.__name__} changed nothing"
        graph = changed
        after = graph.run_reference(x, keep=True)
        for name, onnx_name in graph.onnx_names.items():
            if onnx_name not in before or name not in after:
                continue
            got = np.asarray(after[name], F32)
            want = _ir_layout(graph, name, np.asarray(before[onnx_name], F32))  # the ONNX tensor, as the IR holds it
            if graph.tensors[name].domain.is_packed or not split:
                assert np.array_equal(got, want), (p.__name__, name)
            else:
                assert np.allclose(got, want, rtol=2 ** -22, atol=0), (p.__name__, name)
            checked += 1
    assert checked > 50


def test_gemm_epilogues_fold_into_thresholds_and_split_only_where_the_c_needs_them(tmp_path):
    """A Gemm epilogue (MulAdd, one rounding) before a binarizer folds into its
    threshold; one on the real-valued output is split into mul + add, which moves
    that output by at most one rounding and no binarized tensor at all."""
    rng = np.random.default_rng(3)
    b = GraphBuilder([20])
    b.where_sign()
    b.node("Gemm", [b.last, b.const(signs(rng, (16, 20))), b.const(rng.normal(size=16).astype(F32))],
           transB=1, alpha=0.3)
    b.where_sign()
    b.node("Gemm", [b.last, b.const(signs(rng, (5, 16))), b.const(rng.normal(size=5).astype(F32))],
           transB=1, alpha=1 / 3, beta=0.7)
    graph, _ = import_model(b.save(tmp_path / "m.onnx"))
    assert sum(isinstance(op, ir.MulAdd) for op in graph.ops) == 2
    x = rng.uniform(-1, 1, (300, 20)).astype(F32)
    before = graph.run_reference(x, keep=True)
    optimised = run_pipeline(graph)
    assert not any(isinstance(op, ir.MulAdd) for op in optimised.ops)
    after = optimised.run_reference(x, keep=True)
    for name, t in optimised.tensors.items():
        if name in before and t.domain.is_packed:
            assert np.array_equal(after[name], before[name]), name
    out = graph.outputs[0]
    assert np.allclose(after[out], before[out], rtol=2 ** -22, atol=0)
    assert np.array_equal(before[out], ort_run(b.model(), x))  # the one-rounding reference is onnxruntime's


def test_binary_weights_become_signs_with_a_column_scale(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.uniform(0.2, 2, 12).astype(F32)
    b = GraphBuilder([20])
    b.where_sign()
    b.matmul(signs(rng, (20, 12)) * a)  # dynamo-style folded batchnorm: +-a_j per output column
    b.matmul(rng.normal(size=(12, 4)).astype(F32))  # a real kernel stays a Dense
    graph, _ = import_model(b.save(tmp_path / "m.onnx"))
    folded = fold_binary_weights(graph)
    kinds = [type(op).__name__ for op in folded.ops]
    assert kinds.count("BinaryDense") == 1 and kinds.count("Dense") == 1
    scale = next(op for op in folded.ops if isinstance(op, ir.ChannelOp))
    assert np.array_equal(scale.const, a)


def test_larq_sign_idiom_folds_into_one_threshold_per_layer(tmp_path):
    graph, _ = import_model(larq_mlp(np.random.default_rng(2)).save(tmp_path / "m.onnx"))
    optimised = run_pipeline(graph)
    kinds = [type(op).__name__ for op in ir.unfused(optimised.ops)]
    assert kinds.count("Threshold") == 2 and "Binarize" not in kinds
    assert kinds.count("BinaryDense") == 3


# ---------------------------------------------------------------- thresholds vs onnxruntime

CHAIN_OPS = st.sampled_from(["bn", "add", "mul", "sub", "div", "rsub"])


def chain_model(rng, ops, channels, binarizer, tiny=False, huge_eps=False):
    b = GraphBuilder([channels])
    for kind in ops:
        if kind == "bn":
            gamma, beta, mean, var = random_bn(rng, channels)
            gamma[rng.uniform(size=channels) < 0.15] = 0.0  # zero scale: constant channels
            if tiny:
                gamma *= 1e-30
            b.batchnorm(gamma, beta, mean, var, eps=1e3 if huge_eps else 1e-3)
        else:
            c = rng.normal(0, 2, channels).astype(F32)
            if kind in ("mul", "div"):
                c[np.abs(c) < 0.05] = 0.5
            if kind == "add":  # put thresholds exactly on reachable integers
                c[: channels // 2] = rng.integers(-20, 20, channels // 2)
            op = {"add": "Add", "mul": "Mul", "sub": "Sub", "div": "Div", "rsub": "Sub"}[kind]
            inputs = [b.const(c), b.last] if kind == "rsub" else [b.last, b.const(c)]
            b.node(op, inputs)
    {"larq": b.larq_sign, "where": b.where_sign, "sign": lambda: b.node("Sign", [b.last])}[binarizer]()
    return b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(CHAIN_OPS, min_size=1, max_size=4), seed=st.integers(0, 2**31),
       binarizer=st.sampled_from(["larq", "where", "sign"]), fan_in=st.sampled_from([1, 2, 63, 64, 1000, 2**16]),
       tiny=st.booleans(), huge_eps=st.booleans())
def test_int_thresholds_match_onnxruntime_on_every_accumulator_value(ops, seed, binarizer, fan_in, tiny, huge_eps):
    rng = np.random.default_rng(seed)
    channels = 8
    b = chain_model(rng, ops, channels, binarizer, tiny, huge_eps)
    graph, _ = import_model_from(b)
    chain = list(graph.ops)
    values = np.arange(-fan_in, fan_in + 1, 2 if binarizer != "sign" else 1)
    flip, t_zero, t_pos = int_thresholds(chain, -fan_in, fan_in, 2 if binarizer != "sign" else 1, (channels,), "t")
    folded = ir.Threshold(inputs=("a",), output="y", origin="t", flip=flip, t_zero=t_zero, t_pos=t_pos)
    acc = np.repeat(values[:, None], channels, axis=1)
    truth = ort_run(b.model(), acc.astype(F32))
    assert np.array_equal(folded.reference(acc), truth)


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(CHAIN_OPS, min_size=0, max_size=4), seed=st.integers(0, 2**31),
       binarizer=st.sampled_from(["larq", "where", "sign"]))
def test_float_thresholds_match_onnxruntime_next_to_every_step(ops, seed, binarizer):
    rng = np.random.default_rng(seed)
    channels = 6
    b = chain_model(rng, ops, channels, binarizer)
    graph, _ = import_model_from(b)
    flip, t_zero, t_pos = float_thresholds(list(graph.ops), (channels,), "t")
    folded = ir.Threshold(inputs=("a",), output="y", origin="t", flip=flip, t_zero=t_zero, t_pos=t_pos,
                          float_input=True)
    # the floats on both sides of every step, plus random ones
    steps = np.concatenate([t_zero, t_pos])[:, None] + np.arange(-2, 3)
    keys = np.clip(steps.ravel(), -0x7F7FFFFF, 0x7F7FFFFF)
    u = np.where(flip, -keys[:, None], keys[:, None])
    x = np.concatenate([ir.key_to_float(u), rng.normal(0, 50, (200, channels)).astype(F32)])
    truth = ort_run(b.model(), x)
    # Exactness holds wherever the chain stays free of NaN; a NaN appears only once an
    # intermediate overflows (|x| near 3e38 times a zero scale), where no decision is defined.
    defined = ~_run_flagging_nan(list(graph.ops), x)[1]
    assert np.all(defined[-200:])
    assert np.array_equal(folded.reference(x)[defined], truth[defined])


def import_model_from(builder):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return import_model(builder.save(f"{d}/chain.onnx"))


def test_a_chain_that_is_not_monotone_is_an_error():
    chain = [ir.Cast(inputs=("a",), output="f", origin="n0"),
             ir.ChannelOp(inputs=("f",), output="g", origin="n1", kind="rdiv", const=np.array([3.0], F32)),
             ir.ChannelOp(inputs=("g",), output="h", origin="n2", kind="sub", const=np.array([1.0], F32)),
             ir.Binarize(inputs=("h",), output="y", origin="sign_node", mode="ge")]
    with pytest.raises(BnnError, match="sign_node.*not monotone"):
        int_thresholds(chain, -8, 8, 2, (1,), "sign_node")


def test_reachable_zero_of_sign_gives_a_ternary_tensor(tmp_path):
    """torch.sign after an accumulator that can be 0: the 0 is carried, not mapped to +1."""
    rng = np.random.default_rng(5)
    b = GraphBuilder([16])
    b.where_sign()
    b.matmul(signs(rng, (16, 12)))  # K even: the accumulator can be exactly 0
    b.node("Sign", [b.last])
    b.matmul(signs(rng, (12, 5)))
    graph = run_pipeline(import_model(b.save(tmp_path / "m.onnx"))[0])
    assert any(op.is_ternary for op in ir.unfused(graph.ops) if isinstance(op, ir.Threshold))
    x = rng.choice([-1.0, 1.0], (500, 16)).astype(F32)
    assert np.array_equal(graph.run_reference(x)[graph.outputs[0]], ort_run(b.model(), x))


def test_accumulator_width_is_proven_from_the_fan_in():
    """int32 accumulators hold |sum| <= K; K must stay below 2^24 so the sums also convert to float exactly."""
    x = ir.Tensor("x", (1 << 24,), ir.Domain.BIPOLAR)
    too_wide = ir.BinaryDense(inputs=("x",), output="y", origin="wide", signs=np.ones((1 << 24, 1), np.int8))
    with pytest.raises(TypeError, match="fan-in 16777216"):
        too_wide.output_tensor([x])
    ok = ir.BinaryDense(inputs=("x",), output="y", origin="ok", signs=np.ones(((1 << 24) - 1, 1), np.int8))
    t = ok.output_tensor([ir.Tensor("x", ((1 << 24) - 1,), ir.Domain.BIPOLAR)])
    assert t.int_range == (-(1 << 24) + 1, (1 << 24) - 1, 2)
