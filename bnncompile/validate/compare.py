"""Run the generated C beside the reference and judge the exactness contract.

- Every binarized tensor the C computes (a `Threshold` output that has an
  ONNX name) is compared with the reference's value of that ONNX tensor,
  per sample.
- At a sample's first differing binarized tensor, each differing decision
  is rounding-ambiguous only when
  * it follows a float sum of K terms (a dense layer), and the exact (float64)
    pre-binarizer value lies within that sum's error bound
    (2*K*2^-24*sum|x*w|, scaled by the chain's gain, plus one rounding per
    elementwise op on both sides); or
  * it thresholds a real-valued stream (a residual sum, a real convolution),
    on which the threshold is exact, and the C's and the reference's values of
    that stream differ by at most STREAM_BOUND times its largest magnitude
    (float noise of summation order; an empirical bound, not a proof).
  Anything else is a real mismatch.
- Final outputs must satisfy |C - ref| <= ATOL + RTOL*|ref| and give the same
  arg-max, on every sample whose first divergence is not rounding-ambiguous.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ir
from ..passes.thresholds import find_chain
from .build import NativeModel
from .reference import Reference

ATOL = 1e-4
RTOL = 1e-4
U = 2.0 ** -24  # float32 unit roundoff


def decode(t: ir.Tensor, raw: bytes) -> np.ndarray:
    """Bytes a C step wrote -> values (float32 for packed/float, int64 for INT)."""
    if t.domain == ir.Domain.FLOAT:
        return np.frombuffer(raw, dtype=np.float32).reshape(t.shape)
    if t.domain == ir.Domain.INT:
        return np.frombuffer(raw, dtype=np.int32).astype(np.int64).reshape(t.shape)
    words = (t.channels + 31) // 32
    planes = np.frombuffer(raw, dtype=np.uint32).reshape(-1, t.rows, words)
    bits = ((planes[..., None] >> np.arange(32, dtype=np.uint32)) & 1).reshape(len(planes), t.rows, -1)
    bits = bits[..., : t.channels]
    values = np.where(bits[0] == 1, -1.0, 1.0).astype(np.float32)
    if t.domain == ir.Domain.TERNARY:
        values = np.where(bits[1] == 1, values, 0.0).astype(np.float32)
    return values.reshape(t.shape)


@dataclass
class LayerRow:
    tensor: str
    origin: str
    domain: str
    compared: bool
    samples_differing: int = 0
    values_differing: int = 0
    ambiguous_values: int = 0
    max_abs_err: float = 0.0


@dataclass
class Report:
    reference: str
    samples: int
    max_abs_err: float
    argmax_agree: int
    within_tolerance: bool
    real_mismatch_samples: list[int]
    ambiguous_samples: list[int]
    min_ambiguous_margin: float
    first_bad_layer: str | None
    layers: list[LayerRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.real_mismatch_samples and self.within_tolerance
                and self.argmax_agree == self.samples - len(self.ambiguous_samples))

    def verdict(self) -> str:
        status = "PASS" if self.ok else "FAIL"
        judged = self.samples - len(self.ambiguous_samples)
        text = (f"{status}: {self.samples} samples vs {self.reference}; max |C-ref| {self.max_abs_err:.3g} "
                f"(tolerance {ATOL:g} + {RTOL:g}*|ref|); arg-max agrees on {self.argmax_agree}/{judged}; "
                f"binarized mismatches: {len(self.real_mismatch_samples)} samples")
        if self.ambiguous_samples:
            text += (f"; rounding-ambiguous: {len(self.ambiguous_samples)} samples "
                     f"(smallest margin {self.min_ambiguous_margin:.3g})")
        if self.first_bad_layer:
            text += f"; first differing layer: {self.first_bad_layer}"
        return text


def _dense_feeding(imported: ir.Graph, binarized: str):
    """(Dense op, chain ops up to the first binarizer) feeding an ONNX binarizer output."""
    producers = {op.output: op for op in imported.ops}
    op = producers.get(binarized)
    if not isinstance(op, ir.Binarize):
        return None, []
    start, chain = find_chain(producers, imported.tensors, op)
    first = next(i for i, c in enumerate(chain) if isinstance(c, (ir.Binarize, ir.Threshold)))
    dense = producers.get(start)
    return (dense if isinstance(dense, ir.Dense) else None), chain[:first]


def _margin_and_bound(dense: ir.Dense, chain: list[ir.Op], x: np.ndarray):
    """Exact pre-binarizer values and their float error bound, float64, for inputs x."""
    w = dense.weight.astype(np.float64)
    x = x.astype(np.float64)
    value = x @ w
    bound = 2 * w.shape[0] * U * (np.abs(x) @ np.abs(w))
    if np.all(np.abs(x * 1.0) == np.round(np.abs(x))) and np.all(w == np.round(w)):
        bound = np.zeros_like(bound)  # integer terms: every float32 sum is exact
    for op in chain:
        if isinstance(op, ir.ChannelOp):
            c = op.const.astype(np.float64)
            value = op.apply(value, c)
            gain = {"mul": np.abs(c), "div": 1 / np.abs(c)}.get(op.kind, 1.0)
            bound = bound * gain + 4 * U * np.abs(value)
        elif isinstance(op, ir.Relu):
            value = np.maximum(value, 0)
        elif isinstance(op, ir.Clip):
            value = np.clip(value, op.lo, op.hi)
    return np.abs(value), bound


STREAM_BOUND = 2.0 ** -17  # float noise allowed on a real-valued stream, relative to its largest value


def _ir_layout(graph: ir.Graph, name: str, onnx_value: np.ndarray) -> np.ndarray:
    """A reference (ONNX-layout) batch of tensor `name` in the IR's layout."""
    t = graph.tensors[name]
    perm = graph.onnx_layouts.get(name)
    if not perm:
        return onnx_value.reshape((len(onnx_value),) + t.shape)
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    onnx_shape = tuple(t.shape[p] for p in perm)
    return np.transpose(onnx_value.reshape((len(onnx_value),) + onnx_shape), (0,) + tuple(k + 1 for k in inv))


