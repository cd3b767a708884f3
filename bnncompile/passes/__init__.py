"""Graph -> Graph passes, run in the order of PIPELINE (no discovery).

Rules every pass keeps: it is a pure function of the graph it is given; the
numpy reference of the graph it returns agrees with the one it was given
(bit for bit on binarized tensors); tensor names that exist in the ONNX
model keep their meaning. Each module's docstring states what holds before
and after it.
"""
from __future__ import annotations

from .. import ir
from .binary_weights import fold_binary_weights, xnor_after_flatten
from .channel_major import read_and_store_channel_major
from .epilogue import split_epilogues
from .fusion import fuse_output_transforms
from .layout import assign_layouts, fold_flatten_into_dense, fuse_pad_into_conv
from .level_layers import fold_level_layers
from .pooling import pool_accumulators, threshold_before_max_pool
from .quantize import bound_rounds
from .ste import binarize_ste
from .thresholds import fold_thresholds

PIPELINE = (
    assign_layouts,
    fuse_pad_into_conv,
    fold_flatten_into_dense,
    binarize_ste,
    bound_rounds,
    fold_level_layers,
    fold_binary_weights,
    xnor_after_flatten,
    pool_accumulators,
    fold_thresholds,
    split_epilogues,
    threshold_before_max_pool,
    fuse_output_transforms,
    read_and_store_channel_major,
)


def run_pipeline(graph: ir.Graph, passes=PIPELINE) -> ir.Graph:
    for p in passes:
        graph = p(graph)
    return graph
