#!/usr/bin/env python3
"""Instructions per inference of a float ONNX->C emitter against bnncompile,
on the same boards, with the same flags and the same QEMU instruction counter.

    .venv/bin/python benchmarks/float_emitter.py --emx /path/to/emx-onnx-cgen MODEL.onnx ...

The float emitter is emx-onnx-cgen (PyPI `emx-onnx-cgen`, 1.4.0; install it
in a venv of its own and pass its executable with --emx, or have it on PATH):
it writes the model as float C (binary weights as float +-1, Sign as a float
op), batch pinned to 1 and every temporary on the stack. That file is built
with the board's compiler, flags and -O2 beside qemu_plugin/float_emitter_main.c
(seeded input, one inference between the counter's markers), run under QEMU
with the insn_count plugin; its outputs are checked against onnxruntime
(float emitter: within 1e-4; it computes in float as onnxruntime does). The
bnncompile figures come from mcu_footprint.py's golden programs (exact).

Cortex-M0 code runs on the mps2-an386 board for both (the float code's
stack of temporaries does not fit the micro:bit's 16 KB): instructions are
those of Armv6-M code either way. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcu_footprint import (  # noqa: E402
    M0_ON_MPS2, PLUGIN_DIR, ROOT, TARGETS_DIR, measure_model, plugin_option, regions, run)

from bnncompile.boards import BOARDS, Board  # noqa: E402
from bnncompile.compiler import compile_to_memory  # noqa: E402

MAIN = PLUGIN_DIR / "float_emitter_main.c"
STACK = 512 * 1024  # the float code keeps its temporaries on the stack


def bench_input(size: int) -> np.ndarray:
    """float_emitter_main.c's bench_input(): xorshift32 from 1, top 24 bits / 2^24."""
    s, out = 1, np.empty(size, np.float32)
    for i in range(size):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out[i] = np.float32(s >> 8) / np.float32(16777216.0)
    return out


def emit(emx: str, model: Path, out: Path) -> None:
    import onnx

    name = onnx.load(str(model)).graph.input[0].name
    r = run([emx, "compile", "--input-dim", f"{name}:0=1", "--large-temp-threshold", "1000000000",
             model, out])
    if r.returncode != 0:
        raise RuntimeError(f"emx-onnx-cgen failed on {model}:\n{r.stdout}{r.stderr}")


def build(board: Board, c_file: Path, in_size: int, out_size: int, folder: Path) -> Path:
    core, machine = board.core, board.machine
    family = TARGETS_DIR / core.family
    folder.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in [c_file, MAIN, TARGETS_DIR / "common" / "console.c", *(family / s for s in machine.sources)]:
        obj = folder / (src.stem + ".o")
        run([core.cc, *core.cflags, "-std=c99", "-O2", "-ffunction-sections", "-fdata-sections",
             "-DFLOAT_MODEL_FN=model", f"-DFLOAT_IN_SIZE={in_size}", f"-DFLOAT_OUT_SIZE={out_size}",
             f"-I{TARGETS_DIR / 'common'}", "-c", src, "-o", obj], check=True)
        objects.append(obj)
    elf = folder / "float.elf"
    run([core.cc, *core.ldflags, "-T", family / machine.linker_script, "-Wl,--gc-sections",
         f"-Wl,--defsym=__stack_size__={STACK}", "-o", elf, *objects, "-lm"], check=True)
    return elf


def measure_float(emx: str, model: Path, board: Board, work: Path, timeout: int) -> dict:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [1] + [d for d in inp.shape[1:]]
    x = bench_input(int(np.prod(shape))).reshape(shape)
    y = sess.run(None, {inp.name: x})[0].ravel()
    folder = work / f"float-{model.stem}-{board.name}"
    c_file = folder / "model.c"
    folder.mkdir(parents=True, exist_ok=True)
    if not c_file.exists():
        emit(emx, model, c_file)
    elf = build(board, c_file, x.size, y.size, folder)
    counts = folder / "insn.counts"
    cpu = ("-cpu", board.core.qemu_cpu) if board.core.qemu_cpu else ()
    plugin = plugin_option(board, elf, "golden_bench_begin", "golden_bench_end", counts).split()
    res = run(["timeout", str(timeout), board.machine.qemu, *board.machine.qemu_args, *cpu, *plugin,
               "-kernel", elf], stdin=subprocess.DEVNULL)
    got = np.zeros(y.size, np.float32)
    for m in re.finditer(r"^out (\d+) ([0-9a-f]+)$", res.stdout, re.M):
        got[int(m[1])] = np.frombuffer(int(m[2], 16).to_bytes(4, "little"), np.float32)[0]
    counted = regions(counts)
    stack = re.search(r"^stack: (\d+) of", res.stdout, re.M)
    return dict(ok=res.returncode == 0 and np.allclose(got, y, atol=1e-4) and int(got.argmax()) == int(y.argmax()),
                insns=counted[1] - counted[0] if len(counted) > 1 else None,
                stack=int(stack.group(1)) if stack else None,
                text=sizes_text(board, folder / "model.o"))


def sizes_text(board: Board, obj: Path) -> int:
    out = run([board.core.tool("size"), obj], check=True).stdout.splitlines()[1].split()
    return int(out[0]) + int(out[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="ONNX model files")
    ap.add_argument("--emx", default=shutil.which("emx-onnx-cgen"), help="the emx-onnx-cgen executable")
    ap.add_argument("--boards", default="cortex-m4,cortex-m0,riscv32,riscv32-zbb")
    ap.add_argument("--work", type=Path, help="build folder (default: a temporary one)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per QEMU run")
    args = ap.parse_args(argv)
    if not args.emx or not os.access(args.emx, os.X_OK):
        ap.error("emx-onnx-cgen not found: pip install emx-onnx-cgen==1.4.0 (in a venv of its own), then --emx PATH")
    boards = [BOARDS[b.strip()] for b in args.boards.split(",") if b.strip()]
    run(["make", "-s", "-C", PLUGIN_DIR, "libinsn_count.so"], check=True)
    lines = ["| model | board | float C (emx-onnx-cgen): instructions / inference | its stack | its code + weights "
             "| bnncompile: instructions / inference | bnncompile arena + stack | float / bnncompile |",
             "|---|---|---|---|---|---|---|---|"]
    ok = True
    with tempfile.TemporaryDirectory(prefix="bnn-float-") as tmp:
        work = args.work or Path(tmp)
        for model in args.models:
            name = re.sub(r"\W", "_", model.stem)
            compiled = compile_to_memory(model, name=name)
            for board in boards:
                run_on = M0_ON_MPS2 if board.name == "cortex-m0" else board
                f = measure_float(args.emx, model, run_on, work, args.timeout)
                b = measure_model(compiled, model, name, board, work, 1, 0, args.timeout)
                ok = ok and f["ok"] and b["ok"] is not False
                bi = b["insns"][0] if b.get("insns") else None
                ratio = f"{f['insns'] / bi:.1f}" if f["insns"] and bi else "n/a"
                need = b["need"]
                lines.append(
                    f"| {model.stem} | {board.name} | {f['insns']:,}{'' if f['ok'] else ' (WRONG OUTPUT)'} "
                    f"| {f['stack']:,} B | {f['text']:,} B | {bi:,} | {need.arena:,} + {need.stack:,} B | {ratio} |")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
