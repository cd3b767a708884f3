"""The layers modern BNNs are made of (issue 11, part A), built with onnx.helper
the way the exporters write them and checked against onnxruntime by `verify`:
PRelu/LeakyRelu in threshold chains and as real ops, ceil_mode pooling,
ReduceMean/ReduceSum global pooling. The real exported fixtures are in
tests/test_modern_fixtures.py."""
import numpy as np
import pytest
from builders import GraphBuilder, random_bn, signs

from bnncompile import ir
from bnncompile.compiler import compile_to_memory
from bnncompile.importer import import_model
from bnncompile.validate import verify

F32 = np.float32


def binary_conv(b, rng, cin, cout, k=3, stride=1, pad=1):
    return b.node("Conv", [b.last, b.const(signs(rng, (cout, cin, k, k)))], kernel_shape=[k, k],
                  strides=[stride, stride], pads=[pad] * 4)


def check(b, tmp_path, rng, shape, samples=60, x=None):
    path = b.save(tmp_path / "m.onnx")
    compiled = compile_to_memory(path)
    if x is None:
        x = rng.uniform(-1, 1, (samples,) + tuple(shape)).astype(F32)
    report = verify(compiled, x)
    assert report.ok, report.verdict()
    return compiled


def kinds(compiled):
    return [(s.layer, s.kind) for s in compiled.plan.steps]


# ---------------------------------------------------------------- PRelu / LeakyRelu


def test_rprelu_chains_fold_into_thresholds_and_negative_slopes_run_as_real_ops(tmp_path):
    """ReActNet's RPReLU (shift, PRelu, shift) between a binary conv's batchnorm and
    RSign (shift, Sign): channels with slope >= 0 fold into the threshold on the
    accumulator; a PRelu with a negative slope falls then rises, so it is computed
    (as onnxruntime computes it) and the threshold reads its output instead."""
    rng = np.random.default_rng(0)
    for slopes in (rng.uniform(0.05, 0.5, 6), np.array([0.2, -0.3, 0.0, 0.1, -1.5, 0.25])):
        b = GraphBuilder([4, 6, 6])
        b.where_sign()
        binary_conv(b, rng, 4, 6)
        b.batchnorm(*random_bn(rng, 6))
        b.node("Add", [b.last, b.const(rng.normal(0, 0.5, (1, 6, 1, 1)).astype(F32))])
        b.node("PRelu", [b.last, b.const(slopes.astype(F32).reshape(6, 1, 1))])
        b.node("Add", [b.last, b.const(rng.normal(0, 0.5, (1, 6, 1, 1)).astype(F32))])
        b.node("Sign", [b.last])
        binary_conv(b, rng, 6, 3)
        compiled = check(b, tmp_path, rng, (4, 6, 6), samples=200)
        prelus = [op for op in compiled.graph.ops if isinstance(op, ir.PRelu)]
        assert len(prelus) == (1 if np.any(slopes < 0) else 0)
        assert ("binary", "conv_xnor") in kinds(compiled)


def test_leaky_relu_as_a_real_op_and_inside_a_chain(tmp_path):
    rng = np.random.default_rng(1)
    b = GraphBuilder([2, 6, 6])
    b.node("Conv", [b.last, b.const(rng.normal(size=(5, 2, 3, 3)).astype(F32))], kernel_shape=[3, 3], pads=[1] * 4)
    b.node("LeakyRelu", [b.last], alpha=0.1)  # real op: its output goes on as floats
    b.node("LeakyRelu", [b.last], alpha=-0.7)  # negative alpha: a real op before the binarizer
    b.where_sign()
    binary_conv(b, rng, 5, 4)
    b.batchnorm(*random_bn(rng, 4))
    b.node("LeakyRelu", [b.last], alpha=0.2)  # in the threshold chain
    b.where_sign()
    b.node("Flatten", [b.last], axis=1)
    b.matmul(rng.normal(size=(4 * 36, 3)).astype(F32))
    x = rng.normal(0, 2, (200, 2, 6, 6)).astype(F32)
    x[:20] = 0.0  # exact zeros: LeakyRelu keeps -0 and 0
    compiled = check(b, tmp_path, rng, None, x=x)
    assert sum(isinstance(op, ir.PRelu) for op in compiled.graph.ops) == 2


