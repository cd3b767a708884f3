"""Convolutional graphs built with onnx.helper the way PyTorch writes them
(NCHW, zero padding, strides, groups, pooling, residual adds, concat),
compiled to C and checked against onnxruntime by `verify`."""
import numpy as np
import pytest
from builders import GraphBuilder, random_bn, signs

from bnncompile import ir
from bnncompile.compiler import compile_to_memory
from bnncompile.validate import verify

F32 = np.float32


def binary_conv(b, rng, cin, cout, k=3, stride=1, pad=1, group=1, dilation=1):
    w = signs(rng, (cout, cin // group, k, k))
    return b.node("Conv", [b.last, b.const(w)], kernel_shape=[k, k], strides=[stride, stride],
                  pads=[pad] * 4, group=group, dilations=[dilation, dilation])


def bn_sign(b, rng, c):
    b.batchnorm(*random_bn(rng, c))
    return b.where_sign()


def check(b, tmp_path, rng, shape, samples=60):
    path = b.save(tmp_path / "m.onnx")
    compiled = compile_to_memory(path)
    x = rng.uniform(-1, 1, (samples,) + tuple(shape)).astype(F32)
    report = verify(compiled, x)
    assert report.ok, report.verdict()
    assert not report.ambiguous_samples
    return compiled


@pytest.mark.parametrize("stride,pad,group,dilation", [(1, 1, 1, 1), (2, 1, 1, 1), (1, 0, 1, 1), (1, 2, 1, 2),
                                                       (1, 1, 4, 1), (2, 1, 8, 1)])
def test_zero_padded_binary_convs(tmp_path, stride, pad, group, dilation):
    rng = np.random.default_rng(stride * 10 + pad + group)
    b = GraphBuilder([3, 9, 9])
    binary_conv(b, rng, 3, 8, pad=1)  # real input, binary kernel (BWN)
    bn_sign(b, rng, 8)
    binary_conv(b, rng, 8, 8, stride=stride, pad=pad, group=group, dilation=dilation)
    bn_sign(b, rng, 8)
    b.node("Flatten", [b.last], axis=1)
    n = 8 * ((9 + 2 * pad - dilation * 2 - 1) // stride + 1) ** 2
    b.matmul(signs(rng, (n, 5)))
    compiled = check(b, tmp_path, rng, (3, 9, 9))
    moves = [op for op in compiled.graph.ops if isinstance(op, ir.Transpose)]
    # the layout pass removed every data movement but the one of the NCHW input itself
    assert [op.inputs for op in moves] == [compiled.graph.inputs]
    conv = [op for op in ir.unfused(compiled.graph.ops) if isinstance(op, ir.Conv2D)][1]
    assert conv.packed_input and conv.signs is not None


def test_depthwise_binary_conv_and_max_pool_on_bits(tmp_path):
    rng = np.random.default_rng(7)
    b = GraphBuilder([4, 8, 8])
    b.where_sign()
    binary_conv(b, rng, 4, 4, group=4)
    bn_sign(b, rng, 4)
    b.node("MaxPool", [b.last], kernel_shape=[2, 2], strides=[2, 2])
    binary_conv(b, rng, 4, 6)
    compiled = check(b, tmp_path, rng, (4, 8, 8))
    pool = next(op for op in compiled.graph.ops if isinstance(op, ir.Pool2D))
    assert compiled.graph.tensors[pool.output].domain == ir.Domain.BIPOLAR


def test_max_pool_after_a_decreasing_batchnorm_stays_on_floats(tmp_path):
    """conv -> batchnorm with negative gammas (PyTorch: constants of shape (C, 1, 1))
    -> MaxPool: max does not commute with a decreasing chain, so the pool must not
    move onto the accumulator (it did once: the check broadcast the constants
    against the wrong axes and saw every chain as non-decreasing)."""
    rng = np.random.default_rng(17)
    b = GraphBuilder([3, 8, 8])
    b.where_sign()
    binary_conv(b, rng, 3, 6)
    gamma, beta, mean, var = random_bn(rng, 6)
    gamma[:3] = -np.abs(gamma[:3])
    b.batchnorm(gamma, beta, mean, var)
    b.node("MaxPool", [b.last], kernel_shape=[2, 2], strides=[2, 2])
    b.where_sign()
    binary_conv(b, rng, 6, 4)
    compiled = check(b, tmp_path, rng, (3, 8, 8), samples=100)
    pool = next(op for op in compiled.graph.ops if isinstance(op, ir.Pool2D))
    assert compiled.graph.tensors[pool.inputs[0]].domain == ir.Domain.FLOAT


def test_pooling_of_accumulators_and_floats_then_global_average(tmp_path):
    rng = np.random.default_rng(8)
    b = GraphBuilder([3, 8, 8])
    b.where_sign()
    binary_conv(b, rng, 3, 6)
    b.node("MaxPool", [b.last], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])  # on the accumulator
    bn_sign(b, rng, 6)
    binary_conv(b, rng, 6, 6)
    b.batchnorm(*random_bn(rng, 6))
    b.node("AveragePool", [b.last], kernel_shape=[2, 2], strides=[2, 2])
    b.node("GlobalAveragePool", [b.last])
    b.node("Flatten", [b.last], axis=1)
    check(b, tmp_path, rng, (3, 8, 8))


def test_real_stem_residual_add_and_concat(tmp_path):
    """Bi-Real style real shortcut and BinaryDenseNet style concatenation."""
    rng = np.random.default_rng(9)
    b = GraphBuilder([3, 6, 6])
    stem = b.node("Conv", ["x", b.const(rng.normal(size=(8, 3, 3, 3)).astype(F32)),
                           b.const(rng.normal(size=8).astype(F32))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    shortcut = b.batchnorm(*random_bn(rng, 8))
    b.where_sign()
    binary_conv(b, rng, 8, 8)
    branch = b.batchnorm(*random_bn(rng, 8))
    added = b.node("Add", [branch, shortcut])
    b.where_sign()
    binary_conv(b, rng, 8, 4)
    grown = b.batchnorm(*random_bn(rng, 4))
    b.node("Concat", [added, grown], axis=1)
    b.node("Relu", [b.last])
    del stem
    check(b, tmp_path, rng, (3, 6, 6))


def test_one_padding_in_nhwc_as_tf2onnx_writes_it(tmp_path):
    """Larq pad_values=1: Pad(constant 1) on the NHWC sign output, then a VALID conv between transposes."""
    rng = np.random.default_rng(10)
    b = GraphBuilder([6, 6, 4])  # NHWC input
    b.larq_sign()
    padded = b.node("Pad", [b.last, b.const(np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64)), b.const(F32(1.0))])
    nchw = b.node("Transpose", [padded], perm=[0, 3, 1, 2])
    conv = b.node("Conv", [nchw, b.const(signs(rng, (5, 4, 3, 3)))], kernel_shape=[3, 3])
    b.node("Transpose", [conv], perm=[0, 2, 3, 1])
    compiled = check(b, tmp_path, rng, (6, 6, 4))
    conv_op = next(op for op in ir.unfused(compiled.graph.ops) if isinstance(op, ir.Conv2D))
    assert conv_op.pad_value == 1.0 and conv_op.pads == (1, 1, 1, 1) and conv_op.packed_input
