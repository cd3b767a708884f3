"""The importer: exporter idioms it must recognise, and the clean errors it gives."""
import numpy as np
import onnx
import pytest
from builders import GraphBuilder, signs
from onnx import TensorProto, helper

from bnncompile import ir
from bnncompile.errors import BnnError
from bnncompile.importer import import_model

F32 = np.float32


def load(builder, tmp_path, **kw):
    return import_model(builder.save(tmp_path / "m.onnx", **kw))[0]


def kinds(graph):
    return [type(op).__name__ for op in graph.ops]


def test_torch_where_idiom_with_shape_clutter_is_one_binarizer(tmp_path):
    b = GraphBuilder([10])
    x = b.last
    ge = b.node("GreaterOrEqual", [x, b.const(F32(0))])
    shape = b.node("Shape", [x])
    ones = b.node("ConstantOfShape", [shape], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]))
    ones2 = b.node("ConstantOfShape", [shape], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]))
    neg = b.node("Neg", [ones2])
    b.node("Where", [ge, ones, neg])
    g = load(b, tmp_path)
    assert kinds(g) == ["Binarize"] + ["Cast"]  # the output is converted back to floats
    assert g.ops[0].mode == "ge"


def test_binarizer_on_latent_weights_is_folded_to_constants(tmp_path):
    rng = np.random.default_rng(0)
    b = GraphBuilder([6])
    latent = b.const(rng.normal(size=(6, 4)).astype(F32))
    w = b.node("Sign", [latent])
    b.node("MatMul", ["x", w])
    g = load(b, tmp_path)
    assert kinds(g) == ["Dense"]
    assert set(np.unique(g.ops[0].weight)) <= {-1.0, 1.0}


def test_qonnx_bipolar_quant(tmp_path):
    rng = np.random.default_rng(1)
    b = GraphBuilder([6])
    wq = b.node("BipolarQuant", [b.const(rng.normal(size=(6, 4)).astype(F32)), b.const(np.array([0.1], F32))],
                domain="qonnx.custom_op.general")
    b.node("BipolarQuant", ["x", b.const(np.array([1.0], F32))], domain="qonnx.custom_op.general")
    b.node("MatMul", [b.last, wq])
    g = load(b, tmp_path, extra_opsets=[("qonnx.custom_op.general", 1)])
    assert kinds(g) == ["Binarize", "Dense"]
    assert np.allclose(np.abs(g.ops[1].weight), F32(0.1))


def test_gemm_transb_alpha_beta(tmp_path):
    rng = np.random.default_rng(2)
    b = GraphBuilder([5])
    w = rng.normal(size=(3, 5)).astype(F32)
    c = rng.normal(size=(3,)).astype(F32)
    b.node("Gemm", ["x", b.const(w), b.const(c)], transB=1, alpha=2.0, beta=0.5)
    g = load(b, tmp_path)
    x = rng.normal(size=(4, 5)).astype(F32)
    np.testing.assert_allclose(g.run_reference(x)[g.outputs[0]], 2 * x @ w.T + 0.5 * c, rtol=1e-5)


def test_nhwc_with_one_channel_flattens_without_moving_data(tmp_path):
    b = GraphBuilder([8, 8, 1])
    t = b.node("Transpose", ["x"], perm=[0, 3, 1, 2])
    b.node("Flatten", [t], axis=1)
    b.matmul(signs(np.random.default_rng(3), (64, 4)))
    g = load(b, tmp_path)
    assert kinds(g) == ["Reshape", "Reshape", "Dense"]


def expect_error(tmp_path, builder_or_bytes, match, **kw):
    path = tmp_path / "bad.onnx"
    if isinstance(builder_or_bytes, bytes):
        path.write_bytes(builder_or_bytes)
    else:
        builder_or_bytes.save(path, **kw)
    with pytest.raises(BnnError, match=match):
        import_model(path)


def test_unsupported_nodes_are_all_listed_in_one_message(tmp_path):
    b = GraphBuilder([4])
    b.node("Tanh", ["x"])
    b.node("Exp", ["x"])
    b.node("Add", ["t1", "t2"])
    try:
        import_model(b.save(tmp_path / "m.onnx"))
    except BnnError as exc:
        text = str(exc)
        assert "Tanh_1" in text and "Exp_2" in text and "Add_3" not in text  # downstream of them: not listed
    else:
        pytest.fail("expected an error")


def test_clean_errors_for_broken_files(tmp_path):
    expect_error(tmp_path, b"", "empty")
    expect_error(tmp_path, b"\x08\x07 this is not protobuf \xff\xff\xff", "not an ONNX model")
    with pytest.raises(BnnError, match="no such file"):
        import_model(tmp_path / "missing.onnx")


def test_error_for_missing_initializer_and_cycle(tmp_path):
    b = GraphBuilder([4])
    b.node("MatMul", ["x", "nowhere"])
    expect_error(tmp_path, b, "never produced")
    b = GraphBuilder([4])
    b.nodes.append(helper.make_node("Relu", ["x2"], ["x1"], name="r1"))
    b.nodes.append(helper.make_node("Relu", ["x1"], ["x2"], name="r2"))
    b.last = "x2"
    expect_error(tmp_path, b, "cycle")


def test_error_for_nan_parameters_names_the_node(tmp_path):
    b = GraphBuilder([4])
    b.node("Mul", ["x", b.const(np.array([1, np.nan, 2, 3], F32))])
    expect_error(tmp_path, b, "Mul_2.*NaN")


def test_error_for_newer_opset_and_integer_input(tmp_path):
    b = GraphBuilder([4], opset=onnx.defs.onnx_opset_version() + 1)
    b.node("Relu", ["x"])
    expect_error(tmp_path, b, "opset")
    b = GraphBuilder([4])
    b.input = helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 4])
    b.node("Relu", ["x"])
    expect_error(tmp_path, b, "INT64")


def test_error_for_missing_external_data(tmp_path):
    b = GraphBuilder([64])
    b.matmul(np.ones((64, 64), F32))
    model = b.model()
    onnx.save(model, tmp_path / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.onnx.data", size_threshold=0)
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(BnnError, match="ext.onnx.data.*missing"):
        import_model(tmp_path / "ext.onnx")


def test_batch_dimension_is_dropped_and_fixed_batch_refused(tmp_path):
    b = GraphBuilder([3, 4])
    b.node("Relu", ["x"])
    g = load(b, tmp_path)
    assert g.tensors[g.inputs[0]].shape == (3, 4)
    b.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 3, 4])
    expect_error(tmp_path, b, "fixed batch of 8")


def test_log_softmax_head_as_pytorch_writes_it(tmp_path):
    from bnncompile.compiler import compile_to_memory
    from bnncompile.validate import verify

    rng = np.random.default_rng(4)
    b = GraphBuilder([12])
    b.where_sign()
    b.matmul(signs(rng, (12, 7)))
    b.node("LogSoftmax", [b.last], axis=1)
    compiled = compile_to_memory(b.save(tmp_path / "m.onnx"))
    report = verify(compiled, rng.normal(size=(50, 12)).astype(F32))
    assert report.ok, report.verdict()


def test_reshape_copying_a_dimension_the_input_lacks_is_a_clean_error(tmp_path):
    """Found by the fuzzer: a 0 in the target past the input's rank (it was an IndexError)."""
    b = GraphBuilder([4])
    b.node("Reshape", ["x", b.const(np.array([1, 4, 0]))])
    expect_error(tmp_path, b, r"copies \(0\) a dimension")