def verify(compiled, x: np.ndarray) -> Report:
    graph, imported, plan = compiled.graph, compiled.imported, compiled.plan
    steps = plan.steps
    onnx_of = graph.onnx_names
    step_of = {s["out"]: s for s in steps}
    checked = [s for s in steps if graph.tensors[s["out"]].domain.is_packed and s["out"] in onnx_of]
    floats = [s for s in steps if graph.tensors[s["out"]].domain == ir.Domain.FLOAT and s["out"] in onnx_of]
    # what each binarized step's decisions depend on, to tell rounding from real mismatches
    dense_inputs, float_starts = {}, {}
    for s in checked:
        dense, chain = _dense_feeding(imported, onnx_of[s["out"]])
        op = graph.producer(s["out"])
        if dense is not None and not graph.onnx_layouts.get(s["out"]):
            dense_inputs[s["out"]] = (dense, chain)
        elif isinstance(op, ir.Threshold) and op.float_input and s["inputs"][0] in onnx_of:
            float_starts[s["out"]] = (op, s["inputs"][0])
    wanted = ([onnx_of[s["out"]] for s in checked + floats] + [d.inputs[0] for d, _ in dense_inputs.values()]
              + [onnx_of[start] for _, start in float_starts.values()])
    reference = Reference(compiled.info.path, extra_outputs=sorted(set(wanted)))
    ref = reference.run(x)
    native = NativeModel(compiled.files, plan, trace=True)
    try:
        c_out, records = native.run_traced(x)
    finally:
        native.close()
    n = len(x)
    r_out = ref[reference.model.output_names[0]].reshape(c_out.shape)

    def c_values(name):
        s = step_of[name]
        return np.stack([decode(graph.tensors[name], rec[s["index"]]) for rec in records])

    rows: list[LayerRow] = []
    first_diff: dict[int, tuple[int, np.ndarray]] = {}  # sample -> (step index, mask of differing values)
    for s in steps:
        t = graph.tensors[s["out"]]
        name = s["out"]
        onnx = onnx_of.get(name)
        row = LayerRow(onnx or name, s["origin"], t.domain.value,
                       compared=onnx in ref and (s in checked or s in floats))
        rows.append(row)
        if not row.compared:
            continue
        c_vals = c_values(name)
        r_vals = _ir_layout(graph, name, ref[onnx])
        if t.domain.is_packed:
            diff = c_vals != r_vals
            per_sample = diff.reshape(n, -1).any(axis=1)
            row.samples_differing = int(per_sample.sum())
            row.values_differing = int(diff.sum())
            for i in np.flatnonzero(per_sample):
                first_diff.setdefault(int(i), (s["index"], diff[i]))
        else:
            row.max_abs_err = float(np.max(np.abs(c_vals - r_vals))) if c_vals.size else 0.0

    def classify(i: int, name: str, diff: np.ndarray) -> float | None:
        """The smallest reference margin if every differing decision is rounding-ambiguous, else None."""
        if name in dense_inputs and dense_inputs[name][0].inputs[0] in ref:
            dense, chain = dense_inputs[name]
            x_ref = ref[dense.inputs[0]][i:i + 1].reshape((1,) + imported.tensors[dense.inputs[0]].shape)
            margin, bound = _margin_and_bound(dense, chain, x_ref)
            margin, bound = margin.reshape(diff.shape), bound.reshape(diff.shape)
            return float(margin[diff].min()) if np.all(margin[diff] <= bound[diff]) else None
        if name in float_starts:
            # The threshold is exact on its float input, so a differing decision means
            # the input itself differs: ambiguous only within float noise of that stream.
            op, start = float_starts[name]
            s_ref = _ir_layout(graph, start, ref[onnx_of[start]])[i].astype(np.float64)
            s_c = c_values(start)[i].astype(np.float64)
            bound = STREAM_BOUND * max(float(np.max(np.abs(s_ref))), 1e-30)
            if not np.all(np.abs(s_c - s_ref).reshape(diff.shape)[diff] <= bound):
                return None
            boundary = ir.key_to_float(np.broadcast_to(op.t_pos, s_ref.shape)).astype(np.float64)
            boundary = np.where(np.broadcast_to(op.flip, s_ref.shape), -boundary, boundary)
            return float(np.abs(s_ref - boundary).reshape(diff.shape)[diff].min())
        return None

    real, ambiguous, margins = [], [], []
    for i, (step_index, diff) in sorted(first_diff.items()):
        name = steps[step_index]["out"]
        margin = classify(i, name, diff)
        if margin is None:
            real.append(i)
        else:
            ambiguous.append(i)
            margins.append(margin)
            next(r for r in rows if r.tensor == onnx_of[name]).ambiguous_values += int(diff.sum())

    judged = np.array([i not in set(ambiguous) for i in range(n)], dtype=bool)
    err = np.abs(c_out.astype(np.float64) - r_out)
    tol_ok = bool(np.all(err[judged] <= ATOL + RTOL * np.abs(r_out[judged])))
    flat_c, flat_r = c_out.reshape(n, -1), r_out.reshape(n, -1)
    agree = int(np.sum((flat_c.argmax(axis=1) == flat_r.argmax(axis=1))[judged]))
    first_bad = None
    if real:
        step_index = min(first_diff[i][0] for i in real)
        first_bad = f"{onnx_of.get(steps[step_index]['out'])} (from {steps[step_index]['origin']})"
    return Report(reference=reference.name, samples=n, max_abs_err=float(err[judged].max()) if judged.any() else 0.0,
                  argmax_agree=agree, within_tolerance=tol_ok, real_mismatch_samples=real,
                  ambiguous_samples=ambiguous, min_ambiguous_margin=min(margins) if margins else 0.0,
                  first_bad_layer=first_bad, layers=rows)


def format_layers(report: Report) -> str:
    lines = [f"{'step tensor':40s} {'domain':8s} {'differing samples':>17s} {'values':>8s} "
             f"{'ambiguous':>9s} {'max |err|':>10s}  origin"]
    for r in report.layers:
        if not r.compared:
            continue
        lines.append(f"{r.tensor[:40]:40s} {r.domain:8s} {r.samples_differing:17d} {r.values_differing:8d} "
                     f"{r.ambiguous_values:9d} {r.max_abs_err:10.3g}  {r.origin}")
    return "\n".join(lines)
