#!/usr/bin/env python3
"""Footprint and exact instruction counts of bnncompile models on the boards
QEMU emulates: Cortex-M4 (mps2-an386), Cortex-M0 (micro:bit), RISC-V RV32IMC
and RV32IMC+Zbb (virt).

    .venv/bin/python benchmarks/mcu_footprint.py examples/digits/digits_bnn.onnx
    .venv/bin/python benchmarks/mcu_footprint.py --boards cortex-m0,riscv32-zbb --popcount model.onnx ...
    .venv/bin/python benchmarks/mcu_footprint.py --conv-stack      # adds benchmarks/make_conv_stack.py's model

For every model and board: compile the model with bnncompile, check the fit
(bnncompile.codegen.fit, the same check as `golden --target`), write the
golden test program (bnncompile.codegen.golden) with one input sample (seeded
random values in [0, 1), reference output from onnxruntime), build it with the
board's cross compiler at -O2, run it under QEMU with the insn_count TCG plugin
(benchmarks/qemu_plugin), and print a markdown table:

  model .o   text/data/bss of the generated model alone (`size`: text
             includes the weights and every other constant)
  RAM        arena + the caller's float input/output arrays + stack of one
             inference (what `report` checks), of the board's RAM; "stack
             used" is the golden program's measured high-water mark (model +
             harness)
  insns      guest instructions of one NAME_run call (between the golden
             program's markers, minus an empty marker pair); deterministic,
             but not a cycle count
A model that does not fit the micro:bit's 16 KB of RAM is also run as
Cortex-M0 code on the mps2-an386 board (4 MB RAM; Armv6-M code runs unchanged
on its Cortex-M4), so that every model has M0 figures.

--profile N also prints, per model and board, the N functions that execute
the most instructions of the counted inferences (per-address counts from the
plugin, attributed to symbols with the board's `nm`; inlined code counts in
the function it was inlined into).

--popcount also builds benchmarks/qemu_plugin/popcount_bench.c for every board
and prints instructions per 32-bit popcount for the runtime's bnn_popcount,
__builtin_popcount and lookup tables.

Needs gcc, the boards' cross compilers (gcc-arm-none-eabi + libnewlib-arm-none-eabi,
gcc-riscv64-unknown-elf + picolibc-riscv64-unknown-elf), qemu-system-arm and
qemu-system-riscv32 (Debian: qemu-system-misc).
"""
from __future__ import annotations

import argparse
import bisect
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bnncompile.boards import BOARDS, CORTEX_M0, MPS2_AN386, Board, golden_targets  # noqa: E402
from bnncompile.codegen.fit import Fit, footprint, plan_constants  # noqa: E402
from bnncompile.codegen.golden import write_golden  # noqa: E402
from bnncompile.codegen.report import layer_rows  # noqa: E402
from bnncompile.compiler import compile_to_memory  # noqa: E402
from bnncompile.validate.footprint import measure  # noqa: E402

PLUGIN_DIR = ROOT / "benchmarks" / "qemu_plugin"
TARGETS_DIR = ROOT / "targets"
# Cortex-M0 code on a board with room for models the micro:bit cannot hold.
M0_ON_MPS2 = Board("cortex-m0@mps2-an386", "Cortex-M0 code on QEMU mps2-an386 (4 MB RAM)", CORTEX_M0,
                   MPS2_AN386.flash, MPS2_AN386.ram, MPS2_AN386)
