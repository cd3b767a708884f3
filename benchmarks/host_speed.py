#!/usr/bin/env python3
"""Host speed of the generated C beside onnxruntime (one thread), in one run.

    .venv/bin/python benchmarks/host_speed.py [MODEL.onnx ...] [--rounds 7] [--layers MODEL.onnx]

For each model: compile it with bnncompile and build the C twice with the
system compiler, portable (`-std=c99 -O2`, no -march) and native (`-O3
-march=native`), as shared libraries with a C timing harness
(benchmarks/c/step_timer.c); open an onnxruntime session with one thread
(intra- and inter-op), default graph optimisations. Then `rounds` alternating
rounds: each round times a batch of single-sample inferences of every
contestant, in thread CPU time (CLOCK_THREAD_CPUTIME_ID in C,
time.thread_time around session.run), so time stolen by other processes on
a shared machine does not count. Medians over rounds; ratios are C / onnxruntime
(below 1: the C is faster).

`--layers MODEL` adds a per-layer table of the native build: thread CPU time
per step (median over rounds), and for binary layers binary GMAC/s and the
share of this core's binary peak, measured in every round of the same run by
benchmarks/c/binary_peak.c (XOR + popcount + add with operands in registers).
`--threads 2` also builds the native C with -fopenmp (the kernels' optional
OpenMP pragmas) and reports its wall-clock speed-up over one thread.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnncompile.compiler import compile_to_memory  # noqa: E402
from bnncompile.inputs import random_inputs  # noqa: E402

HERE = Path(__file__).resolve().parent / "c"
DEFAULT_MODELS = ["examples/digits/digits_bnn.onnx", "tests/fixtures/larq/larq_cnn_op13.onnx",
                  "tests/fixtures/torch/torch_cnn_legacy.onnx", "build/zoo/QuickNetSmall.onnx"]
BUILDS = {  # name -> flags
    "C -O2": ["-std=c99", "-O2"],
    "C -O3 -march=native": ["-std=c99", "-O3", "-march=native"],
}
TARGET_SECONDS = 0.25  # per contestant per round


def cc() -> list[str]:
    return shlex.split(os.environ.get("CC") or shutil.which("cc") or "gcc")


class CModel:
    """The generated C of one model built with `flags`, timed by step_timer.c."""

    def __init__(self, folder: Path, flags: list[str], steps: int, tag: str):
        lib = folder / f"libnet-{tag}.so"
        subprocess.run([*cc(), *flags, "-fPIC", "-shared", "-DBNN_TRACE", f"-I{folder}", str(folder / "net.c"),
                        str(HERE / "step_timer.c"), "-o", str(lib), "-lm"], check=True)
        self.ffi = FFI()
        self.ffi.cdef("double net_bench(const float *input, float *output, int runs, double *step_seconds, "
                      "int steps);")
        self.lib = self.ffi.dlopen(str(lib))
        self.steps = steps

    def time(self, x: np.ndarray, y: np.ndarray, runs: int, per_step: np.ndarray | None = None) -> float:
        """Thread CPU seconds per inference."""
        f = self.ffi
        steps = f.from_buffer("double[]", per_step) if per_step is not None else f.NULL
        total = self.lib.net_bench(f.from_buffer("float[]", x), f.from_buffer("float[]", y), runs, steps,
                                   self.steps)
        return total / runs


class OrtModel:
    def __init__(self, path: str):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name

    def time(self, x: np.ndarray, runs: int) -> float:
        feed = {self.name: x}
        start = time.thread_time()
        for _ in range(runs):
            self.session.run(None, feed)
        return (time.thread_time() - start) / runs


class BinaryPeak:
    """benchmarks/c/binary_peak.c, built with -O2 -march=native: binary MACs per second."""

    def __init__(self, folder: Path):
        lib = folder / "libpeak.so"
        subprocess.run([*cc(), "-std=c99", "-O2", "-march=native", "-fPIC", "-shared", str(HERE / "binary_peak.c"),
                        "-o", str(lib)], check=True)
        self.ffi = FFI()
        self.ffi.cdef("double bnn_binary_peak(double seconds, const char **method);")
        self.lib = self.ffi.dlopen(str(lib))
        self.samples: list[float] = []
        self.method = ""

    def measure(self, seconds: float = 0.1) -> None:
        method = self.ffi.new("const char **")
        self.samples.append(self.lib.bnn_binary_peak(seconds, method))
        self.method = self.ffi.string(method[0]).decode()

    @property
    def value(self) -> float:
        return statistics.median(self.samples)


def bench(path: str, rounds: int, layers: bool, work: Path, threads: int, peak: BinaryPeak) -> dict:
    compiled = compile_to_memory(path, name="net")
    folder = work / Path(path).stem
    folder.mkdir()
    for name, text in compiled.files.items():
        (folder / name).write_text(text)
    steps = len(compiled.plan.steps)
    builds = dict(BUILDS)
    if threads > 1:
        builds[f"C -O3 -march=native -fopenmp ({threads} threads)"] = [*BUILDS["C -O3 -march=native"], "-fopenmp"]
    models = {name: CModel(folder, flags, steps, str(i)) for i, (name, flags) in enumerate(builds.items())}
    onnx = OrtModel(path)
    shape = compiled.graph.tensors[compiled.graph.inputs[0]].shape
    x = np.ascontiguousarray(random_inputs(shape, 1, seed=1)[0], dtype=np.float32)
    y = np.zeros(int(np.prod(compiled.plan.output_shape)), np.float32)
    x_onnx = x.reshape((1,) + tuple(shape))
    # calls per round: about TARGET_SECONDS each
    runs = {name: max(1, int(TARGET_SECONDS / max(m.time(x, y, 1), 1e-7))) for name, m in models.items()}
    runs["onnxruntime"] = max(1, int(TARGET_SECONDS / max(onnx.time(x_onnx, 1), 1e-7)))
    times: dict[str, list[float]] = {name: [] for name in [*models, "onnxruntime"]}
    step_times = []
    for _ in range(rounds):
        for name, m in models.items():
            times[name].append(m.time(x, y, runs[name]))
        times["onnxruntime"].append(onnx.time(x_onnx, runs["onnxruntime"]))
        peak.measure()  # the core's peak under the same conditions as this round
        if layers:
            per_step = np.zeros(steps)
            native = models["C -O3 -march=native"]
            n = max(1, runs["C -O3 -march=native"] // 4)
            native.time(x, y, n, per_step)
            step_times.append(per_step / n)
    result = dict(model=Path(path).name, compiled=compiled, times={k: statistics.median(v) for k, v in times.items()},
                  runs=runs)
    if threads > 1:
        wall = {}
        for name in ("C -O3 -march=native", list(builds)[-1]):
            m = models[name]
            start = time.perf_counter()
            m.time(x, y, runs[name])
            wall[name] = (time.perf_counter() - start) / runs[name]
        result["parallel"] = wall
    if layers:
        result["steps"] = np.median(np.array(step_times), axis=0)
    return result


def model_table(results: list[dict]) -> str:
    lines = ["| model | onnxruntime, 1 thread | C `-O2` (no -march) | C / onnxruntime | C `-O3 -march=native` "
             "| C / onnxruntime |", "|---|---|---|---|---|---|"]
    for r in results:
        t = r["times"]
        o2, nat, onnx = t["C -O2"], t["C -O3 -march=native"], t["onnxruntime"]
        lines.append(f"| {r['model']} | {fmt(onnx)} | {fmt(o2)} | {o2 / onnx:.2f} | {fmt(nat)} | {nat / onnx:.2f} |")
    return "\n".join(lines)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:,.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:,.1f} us"


def layer_table(r: dict, peak: float) -> str:
    from bnncompile.codegen.report import layer_rows

    compiled = r["compiled"]
    rows = layer_rows(compiled.graph, compiled.plan)
    total = float(np.sum(r["steps"]))
    lines = ["| # | step | kind | output | binary MACs | real MACs | time | share | binary GMAC/s | % of peak |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row, seconds in zip(rows, r["steps"]):
        gmacs = row.binary_macs / seconds / 1e9 if row.binary_macs and seconds > 0 else None
        lines.append(f"| {row.index} | {row.step} | {row.kind} | {'x'.join(map(str, row.out_shape))} "
                     f"| {row.binary_macs:,} | {row.real_macs:,} | {fmt(seconds)} | {100 * seconds / total:.1f}% "
                     f"| {f'{gmacs:,.0f}' if gmacs else ''} | {f'{100 * gmacs * 1e9 / peak:.0f}%' if gmacs else ''} |")
    binary = [(row, s) for row, s in zip(rows, r["steps"]) if row.binary_macs]
    b_macs, b_time = sum(row.binary_macs for row, _ in binary), sum(s for _, s in binary)
    lines.append(f"\nall binary layers: {b_macs:,} MACs in {fmt(b_time)} = {b_macs / b_time / 1e9:,.0f} GMAC/s, "
                 f"{100 * b_macs / b_time / peak:.0f}% of the peak; {100 * b_time / total:.0f}% of the time "
                 f"({fmt(total)} per inference with the step timer)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--layers", action="append", default=[], metavar="MODEL", help="per-layer table of this model")
    p.add_argument("--threads", type=int, default=1, help="also time an OpenMP build with this many threads")
    args = p.parse_args(argv)
    if args.threads > 1:  # idle threads sleep instead of spinning: the machine is shared
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    models = [m for m in args.models if Path(m).exists()]
    for m in set(args.models) - set(models):
        print(f"(skipping {m}: not found; `make zoo` exports the larq-zoo models)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bnn-host-speed-") as tmp:
        work = Path(tmp)
        peak = BinaryPeak(work)
        results = [bench(m, args.rounds, m in args.layers, work, args.threads, peak) for m in models]
    print(f"compiler: {' '.join(cc())}; {args.rounds} alternating rounds, thread CPU time, medians\n")
    print(model_table(results))
    print(f"\nbinary peak of this core: {peak.value / 1e9:,.0f} GMAC/s ({peak.method}, benchmarks/c/binary_peak.c; "
          f"median of one measurement per round)")
    for r in results:
        if "parallel" in r:
            one, many = r["parallel"].values()
            print(f"\n{r['model']}: {args.threads} OpenMP threads {fmt(many)} vs 1 thread {fmt(one)} wall clock "
                  f"(speed-up {one / many:.2f}x)")
        if "steps" in r:
            print(f"\n{r['model']}, per layer (C -O3 -march=native):\n")
            print(layer_table(r, peak.value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
