"""runtime/bnn_softfloat.h -- the output chain's float ops in integers, for
cores without an FPU -- against the C float ops, bit for bit.

tests/c/softfloat_check.c runs every routine the chain uses ((float)a,
(float)a * s + b and - b, x * y, x + y, x - y, y - x) on the edge cases and compares each
result with the C op's: on the host (forced on with -DBNN_SOFT_FLOAT_CHAIN,
compared with the host's hardware float) exhaustively for every sum a in
[-2^13, 2^13] with 300 scales x 3 biases and on millions of random cases; and
on the Cortex-M0 and RV32IMC under QEMU, where the routines are on by
themselves and the C ops are the compiler's soft-float library. Mutants of the
header that are one ulp off on some inputs must fail the check. The chain
itself runs on those cores in tests/test_mcu_kernels.py (every FLOAT-output
case, among them bconv-float-bn-edges).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from test_mcu_kernels import build_bare_metal, run_bare_metal

from bnncompile.resources import resource_dir

CHECK = ROOT / "tests" / "c" / "softfloat_check.c"
HEADER = "bnn_softfloat.h"
RESULT = re.compile(r"^checked (\d+) mismatches (\d+) fast (\d+)$", re.M)


def build_host(runtime: Path, out: Path) -> Path:
    exe = out / "softfloat_check"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffp-contract=off",
                    "-DBNN_SOFT_FLOAT_CHAIN", f"-I{runtime}", str(CHECK), "-o", str(exe)], check=True)
    return exe


def run_check(exe: Path, *args: str) -> tuple[int, int, int, str]:
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600)
    m = RESULT.search(r.stdout)
    assert m, r.stdout[-2000:] + r.stderr[-2000:]
    checked, mismatches, fast = (int(g) for g in m.groups())
    assert r.returncode == (1 if mismatches else 0)
    return checked, mismatches, fast, r.stdout


@pytest.fixture(scope="module")
def host_check(tmp_path_factory):
    return build_host(resource_dir("runtime"), tmp_path_factory.mktemp("softfloat"))


def test_every_sum_below_2_13_with_edge_constants_is_bit_identical(host_check):
    checked, mismatches, fast, out = run_check(host_check, "exhaustive")
    assert checked == 300 * 3 * (2 * 8192 + 1) * 7
    assert mismatches == 0, out[:2000]
    assert fast > 0.75 * checked, "most of these cases must take the fast path, not the C op"


@pytest.mark.parametrize("seed", [1, 2])
def test_random_values_of_every_class_are_bit_identical(host_check, seed):
    checked, mismatches, fast, out = run_check(host_check, "random", "1000000", str(seed))
    assert checked == 1000000 * 2 * 7
    assert mismatches == 0, out[:2000]
    assert fast > 0.6 * checked


MUTANTS = {
    "ties away from zero": ("(s + 0x3Fu + ((s >> 7) & 1u)) >> 7", "(s + 0x40u) >> 7"),
    "no sticky bit in the sum": ("t |= (t << d) != my;", "(void)0;"),
    "no sticky bit in the product": ("q = bnn_sf_round(q | (below != 0));", "q = bnn_sf_round(q);"),
    "x - x = -0": ("if (s == 0) return 0u;", "if (s == 0) return BNN_SF_SIGN;"),
    "product exponent off by one": ("int32_t ep = (int32_t)es + 15;", "int32_t ep = (int32_t)es + 16;"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_the_check_fails_on_a_header_that_is_an_ulp_off(tmp_path, mutant):
    runtime = tmp_path / "runtime"
    shutil.copytree(resource_dir("runtime"), runtime)
    old, new = MUTANTS[mutant]
    text = (runtime / HEADER).read_text()
    assert old in text, f"the mutant '{mutant}' no longer applies to {HEADER}"
    (runtime / HEADER).write_text(text.replace(old, new))
    exe = build_host(runtime, tmp_path)
    mismatches = run_check(exe, "exhaustive")[1] + run_check(exe, "random", "100000", "1")[1]
    assert mismatches > 0, f"the check does not notice '{mutant}'"


@pytest.mark.parametrize("board", ["rp2040", "riscv32"])
def test_bit_identical_to_the_soft_float_library_on_cores_without_an_fpu(tmp_path, board):
    """rp2040: Cortex-M0 code (Armv6-M, libgcc's soft float); riscv32: RV32IMC."""
    elf = build_bare_metal(board, CHECK, [], "SOFTFLOAT_CHECK_EMBEDDED", tmp_path / board, "the soft-float check")
    r = run_bare_metal(board, elf)
    m = RESULT.search(r.stdout)
    assert m and r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    checked, mismatches, fast = (int(g) for g in m.groups())
    assert checked == 40 * 3 * 2049 * 7 + 20000 * 2 * 7
    assert mismatches == 0
    assert fast > 0.6 * checked, "the routines are not on by themselves on this core"
