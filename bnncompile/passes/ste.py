"""Pass: decide what straight-through-estimator (STE) arithmetic computes.

Before: PyTorch writes STE tricks as arithmetic between activations that all
derive from one tensor x: `x + (torch.sign(x) - x).detach()` exports as
x + (sign(x) - x); Bi-Real Net's `out_forward.detach() - out3.detach() + out3`
as sign(x) - p(x) + p(x), p a piecewise polynomial built from comparisons,
products and sums of x. The importer emits them as elementwise IR ops on x
(`Arith`, `Add`, `Binarize`, `ChannelOp`, `Cast`, ...): real arithmetic.

In float32 such arithmetic is not always exactly a binarizer: x + (1 - x) is 0
or 2 for some x above 2^24. For every elementwise graph of one tensor x that
ends in an Add/Arith and holds a binarizer, this pass decides what it computes
on every value x can take:
- when x is a function of a binary layer's INT accumulator (through a chain
  of elementwise ops and max pooling, which picks values without making new
  ones, once binary weights are recognised), on every value the accumulator
  can take;
- otherwise on every finite float32 x, by interval evaluation with bisection
  over float keys (passes/intervals.py), the straight-through identity
  fl(fl(s - u) + u) == s being stated there and tested on every float32 it
  covers.
Where the graph equals a binarizer of x (sign(x), x >= 0 or x > 0) on all of
them, its output becomes that `Binarize` of x, which the threshold pass folds
like any other, and the next layer reads bits. Results that are NaN (float
overflow, e.g. x*x beyond 1.8e19 times a 0 mask) are excepted, as for
thresholds. Otherwise the arithmetic stays as it is (the C computes what
onnxruntime computes) and a "ste-real" note names the node and a value of x
where it is not a binarizer.

After: those outputs are bipolar or ternary; an op that cannot read bits
(or a transpose that would move them across words) reads them through an
unpacking Cast, as the importer would have made it. Runs after the layout
passes (chains of elementwise ops are then free of transposes) and before
binary weights are recognised, so that the next layer becomes XNOR/popcount.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ir
from ..limits import THRESHOLD_EVALS
from .binary_weights import fold_binary_weights
from .intervals import STE_IDENTITY, Interval, binary, unary
from .thresholds import KEY_MAX, KEY_MIN, _footprint, _probe, _run, _value_chunks, find_chain

ELEMENTWISE = (ir.ChannelOp, ir.MulAdd, ir.Binarize, ir.Cast, ir.Relu, ir.Clip, ir.PRelu, ir.Arith, ir.Add)
MAX_REGION = 256  # ops looked at above one candidate output
MAX_INTERVALS = 1 << 16  # interval evaluations per channel before giving up
MODES = ("ge", "gt", "sign")  # preferred in this order: bipolar before ternary


def binarize_ste(graph: ir.Graph) -> ir.Graph:
    tensors, producers = graph.tensors, {op.output: op for op in graph.ops}
    done: set[int] = set()
    replaced: dict[str, ir.Op] = {}
    notes: list[ir.Note] = []
    peek = None
    for op in reversed(graph.ops):
        if id(op) in done or not isinstance(op, (ir.Add, ir.Arith)) or op.output in graph.outputs:
            continue
        found = _single_root(graph, op, producers)
        if found is None:
            continue
        x, cone = found
        if not any(isinstance(c, ir.Binarize) for c in cone):
            continue
        done.update(id(c) for c in cone)
        peek = peek or fold_binary_weights(graph)
        mode, witness = _decide(peek, x, cone, op.output)
        if mode is not None:
            replaced[op.output] = ir.Binarize(inputs=(x,), output=op.output, origin=op.origin, mode=mode)
        else:
            notes.append(_note(op, witness, tensors[x].shape))
    if not replaced:
        return graph.replace(notes=graph.notes + tuple(notes))
    ops = [replaced.get(op.output, op) for op in graph.ops]
    return _retyped(graph, ops).replace(notes=graph.notes + tuple(notes))


# ---------------------------------------------------------------- finding the graph of one tensor


def _is_elementwise(op: ir.Op | None, tensors) -> bool:
    if not isinstance(op, ELEMENTWISE):
        return False
    shape = tensors[op.output].shape
    return all(tensors[i].shape == shape and tensors[i].domain != ir.Domain.INT for i in op.inputs)


def _single_root(graph: ir.Graph, out_op: ir.Op, producers) -> tuple[str, list[ir.Op]] | None:
    """(x, ops) when `out_op`'s value is an elementwise function of the one tensor x:
    the x nearest to it from which the ops compute it."""
    tensors = graph.tensors
    if not _is_elementwise(out_op, tensors):
        return None
    region, stack = {id(out_op)}, [out_op]
    while stack:
        for name in stack.pop().inputs:
            p = producers.get(name)
            if p is not None and id(p) not in region and _is_elementwise(p, tensors):
                region.add(id(p))
                stack.append(p)
                if len(region) > MAX_REGION:
                    return None
    ordered = [op for op in graph.ops if id(op) in region]
    position = {op.output: k for k, op in enumerate(ordered)}
    candidates = sorted({i for op in ordered for i in op.inputs}, key=lambda n: -position.get(n, -1))
    for x in candidates:
        known, cone = {x}, []
        for op in ordered:
            if all(i in known for i in op.inputs):
                known.add(op.output)
                cone.append(op)
        if out_op.output in known:
            return x, cone
    return None


# ---------------------------------------------------------------- deciding


def _decide(peek: ir.Graph, x: str, cone: list[ir.Op], out: str) -> tuple[str | None, tuple | None]:
    """(mode, None) when the cone is Binarize(mode) of x on every value x takes,
    else (None, (a value of x, what the cone gives there) or None)."""
    producers = {op.output: op for op in peek.ops}
    tensors = {n: t for n, t in peek.tensors.items()}
    start, chain = x, []
    while True:  # elementwise chains, and ops that pick values without changing them (max pooling)
        probe = ir.Binarize(inputs=(start,), output=f"{start}::probe", origin="probe")
        start, links = find_chain(producers, tensors, probe)
        chain = links[:-1] + chain
        picker = producers.get(start)
        if not (isinstance(picker, (ir.Pool2D, ir.Pool3D)) and picker.kind == "max") or \
                tensors[start].domain == ir.Domain.INT:
            break
        start = picker.inputs[0]
    footprint = _footprint(chain + cone, len(tensors[x].shape))
    if tensors[start].domain == ir.Domain.INT:
        return _decide_on_accumulator(chain, cone, x, out, tensors[start].int_range, footprint)
    return _decide_on_floats(chain, cone, x, out, footprint)


def _run_cone(cone: list[ir.Op], x: str, out: str, xs: np.ndarray) -> np.ndarray:
    values = {x: xs}
    with np.errstate(all="ignore"):
        for op in cone:
            values[op.output] = op.reference(*(values[i] for i in op.inputs))
    return np.asarray(values[out])


def _binarized(mode: str, xs: np.ndarray) -> np.ndarray:
    return ir.Binarize(inputs=("x",), output="y", origin="", mode=mode).reference(xs)


def _decide_on_accumulator(chain, cone, x, out, int_range, footprint):
    lo, hi, step = int_range
    n = (hi - lo) // step + 1
    THRESHOLD_EVALS.check(float(n) * int(np.prod(footprint, dtype=np.int64)),
                          f"deciding the straight-through arithmetic at '{out}' ({n:,} accumulator values)",
                          node=cone[-1].origin)
    modes = set(MODES)
    for values in _value_chunks(lo, hi, step, footprint):
        with np.errstate(all="ignore"):
            xs = _run(chain, _probe(values, footprint)) if chain else _probe(values, footprint).astype(np.float32)
        got = _run_cone(cone, x, out, xs)
        bad = np.isnan(got) | ~np.isin(got, (-1.0, 0.0, 1.0))
        if bad.any():
            k = np.argwhere(bad)[0]
            return None, (float(xs[tuple(k)]), float(got[tuple(k)]))
        modes = {m for m in modes if np.array_equal(_binarized(m, xs), got)}
        if not modes:
            k = np.argwhere(_binarized("sign", xs) != got)[0]
            return None, (float(xs[tuple(k)]), float(got[tuple(k)]))
    return next(m for m in MODES if m in modes), None


def _scalar_ops(ops: list[ir.Op], index: tuple, footprint) -> list[ir.Op]:
    """The ops with their constants taken at one position of the footprint."""
    out = []
    for op in ops:
        fields = {f: np.asarray(np.broadcast_to(getattr(op, f), footprint)[index])
                  for f in ("const", "scale", "bias", "slope") if getattr(op, f, None) is not None}
        out.append(replace(op, **fields) if fields else op)
    return out


def _decide_on_floats(chain, cone, x, out, footprint):
    """Every finite float32 x (within what the chain before x can reach), one
    position of the constants' footprint at a time."""
    modes = set(MODES)
    decided: dict[tuple, object] = {}  # channels with the same constants and reach decide alike
    for index in np.ndindex(*footprint) if footprint else [()]:
        ops = _scalar_ops(cone, index, footprint)
        k_lo, k_hi = _reach(_scalar_ops(chain, index, footprint))
        key = (k_lo, k_hi) + tuple(float(getattr(op, f)) for op in ops for f in ("const", "scale", "bias", "slope")
                                   if getattr(op, f, None) is not None)
        if key not in decided:
            decided[key] = _bisect(ops, x, out, k_lo, k_hi)
        result = decided[key]
        if isinstance(result, tuple):
            return None, result
        if result is None:
            return None, None
        modes &= result
        if not modes:
            return None, None
    return next(m for m in MODES if m in modes), None


