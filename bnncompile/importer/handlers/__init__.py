"""The node handlers, one module per family, and the explicit registry that
maps an ONNX op type to its handler (no discovery: adding an op is one import
and one line here).

A handler is `handler(t: Translator, node, ins)`: it gets the translator, the
ONNX node and its resolved inputs (np.ndarray for constants, ir.Tensor,
Condition, or None for an empty name), emits IR ops with `t.emit` and binds
the node's outputs with `t.finish` or `t.bind`. It raises `Unsupported` for a
pattern bnncompile does not take, `BnnError` for a model that is wrong.
"""
from __future__ import annotations

from .dense import h_gemm, h_matmul
from .elementwise import arith, h_batchnorm, h_clip, h_neg, h_prelu, h_relu, h_softmax
from .quantizers import h_bipolar_quant, h_cast, h_compare, h_not, h_sign, h_where
from .shape import h_concat, h_dropout, h_flatten, h_identity, h_reshape, h_squeeze, h_transpose, h_unsqueeze
from .spatial import h_conv, h_conv_transpose, h_pad, h_pool, h_reduce

HANDLERS = {
    "MatMul": h_matmul,
    "Gemm": h_gemm,
    "BatchNormalization": h_batchnorm,
    "Add": arith("add", "add"),
    "Sub": arith("sub", "rsub"),
    "Mul": arith("mul", "mul"),
    "Div": arith("div", "rdiv"),
    "Neg": h_neg,
    "Sign": h_sign,
    "BipolarQuant": h_bipolar_quant,
    "GreaterOrEqual": h_compare,
    "Greater": h_compare,
    "LessOrEqual": h_compare,
    "Less": h_compare,
    "Not": h_not,
    "Where": h_where,
    "Cast": h_cast,
    "Identity": h_identity,
    "Relu": h_relu,
    "Clip": h_clip,
    "PRelu": h_prelu,
    "LeakyRelu": h_prelu,
    "Softmax": h_softmax,
    "LogSoftmax": h_softmax,
    "Flatten": h_flatten,
    "Reshape": h_reshape,
    "Squeeze": h_squeeze,
    "Unsqueeze": h_unsqueeze,
    "Transpose": h_transpose,
    "Dropout": h_dropout,
    "Conv": h_conv,
    "ConvTranspose": h_conv_transpose,
    "MaxPool": h_pool,
    "AveragePool": h_pool,
    "GlobalAveragePool": h_pool,
    "GlobalMaxPool": h_pool,
    "ReduceMean": h_reduce,
    "ReduceSum": h_reduce,
    "Pad": h_pad,
    "Concat": h_concat,
}

