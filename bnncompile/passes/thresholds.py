"""Pass: fold every chain of elementwise ops ending in a binarizer into one
per-channel threshold comparison.

Before: a binarizer (`Binarize`) reads, through a chain of monotone
elementwise ops (`ChannelOp` other than c/x, `MulAdd`, `Relu`, `Clip`,
`PRelu` with slopes >= 0, `Cast`, earlier `Binarize`/`Threshold`; in
float32 or, between a Cast to double and back, float64), a start tensor S:
either the INT accumulator of a binary layer or a float tensor. A PRelu with
a negative slope (ReActNet's RPReLU learns some) is not monotone, so it is
not part of a chain: it runs as a real op and S is its output.

After: the binarizer is a `Threshold` on S (the chain ops stay only where
something else still reads them). The threshold is derived, never solved
for algebraically: the chain's own references (onnxruntime's roundings, in
the model's op order and precision) are evaluated
- for an INT S, on every value S can take, so the result is exact for every
  input; a chain that is not monotone on those values, or that makes a NaN
  on one of them, is an error;
- for a float S, by binary search over all finite float32 values ordered by
  `float_key`. Each op is monotone per channel and float rounding is
  monotone, so the composition is a step function of the key; the search
  finds its steps exactly, and a sample of keys double-checks it.
Where exact zeros are reachable (ONNX Sign) the threshold has two steps and
its output is ternary; the graph then gets a "ternary" note naming the node.

Two things the reference computes that no function of S can reproduce are
reported as notes (`ir.Note`), never hidden:
- "float-tie": S is the integer sum of a +-a kernel (`ChannelOp.kernel_scale`)
  and, at some reachable value, the exact value a binarizer sees is exactly 0.
  onnxruntime sums the +-a terms in float32 and lands on either side of 0 by
  rounding; the C decides by the exact value.
- "gemm-blocks": a Gemm epilogue (`MulAdd`) that onnxruntime rounds once per
  block of K (`roundings` > 1) puts a decision within its rounding error of
  the threshold at some reachable value: there onnxruntime's decision depends
  on the input's bits, not only on S. The C decides by one rounding.
`verify` classifies the samples that hit them as ties / rounding-ambiguous.
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import BnnError
from ..limits import THRESHOLD_EVALS

KEY_MIN, KEY_MAX = -0x7F7FFFFF, 0x7F7FFFFF  # finite float32 keys
KEY_ALWAYS, KEY_NEVER = -0x7F800000, 0x7F800001  # also decide +-inf inputs
U32 = 2.0 ** -24  # float32 unit roundoff
CHUNK = 1 << 22  # values x channels evaluated at once (bounds memory, not work)


def _is_chain_op(op: ir.Op | None) -> bool:
    if isinstance(op, ir.ChannelOp):
        return op.kind != "rdiv"
    if isinstance(op, ir.PRelu):  # a negative slope falls, then rises: the chain starts after it
        return bool(np.all(op.slope >= 0))
    return isinstance(op, (ir.MulAdd, ir.Relu, ir.Clip, ir.Cast, ir.Binarize, ir.Threshold))


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


def _constants(op: ir.Op) -> list:
    names = ("const", "scale", "bias", "slope", "t_pos", "t_zero", "flip")
    return [getattr(op, n) for n in names if getattr(op, n, None) is not None]


def _footprint(chain: list[ir.Op], ndim: int) -> tuple[int, ...]:
    shape = (1,) * ndim
    for op in chain:
        for arr in _constants(op):
            shape = tuple(np.broadcast_shapes(shape, np.shape(arr)))
    return shape


def _run(chain: list[ir.Op], x: np.ndarray) -> np.ndarray:
    for op in chain:
        x = op.reference(x)
    return x


def _probe(values: np.ndarray, footprint) -> np.ndarray:
    return np.broadcast_to(values.reshape((-1,) + (1,) * len(footprint)), (len(values),) + tuple(footprint))


def _value_chunks(lo: int, hi: int, step: int, footprint):
    """The reachable values lo, lo+step, ..., hi in ascending chunks of bounded size."""
    n = (hi - lo) // step + 1
    per_chunk = max(1, CHUNK // max(1, int(np.prod(footprint, dtype=np.int64))))
    for first in range(0, n, per_chunk):
        yield lo + step * np.arange(first, min(n, first + per_chunk), dtype=np.int64)


def int_thresholds(chain, lo: int, hi: int, step: int, footprint, where: str):
    """(flip, t_zero, t_pos) reproducing `chain` on every value lo, lo+step, ..., hi."""
    n_values = (hi - lo) // step + 1
    width = int(np.prod(footprint, dtype=np.int64))
    THRESHOLD_EVALS.check(float(n_values) * width, f"deriving the thresholds of this binarizer ({n_values:,} "
                          f"accumulator values x {width:,} channels)", node=where)
    ends = _run(chain, _probe(np.array([lo, hi], np.int64), footprint))
    flip = ends[0] > ends[-1]  # decreasing channels: thresholds on u = -S
    never = np.int64(max(hi, -lo) + 1)
    t = {level: np.full(footprint, never, np.int64) for level in (0, 1)}
    previous = None
    for values in _value_chunks(lo, hi, step, footprint):
        g, nan = _run_flagging_nan(chain, _probe(values, footprint))
        if nan.any():
            k = np.argwhere(nan)[0]
            raise BnnError(f"the ops before this binarizer give NaN for accumulator value {values[k[0]]}",
                           node=where, hint="an op on the way divides 0 by 0 or multiplies infinity by 0")
        rows = g if previous is None else np.concatenate([previous[None], g])
        steps = np.diff(rows, axis=0)
        if np.any(np.where(flip, steps > 0, steps < 0)):
            raise BnnError("the ops before this binarizer are not monotone in the accumulator, "
                           "so no threshold reproduces them", node=where)
        for level in (0, 1):
            ok = g >= level
            # increasing channels: the first value reaching the level; decreasing
            # ones: the last (their u = -S reaches it first there)
            first = np.where(ok.any(axis=0), values[ok.argmax(axis=0)], never)
            last = np.where(ok.any(axis=0), -values[len(values) - 1 - ok[::-1].argmax(axis=0)], never)
            t[level] = np.where(flip, np.where(ok.any(axis=0), last, t[level]), np.minimum(t[level], first))
        previous = g[-1]
    return flip, t[0], t[1]


def _exact64(op: ir.Op, x: np.ndarray) -> np.ndarray:
    """An op in float64 arithmetic: the exact value, up to float64 rounding."""
    if isinstance(op, ir.ChannelOp):
        return op.apply(x, op.const.astype(np.float64))
    if isinstance(op, ir.MulAdd):
        return x * op.scale.astype(np.float64) + op.bias.astype(np.float64)
    if isinstance(op, (ir.Relu, ir.Clip)):
        return op.reference(x)
    if isinstance(op, ir.PRelu):
        return op.apply(x, op.slope.astype(np.float64))
    if isinstance(op, ir.Cast):
        return np.asarray(x, np.float64)
    return op.reference(x).astype(np.float64)  # Binarize / Threshold: exact values


def _ties(chain, values: np.ndarray, footprint) -> np.ndarray:
    """Mask [V, *footprint] of accumulator values at which a binarizer in the
    chain sees an exact 0 (computed in float64, from the exact sum)."""
    x = _probe(values, footprint).astype(np.float64)
    tie = np.zeros(x.shape, bool)
    for op in chain:
        if isinstance(op, (ir.Binarize, ir.Threshold)):
            tie |= x == 0
        x = _exact64(op, x)
    return tie


def _blocked_risk(chain, values: np.ndarray, footprint, muladd_at: int, error: np.ndarray) -> np.ndarray:
    """Mask of values whose decision can change when the MulAdd's output moves by up to `error`."""
    x = _run(chain[:muladd_at + 1], _probe(values, footprint)).astype(np.float64)
    with np.errstate(over="ignore"):
        lower = np.nextafter((x - error).astype(np.float32), np.float32(-np.inf))
        upper = np.nextafter((x + error).astype(np.float32), np.float32(np.inf))
    rest = chain[muladd_at + 1:]
    return _run(rest, lower) != _run(rest, upper)