def _reach(chain) -> tuple[int, int]:
    """Float keys of the least and greatest x the (monotone) chain reaches from any finite float."""
    if not chain:
        return KEY_MIN, KEY_MAX
    ends = np.array([KEY_MIN, KEY_MAX], np.int64)
    with np.errstate(all="ignore"):
        xs = _run(chain, ir.key_to_float(ends)[:, None])[:, 0]
    if np.any(np.isnan(xs)) or xs.dtype != np.float32:
        return KEY_MIN, KEY_MAX
    keys = np.sort(np.clip(ir.float_key(xs), KEY_MIN, KEY_MAX))
    return int(keys[0]), int(keys[1])


def _evaluate(ops: list[ir.Op], x: str, out: str, lo: np.ndarray, hi: np.ndarray) -> Interval:
    """The cone's enclosure on x in [lo, hi] (elementwise over the arrays)."""
    values = {x: Interval(lo, hi, np.zeros(lo.shape, np.int8))}
    made_by = {op.output: op for op in ops}
    for op in ops:
        ins = [values[i] for i in op.inputs]
        if isinstance(op, (ir.Add, ir.Arith)):
            value = binary(op, *ins)
            if isinstance(op, ir.Add) or op.kind == "add":
                value = _straight_through(op, made_by, values, value)
        else:
            value = unary(op, ins[0])
        values[op.output] = value
    return values[out]


