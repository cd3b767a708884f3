"""Pass: fold every chain of elementwise ops ending in a binarizer into one
per-channel threshold comparison.

Before: a binarizer (`Binarize`) reads, through a chain of monotone
elementwise ops (`ChannelOp` other than c/x, `Relu`, `Clip`, `Cast`,
earlier `Binarize`/`Threshold`), a start tensor S: either the INT
accumulator of a binary layer or a float tensor.

After: the binarizer is a `Threshold` on S (the chain ops stay only where
something else still reads them). The threshold is derived, never solved
for algebraically: the chain's own float32 references, in the model's op
order, are evaluated
- for an INT S, on every value S can take, so the result is exact for every
  input, and a chain that is not monotone on those values is an error;
- for a float S, by binary search over all finite float32 values ordered by
  `float_key`. Each op is monotone per channel and float32 rounding is
  monotone, so the composition is a step function of the key; the search
  finds its steps exactly, and a sample of keys double-checks it.
Where exact zeros are reachable (ONNX Sign) the threshold has two steps and
its output is ternary; the graph then gets a "ternary" note naming the node.
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import BnnError

KEY_MIN, KEY_MAX = -0x7F7FFFFF, 0x7F7FFFFF  # finite float32 keys
KEY_ALWAYS, KEY_NEVER = -0x7F800000, 0x7F800001  # also decide +-inf inputs


def _is_chain_op(op: ir.Op | None) -> bool:
    if isinstance(op, ir.ChannelOp):
        return op.kind != "rdiv"
    return isinstance(op, (ir.Relu, ir.Clip, ir.Cast, ir.Binarize, ir.Threshold))


def find_chain(producers: dict[str, ir.Op], tensors: dict[str, ir.Tensor], binarizer: ir.Op):
    """(start tensor name, ops from start to binarizer inclusive)."""
    chain = [binarizer]
    current = binarizer.inputs[0]
    while True:
        if tensors[current].domain == ir.Domain.INT:
            break
        op = producers.get(current)
        if not _is_chain_op(op):
            break
        chain.append(op)
        current = op.inputs[0]
    chain.reverse()
    return current, chain


def _footprint(chain: list[ir.Op], ndim: int) -> tuple[int, ...]:
    shape = (1,) * ndim
    for op in chain:
        for arr in (getattr(op, "const", None), getattr(op, "t_pos", None), getattr(op, "t_zero", None),
                    getattr(op, "flip", None)):
            if arr is not None:
                shape = tuple(np.broadcast_shapes(shape, np.shape(arr)))
    return shape


def _run(chain: list[ir.Op], x: np.ndarray) -> np.ndarray:
    for op in chain:
        x = op.reference(x)
    return x


def int_thresholds(chain, lo: int, hi: int, step: int, footprint, where: str):
    values = np.arange(lo, hi + 1, step, dtype=np.int64)
    probe = np.broadcast_to(values.reshape((-1,) + (1,) * len(footprint)), (len(values),) + footprint)
    g = _run(chain, probe)  # [V, *footprint], values in {-1, 0, 1}
    flip = g[0] > g[-1]
    gu = np.where(flip, g[::-1], g)  # as a function of u = (-S if flip else S), ascending
    if np.any(np.diff(gu, axis=0) < 0):
        raise BnnError("the ops before this binarizer are not monotone in the accumulator, "
                       "so no threshold reproduces them", node=where)
    u_plain, u_flip = values, -values[::-1]

    def first_at_least(level):
        ok = gu >= level
        idx = np.where(ok.any(axis=0), ok.argmax(axis=0), len(values))
        never = np.int64(max(u_plain[-1], u_flip[-1]) + 1)
        t_plain = np.where(idx < len(values), u_plain[np.minimum(idx, len(values) - 1)], never)
        t_flip = np.where(idx < len(values), u_flip[np.minimum(idx, len(values) - 1)], never)
        return np.where(flip, t_flip, t_plain).astype(np.int64)

    return flip, first_at_least(0), first_at_least(1)


def _run_flagging_nan(chain: list[ir.Op], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chain output and whether any intermediate value was NaN (inf*0, inf-inf)."""
    bad = np.zeros(x.shape, bool)
    for op in chain:
        x = op.reference(x)
        if x.dtype == np.float32:
            bad |= np.isnan(x)
    return x, bad


def _first_true(pred, lo, hi):
    """Per element, the smallest k in [lo, hi] with pred(k) true, or hi + 1 if there
    is none; pred must be false then true along k (a binary search)."""
    lo, hi = lo.copy(), hi + 1
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        ok = pred(np.minimum(mid, hi - 1))
        active = lo < hi
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid + 1, lo)
    return lo