def test_prelu_reference_is_onnxruntime_bit_for_bit():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    x = np.concatenate([np.random.default_rng(2).normal(0, 1, 5000),
                        [0.0, -0.0, 1e-45, -1e-45, -3e38, 3e38, -np.inf, np.inf]]).astype(F32)
    x = np.tile(x, (3, 1))[None]
    slope = np.array([0.25, -0.3, 0.1234567], F32).reshape(3, 1)
    for node, inits, s in [(helper.make_node("PRelu", ["x", "s"], ["y"]), [numpy_helper.from_array(slope, "s")], slope),
                           (helper.make_node("LeakyRelu", ["x"], ["y"], alpha=-0.7), [], np.array(-0.7, F32))]:
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
        got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        op = ir.PRelu(inputs=("x",), output="y", origin="t", slope=s)
        assert np.array_equal(op.reference(x).view(np.uint32), got.view(np.uint32))


# ---------------------------------------------------------------- pooling


@pytest.mark.parametrize("op,include", [("MaxPool", 0), ("AveragePool", 0), ("AveragePool", 1)])
@pytest.mark.parametrize("size,k,s,pads", [(8, 3, 2, [0, 0, 0, 0]), (7, 2, 2, [0, 0, 0, 0]), (9, 3, 2, [1, 1, 1, 1]),
                                           (6, 3, 2, [1, 0, 0, 1])])
def test_ceil_mode_pooling_that_changes_the_size(tmp_path, op, include, size, k, s, pads):
    rng = np.random.default_rng(size + k)
    b = GraphBuilder([3, size, size])
    b.node("Conv", [b.last, b.const(rng.normal(size=(4, 3, 3, 3)).astype(F32))], kernel_shape=[3, 3], pads=[1] * 4)
    if op == "MaxPool":
        b.where_sign()  # max pooling of bits
    attrs = {"count_include_pad": include} if op == "AveragePool" else {}
    b.node(op, [b.last], kernel_shape=[k, k], strides=[s, s], pads=pads, ceil_mode=1, **attrs)
    b.node(op, [b.last], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, **attrs)
    compiled = check(b, tmp_path, rng, (3, size, size))
    pools = [o for o in compiled.graph.ops if isinstance(o, ir.Pool2D)]
    assert pools and all(p.ceil_mode for p in pools)


@pytest.mark.parametrize("opset,op,axes,keepdims", [(13, "ReduceMean", [2, 3], 0), (13, "ReduceMean", [-1, -2], 1),
                                                    (18, "ReduceMean", [2, 3], 0), (18, "ReduceSum", [2, 3], 1),
                                                    (13, "ReduceSum", [2, 3], 0)])
def test_reduce_mean_and_sum_as_global_pooling(tmp_path, opset, op, axes, keepdims):
    rng = np.random.default_rng(len(axes) + keepdims)
    b = GraphBuilder([2, 6, 6], opset=opset)
    b.where_sign()
    binary_conv(b, rng, 2, 8)
    b.batchnorm(*random_bn(rng, 8))
    axes_as_input = opset >= 18 or op == "ReduceSum"
    if axes_as_input:
        b.node(op, [b.last, b.const(np.array(axes, np.int64))], keepdims=keepdims)
    else:
        b.node(op, [b.last], axes=axes, keepdims=keepdims)
    b.node("Flatten", [b.last], axis=1)
    b.matmul(rng.normal(size=(8, 3)).astype(F32))
    compiled = check(b, tmp_path, rng, (2, 6, 6))
    pool = next(o for o in compiled.graph.ops if isinstance(o, ir.Pool2D))
    assert pool.kind == ("avg" if op == "ReduceMean" else "sum")


def test_reduce_mean_over_nhwc_axes_as_tf2onnx_writes_it(tmp_path):
    rng = np.random.default_rng(4)
    b = GraphBuilder([5, 5, 6], opset=18)
    b.node("Transpose", [b.last], perm=[0, 3, 1, 2])
    b.node("Conv", [b.last, b.const(rng.normal(size=(4, 6, 3, 3)).astype(F32))], kernel_shape=[3, 3], pads=[1] * 4)
    b.node("Transpose", [b.last], perm=[0, 2, 3, 1])
    b.node("ReduceMean", [b.last, b.const(np.array([1, 2], np.int64))], keepdims=0, noop_with_empty_axes=1)
    compiled = check(b, tmp_path, rng, (5, 5, 6))
    assert not any(isinstance(op, ir.Transpose) for op in compiled.graph.ops)


