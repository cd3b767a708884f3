"""Exact modelling of onnxruntime's arithmetic (issue 8, items 1, 3 and 6).

Each model is built here so that a binarizer's threshold sits where one
rounding more or less, or float32 instead of float64, changes the decision at
a reachable accumulator value. The inputs enumerate *every* value each
channel's accumulator can take, and the C must give onnxruntime's bits on all
of them. Each test also shows that the simpler model the compiler used before
would have differed, so it cannot pass by accident. The C of every model that
compiles here is built with -Werror and run under UBSan.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from builders import GraphBuilder, signs
from onnx import TensorProto, helper, numpy_helper

from bnncompile import ir
from bnncompile.compiler import compile_to_memory
from bnncompile.errors import BnnError
from bnncompile.validate.build import NativeModel

F32 = np.float32


def ort_session(model: onnx.ModelProto):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort_session(model).run(None, {"x": x})[0]


def every_accumulator_value(w: np.ndarray) -> np.ndarray:
    """Bipolar inputs x with x @ w[:, j] = K, K-2, ..., -K for every column j:
    x = w[:, j] with its first m entries negated, m = 0..K."""
    k, n = w.shape
    rows = []
    for j in range(n):
        for m in range(k + 1):
            x = w[:, j].copy()
            x[:m] = -x[:m]
            rows.append(x)
    return np.asarray(rows, F32)


# Every model here is also built with -Werror (NativeModel's flags) and run under UBSan.
UBSAN = ("-fsanitize=undefined", "-fno-sanitize-recover=all")


def c_outputs(path, x: np.ndarray) -> tuple[np.ndarray, object]:
    compiled = compile_to_memory(path)
    native = NativeModel(compiled.files, compiled.plan, extra_flags=UBSAN)
    try:
        return native.run(x), compiled
    finally:
        native.close()


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, F32), np.asarray(b, F32)
    return a.shape == b.shape and np.array_equal(a.view(np.int32), b.view(np.int32))


# ------------------------------------------------------------------ Gemm: alpha*acc + beta*C, one rounding


def gemm_model(w, alpha, beta, c, binarizer="sign", k_as_initializer=True):
    """x (bipolar via Where) -> Gemm(transB=1) -> Sign (or >= 0) -> output."""
    k, n = w.shape
    b = GraphBuilder([k])
    x = b.where_sign()
    b_input = b.const(np.ascontiguousarray(w.T))
    if not k_as_initializer:  # a weight computed in the graph (torch legacy: Sign of latent weights)
        b_input = b.node("Sign", [b_input])
    y = b.node("Gemm", [x, b_input, b.const(c.astype(F32))], alpha=float(alpha), beta=float(beta), transB=1)
    if binarizer == "sign":
        b.node("Sign", [y])
    else:
        b.where_sign(y)
    return b


def near_rounding_ties(rng, w, alpha, beta):
    """C values that put alpha*acc + beta*C within an ulp of 0 at a reachable acc:
    beta*C is minus alpha*acc rounded to float32 (half of the columns) or one ulp
    beside it. Two roundings then give exactly 0 where one rounding does not."""
    k, n = w.shape
    acc = (rng.integers(0, k + 1, n) * 2 - k).astype(F32)
    rounded = (acc * alpha).astype(F32)  # alpha*acc rounded: differs from the exact product
    bc = np.where(rng.uniform(size=n) < 0.5, -rounded,
                  np.nextafter(-rounded, np.where(rng.uniform(size=n) < 0.5, np.inf, -np.inf).astype(F32)))
    c = (bc.astype(np.float64) / np.float64(beta)).astype(F32)
    return c


@pytest.mark.parametrize("beta", [1.0, 0.7071068, 3.0])
@pytest.mark.parametrize("alpha", [0.1, 1 / 3, -2.7182817])
def test_gemm_epilogue_is_one_fused_rounding_on_every_accumulator_value(tmp_path, alpha, beta):
    rng = np.random.default_rng(int(alpha * 1000) % 97 + int(beta * 10))
    w = signs(rng, (48, 24))
    alpha, beta = F32(alpha), F32(beta)
    c = near_rounding_ties(rng, w, alpha, beta)
    b = gemm_model(w, alpha, beta, c)
    x = every_accumulator_value(w)
    truth = ort_run(b.model(), x)
    got, _ = c_outputs(b.save(tmp_path / "gemm.onnx"), x)
    assert same_bits(got, truth), f"{np.sum(got != truth)} of {got.size} decisions differ"
    # the model the compiler had before (alpha*acc rounded, then + beta*C rounded) differs here
    acc = (x.astype(np.int64) @ w.astype(np.int64)).astype(F32)
    two_roundings = np.sign(((acc * alpha).astype(F32) + (c * beta).astype(F32)).astype(F32))
    assert not same_bits(two_roundings, truth)


def test_gemm_epilogue_matches_with_a_weight_computed_in_the_graph(tmp_path):
    """onnxruntime runs a different GEMM path when the weight is not an initializer
    (no pre-packing): one rounding still holds up to K = 128."""
    rng = np.random.default_rng(7)
    w = signs(rng, (128, 16))
    alpha, beta = F32(0.3), F32(1.0)
    c = near_rounding_ties(rng, w, alpha, beta)
    b = gemm_model(w, alpha, beta, c, binarizer="where", k_as_initializer=False)
    x = every_accumulator_value(w)
    got, _ = c_outputs(b.save(tmp_path / "gemm.onnx"), x)
    assert same_bits(got, ort_run(b.model(), x))


def test_fused_multiply_add_reference_matches_onnxruntime_bitwise():
    """ir.fma_f32 (the MulAdd reference) against onnxruntime's Gemm on a million values."""
    rng = np.random.default_rng(11)
    k, n = 1, 1000
    for alpha in (F32(0.1), F32(-1.7), F32(3.0e-3)):
        c = (rng.normal(size=n) * rng.choice([1e-3, 1.0, 1e3], n)).astype(F32)
        model = helper.make_model(helper.make_graph(
            [helper.make_node("Gemm", ["x", "w", "c"], ["y"], alpha=float(alpha))], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            [numpy_helper.from_array(np.ones((k, n), F32), "w"), numpy_helper.from_array(c, "c")]),
            opset_imports=[helper.make_opsetid("", 13)])
        x = rng.integers(-2 ** 20, 2 ** 20, (330, k)).astype(F32)
        assert same_bits(ort_run(model, x), ir.fma_f32(x, alpha, c))


