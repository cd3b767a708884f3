"""`bnncompile golden`: self-contained test programs with golden vectors, on the
host and on the boards QEMU emulates (Cortex-M4, Cortex-M0, RISC-V rv32 with
and without Zbb). They must pass as generated, fail when a golden value is
wrong, and not be written at all for a board the model cannot fit."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from builders import GraphBuilder, random_bn, signs
from conftest import run_cli

from bnncompile.boards import BOARDS, golden_targets

MLP = "examples/digits/digits_bnn.onnx"
CNN = "tests/fixtures/torch/torch_cnn_legacy.onnx"
# CI installs every tool and sets this, so these tests can never be skipped there.
REQUIRE_TOOLS = os.environ.get("BNN_REQUIRE_TOOLS") == "1"


def needs_tools(*targets):
    """Skip (fail under BNN_REQUIRE_TOOLS=1) unless the boards' compiler and QEMU are installed."""
    tools = sorted({t for name in targets for t in (BOARDS[name].core.cc, BOARDS[name].machine.qemu)})
    missing = [t for t in tools if not shutil.which(t)]
    return pytest.mark.skipif(bool(missing) and not REQUIRE_TOOLS, reason=f"needs {', '.join(missing)}")


def make(folder, *goals):
    return subprocess.run(["make", "-C", str(folder), *goals], capture_output=True, text=True, timeout=900)


def summary(result):
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("golden:")]
    return lines[-1] if lines else ""


def test_host_golden_passes_and_catches_a_wrong_value(tmp_path):
    out = tmp_path / "g"
    r = run_cli("golden", MLP, "-o", out, "--samples", "6")
    assert r.returncode == 0, r.stderr
    ok = make(out, "run")
    assert ok.returncode == 0 and summary(ok) == "golden: 6 passed, 0 failed", ok.stdout + ok.stderr
    source = (out / "golden_main.c").read_text()
    # corrupt the first reference output value of sample 0
    corrupted = re.sub(r"(golden_outputs\[GOLDEN_SAMPLES\]\[\w+\] = \{\s*\{ /\* sample 0 \*/\s*)([^,]+)",
                       lambda m: m.group(1) + "0.5f", source, count=1)
    assert corrupted != source
    (out / "golden_main.c").write_text(corrupted)
    bad = make(out, "run")
    assert bad.returncode != 0 and summary(bad) == "golden: 5 passed, 1 failed", bad.stdout + bad.stderr


# One board per core and QEMU machine (the other boards reuse them), plus a real
# board whose Cortex-M0+ code runs on the mps2-an386 machine.
QEMU_BOARDS = ["cortex-m4", "cortex-m0", "riscv32", "riscv32-zbb"]


def test_every_board_runs_on_a_tested_core_and_machine():
    def pair(name):
        return BOARDS[name].core, BOARDS[name].machine

    tested = {pair(b) for b in (*QEMU_BOARDS, "rp2040")}
    assert all(pair(b) in tested for b in golden_targets())


@pytest.mark.parametrize("target,model", [pytest.param(t, m, marks=needs_tools(t), id=f"{t}-{i}")
                                          for t in QEMU_BOARDS for m, i in ((MLP, "mlp"), (CNN, "cnn"))]
                         + [pytest.param("rp2040", CNN, marks=needs_tools("rp2040"), id="rp2040-cnn")])
def test_board_golden_runs_under_qemu(tmp_path, target, model):
    out = tmp_path / "g"
    r = run_cli("golden", model, "-o", out, "--samples", "4", "--target", target)
    assert r.returncode == 0, r.stderr
    result = make(out, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result) == "golden: 4 passed, 0 failed"
    # The program ran on exactly the stack bnncompile measured for the model
    # (plus the harness's) and did not use all of it.
    reserved = int(re.search(r"^STACK_SIZE = (\d+)$", (out / "Makefile").read_text(), re.M).group(1))
    used, size = map(int, re.search(r"^stack: (\d+) of (\d+) bytes used", result.stdout, re.M).groups())
    assert size == reserved and used < size


