"""Run the generated C beside the reference and judge the exactness contract.

- Every binarized tensor the C computes (a `Threshold` output that has an
  ONNX name) is compared with the reference's value of that ONNX tensor,
  per sample.
- At a sample's first differing binarized tensor, each differing decision is
  judged by `margins.Shadow`, which evaluates the imported graph (the model's
  own constants, never the compiler's thresholds) in float64 with a bound on
  how far onnxruntime's arithmetic may move each value:
  * bound 0 (an exact integer accumulator and ops the compiler models bit for
    bit): any difference is a mismatch, whatever the margin;
  * the exact value is exactly 0 (a tie: e.g. a +-a kernel summed in float
    feeding a Sign): the sample is set aside as a tie;
  * 0 < |exact| <= bound: set aside as rounding-ambiguous (its margin kept);
  * otherwise: a mismatch.
- Final outputs must satisfy |C - ref| <= ATOL + RTOL*|ref| and give the same
  arg-max, on every sample not set aside.

Verdicts: PASS (every sample judged, all within the contract), FAIL (any
mismatch), INCONCLUSIVE (no mismatch, but samples were set aside). Samples
are streamed in batches, so memory stays bounded however many there are.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from .. import ir
from .build import NativeModel
from .margins import Shadow
from .reference import Reference

ATOL = 1e-4
RTOL = 1e-4
TRACE_BYTES = 256 << 20  # C step outputs kept per batch of samples
EXIT_CODES = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 4}


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
    ambiguous_values: int = 0  # differing decisions set aside (rounding-ambiguous or ties)
    max_abs_err: float = 0.0


@dataclass
class Report:
    reference: str
    samples: int
    max_abs_err: float  # over judged samples
    argmax_agree: int  # over judged samples
    within_tolerance: bool
    real_mismatch_samples: list[int]
    ambiguous_samples: list[int]  # set aside: a decision within the reference's rounding of its threshold
    min_ambiguous_margin: float
    first_bad_layer: str | None
    layers: list[LayerRow] = field(default_factory=list)
    tie_samples: list[int] = field(default_factory=list)  # set aside: a decision at an exact float tie
    tie_decisions: int = 0

    @property
    def judged(self) -> int:
        return self.samples - len(self.ambiguous_samples) - len(self.tie_samples)

    @property
    def status(self) -> str:
        if self.real_mismatch_samples or not self.within_tolerance or self.argmax_agree != self.judged:
            return "FAIL"
        return "INCONCLUSIVE" if self.judged < self.samples else "PASS"

    @property
    def ok(self) -> bool:
        return self.status == "PASS"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def verdict(self) -> str:
        text = (f"{self.status}: {self.samples} samples vs {self.reference}, {self.judged} judged; "
                f"max |C-ref| {self.max_abs_err:.3g} (tolerance {ATOL:g} + {RTOL:g}*|ref|); "
                f"arg-max agrees on {self.argmax_agree}/{self.judged}; "
                f"binarized mismatches: {len(self.real_mismatch_samples)} samples")
        if self.tie_samples:
            text += (f"; set aside at exact float ties: {len(self.tie_samples)} samples "
                     f"({self.tie_decisions} decisions where the exact value is 0 and the reference's sign "
                     f"comes from rounding)")
        if self.ambiguous_samples:
            text += (f"; set aside as rounding-ambiguous: {len(self.ambiguous_samples)} samples "
                     f"(smallest margin {self.min_ambiguous_margin:.3g})")
        if self.first_bad_layer:
            text += f"; first differing layer: {self.first_bad_layer}"
        return text


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


def _onnx_layout(graph: ir.Graph, name: str, ir_value: np.ndarray) -> np.ndarray:
    """One sample of IR tensor `name` back in its ONNX layout."""
    perm = graph.onnx_layouts.get(name)
    return np.transpose(ir_value, perm) if perm else ir_value


@contextmanager
def _signals_deferred():
    """Defer SIGINT and SIGTERM while the C runs: their handlers would raise inside
    cffi's trace callback, where the exception is lost. A signal that arrives
    meanwhile (or was already pending: Python runs handlers at its next bytecode,
    which may be in the callback) is only recorded, then handed to the previous
    handler right after the batch, which unwinds everything (temporary build
    folder included)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(pending):
            if callable(previous[s]):
                previous[s](s, None)
            elif previous[s] != signal.SIG_IGN:
                signal.raise_signal(s)