def float_thresholds(chain, footprint, where: str, rng_seed: int = 0):
    """Thresholds on float keys, exact for every input whose chain stays free of
    NaN (a NaN appears only once an intermediate overflows, e.g. |x| near 3e38
    times a zero scale; beyond that point the step function simply continues)."""
    zero = np.zeros(footprint, np.int64)
    if np.any(_run_flagging_nan(chain, ir.key_to_float(zero)[None])[1]):
        raise BnnError("the ops before this binarizer give NaN for an input of 0", node=where)
    # The NaN-free keys form an interval [x_lo, x_hi] around 0: find its ends.
    x_hi = _first_true(lambda k: _run_flagging_nan(chain, ir.key_to_float(k)[None])[1][0], zero,
                       np.full(footprint, KEY_MAX, np.int64)) - 1
    x_lo = 1 - _first_true(lambda k: _run_flagging_nan(chain, ir.key_to_float(-k)[None])[1][0], zero,
                           np.full(footprint, -KEY_MIN, np.int64))

    def h(u_keys, flip):
        x = ir.key_to_float(np.where(flip, -u_keys, u_keys))
        return _run(chain, x[None])[0]

    no_flip = np.zeros(footprint, bool)
    flip = h(x_lo, no_flip) > h(x_hi, no_flip)
    u_lo, u_hi = np.where(flip, -x_hi, x_lo), np.where(flip, -x_lo, x_hi)

    def first_at_least(level):
        first = _first_true(lambda u: h(u, flip) >= level, u_lo, u_hi)
        t = np.where(first > u_hi, KEY_NEVER, first)
        return np.where(t == u_lo, KEY_ALWAYS, t).astype(np.int64)

    t_zero, t_pos = first_at_least(0), first_at_least(1)
    # Double-check the step function on a sample of keys: the ops are monotone
    # by construction, so a disagreement here means a bug or a non-monotone op.
    rng = np.random.default_rng(rng_seed)
    near = np.concatenate([t_zero.ravel(), t_pos.ravel()])[:, None] + np.arange(-3, 4)
    ints = ir.float_key(np.arange(-300, 301, dtype=np.float32))
    sample = np.concatenate([rng.integers(KEY_MIN, KEY_MAX, 2048), ints, near.ravel()])
    sample = np.clip(sample, KEY_MIN, KEY_MAX)
    u = np.broadcast_to(sample.reshape((-1,) + (1,) * len(footprint)), (len(sample),) + footprint)
    x = ir.key_to_float(np.where(flip, -u, u))
    got, nan = _run_flagging_nan(chain, x)
    want = np.where(u >= t_pos, 1, np.where(u >= t_zero, 0, -1))
    if np.any((got != want) & ~nan):
        raise BnnError("the ops before this binarizer are not monotone, so no threshold reproduces them",
                       node=where)
    return flip, t_zero, t_pos


def fold_thresholds(graph: ir.Graph) -> ir.Graph:
    tensors = {n: graph.tensors[n] for n in graph.inputs}
    producers: dict[str, ir.Op] = {}
    ops: list[ir.Op] = []
    for op in graph.ops:
        if isinstance(op, ir.Binarize):
            start, chain = find_chain(producers, tensors, op)
            s = tensors[start]
            footprint = _footprint(chain, len(s.shape))
            if s.domain == ir.Domain.INT:
                flip, t_zero, t_pos = int_thresholds(chain, *s.int_range, footprint, op.origin)
            else:
                flip, t_zero, t_pos = float_thresholds(chain, footprint, op.origin)
            op = ir.Threshold(inputs=(start,), output=op.output, origin=op.origin, flip=flip,
                              t_zero=t_zero, t_pos=t_pos, float_input=s.domain == ir.Domain.FLOAT)
        tensors[op.output] = op.output_tensor([tensors[i] for i in op.inputs])
        producers[op.output] = op
        ops.append(op)
    folded = ir.rebuild(graph, ops)
    # binarizers folded into a later one (Larq's Sign -> Add(0.1) -> Sign) are gone by now
    ternary = tuple(ternary_note(op) for op in folded.ops if isinstance(op, ir.Threshold) and op.is_ternary)
    return folded.replace(notes=graph.notes + ternary)


def ternary_note(op: ir.Threshold) -> ir.Note:
    zeros = int(np.count_nonzero(np.broadcast_to(op.t_zero != op.t_pos, np.shape(op.t_pos))))
    where = f" on {zeros} of {np.size(op.t_pos)} channels" if np.size(op.t_pos) > 1 else ""
    return ir.Note("ternary", op.origin,
                   f"Sign can output 0 here (an exact 0 is reachable{where}), so this activation is ternary "
                   f"and the next layer runs a ternary kernel (a sign and a mask plane: twice the bits); "
                   f"binarize with x >= 0 to get +1 at 0 (Larq's ste_sign, torch.where(x >= 0, 1.0, -1.0))")
