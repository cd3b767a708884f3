"""An NCHW model is binarized where its input lies and its last layer stores the
NCHW output itself (passes/channel_major.py): no Transpose steps, no float
copies in the arena -- a binary conv stack needs RAM only for the bits between
its layers -- and the C still agrees with onnxruntime bit for bit, in every
kernel build, on inputs at the binarizer's edge values."""
import numpy as np
import onnxruntime as ort
import pytest
from builders import GraphBuilder, random_bn
from test_conv_graphs import binary_conv, bn_sign

from bnncompile import ir
from bnncompile.compiler import compile_to_memory
from bnncompile.validate import verify
from bnncompile.validate.build import NativeModel

F32 = np.float32
BUILDS = {"reference": ["-DBNN_REFERENCE_KERNELS"], "portable": ["-DBNN_PORTABLE_KERNELS"],
          "native": ["-O3", "-march=native"]}


def conv_stack(rng, channels=32, size=8, layers=3):
    """The PyTorch way: binarize the input, binary 3x3 convs with batchnorm and a binarizer
    between them, the last batchnorm's floats are the output."""
    b = GraphBuilder([channels, size, size])
    b.where_sign()
    for i in range(layers):
        binary_conv(b, rng, channels, channels)
        if i < layers - 1:
            bn_sign(b, rng, channels)
        else:
            b.batchnorm(*random_bn(rng, channels))
    return b


def edge_inputs(rng, shape, samples, infinities=True):
    """Where GreaterOrEqual(x, 0) turns: exact zeros of both signs, the smallest
    subnormals, infinities (not where a real layer reads them: inf - inf), and
    random values."""
    x = rng.uniform(-1, 1, (samples,) + tuple(shape)).astype(F32)
    edges = np.array([0.0, -0.0, 1e-45, -1e-45, np.finfo(F32).tiny, -np.finfo(F32).tiny]
                     + ([np.inf, -np.inf] if infinities else []), F32)
    flat = x.reshape(samples, -1)
    pick = rng.random(flat.shape) < 0.3
    flat[pick] = rng.choice(edges, int(pick.sum()))
    return x


def onnx_output(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def test_a_binary_conv_stack_keeps_only_bits_in_ram(tmp_path):
    rng = np.random.default_rng(0)
    path = conv_stack(rng).save(tmp_path / "m.onnx")
    compiled = compile_to_memory(path)
    ops = compiled.graph.ops
    assert not any(isinstance(op, ir.Transpose) for op in ops), [type(op).__name__ for op in ops]
    first, last = ops[0], ops[-1]
    assert isinstance(first, ir.Threshold) and first.channel_major_input
    assert first.inputs == tuple(compiled.graph.inputs)
    assert isinstance(last, ir.Fused) and isinstance(last.chain[-1], ir.Transpose)
    assert last.output == compiled.graph.outputs[0]
    bits = 8 * 8 * 4  # one 32-channel map of 8 x 8 pixels: one word per pixel
    assert compiled.plan.arena_bytes == 2 * bits
    x = edge_inputs(rng, (32, 8, 8), 40)
    report = verify(compiled, x)
    assert report.ok and not report.ambiguous_samples, report.verdict()
    want = onnx_output(path, x)
    outputs = {}
    for build, flags in BUILDS.items():
        native = NativeModel(compiled.files, compiled.plan, extra_flags=flags)
        try:
            outputs[build] = native.run(x).reshape(want.shape)
        finally:
            native.close()
        # every build stores the same bits; onnxruntime's batchnorm rounds its own way (the tolerance)
        assert np.array_equal(outputs[build].view(np.uint32), outputs["reference"].view(np.uint32)), build
        assert np.allclose(outputs[build], want, rtol=1e-5, atol=1e-5), build


@pytest.mark.parametrize("channels", [3, 20])
def test_an_nchw_input_read_in_place_by_its_binarizer(tmp_path, channels):
    """Odd channel counts (a tail block), then a dense head: only the input side changes."""
    rng = np.random.default_rng(channels)
    b = GraphBuilder([channels, 5, 7])
    b.where_sign()
    binary_conv(b, rng, channels, 16)
    bn_sign(b, rng, 16)
    b.node("Flatten", [b.last], axis=1)
    b.matmul(rng.choice([-1.0, 1.0], (16 * 5 * 7, 10)).astype(F32))
    path = b.save(tmp_path / "m.onnx")
    compiled = compile_to_memory(path)
    assert isinstance(compiled.graph.ops[0], ir.Threshold) and compiled.graph.ops[0].channel_major_input
    assert not any(isinstance(op, ir.Transpose) for op in compiled.graph.ops)
    x = edge_inputs(rng, (channels, 5, 7), 60)
    report = verify(compiled, x)
    assert report.ok and not report.ambiguous_samples, report.verdict()


def test_a_real_layer_on_the_same_input_gets_its_copy_and_the_residual_sum_is_stored_nchw(tmp_path):
    """The NCHW input also feeds a real 1x1 convolution, which needs it channels last (its
    Transpose stays); the binarizer still reads the input in place; the last layer adds the
    real branch (a channels-last residual) and stores the sum channel-major."""
    rng = np.random.default_rng(5)
    b = GraphBuilder([4, 6, 6])
    x = "x"
    real = b.node("Conv", [x, b.const(rng.normal(size=(4, 4, 1, 1)).astype(F32))], kernel_shape=[1, 1])
    b.where_sign(x)
    binary_conv(b, rng, 4, 4)
    b.batchnorm(*random_bn(rng, 4))
    b.node("Add", [b.last, real])
    path = b.save(tmp_path / "m.onnx")
    compiled = compile_to_memory(path)
    ops = compiled.graph.ops
    moves = [op for op in ops if isinstance(op, ir.Transpose)]
    assert [op.inputs for op in moves] == [tuple(compiled.graph.inputs)]  # the real convolution's copy
    assert any(getattr(op, "channel_major_input", False) for op in ops)
    last = ops[-1]
    assert isinstance(last, ir.Fused) and isinstance(last.chain[-1], ir.Transpose)
    assert any(isinstance(op, ir.Add) for op in last.chain)
    x = edge_inputs(rng, (4, 6, 6), 40, infinities=False)
    report = verify(compiled, x)
    assert report.ok and not report.ambiguous_samples, report.verdict()
    want = onnx_output(path, x)
    native = NativeModel(compiled.files, compiled.plan)
    try:
        got = native.run(x).reshape(want.shape)
    finally:
        native.close()
    assert np.allclose(got, want, rtol=1e-5, atol=1e-5)