def _straight_through(op, made_by, values, generic: Interval) -> Interval:
    """(s - u) + u, either way round, where s is a point in {-1, 0, +1}: s itself
    where STE_IDENTITY says so (interval arithmetic alone cannot see it)."""
    for p, u in (op.inputs, op.inputs[::-1]):
        sub = made_by.get(p)
        if not (isinstance(sub, ir.Arith) and sub.kind == "sub" and sub.inputs[1] == u):
            continue
        s, uv = values[sub.inputs[0]], values[u]
        result = generic
        for level in (-1.0, 0.0, 1.0):
            ok = s.point & (s.lo == level) & STE_IDENTITY(level, uv)
            result = Interval(np.where(ok, level, result.lo).astype(result.lo.dtype),
                              np.where(ok, level, result.hi).astype(result.hi.dtype),
                              np.where(ok, 0, result.nan).astype(np.int8))
        return result
    return generic


def _bisect(ops, x, out, k_lo: int, k_hi: int):
    """The binarizer modes the cone matches on every float key in [k_lo, k_hi] (a
    set), or a witness (x, value) where it matches none, or None if undecided."""
    def expected_ok(keys, value):
        return np.where(keys > 0, value == 1, np.where(keys < 0, value == -1, np.isin(value, (-1, 0, 1))))

    def exact(keys):
        xs = ir.key_to_float(keys)[:, None]
        return xs[:, 0], _run_cone(ops, x, out, xs)[:, 0]

    modes = set(MODES)
    if k_lo <= 0 <= k_hi:  # +0 and -0 (one key) decide the mode
        at_zero = _run_cone(ops, x, out, np.array([[0.0], [-0.0]], np.float32))[:, 0]
        if np.isnan(at_zero).any() or at_zero[0] != at_zero[1] or at_zero[0] not in (-1, 0, 1):
            return (0.0, float(at_zero[0]))
        modes = {{1.0: "ge", -1.0: "gt", 0.0: "sign"}[float(at_zero[0])]}
    starts = [(k_lo, min(k_hi, -1)), (max(k_lo, 1), k_hi)]
    k1 = np.array([a for a, b in starts if a <= b], np.int64)
    k2 = np.array([b for a, b in starts if a <= b], np.int64)
    evaluated = 0
    while k1.size:
        evaluated += k1.size
        if evaluated > MAX_INTERVALS:
            return None
        iv = _evaluate(ops, x, out, ir.key_to_float(k1), ir.key_to_float(k2))
        certain_nan = iv.nan == 2
        decided = iv.point | certain_nan
        wrong = decided & ~certain_nan & ~expected_ok(k1, iv.lo)
        if wrong.any():
            k = int(np.argmax(wrong))
            return (float(ir.key_to_float(k1[k])), float(iv.lo[k]))
        open_ = ~decided
        k1, k2 = k1[open_], k2[open_]
        for keys in (k1, k2):  # a concrete counterexample ends the search early
            xs, vs = exact(keys)
            bad = ~np.isnan(vs) & ~expected_ok(keys, vs)
            if bad.any():
                k = int(np.argmax(bad))
                return (float(xs[k]), float(vs[k]))
        mid = (k1 + k2) // 2
        k1, k2 = np.concatenate([k1, mid + 1]), np.concatenate([mid, k2])
    return modes


