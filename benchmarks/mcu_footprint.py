#!/usr/bin/env python3
"""Flash/RAM footprint and instructions per inference of bnncompile models on
Cortex-M4 (QEMU mps2-an386) and Cortex-M0 (QEMU microbit).

    .venv/bin/python benchmarks/cortex_m_footprint.py examples/digits/digits_bnn.onnx
    .venv/bin/python benchmarks/cortex_m_footprint.py --boards m0 --popcount model.onnx ...

For every model and board: compile the model with bnncompile, write the golden
test program (bnncompile.codegen.golden) with one input sample (seeded random
values in [0, 1), reference output from onnxruntime), build it with
arm-none-eabi-gcc -O2, run it under QEMU with the insn_count TCG plugin
(benchmarks/qemu_plugin), and print a markdown table:

  model .o   text/data/bss of the generated model alone (weights are in text)
  program    text/data/bss of the whole golden program (model, golden data,
             startup, semihosting printf, newlib-nano libc/libm, libgcc)
  RAM        .data + .bss + stack reserved by the linker script, of the
             board's RAM; "stack used" is the measured high-water mark
  insns      guest instructions of one NAME_run call (between the golden
             program's markers, minus an empty marker pair); the count is
             deterministic but is not a cycle count

--popcount also runs `make -C benchmarks/qemu_plugin popcount`: instructions
per 32-bit popcount for the runtime's SWAR, __builtin_popcount and lookup
tables on both boards.

Needs gcc, arm-none-eabi-gcc, libnewlib-arm-none-eabi and qemu-system-arm.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnncompile.codegen.golden import write_golden  # noqa: E402
from bnncompile.codegen.report import layer_rows  # noqa: E402
from bnncompile.compiler import compile_to_memory  # noqa: E402

PLUGIN_DIR = ROOT / "benchmarks" / "qemu_plugin"
BOARDS = {
    # board: (golden target, QEMU machine, RAM bytes)
    "m4": ("cortex-m4", "mps2-an386", 4 * 1024 * 1024),
    "m0": ("cortex-m0", "microbit", 16 * 1024),
}


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


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
    """arm-none-eabi-size (Berkeley) output -> {file: (text, data, bss)}."""
    result = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6:
            result[parts[5]] = (int(parts[0]), int(parts[1]), int(parts[2]))
    return result


def symbol(elf: Path, name: str) -> str:
    out = run(["arm-none-eabi-nm", str(elf)], check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return "0x" + parts[0]
    raise RuntimeError(f"{elf}: no symbol {name}")


def measure(model: Path, name: str, board: str, work: Path, samples: int, seed: int, timeout: int) -> dict:
    target, _machine, ram = BOARDS[board]
    compiled = compile_to_memory(model, name=name)
    x, y = reference(model, samples, seed)
    folder = work / f"{name}-{board}"
    write_golden(compiled.files, name, x, y, folder, target)
    build = run(["make", "-C", str(folder)])
    if build.returncode != 0:
        raise RuntimeError(f"build failed for {name} on {board}:\n{build.stdout}{build.stderr}")
    size = sizes(run(["make", "-s", "-C", str(folder), "size"], check=True).stdout)
    elf = folder / "golden.elf"
    counts = folder / "insn.counts"
    plugin = (f"-plugin {PLUGIN_DIR / 'libinsn_count.so'},begin={symbol(elf, 'golden_bench_begin')},"
              f"end={symbol(elf, 'golden_bench_end')},out={counts}")
    res = run(["make", "-s", "-C", str(folder), "run", f"QEMU_EXTRA={plugin}", f"TIMEOUT={timeout}"])
    regions = [int(m) for m in re.findall(r"^insn_count: region \d+ (\d+)$", counts.read_text(), re.M)] \
        if counts.exists() else []
    stack = re.search(r"^stack: (\d+) of (\d+) bytes used", res.stdout, re.M)
    summary = re.search(r"^golden: (\d+) passed, (\d+) failed", res.stdout, re.M)
    per_inference = [r - regions[0] for r in regions[1:]] if len(regions) > 1 else []
    prog = size.get("golden.elf", (0, 0, 0))
    return dict(
        model=model.name, board=board, ok=res.returncode == 0 and summary is not None,
        golden=summary.group(0) if summary else (res.stdout + res.stderr).strip()[-200:],
        model_o=size.get(f"{name}.o", (0, 0, 0)), program=prog,
        stack_used=int(stack.group(1)) if stack else None, stack_size=int(stack.group(2)) if stack else 0,
        ram=ram, insns=per_inference,
        binary_macs=sum(r.binary_macs for r in layer_rows(compiled.graph, compiled.plan)),
    )


def table(rows: list[dict]) -> str:
    lines = [
        "| model | board | golden | model .o text / data / bss | program text / data / bss "
        "| RAM (data+bss+stack) | stack used | insns / inference | binary MACs | insns / binary MAC (whole model) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mt, md, mb = r["model_o"]
        pt, pd, pb = r["program"]
        ram_used = pd + pb + r["stack_size"]
        insns = ", ".join(f"{n:,}" for n in r["insns"]) or "n/a"
        per_mac = f"{r['insns'][0] / r['binary_macs']:.2f}" if r["insns"] and r["binary_macs"] else "n/a"
        lines.append(
            f"| {r['model']} | {r['board']} ({BOARDS[r['board']][1]}) | {'pass' if r['ok'] else 'FAIL'} "
            f"| {mt:,} / {md:,} / {mb:,} | {pt:,} / {pd:,} / {pb:,} "
            f"| {ram_used:,} of {r['ram']:,} B | {r['stack_used'] if r['stack_used'] is not None else '?'} B "
            f"| {insns} | {r['binary_macs']:,} | {per_mac} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="ONNX model files")
    ap.add_argument("--boards", default="m4,m0", help="comma-separated: m4, m0 (default both)")
    ap.add_argument("--samples", type=int, default=1, help="inferences to count (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random input samples")
    ap.add_argument("--work", type=Path, help="build folder (default: a temporary one)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per QEMU run")
    ap.add_argument("--popcount", action="store_true", help="also compare popcount strategies")
    args = ap.parse_args(argv)
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    for b in boards:
        if b not in BOARDS:
            ap.error(f"unknown board '{b}' (choose from {', '.join(BOARDS)})")

    plugin = run(["make", "-s", "-C", str(PLUGIN_DIR), "libinsn_count.so"])
    if plugin.returncode != 0:
        sys.stderr.write(plugin.stdout + plugin.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bnn-cortex-m-") as tmp:
        work = args.work or Path(tmp)
        rows = []
        for model in args.models:
            name = re.sub(r"\W", "_", model.stem)
            if not name.isidentifier():
                name = "m_" + name
            for board in boards:
                rows.append(measure(model, name, board, work, args.samples, args.seed, args.timeout))
        print(table(rows))
        for r in rows:
            if not r["ok"]:
                print(f"\n{r['model']} on {r['board']}: {r['golden']}")
    if args.popcount:
        res = run(["make", "-s", "-C", str(PLUGIN_DIR), "popcount"])
        print("\nInstructions per 32-bit popcount (benchmarks/qemu_plugin/popcount_bench.c):\n")
        print("```")
        print((res.stdout + res.stderr).strip())
        print("```")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
