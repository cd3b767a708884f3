"""Handlers of ops that move or rename data without arithmetic: Identity,
Dropout, Flatten, Reshape, Squeeze, Unsqueeze, Transpose and Concat."""
from __future__ import annotations

import numpy as np

from ... import ir
from ...errors import BnnError
from ..translator import Translator, Unsupported, attr, node_label


def h_identity(t: Translator, node, ins):
    t.bind(node.output[0], ins[0])


def h_flatten(t: Translator, node, ins):
    x = ins[0]
    axis = attr(node, "axis", 1)
    full = (1,) + x.shape
    if not -len(full) <= axis <= len(full):
        raise BnnError(f"Flatten axis {axis} is out of range for rank {len(full)}", node=node_label(node))
    axis = axis + len(full) if axis < 0 else axis
    if axis == 0:
        raise Unsupported("Flatten with axis 0 mixes the batch dimension with data")
    new = (int(np.prod(full[:axis])), int(np.prod(full[axis:])))
    t.finish(node, t.reshape(x, new))


def h_reshape(t: Translator, node, ins):
    x, shape = ins[0], ins[1]
    if not isinstance(shape, np.ndarray):
        raise Unsupported("Reshape target shape must be a constant")
    if shape.ndim != 1 or shape.dtype.kind not in "iu":
        raise BnnError(f"Reshape target must be a 1-D integer tensor, not {shape.dtype} of shape {shape.shape}",
                       node=node_label(node))
    target = [int(d) for d in shape]
    full = (1,) + x.shape
    if not attr(node, "allowzero", 0):
        if any(d == 0 and i >= len(full) for i, d in enumerate(target)):
            raise BnnError(f"Reshape target {target} copies (0) a dimension that the input of rank {len(full)} "
                           f"does not have", node=node_label(node))
        target = [full[i] if d == 0 else d for i, d in enumerate(target)]
    try:
        new = np.empty(full, dtype=np.uint8).reshape(target).shape
    except ValueError:
        raise BnnError(f"cannot reshape {full} to {target}", node=node_label(node)) from None
    t.finish(node, t.reshape(x, new))


def _squeeze_axes(t: Translator, node, ins):
    if t.opset >= 13 and len(ins) > 1 and ins[1] is not None:
        if not isinstance(ins[1], np.ndarray):
            raise Unsupported("axes must be a constant")
        if np.ndim(ins[1]) != 1 or ins[1].dtype.kind not in "iu":
            raise BnnError(f"{node.op_type} axes must be a 1-D integer tensor", node=node_label(node))
        return [int(a) for a in ins[1]]
    return attr(node, "axes", None)


def h_squeeze(t: Translator, node, ins):
    x = ins[0]
    full = list((1,) + x.shape)
    axes = _squeeze_axes(t, node, ins)
    if axes is None:
        axes = [i for i, d in enumerate(full) if d == 1 and i > 0]
    if any(not -len(full) <= a < len(full) or full[a] != 1 for a in axes):
        raise BnnError(f"Squeeze axes {list(axes)} do not name size-1 axes of {tuple(full)}", node=node_label(node))
    axes = [a + len(full) if a < 0 else a for a in axes]
    if 0 in axes:
        raise Unsupported("Squeeze of the batch dimension")
    t.finish(node, t.reshape(x, tuple(d for i, d in enumerate(full) if i not in axes)))


def h_unsqueeze(t: Translator, node, ins):
    x = ins[0]
    full = list((1,) + x.shape)
    axes = _squeeze_axes(t, node, ins)
    rank = len(full) + len(axes or ())
    if not axes or any(not -rank <= a < rank for a in axes) or \
            len({a % rank for a in axes}) != len(axes):
        raise BnnError(f"Unsqueeze axes {axes} are missing, repeated or out of range for rank {rank}",
                       node=node_label(node))
    for a in sorted(a + rank if a < 0 else a for a in axes):
        if a == 0:
            raise Unsupported("Unsqueeze before the batch dimension")
        full.insert(a, 1)
    t.finish(node, t.reshape(x, tuple(full)))


def h_transpose(t: Translator, node, ins):
    x = ins[0]
    full = (1,) + x.shape
    perm = attr(node, "perm", list(reversed(range(len(full)))))
    if sorted(perm) != list(range(len(full))):
        raise BnnError(f"Transpose perm {list(perm)} is not a permutation of the {len(full)} axes",
                       node=node_label(node))
    # Only permutations that keep the row-major order of the data (they move
    # size-1 axes, e.g. NHWC <-> NCHW with one channel) are free reshapes.
    if perm[0] != 0:
        raise Unsupported("Transpose that moves the batch axis")
    moved = [p for p in perm if full[p] != 1]
    if moved == sorted(moved):  # only size-1 axes move: the data keeps its order
        t.finish(node, t.reshape(x, tuple(full[p] for p in perm)))
        return
    t.finish(node, t.emit(ir.Transpose, [x], perm=tuple(p - 1 for p in perm[1:])))


def h_dropout(t: Translator, node, ins):
    """Inference-mode Dropout is the identity and its mask all true; training
    mode drops values at random, which no compiled model can reproduce."""
    training = ins[2] if len(ins) > 2 else None
    if training is not None:
        if not isinstance(training, np.ndarray):
            raise Unsupported("Dropout whose training_mode is computed from the input")
        if training.size != 1:
            raise BnnError(f"Dropout training_mode must be a single boolean, not of shape {training.shape}",
                           node=node_label(node))
        if bool(training.reshape(-1)[0]):
            raise BnnError("Dropout with training_mode=True drops values at random; a compiled model cannot "
                           "reproduce that", node=node_label(node),
                           hint="export the model in eval/inference mode")
    x = ins[0]
    t.bind(node.output[0], x)
    if len(node.output) > 1 and node.output[1]:
        t.bind(node.output[1], np.ones((1,) + x.shape, dtype=bool))


def h_concat(t: Translator, node, ins):
    if not all(isinstance(v, ir.Tensor) for v in ins):
        raise Unsupported("Concat with constants")
    axis = attr(node, "axis")
    full = len(ins[0].shape) + 1
    if axis is None or not -full <= axis < full:
        raise BnnError(f"Concat axis {axis} is missing or out of range for rank {full}", node=node_label(node))
    axis = axis % full
    if axis == 0:
        raise Unsupported("Concat along the batch axis")
    packed = all(v.domain.is_packed and v.levels == ins[0].levels for v in ins)
    # packed inputs with the same levels stay packed bits (bnn_concat_bits); others are concatenated as floats
    t.finish(node, t.emit(ir.Concat, list(ins) if packed else [t.as_float(v) for v in ins], axis=axis - 1))
