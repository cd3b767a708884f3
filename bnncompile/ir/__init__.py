"""Typed intermediate representation: see graph.py for the data model and
ops.py for the op set with numpy references."""
from .graph import Domain, Graph, Note, Op, Tensor, rebuild
from .ops import (
    Binarize,
    BinaryDense,
    Cast,
    ChannelOp,
    Clip,
    Concat,
    Conv2D,
    Pad,
    Pool2D,
    Transpose,
    Add,
    Dense,
    MulAdd,
    Fused,
    Relu,
    Reshape,
    Softmax,
    Threshold,
    conv2d_nhwc,
    fma_f32,
    float_key,
    key_to_float,
    unfused,
)
from .ops_elementwise import Arith, PRelu
from .ops_spatial import Conv3D, Dilate, Pool3D, conv3d_ndhwc

__all__ = [
    "Domain", "Graph", "Note", "Op", "Tensor", "rebuild",
    "Binarize", "BinaryDense", "Cast", "ChannelOp", "Clip", "Dense", "Relu",
    "MulAdd", "Reshape", "Softmax", "Concat", "Conv2D", "Pad", "Pool2D", "Transpose", "Add", "Threshold", "Fused",
    "conv2d_nhwc", "fma_f32", "float_key", "key_to_float", "unfused",
    "PRelu", "Arith", "Dilate", "Conv3D", "Pool3D", "conv3d_ndhwc",
]