def test_gemm_with_long_blocks_warns_where_onnxruntime_depends_on_the_bits(tmp_path):
    """K = 300 > one GEMM block with a bias: onnxruntime rounds once per block, so a
    decision within that rounding of the threshold is not a function of the sum.
    The compiler says so (gemm-blocks note) instead of pretending to be exact."""
    rng = np.random.default_rng(3)
    w = signs(rng, (300, 8))
    c = near_rounding_ties(rng, w, F32(1 / 3), F32(1.0))
    compiled = compile_to_memory(gemm_model(w, 1 / 3, 1.0, c).save(tmp_path / "long.onnx"))
    assert any(n.kind == "gemm-blocks" for n in compiled.graph.notes)
    # integer alpha and C: every partial sum is exact, so blocking cannot matter: no note
    exact = compile_to_memory(gemm_model(w, 2.0, 1.0, np.round(c)).save(tmp_path / "exact.onnx"))
    assert not [n for n in exact.graph.notes if n.kind in ("gemm-blocks", "float-tie")]
    x = every_accumulator_value(w)
    got, _ = c_outputs(tmp_path / "exact.onnx", x)
    assert same_bits(got, ort_run(onnx.load(tmp_path / "exact.onnx"), x))


# ------------------------------------------------------------------ float64: Cast to DOUBLE


def double_model(w, add64, mul64, back_to_float=True):
    """x -> bipolar -> MatMul -> Cast(DOUBLE) -> Add(c) -> Mul(m) -> Sign -> [Cast(FLOAT)]."""
    b = GraphBuilder([w.shape[0]])
    b.where_sign()
    b.matmul(w)
    b.node("Cast", [b.last], to=TensorProto.DOUBLE)
    b.node("Add", [b.last, b.const(add64.astype(np.float64))])
    b.node("Mul", [b.last, b.const(mul64.astype(np.float64))])
    b.node("Sign", [b.last])
    if back_to_float:
        b.node("Cast", [b.last], to=TensorProto.FLOAT)
    return b


def test_double_precision_chain_is_evaluated_in_float64(tmp_path):
    rng = np.random.default_rng(5)
    w = signs(rng, (40, 16))
    acc = rng.integers(-20, 21, 16) * 2
    # thresholds 1e-12 away from reachable values: float32 constants would put them on them
    add64 = -acc + rng.choice([-1e-12, 1e-12], 16)
    mul64 = rng.uniform(0.5, 2, 16) * rng.choice([-1, 1], 16)
    b = double_model(w, add64, mul64)
    x = every_accumulator_value(w)
    truth = ort_run(b.model(), x)
    got, compiled = c_outputs(b.save(tmp_path / "d.onnx"), x)
    assert same_bits(got, truth)
    assert ir.Domain.FLOAT64 in {t.domain for t in compiled.imported.tensors.values()}
    as_float32 = np.sign((x @ w + add64.astype(F32)) * mul64.astype(F32))
    assert not same_bits(as_float32, truth)  # what treating Cast(DOUBLE) as identity computed


