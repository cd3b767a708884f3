"""The microcontroller kernels against the reference kernels, bit for bit, on
the microcontrollers themselves (bare metal under QEMU).

tests/c/kernel_driver.c, built with -DKERNEL_DRIVER_EMBEDDED for each core
the seam has kernels for -- Cortex-M4 (runtime/bnn_opt_cortexm.h, carry-save
popcount in C), Cortex-M0 (the same in Thumb-1 assembly), RV32IMC (carry-save)
and RV32IMC + Zbb (cpop) -- runs every case of tests/kernel_cases.py (odd
channel counts, tails, strides, dilation, groups, both paddings, ternary
inputs and outputs, every output transform, dense layers) through the
reference kernels and through the core's own, on the core, and prints a
CRC-32 of each one's output planes. The core's kernels must equal the
reference on every case, and the reference on the core must compute what
numpy computes (exact cases) and give the same bytes as the host's reference
build (every case: soft float and the M4's FPU round as x86-64 does).

Each program is built as a golden program is (the board's compiler and flags,
-O2, startup code and linker script from targets/) with the cases compiled in
as a constant array. Cortex-M0 code runs on the mps2-an386 machine (the
micro:bit's 16 KB RAM cannot hold the larger cases), as the RP2040's does.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from functools import lru_cache
from pathlib import Path

import pytest
from conftest import ROOT
from kernel_cases import all_cases

from bnncompile.boards import BOARDS
from bnncompile.resources import resource_dir

DRIVER = ROOT / "tests" / "c" / "kernel_driver.c"
TARGETS = ROOT / "targets"
# board whose core and QEMU machine run the program -> the kernels the seam must pick there
CORES = {"cortex-m4": "cortex-m4", "rp2040": "cortex-m0", "riscv32": "riscv32", "riscv32-zbb": "riscv32-zbb"}


def missing(reason: str) -> None:
    if os.environ.get("BNN_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """The cases, their C file, and the host reference build's output bytes per case."""
    cases = all_cases()
    work = tmp_path_factory.mktemp("mcu-cases")
    blob = b"".join(c.record() for c in cases)
    rows = ",\n".join(", ".join(f"0x{b:02x}" for b in blob[i:i + 24]) for i in range(0, len(blob), 24))
    (work / "cases.c").write_text(f"const unsigned char kernel_cases[] = {{\n{rows}\n}};\n"
                                  f"const unsigned long kernel_cases_size = {len(blob)}u;\n")
    (work / "cases.bin").write_bytes(blob)
    exe = work / "driver-host-reference"
    subprocess.run(["cc", "-std=c99", "-O2", "-DBNN_REFERENCE_KERNELS", f"-I{resource_dir('runtime')}", str(DRIVER),
                    "-o", str(exe)], check=True)
    subprocess.run([str(exe), str(work / "cases.bin"), str(work / "host.bin")], check=True, capture_output=True)
    raw, at, host = (work / "host.bin").read_bytes(), 0, []
    for c in cases:
        n = c.y_bytes * c.planes
        host.append(raw[at:at + n])
        at += 2 * n
    return cases, work, host


def build_bare_metal(board_name: str, program: Path, extra_sources: list[Path], define: str, out: Path,
                     what: str) -> Path:
    """`program` (and `extra_sources`) as a bare-metal ELF for the board, built with -D`define`
    beside the board's startup code and console; `what` names the test in a missing-tool message."""
    board = BOARDS[board_name]
    core, machine = board.core, board.machine
    for tool in (core.cc, machine.qemu):
        if not shutil.which(tool):
            missing(f"{tool} is needed for {what} on {board_name} (Debian: {core.packages}, qemu-system-arm "
                    "or qemu-system-misc)")
    family = TARGETS / core.family
    out.mkdir(exist_ok=True)
    sources = [program, *extra_sources, TARGETS / "common" / "console.c", *(family / s for s in machine.sources)]
    objects = []
    for src in sources:
        obj = out / (src.stem + ".o")
        r = subprocess.run([core.cc, *core.cflags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
                            "-ffunction-sections", "-fdata-sections", f"-D{define}",
                            f"-I{resource_dir('runtime')}", f"-I{TARGETS / 'common'}", "-c", str(src), "-o", str(obj)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        objects.append(str(obj))
    elf = out / (program.stem + ".elf")
    r = subprocess.run([core.cc, *core.ldflags, "-T", str(family / machine.linker_script), "-Wl,--gc-sections",
                        "-o", str(elf), *objects, "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return elf


def run_bare_metal(board_name: str, elf: Path) -> subprocess.CompletedProcess:
    """The ELF under the board's QEMU machine (its console on stdout)."""
    board = BOARDS[board_name]
    cpu = ("-cpu", board.core.qemu_cpu) if board.core.qemu_cpu else ()
    return subprocess.run([board.machine.qemu, *board.machine.qemu_args, *cpu, "-kernel", str(elf)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)


def build(board_name: str, work: Path) -> Path:
    return build_bare_metal(board_name, DRIVER, [work / "cases.c"], "KERNEL_DRIVER_EMBEDDED", work / board_name,
                            "the kernels")


@lru_cache(maxsize=None)
def run_board(board_name: str, work: Path) -> tuple[str, dict[int, tuple[int, int]]]:
    r = run_bare_metal(board_name, build(board_name, work))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    lines = r.stdout.splitlines()
    crcs = {int(m[1]): (int(m[2], 16), int(m[3], 16))
            for m in re.finditer(r"^case (\d+) ref ([0-9a-f]+) opt ([0-9a-f]+)$", r.stdout, re.M)}
    return lines[0].strip(), crcs


@pytest.mark.parametrize("board", list(CORES))
def test_mcu_kernels_are_bit_identical_to_the_reference_on_the_core(cases, board):
    cases, work, host = cases
    name, crcs = run_board(board, work)
    assert name == CORES[board], f"the seam picked {name} on {board}"
    assert sorted(crcs) == list(range(len(cases))), "the program did not run every case"
    differing = [c.name for i, c in enumerate(cases) if crcs[i][1] != crcs[i][0]]
    assert not differing, f"{name} differs from the reference kernels on {differing}"
    # the reference on the core: numpy's values where they are exact, the host's bytes everywhere
    wrong = [c.name for i, c in enumerate(cases) if c.expected is not None and crcs[i][0] != zlib.crc32(c.expected)]
    assert not wrong, f"the reference kernels on {name} disagree with numpy on {wrong}"
    drift = [c.name for i, c in enumerate(cases) if crcs[i][0] != zlib.crc32(host[i])]
    assert not drift, f"the reference kernels on {name} round differently from the host on {drift}"