@needs_tools("riscv32", "riscv32-zbb")
def test_zbb_builds_popcount_with_cpop_and_the_plain_rv32imc_build_cannot(tmp_path):
    disassembly = {}
    for target in ("riscv32", "riscv32-zbb"):
        out = tmp_path / target
        assert run_cli("golden", CNN, "-o", out, "--samples", "1", "--target", target).returncode == 0
        assert make(out, "golden.elf").returncode == 0
        disassembly[target] = subprocess.run(["riscv64-unknown-elf-objdump", "-d", "torch_cnn_legacy.o"],
                                             cwd=out, capture_output=True, text=True, check=True).stdout
    assert re.search(r"\tcpop\t", disassembly["riscv32-zbb"])
    assert not re.search(r"\tcpop\t", disassembly["riscv32"])
    # The plain target's QEMU hart really lacks Zbb: the Zbb program traps there
    # (illegal instruction), so the plain program's pass proves it never needed it.
    flags = re.search(r"^QEMU_FLAGS = (.*)$", (tmp_path / "riscv32" / "Makefile").read_text(), re.M).group(1)
    trapped = make(tmp_path / "riscv32-zbb", "run", f"QEMU_FLAGS={flags}")
    assert trapped.returncode != 0 and "trap: mcause=2" in trapped.stdout, trapped.stdout + trapped.stderr


def big_arena_model(path):
    """A PyTorch-style binary CNN at 64x64: its activation bits alone are
    32 KB, twice the micro:bit's RAM, whatever the memory plan."""
    rng = np.random.default_rng(0)
    b = GraphBuilder([4, 64, 64])
    b.where_sign()
    for cin, cout in ((4, 64), (64, 8)):
        b.node("Conv", [b.last, b.const(signs(rng, (cout, cin, 3, 3)))], kernel_shape=[3, 3], pads=[1] * 4)
        b.batchnorm(*random_bn(rng, cout))
        if cout == 64:
            b.where_sign()
    b.node("GlobalAveragePool", [b.last])
    b.node("Flatten", [b.last], axis=1)
    return b.save(path)


def test_golden_for_a_board_the_model_cannot_fit_fails_before_building(tmp_path):
    import json

    model = big_arena_model(tmp_path / "big.onnx")
    out = tmp_path / "g"
    r = run_cli("golden", model, "-o", out, "--target", "cortex-m0")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnncompile: error: the model does not fit cortex-m0"), r.stderr
    need = json.loads(run_cli("report", model, "--target", "cortex-m0", "--json").stdout)["totals"]
    assert need["arena_bytes"] > 16 * 1024
    # both figures: what the model needs and what the board has
    assert f"RAM needs {need['ram_bytes']:,d} B" in lines[0] and "has 16,384 B" in lines[0], lines[0]
    assert not out.exists()
    # a budget can only shrink the emulated board: the program must still run on it
    r = run_cli("golden", model, "-o", out, "--target", "cortex-m0", "--ram", "1M")
    assert r.returncode == 2 and "does not fit cortex-m0" in r.stderr and not out.exists()
    # the same model fits the Cortex-M4 board, and a budget below its needs is refused there too
    assert run_cli("golden", model, "-o", out, "--target", "cortex-m4", "--samples", "1").returncode == 0
    r = run_cli("golden", model, "-o", tmp_path / "g2", "--target", "cortex-m4", "--ram", "16K")
    assert r.returncode == 2 and "has 16,384 B" in r.stderr and not (tmp_path / "g2").exists()


def test_golden_refuses_more_golden_samples_than_the_board_can_hold(tmp_path):
    out = tmp_path / "g"
    r = run_cli("golden", MLP, "-o", out, "--target", "cortex-m0", "--samples", "1000")
    assert r.returncode == 2 and not out.exists()
    # 1000 samples of 64 inputs and 10 outputs, 4 bytes each
    assert "the model fits cortex-m0, but its golden program would need flash" in r.stderr, r.stderr
    assert "1000 golden samples 296,000 B" in r.stderr and "use fewer --samples" in r.stderr