def test_double_precision_on_a_real_valued_output_is_refused(tmp_path):
    rng = np.random.default_rng(6)
    b = GraphBuilder([8])
    b.where_sign()
    b.matmul(signs(rng, (8, 4)))
    b.node("Cast", [b.last], to=TensorProto.DOUBLE)
    b.node("Mul", [b.last, b.const(np.full(4, 0.1, np.float64))])
    b.node("Cast", [b.last], to=TensorProto.FLOAT)
    with pytest.raises(BnnError, match="double precision"):
        compile_to_memory(b.save(tmp_path / "d.onnx"))


# ------------------------------------------------------------------ semantics that must not be dropped


def test_division_by_a_constant_zero_is_refused(tmp_path):
    b = GraphBuilder([4])
    b.node("Div", ["x", b.const(np.array([1, 0, 2, 3], F32))])
    with pytest.raises(BnnError, match="division by a constant 0"):
        compile_to_memory(b.save(tmp_path / "m.onnx"))


@pytest.mark.parametrize("training", [True, False])
def test_dropout_in_training_mode_is_refused_and_inference_mode_is_identity(tmp_path, training):
    rng = np.random.default_rng(8)
    b = GraphBuilder([6], opset=13)
    b.where_sign()
    b.matmul(signs(rng, (6, 4)))
    b.node("Dropout", [b.last, b.const(np.array(0.5, F32)), b.const(np.array(training))])
    b.node("Relu", [b.last])
    path = b.save(tmp_path / "m.onnx")
    if training:
        with pytest.raises(BnnError, match="training_mode=True"):
            compile_to_memory(path)
    else:
        x = rng.normal(size=(20, 6)).astype(F32)
        got, _ = c_outputs(path, x)
        assert np.array_equal(got, ort_run(b.model(), x))


def test_comparison_constant_that_grows_the_output_is_refused(tmp_path):
    b = GraphBuilder([1])
    ge = b.node("GreaterOrEqual", ["x", b.const(np.zeros((1, 5), F32))])
    b.node("Where", [ge, b.const(np.float32(1)), b.const(np.float32(-1))])
    with pytest.raises(BnnError, match="would grow"):
        compile_to_memory(b.save(tmp_path / "m.onnx"))


def test_where_value_that_grows_the_output_is_refused(tmp_path):
    b = GraphBuilder([1])
    ge = b.node("GreaterOrEqual", ["x", b.const(np.float32(0))])
    b.node("Where", [ge, b.const(np.ones((1, 5), F32)), b.const(np.float32(-1))])
    with pytest.raises(BnnError, match="would grow"):
        compile_to_memory(b.save(tmp_path / "m.onnx"))


def test_per_channel_comparison_constants_are_exact(tmp_path):
    """A comparison constant per channel (not a scalar) is one threshold per channel."""
    rng = np.random.default_rng(9)
    b = GraphBuilder([10])
    c = rng.normal(size=10).astype(F32)
    ge = b.node("Greater", ["x", b.const(c)])
    b.node("Where", [ge, b.const(np.float32(1)), b.const(np.float32(-1))])
    b.matmul(signs(rng, (10, 3)))
    x = np.concatenate([rng.normal(size=(50, 10)), np.tile(c, (3, 1)) + [[0], [1e-7], [-1e-7]]]).astype(F32)
    got, _ = c_outputs(b.save(tmp_path / "m.onnx"), x)
    assert np.array_equal(got, ort_run(b.model(), x))


def test_verify_passes_these_models_on_every_accumulator_value(tmp_path):
    """verify judges the exactly modelled classes PASS (every sample judged), and
    does not crash on them."""
    from bnncompile.validate import verify

    rng = np.random.default_rng(12)
    w = signs(rng, (40, 16))
    alpha, beta = F32(0.1), F32(0.7071068)
    models = {"gemm": gemm_model(w, alpha, beta, near_rounding_ties(rng, w, alpha, beta)),
              "double": double_model(w, -(rng.integers(-20, 21, 16) * 2) + rng.choice([-1e-12, 1e-12], 16),
                                     rng.uniform(0.5, 2, 16))}
    x = every_accumulator_value(w)
    for name, b in models.items():
        report = verify(compile_to_memory(b.save(tmp_path / f"{name}.onnx")), x)
        assert report.status == "PASS" and report.judged == len(x), (name, report.verdict())