def test_reduce_over_the_batch_or_apart_axes_is_refused(tmp_path):
    from bnncompile.errors import BnnError

    for axes in ([0, 2], [1, 3]):
        b = GraphBuilder([2, 4, 4])
        b.node("ReduceMean", [b.last], axes=axes, keepdims=0)
        with pytest.raises(BnnError, match="ReduceMean"):
            import_model(b.save(tmp_path / "m.onnx"))


# ---------------------------------------------------------------- 1-D convolutions


@pytest.mark.parametrize("stride,pad,dilation,group", [(1, 2, 1, 1), (2, 1, 1, 1), (1, 0, 2, 1), (1, 1, 1, 4)])
def test_conv1d_on_the_2d_kernels(tmp_path, stride, pad, dilation, group):
    rng = np.random.default_rng(stride + pad * 3 + dilation * 7 + group)
    b = GraphBuilder([3, 20])
    b.node("Conv", [b.last, b.const(signs(rng, (8, 3, 5)))], kernel_shape=[5], pads=[2, 2])  # BWN on the input
    b.batchnorm(*random_bn(rng, 8))
    b.where_sign()
    b.node("Conv", [b.last, b.const(signs(rng, (8, 8 // group, 3)))], kernel_shape=[3], strides=[stride],
           pads=[pad, pad], dilations=[dilation], group=group)
    b.batchnorm(*random_bn(rng, 8))
    b.where_sign()
    b.node("MaxPool", [b.last], kernel_shape=[2], strides=[2], ceil_mode=1)
    b.node("Flatten", [b.last], axis=1)
    out = (20 + 2 * pad - dilation * 2 - 1) // stride + 1
    pooled = -(-(out - 2) // 2) + 1  # ceil_mode
    b.matmul(signs(rng, (8 * pooled, 4)))
    compiled = check(b, tmp_path, rng, (3, 20))
    assert ("binary", "conv_xnor") in kinds(compiled)
    # 1-D data between convolutions needs no data movement: the one transpose is the NCL input's
    moves = [i for i, op in enumerate(ir.unfused(compiled.graph.ops)) if isinstance(op, ir.Transpose)]
    first_conv = next(i for i, op in enumerate(ir.unfused(compiled.graph.ops)) if isinstance(op, ir.Conv2D))
    assert len(moves) == 1 and moves[0] < first_conv


def test_larq_one_padded_conv1d_folds_the_pad_through_the_unsqueeze(tmp_path):
    """tf2onnx writes Larq's QuantConv1D(pad_values=1) as Pad(1.0) on the (N, L, C)
    map, then Unsqueeze and Transpose to (N, C, 1, L), then a 2-D Conv without pads."""
    rng = np.random.default_rng(9)
    b = GraphBuilder([16, 6])
    b.larq_sign()
    b.node("Pad", [b.last, b.const(np.array([0, 2, 0, 0, 2, 0], np.int64)), b.const(np.float32(1.0))])
    b.node("Unsqueeze", [b.last, b.const(np.array([-3], np.int64))])
    b.node("Transpose", [b.last], perm=[0, 3, 1, 2])
    b.node("Conv", [b.last, b.const(signs(rng, (5, 6, 1, 5)))], kernel_shape=[1, 5])
    compiled = check(b, tmp_path, rng, (16, 6))
    conv = next(op for op in ir.unfused(compiled.graph.ops) if isinstance(op, ir.Conv2D))
    assert conv.packed_input and conv.pad_value == 1.0 and conv.pads == (0, 2, 0, 2)
    assert not any(isinstance(op, ir.Pad) for op in compiled.graph.ops)


def test_larq_one_padded_single_channel_conv(tmp_path):
    """One channel: tf2onnx reshapes the padded NHWC map to NCHW instead of transposing it."""
    rng = np.random.default_rng(10)
    b = GraphBuilder([6, 6, 1])
    b.larq_sign()
    b.node("Pad", [b.last, b.const(np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64)), b.const(np.float32(1.0))])
    b.node("Reshape", [b.last, b.const(np.array([-1, 1, 8, 8], np.int64))])
    b.node("Conv", [b.last, b.const(signs(rng, (4, 1, 3, 3)))], kernel_shape=[3, 3])
    compiled = check(b, tmp_path, rng, (6, 6, 1))
    conv = next(op for op in ir.unfused(compiled.graph.ops) if isinstance(op, ir.Conv2D))
    assert conv.packed_input and conv.pad_value == 1.0 and conv.pads == (1, 1, 1, 1)


# ---------------------------------------------------------------- ConvTranspose


@pytest.mark.parametrize("stride,pads,output_padding,dilation,group", [
    (2, [1, 1, 1, 1], [1, 1], 1, 1), (2, [0, 0, 1, 1], [0, 0], 1, 1), (3, [0, 0, 0, 0], [2, 0], 1, 1),
    (1, [1, 1, 1, 1], [0, 0], 2, 1), (2, [2, 0, 0, 1], [1, 0], 1, 2), (2, [3, 3, 3, 3], [0, 0], 1, 1)])
def test_binary_conv_transpose_is_xnor_exact(tmp_path, stride, pads, output_padding, dilation, group):
    rng = np.random.default_rng(stride * 5 + sum(pads) + dilation + group)
    b = GraphBuilder([4, 5, 5])
    b.where_sign()
    b.node("ConvTranspose", [b.last, b.const(signs(rng, (4, 6 // group, 3, 3)))], kernel_shape=[3, 3],
           strides=[stride, stride], pads=pads, output_padding=output_padding, dilations=[dilation, dilation],
           group=group)
    b.batchnorm(*random_bn(rng, 6))
    b.where_sign()
    b.node("ConvTranspose", [b.last, b.const(rng.normal(size=(6, 2, 2, 2)).astype(F32)),
                             b.const(rng.normal(size=2).astype(F32))], kernel_shape=[2, 2], strides=[2, 2])
    compiled = check(b, tmp_path, rng, (4, 5, 5))
    assert kinds(compiled).count(("binary", "conv_xnor")) == 1
    assert ("bin-input", "conv_float") in kinds(compiled) or ("real", "conv_float") in kinds(compiled)


@pytest.mark.parametrize("attrs", [dict(auto_pad="SAME_UPPER"), dict(auto_pad="SAME_LOWER"),
                                   dict(output_shape=[9, 10]), dict(auto_pad="VALID")])
def test_conv_transpose_output_shape_and_auto_pad(tmp_path, attrs):
    rng = np.random.default_rng(11)
    b = GraphBuilder([3, 5, 5])
    b.node("ConvTranspose", [b.last, b.const(signs(rng, (3, 4, 3, 3)))], kernel_shape=[3, 3], strides=[2, 2],
           **attrs)
    check(b, tmp_path, rng, (3, 5, 5))


def test_conv_transpose_1d(tmp_path):
    rng = np.random.default_rng(12)
    b = GraphBuilder([3, 9])
    b.where_sign()
    b.node("ConvTranspose", [b.last, b.const(signs(rng, (3, 5, 4)))], kernel_shape=[4], strides=[2], pads=[1, 1])
    compiled = check(b, tmp_path, rng, (3, 9))
    assert ("binary", "conv_xnor") in kinds(compiled)


# ---------------------------------------------------------------- 3-D convolution and pooling


def binary_conv3d(b, rng, cin, cout, k=(3, 3, 3), stride=(1, 1, 1), pads=(1,) * 6, group=1, dilation=(1, 1, 1)):
    return b.node("Conv", [b.last, b.const(signs(rng, (cout, cin // group) + tuple(k)))], kernel_shape=list(k),
                  strides=list(stride), pads=list(pads), group=group, dilations=list(dilation))


@pytest.mark.parametrize("stride,pads,group,dilation", [((1, 1, 1), (1,) * 6, 1, (1, 1, 1)),
                                                        ((2, 1, 2), (1, 0, 1, 0, 1, 1), 1, (1, 1, 1)),
                                                        ((1, 1, 1), (0,) * 6, 2, (1, 2, 1)),
                                                        ((1, 2, 1), (2, 1, 1, 2, 1, 1), 1, (2, 1, 1))])
def test_3d_convolutions_binary_bwn_and_real(tmp_path, stride, pads, group, dilation):
    rng = np.random.default_rng(sum(stride) + sum(pads) + group)
    b = GraphBuilder([2, 5, 8, 8])
    binary_conv3d(b, rng, 2, 4)  # BWN: binary kernel on the real input
    b.batchnorm(*random_bn(rng, 4))
    b.where_sign()
    binary_conv3d(b, rng, 4, 6, stride=stride, pads=pads, group=group, dilation=dilation)  # XNOR
    b.batchnorm(*random_bn(rng, 6))
    b.node("MaxPool", [b.last], kernel_shape=[2, 2, 2], strides=[2, 2, 2], ceil_mode=1)
    b.node("Conv", [b.last, b.const(rng.normal(size=(3, 6, 1, 2, 2)).astype(F32))], kernel_shape=[1, 2, 2])
    b.node("GlobalAveragePool", [b.last])
    compiled = check(b, tmp_path, rng, (2, 5, 8, 8))
    assert kinds(compiled).count(("binary", "conv3d_xnor")) == 1
    assert ("bin-weights", "conv3d_float") in kinds(compiled) and ("real", "conv3d_float") in kinds(compiled)


def test_larq_one_padded_3d_convolution(tmp_path):
    """tf2onnx: Pad(1.0) on the NDHWC volume, Transpose to NCDHW, Conv without pads."""
    rng = np.random.default_rng(13)
    b = GraphBuilder([3, 5, 5, 4])
    b.larq_sign()
    b.node("Pad", [b.last, b.const(np.array([0, 1, 1, 1, 0, 0, 1, 1, 1, 0], np.int64)), b.const(np.float32(1.0))])
    b.node("Transpose", [b.last], perm=[0, 4, 1, 2, 3])
    binary_conv3d(b, rng, 4, 5, pads=(0,) * 6)
    b.node("AveragePool", [b.last], kernel_shape=[2, 2, 2], strides=[1, 2, 2], pads=[1, 0, 0, 0, 1, 1],
           count_include_pad=1)
    compiled = check(b, tmp_path, rng, (3, 5, 5, 4))
    conv = next(op for op in compiled.graph.ops if isinstance(op, ir.Conv3D))
    assert conv.packed_input and conv.pad_value == 1.0 and conv.pads == (1,) * 6


# ---------------------------------------------------------------- several inputs and outputs


def two_input_two_output_model(path, rng):
    """An image path and a feature path, joined; one output per path (a keyword-
    spotting or sensor-fusion head): `input` holds both inputs one after another."""
    from onnx import TensorProto, helper

    b = GraphBuilder([2, 6, 6], input_name="image")
    b.where_sign()
    binary_conv(b, rng, 2, 4)
    b.batchnorm(*random_bn(rng, 4))
    b.where_sign()
    b.node("Flatten", [b.last], axis=1)
    image = b.matmul(signs(rng, (4 * 36, 8)))
    feats = b.matmul(signs(rng, (5, 8)), x="features")
    joined = b.node("Add", [image, feats])
    b.where_sign(joined)
    first = b.matmul(signs(rng, (8, 3)))
    second = b.node("Relu", [feats])
    model = b.model(output=first)
    model.graph.input.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 5]))
    model.graph.output.append(helper.make_tensor_value_info(second, TensorProto.FLOAT, None))
    import onnx

    onnx.save(model, str(path))
    return str(path)


def test_several_inputs_and_outputs(tmp_path):
    rng = np.random.default_rng(20)
    path = two_input_two_output_model(tmp_path / "m.onnx", rng)
    compiled = compile_to_memory(path)
    assert compiled.graph.sample_shape == (2 * 36 + 5,)
    assert [p.name for p in compiled.plan.inputs] == ["image", "features"]
    assert [p.offset for p in compiled.plan.outputs] == [0, 3]
    header = compiled.files["m.h"]
    for line in ("#define M_INPUT_SIZE 77", "#define M_INPUTS 2", "#define M_INPUT1_OFFSET 72", "#define M_INPUT1_SIZE 5",
                 "#define M_OUTPUT_SIZE 11", "#define M_OUTPUTS 2", "#define M_OUTPUT1_OFFSET 3",
                 "#define M_INPUT0_DIM0 2"):
        assert line in header, line
    x = rng.uniform(-1, 1, (100, 77)).astype(F32)
    report = verify(compiled, x)
    assert report.ok and report.argmax_agree == 100, report.verdict()
    import onnxruntime as ort

    from bnncompile.validate import NativeModel

    native = NativeModel(compiled.files, compiled.plan)
    try:
        got = native.run(x)
    finally:
        native.close()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    first, second = session.run(None, {"image": x[:, :72].reshape(100, 2, 6, 6), "features": x[:, 72:]})
    assert np.allclose(got[:, :3], first, atol=1e-5) and np.allclose(got[:, 3:], second, atol=1e-6)
