"""Pass: max-pool the integer accumulator instead of its batchnormed floats.

Before: a binary convolution's INT accumulator goes through Cast and a chain
of per-channel ops (bias, batchnorm, scale; maybe none) into a max `Pool2D`
on floats (Larq and QuickNet pool after batchnorm, PyTorch models right
after the convolution).

After, when the chain is non-decreasing on every value the accumulator can
take (checked by evaluating it there): the `Pool2D` reads the accumulator and
the chain follows it. For non-decreasing f, max_i f(a_i) = f(max_i a_i)
exactly, float rounding included (rounding is monotone too), so values are
unchanged; the pooled accumulator is 4x smaller than the map it replaces and
the threshold pass can then fold the chain into the next binarizer.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir
from ..limits import THRESHOLD_EVALS


def _per_channel(op: ir.ChannelOp, channels: int) -> bool:
    shape = np.shape(op.const)
    return all(d == 1 for d in shape[:-1]) and (not shape or shape[-1] in (1, channels))


def pool_accumulators(graph: ir.Graph) -> ir.Graph:
    ops = list(graph.ops)
    users: dict[str, int] = {}
    for op in ops:
        for name in op.inputs:
            users[name] = users.get(name, 0) + 1
    producers = {op.output: op for op in ops}
    for pool in [op for op in ops if isinstance(op, (ir.Pool2D, ir.Pool3D)) and op.kind == "max"]:
        chain, current = [], pool.inputs[0]
        while isinstance(producers.get(current), ir.ChannelOp) and users.get(current) == 1:
            chain.append(producers[current])
            current = chain[-1].inputs[0]
        cast = producers.get(current)
        if not isinstance(cast, ir.Cast) or users.get(current) != 1:
            continue
        acc = graph.tensors[cast.inputs[0]]
        if acc.domain != ir.Domain.INT or not all(_per_channel(op, acc.channels) for op in chain):
            continue
        chain.reverse()
        lo, hi, step = acc.int_range
        if ((hi - lo) // step + 1) * acc.channels > THRESHOLD_EVALS.value():
            continue  # too many values to check here; the threshold pass reports the limit
        # every value on every channel, shaped (values, 1, ..., 1, channels) like a batch of
        # the accumulator, so that constants of any rank broadcast per channel
        values = np.arange(lo, hi + 1, step, dtype=np.int64).reshape((-1,) + (1,) * (len(acc.shape) - 1))
        f = cast.reference(values * np.ones(acc.channels, np.int64))
        for op in chain:
            f = op.reference(f)
        if np.any(np.diff(f, axis=0) < 0) or np.any(np.isnan(f)):
            continue
        pooled = f"{pool.output}::acc"
        # fresh names: the moved ops hold pooled values now, not the (ONNX) tensors they held
        rewritten = [replace(pool, inputs=cast.inputs, output=pooled),
                     replace(cast, inputs=(pooled,), output=f"{cast.output}::pooled" if chain else pool.output)]
        for i, op in enumerate(chain):
            rewritten.append(replace(op, inputs=(rewritten[-1].output,),
                                     output=pool.output if i == len(chain) - 1 else f"{op.output}::pooled"))
        position = ops.index(pool)
        for op in [cast, *chain]:
            ops.remove(op)
        position = ops.index(pool)
        ops[position:position + 1] = rewritten
    return ir.rebuild(graph, ops)


def threshold_before_max_pool(graph: ir.Graph) -> ir.Graph:
    """Pass: binarize before max pooling, then pool the bits.

    Before: a max `Pool2D` of int32 sums (e.g. after `pool_accumulators`) is read
    only by a `Threshold` with per-channel (or one) constants.

    After: the `Threshold` reads the sums and the `Pool2D` pools its decisions:
    an AND of bits per window, or, on channels where the threshold decreases
    (flip), the minimum (an OR). A threshold is a monotone step function of the
    sum in each channel, and for non-decreasing t, t(max v) = max t(v); for
    non-increasing t, t(max v) = min t(v); padded taps take part in neither. So
    the values are the same, the sums are never pooled, and the fusion pass can
    then fold the threshold into the layer that makes the sums: its output is
    bits (1/32 of the int32 sums it replaces).
    """
    ops: list[ir.Op] = []
    for op in graph.ops:
        pool = graph.producer(op.inputs[0]) if isinstance(op, ir.Threshold) and op.sign_like and not op.float_input \
            else None
        sums = graph.tensors[pool.inputs[0]] if isinstance(pool, ir.Pool2D) else None
        if (sums is None or pool.kind != "max" or pool.min_channels is not None or sums.domain != ir.Domain.INT
                or len(graph.consumers(pool.output)) != 1 or len(graph.consumers(pool.inputs[0])) != 1
                or not all(sums.per_channel(a) for a in (op.flip, op.t_zero, op.t_pos))):
            ops.append(op)
            continue
        decided = replace(op, inputs=pool.inputs, output=f"{op.output}::unpooled")
        flip = np.broadcast_to(np.reshape(op.flip, -1), (sums.channels,)).astype(bool)
        pooled = replace(pool, inputs=(decided.output,), output=op.output,
                         min_channels=flip.copy() if flip.any() else None)
        ops = [o for o in ops if o is not pool] + [decided, pooled]
    return ir.rebuild(graph, ops)