FALLBACK = {"cortex-m0": M0_ON_MPS2}


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def reference(model: Path, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    shape[0] = samples
    x = np.random.default_rng(seed).random(shape, dtype=np.float32)
    y = sess.run(None, {inp.name: x})[0]
    return x, y


def sizes(out: str) -> dict[str, tuple[int, int, int]]:
    """`size` (Berkeley format) output -> {file: (text, data, bss)}."""
    result = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6:
            result[parts[5]] = (int(parts[0]), int(parts[1]), int(parts[2]))
    return result


def symbol(board: Board, elf: Path, name: str) -> str:
    out = run([board.core.tool("nm"), elf], check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return "0x" + parts[0]
    raise RuntimeError(f"{elf}: no symbol {name}")


def plugin_option(board: Board, elf: Path, begin: str, end: str, counts: Path, profile: Path | None = None) -> str:
    return (f"-plugin {PLUGIN_DIR / 'libinsn_count.so'},begin={symbol(board, elf, begin)},"
            f"end={symbol(board, elf, end)},out={counts}" + (f",profile={profile}" if profile else ""))


def functions_profile(board: Board, elf: Path, profile: Path, top: int) -> list[tuple[str, int]]:
    """The `top` functions by instructions executed in the counted regions."""
    starts = []
    for line in run([board.core.tool("nm"), "-n", elf], check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            starts.append((int(parts[0], 16) & ~1, parts[2]))
    addresses = [a for a, _ in starts]
    totals: dict[str, int] = {}
    for line in profile.read_text().splitlines():
        if line.startswith("#"):
            continue
        pc, count = line.split()
        i = bisect.bisect_right(addresses, int(pc, 16)) - 1
        name = starts[i][1] if i >= 0 else "?"
        totals[name] = totals.get(name, 0) + int(count)
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def regions(counts: Path) -> list[int]:
    if not counts.exists():
        return []
    return [int(m) for m in re.findall(r"^insn_count: region \d+ (\d+)$", counts.read_text(), re.M)]


def measure_model(compiled, model: Path, name: str, board: Board, work: Path, samples: int, seed: int,
                  timeout: int, profile_top: int = 0) -> dict:
    need = footprint(compiled.graph, compiled.plan,
                     measure(compiled.files, name, board.core, plan_constants(compiled.plan)))
    fit = Fit(need, board)
    row = dict(model=model.name, board=board, need=need, fit=fit.fits,
               binary_macs=sum(r.binary_macs for r in layer_rows(compiled.graph, compiled.plan)))
    if fit.fits is False:
        return dict(row, ok=None, golden="does not fit")
    x, y = reference(model, samples, seed)
    folder = work / f"{name}-{board.name}"
    write_golden(compiled.files, name, x, y, folder, board, model_stack=need.stack)
    build = run(["make", "-C", folder])
    if build.returncode != 0:
        raise RuntimeError(f"build failed for {name} on {board.name}:\n{build.stdout}{build.stderr}")
    size = sizes(run(["make", "-s", "-C", folder, "size"], check=True).stdout)
    elf, counts = folder / "golden.elf", folder / "insn.counts"
    profile = folder / "insn.profile" if profile_top else None
    plugin = plugin_option(board, elf, "golden_bench_begin", "golden_bench_end", counts, profile)
    res = run(["make", "-s", "-C", folder, "run", f"QEMU_EXTRA={plugin}", f"TIMEOUT={timeout}"])
    counted = regions(counts)
    stack = re.search(r"^stack: (\d+) of (\d+) bytes used", res.stdout, re.M)
    summary = re.search(r"^golden: (\d+) passed, (\d+) failed", res.stdout, re.M)
    if profile is not None and profile.exists():
        row["profile"] = functions_profile(board, elf, profile, profile_top)
    return dict(row, ok=res.returncode == 0 and summary is not None,
                golden=summary.group(0) if summary else (res.stdout + res.stderr).strip()[-200:],
                model_o=size.get(f"{name}.o", (0, 0, 0)), stack_used=int(stack.group(1)) if stack else None,
                insns=[r - counted[0] for r in counted[1:]] if len(counted) > 1 else [])


def table(rows: list[dict]) -> str:
    lines = [
        "| model | board | golden | model .o text / data / bss | RAM: arena + input/output + stack (of board) | stack used "
        "| instructions / inference | binary MACs | instructions / binary MAC (whole model) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b, need = r["board"], r["need"]
        ram = f"{need.arena:,} + {need.io:,} + {need.stack:,} B (of {b.ram // 1024:,} KB)"
        if r["ok"] is None:
            lines.append(f"| {r['model']} | {b.name} | does not fit | | {ram} | | | {r['binary_macs']:,} | |")
            continue
        mt, md, mb = r["model_o"]
        insns = ", ".join(f"{n:,}" for n in r["insns"]) or "n/a"
        per_mac = f"{r['insns'][0] / r['binary_macs']:.3f}" if r["insns"] and r["binary_macs"] else "n/a"
        lines.append(
            f"| {r['model']} | {b.name} | {'pass' if r['ok'] else 'FAIL'} | {mt:,} / {md:,} / {mb:,} | {ram} "
            f"| {r['stack_used'] if r['stack_used'] is not None else '?'} B | {insns} | {r['binary_macs']:,} "
            f"| {per_mac} |")
    return "\n".join(lines)


# ---- popcount strategies ----------------------------------------------------------------------

def build_program(board: Board, sources: list[Path], includes: list[Path], out: Path) -> Path:
    """Compile `sources` with the board core's flags and link them with its
    startup code and linker script (as the golden Makefile does)."""
    machine, core = board.machine, board.core
    family = TARGETS_DIR / core.family
    all_sources = [*sources, TARGETS_DIR / "common" / "console.c", *(family / s for s in machine.sources)]
    out.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in all_sources:
        obj = out / (src.stem + ".o")
        run([core.cc, *core.cflags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
             "-ffunction-sections", "-fdata-sections", *(f"-I{i}" for i in includes),
             f"-I{TARGETS_DIR / 'common'}", "-c", src, "-o", obj], check=True)
        objects.append(obj)
    elf = out / "program.elf"
    run([core.cc, *core.ldflags, "-T", family / machine.linker_script, "-Wl,--gc-sections", "-o", elf,
         *objects], check=True)
    return elf


def qemu_command(board: Board, elf: Path, extra: str) -> list[str]:
    cpu = ("-cpu", board.core.qemu_cpu) if board.core.qemu_cpu else ()
    return [board.machine.qemu, *board.machine.qemu_args, *cpu, *extra.split(), "-kernel", str(elf)]


def popcount_table(boards: list[Board], work: Path) -> str:
    """Instructions per popcount: (strategy region - loop-only region) / words."""
    results: dict[str, dict[str, float]] = {}
    names: list[str] = []
    for board in boards:
        folder = work / f"popcount-{board.name}"
        elf = build_program(board, [PLUGIN_DIR / "popcount_bench.c"], [ROOT / "runtime"], folder)
        counts = folder / "insn.counts"
        res = run(qemu_command(board, elf, plugin_option(board, elf, "bench_begin", "bench_end", counts)),
                  stdin=subprocess.DEVNULL, timeout=300)
        strategies = re.findall(r"^strategy (\S+) words (\d+) sum (\d+)$", res.stdout, re.M)
        if res.returncode != 0 or not strategies:
            raise RuntimeError(f"popcount bench failed on {board.name}: {res.stdout}{res.stderr}")
        counted = regions(counts)  # region 0: empty markers, 1: loop alone, 2...: strategies
        words = int(strategies[0][1])
        names = [s[0] for s in strategies[1:]]
        results[board.name] = {n: (counted[i + 2] - counted[1]) / words for i, n in enumerate(names)}
    lines = ["| method | " + " | ".join(b.name for b in boards) + " |",
             "|---|" + "---|" * len(boards)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{results[b.name][n]:.2f}" for b in boards) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", type=Path, help="ONNX model files")
    ap.add_argument("--boards", default=",".join(golden_targets()),
                    help=f"comma-separated, from: {', '.join(golden_targets())} (default all)")
    ap.add_argument("--conv-stack", action="store_true",
                    help="also the stack of three binary 3x3 convolutions 64->64 at 16x16 (make_conv_stack.py)")
    ap.add_argument("--samples", type=int, default=1, help="inferences to count (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random input samples")
    ap.add_argument("--work", type=Path, help="build folder (default: a temporary one)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per QEMU run")
    ap.add_argument("--popcount", action="store_true", help="also compare popcount strategies")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print the N functions that execute the most instructions")
    args = ap.parse_args(argv)
    names = [b.strip() for b in args.boards.split(",") if b.strip()]
    for b in names:
        if b not in golden_targets():
            ap.error(f"unknown board '{b}' (choose from {', '.join(golden_targets())})")
    boards = [BOARDS[b] for b in names]
    if not args.models and not args.conv_stack and not args.popcount:
        ap.error("give ONNX models, --conv-stack or --popcount")

    plugin = run(["make", "-s", "-C", PLUGIN_DIR, "libinsn_count.so"])
    if plugin.returncode != 0:
        sys.stderr.write(plugin.stdout + plugin.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bnn-mcu-") as tmp:
        work = args.work or Path(tmp)
        models = list(args.models)
        if args.conv_stack:
            import onnx
            from make_conv_stack import conv_stack

            models.append(work / "conv_stack.onnx")
            work.mkdir(parents=True, exist_ok=True)
            onnx.save(conv_stack(), str(models[-1]))
        rows = []
        for model in models:
            name = re.sub(r"\W", "_", model.stem)
            if not name.isidentifier():
                name = "m_" + name
            compiled = compile_to_memory(model, name=name)
            for board in boards:
                row = measure_model(compiled, model, name, board, work, args.samples, args.seed, args.timeout,
                                    args.profile)
                rows.append(row)
                if row["ok"] is None and board.name in FALLBACK:
                    rows.append(measure_model(compiled, model, name, FALLBACK[board.name], work, args.samples,
                                              args.seed, args.timeout, args.profile))
        if rows:
            print(table(rows))
        for r in rows:
            if r.get("profile"):
                total = sum(r["insns"]) or 1
                print(f"\n{r['model']} on {r['board'].name}, instructions by function:")
                for fname, n in r["profile"]:
                    print(f"  {n:>12,}  {100 * n / total:5.1f}%  {fname}")
        for r in rows:
            if r["ok"] is False:
                print(f"\n{r['model']} on {r['board'].name}: {r['golden']}")
        if args.popcount:
            print("\nInstructions per 32-bit popcount (benchmarks/qemu_plugin/popcount_bench.c, "
                  "loop overhead removed):\n")
            print(popcount_table(boards, work))
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