def reference_doubts(chain, lo: int, hi: int, step: int, footprint) -> list[tuple[str, str, int, int]]:
    """(kind, node, values, channels) for the float-tie and gemm-blocks notes of one INT chain."""
    doubts = []
    if any(isinstance(op, ir.ChannelOp) and op.kernel_scale for op in chain):
        hits = np.zeros(footprint, np.int64)
        for values in _value_chunks(lo, hi, step, footprint):
            hits += _ties(chain, values, footprint).sum(axis=0)
        if hits.any():
            node = next(op.origin for op in chain if isinstance(op, ir.ChannelOp) and op.kernel_scale)
            doubts.append(("float-tie", node, int(hits.sum()), int(np.count_nonzero(hits))))
    at = next((i for i, op in enumerate(chain) if isinstance(op, ir.MulAdd) and op.roundings > 1), None)
    if at is not None:
        op = chain[at]
        reach = np.abs(_run(chain[:at], _probe(np.array([lo, hi], np.int64), footprint)).astype(np.float64)).max(axis=0)
        # every block's rounding is at most half an ulp of a partial result, itself
        # at most |scale|*max|input| + |bias|; twice that, for safety
        error = 2 * op.roundings * U32 * (np.abs(op.scale.astype(np.float64)) * reach + np.abs(op.bias))
        hits = np.zeros(footprint, np.int64)
        for values in _value_chunks(lo, hi, step, footprint):
            hits += _blocked_risk(chain, values, footprint, at, error).sum(axis=0)
        if hits.any():
            doubts.append(("gemm-blocks", op.origin, int(hits.sum()), int(np.count_nonzero(hits))))
    return doubts