def _note(op: ir.Op, witness, shape) -> ir.Note:
    where = (f"for x = {witness[0]:.9g} onnxruntime computes {witness[1]:.9g}" if witness
             else "that could not be decided for every float input")
    return ir.Note("ste-real", op.origin,
                   f"this straight-through arithmetic (e.g. x + (sign(x) - x).detach()) is not a binarizer of its "
                   f"input x on every value x can take ({where}), so it is computed as onnxruntime computes it, "
                   f"in float, and the next layer runs a float kernel. Clamp the identity term so it stays small "
                   f"(x.clamp(-1, 1) + (sign(x) - x.clamp(-1, 1)).detach()), or binarize with an autograd "
                   f"function whose forward is the sign itself")


# ---------------------------------------------------------------- types after the rewrite


def _retyped(graph: ir.Graph, ops: list[ir.Op]) -> ir.Graph:
    """Re-derive every tensor; an op that cannot read a (now) packed input reads it
    through a Cast to float, as the importer would have written it."""
    tensors = {n: graph.tensors[n] for n in graph.inputs}
    out: list[ir.Op] = []
    unpacked: dict[str, str] = {}
    for op in ops:
        try:
            tensors[op.output] = op.output_tensor([tensors[i] for i in op.inputs])
            if isinstance(op, ir.Transpose) and tensors[op.inputs[0]].domain.is_packed:
                raise TypeError("transposing bits moves them across words")
        except TypeError:
            names = []
            for name in op.inputs:
                if tensors[name].domain.is_packed:
                    if name not in unpacked:
                        cast = ir.Cast(inputs=(name,), output=f"{name}::unpacked", origin=op.origin)
                        out.append(cast)
                        tensors[cast.output] = cast.output_tensor([tensors[name]])
                        unpacked[name] = cast.output
                    name = unpacked[name]
                names.append(name)
            op = replace(op, inputs=tuple(names))
            tensors[op.output] = op.output_tensor([tensors[i] for i in op.inputs])
        out.append(op)
    return ir.rebuild(graph, out)