def batches(x, size: int) -> Iterable[np.ndarray]:
    """An array, or an iterable of arrays, as arrays of at most `size` samples."""
    if isinstance(x, np.ndarray):
        for start in range(0, len(x), size):
            yield x[start:start + size]
        return
    for chunk in x:
        for start in range(0, len(chunk), size):
            yield chunk[start:start + size]


class _Judge:
    """The state of one verify run, fed batch by batch."""

    def __init__(self, compiled):
        self.graph, self.imported, self.plan = compiled.graph, compiled.imported, compiled.plan
        g, steps = self.graph, self.plan.steps
        self.onnx_of = g.onnx_names
        self.checked = [s for s in steps if g.tensors[s["out"]].domain.is_packed and s["out"] in self.onnx_of]
        self.floats = [s for s in steps if g.tensors[s["out"]].domain == ir.Domain.FLOAT and s["out"] in self.onnx_of]
        self.compared_steps = {s["index"] for s in self.checked + self.floats}
        producers = {op.output: op for op in self.imported.ops}
        # the imported op behind each compared ONNX tensor: a binarizer (its decision is what may
        # differ), or elementwise arithmetic the compiler proved to be one (straight-through
        # arithmetic), judged by its own value, bound and the inner decisions it carries
        self.decider = {s["out"]: self.onnx_of[s["out"]] for s in self.checked
                        if producers.get(self.onnx_of[s["out"]]) is not None}
        wanted = [self.onnx_of[s["out"]] for s in self.checked + self.floats]
        self.reference = Reference(compiled.info.path, extra_outputs=sorted(set(wanted)))
        # binarized tensors the C computes too: the judge follows the reference's values of them
        self.known = sorted({self.onnx_of[s["out"]] for s in self.checked})
        self.shadow = Shadow(self.imported)
        self.rows = [LayerRow(self.onnx_of.get(s["out"], s["out"]), s["origin"],
                              g.tensors[s["out"]].domain.value, compared=False) for s in steps]
        self.samples = 0
        self.real: list[int] = []
        self.ambiguous: list[int] = []
        self.ties: list[int] = []
        self.tie_decisions = 0
        self.margins: list[float] = []
        self.first_bad: int | None = None
        self.max_err, self.agree, self.tol_ok = 0.0, 0, True

    def batch_size(self) -> int:
        per_sample = sum(self.graph.tensors[s["out"]].storage_bytes for s in self.plan.steps) or 1
        return int(np.clip(TRACE_BYTES // per_sample, 1, 256))

    def feed(self, native: NativeModel, x: np.ndarray) -> None:
        g, steps, n, base = self.graph, self.plan.steps, len(x), self.samples
        ref = self.reference.run(x)
        with _signals_deferred():
            c_out, records = native.run_traced(x)
        r_out = self.reference.outputs(ref).reshape(c_out.shape)
        first_diff: dict[int, tuple[int, np.ndarray]] = {}
        for s in steps:
            row, name = self.rows[s["index"]], s["out"]
            onnx = self.onnx_of.get(name)
            if onnx not in ref or s["index"] not in self.compared_steps:
                continue
            row.compared = True
            c_vals = np.stack([decode(g.tensors[name], rec[s["index"]]) for rec in records])
            r_vals = _ir_layout(g, name, ref[onnx])
            if g.tensors[name].domain.is_packed:
                diff = c_vals != r_vals
                per_sample = diff.reshape(n, -1).any(axis=1)
                row.samples_differing += int(per_sample.sum())
                row.values_differing += int(diff.sum())
                for i in np.flatnonzero(per_sample):
                    first_diff.setdefault(int(i), (s["index"], diff[i]))
            elif c_vals.size:
                c64, r64 = c_vals.astype(np.float64), r_vals.astype(np.float64)
                with np.errstate(invalid="ignore"):
                    gap = np.where((c64 == r64) | (np.isnan(c64) & np.isnan(r64)), 0.0, np.abs(c64 - r64))
                row.max_abs_err = max(row.max_abs_err, float(np.max(np.where(np.isnan(gap), np.inf, gap))))
        set_aside = np.zeros(n, bool)
        for i, (index, diff) in sorted(first_diff.items()):
            verdict, margin, ties = self._classify(x[i], ref, i, steps[index]["out"], diff)
            if verdict == "mismatch":
                self.real.append(base + i)
                self.first_bad = index if self.first_bad is None else min(self.first_bad, index)
                continue
            set_aside[i] = True
            self.rows[index].ambiguous_values += int(diff.sum())
            if verdict == "tie":
                self.ties.append(base + i)
                self.tie_decisions += ties
            else:
                self.ambiguous.append(base + i)
                self.margins.append(margin)
        judged = ~set_aside
        c64, r64 = c_out.astype(np.float64), r_out.astype(np.float64)
        same = (c64 == r64) | (np.isnan(c64) & np.isnan(r64))  # equal infinities and NaNs included
        with np.errstate(invalid="ignore"):
            err = np.where(same, 0.0, np.abs(c64 - r64))
        if judged.any():
            self.max_err = max(self.max_err, float(np.nanmax(np.where(np.isnan(err), np.inf, err)[judged])))
            self.tol_ok &= bool(np.all((err <= ATOL + RTOL * np.abs(r64))[judged]))
            flat_c, flat_r = c_out.reshape(n, -1), r_out.reshape(n, -1)
            agree = np.ones(n, bool)
            for port in self.plan.outputs:  # the arg-max of every output
                part = slice(port.offset, port.offset + port.size)
                agree &= flat_c[:, part].argmax(axis=1) == flat_r[:, part].argmax(axis=1)
            self.agree += int(np.sum(agree[judged]))
        self.samples += n

    def _classify(self, x_i, ref, i, name, diff) -> tuple[str, float, int]:
        """("mismatch" | "tie" | "ambiguous", smallest margin, tie decisions) for one sample."""
        binarized = self.decider.get(name)
        if binarized is None:
            return "mismatch", 0.0, 0
        known = {k: ref[k][i].reshape(self.imported.tensors[k].shape) for k in self.known if k in ref}
        decision = self.shadow.decisions(x_i, known, {binarized}).get(binarized)
        if decision is None:
            return "mismatch", 0.0, 0
        mask = _onnx_layout(self.graph, name, diff).reshape(decision.exact.shape)
        exact, bound = np.abs(decision.exact[mask]), decision.bound[mask]
        if np.any(bound == 0) or np.any(exact > bound):
            return "mismatch", 0.0, 0
        margin = decision.margin()[mask]
        ties = int(np.sum(margin == 0))
        if ties:
            return "tie", 0.0, ties
        return "ambiguous", float(margin.min()), 0

    def report(self) -> Report:
        first_bad = None
        if self.first_bad is not None:
            s = self.plan.steps[self.first_bad]
            first_bad = f"{self.onnx_of.get(s['out'])} (from {s['origin']})"
        return Report(reference=self.reference.name, samples=self.samples, max_abs_err=self.max_err,
                      argmax_agree=self.agree, within_tolerance=self.tol_ok, real_mismatch_samples=self.real,
                      ambiguous_samples=self.ambiguous, min_ambiguous_margin=min(self.margins, default=0.0),
                      first_bad_layer=first_bad, layers=self.rows, tie_samples=self.ties,
                      tie_decisions=self.tie_decisions)


def verify(compiled, x, progress: Callable[[int], None] | None = None) -> Report:
    """Judge the contract on inputs x: an array (N, *input shape) or an iterable of
    such arrays (streamed: memory stays bounded). `progress(samples_done)` is
    called after every batch."""
    judge = _Judge(compiled)
    native = NativeModel(compiled.files, compiled.plan, trace=True)
    try:
        for chunk in batches(x, judge.batch_size()):
            judge.feed(native, np.ascontiguousarray(chunk, dtype=np.float32))
            if progress is not None:
                progress(judge.samples)
    finally:
        native.close()
    return judge.report()


class ProgressPrinter:
    """Prints `verify: done/total samples` to a stream at most every `every` seconds."""

    def __init__(self, total: int, stream, every: float = 5.0):
        self.total, self.stream, self.every = total, stream, every
        self.start = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every and done < self.total:
            rate = done / max(now - self.start, 1e-9)
            print(f"verify: {done:,}/{self.total:,} samples ({rate:,.0f}/s)", file=self.stream, flush=True)
            self.last = now


def format_layers(report: Report) -> str:
    lines = [f"{'step tensor':40s} {'domain':8s} {'differing samples':>17s} {'values':>8s} "
             f"{'set aside':>9s} {'max |err|':>10s}  origin"]
    for r in report.layers:
        if not r.compared:
            continue
        lines.append(f"{r.tensor[:40]:40s} {r.domain:8s} {r.samples_differing:17d} {r.values_differing:8d} "
                     f"{r.ambiguous_values:9d} {r.max_abs_err:10.3g}  {r.origin}")
    return "\n".join(lines)