DOUBT_TEXT = {
    "float-tie": "onnxruntime sums this layer's +-a kernel in float32, and at {values} accumulator value(s) "
                 "(over {channels} channel(s)) a binarizer after it sees an exact 0: onnxruntime's sign there "
                 "depends on rounding, the C's follows the exact value; verify reports such decisions as ties",
    "gemm-blocks": "onnxruntime adds this Gemm's products to alpha*acc + C one block of K at a time, one rounding "
                   "each, so at {values} accumulator value(s) (over {channels} channel(s)) its binarized decision "
                   "depends on the input's bits, not only on their sum; the C decides them with one rounding; "
                   "verify reports samples that hit them as rounding-ambiguous",
}


def _run_flagging_nan(chain: list[ir.Op], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chain output and whether any intermediate value was NaN (inf*0, inf-inf)."""
    bad = np.zeros(x.shape, bool)
    for op in chain:
        x = op.reference(x)
        if x.dtype.kind == "f":
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
    notes: list[ir.Note] = []
    for op in graph.ops:
        if isinstance(op, ir.Binarize):
            start, chain = find_chain(producers, tensors, op)
            s = tensors[start]
            footprint = _footprint(chain, len(s.shape))
            if s.domain == ir.Domain.INT:
                flip, t_zero, t_pos = int_thresholds(chain, *s.int_range, footprint, op.origin)
                for kind, node, values, channels in reference_doubts(chain, *s.int_range, footprint):
                    notes.append(ir.Note(kind, node, DOUBT_TEXT[kind].format(values=values, channels=channels)))
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
    return folded.replace(notes=graph.notes + tuple(dict.fromkeys(notes)) + ternary)


def ternary_note(op: ir.Threshold) -> ir.Note:
    zeros = int(np.count_nonzero(np.broadcast_to(op.t_zero != op.t_pos, np.shape(op.t_pos))))
    where = f" on {zeros} of {np.size(op.t_pos)} channels" if np.size(op.t_pos) > 1 else ""
    return ir.Note("ternary", op.origin,
                   f"Sign can output 0 here (an exact 0 is reachable{where}), so this activation is ternary "
                   f"and the next layer runs a ternary kernel (a sign and a mask plane: twice the bits); "
                   f"binarize with x >= 0 to get +1 at 0 (Larq's ste_sign, torch.where(x >= 0, 1.0, -1.0))")
