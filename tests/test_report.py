"""`bnncompile report`: per-layer MACs and bytes that add up, an arena plan
that is never below its lower bound, fit checks against a board or a budget,
and the same report as JSON."""
import dataclasses
import json
import os
import re
import shutil

import numpy as np
import pytest
from conftest import run_cli

from bnncompile.boards import BOARDS, board_named, parse_size, with_budget
from bnncompile.codegen.fit import Fit, Footprint, plan_constants
from bnncompile.codegen.report import arena_lower_bound, constant_bytes, layer_rows
from bnncompile.compiler import compile_to_memory
from bnncompile.validate.footprint import measure, toolchain_missing

CNN = "tests/fixtures/larq/larq_cnn_op13.onnx"
MLP = "examples/digits/digits_bnn.onnx"


def test_mlp_macs_are_the_layer_sizes():
    c = compile_to_memory(MLP)
    rows = layer_rows(c.graph, c.plan)
    assert sum(r.binary_macs for r in rows) == 256 * 256 + 256 * 10  # the two XNOR layers
    assert sum(r.real_macs for r in rows) == 64 * 256  # the binary kernel on the real input (adds only)
    weight_bits = (256 * 64 + 256 * 256 + 10 * 256)  # one bit per binary weight, rows padded to 32
    assert sum(r.weight_bytes for r in rows) >= weight_bits // 8


def test_cnn_binary_macs_count_every_tap():
    c = compile_to_memory(CNN)
    rows = layer_rows(c.graph, c.plan)
    xnor = [r for r in rows if r.step == "conv_xnor"]
    # 3x3 convs over 16/32 channels on 8x8 and 4x4 maps, a 3x3 depthwise, a VALID 3x3 to 2x2
    expected = [8 * 8 * 32 * 9 * 16, 4 * 4 * 32 * 9 * 32, 4 * 4 * 32 * 9, 2 * 2 * 32 * 9 * 32]
    assert [r.binary_macs for r in xnor] == expected
    assert c.plan.arena_bytes >= arena_lower_bound(c.plan)


def test_report_command_prints_totals():
    r = run_cli("report", CNN)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"total: 485,120 binary MACs", out)
    assert re.search(r"ram: arena [\d,]+ B \(lower bound [\d,]+ B\)", out)
    assert "flash: weights and constants" in out


# ---- fit checks (--target, --flash/--ram) and --json ------------------------

HAVE_ARM = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"))
REQUIRE_TOOLS = os.environ.get("BNN_REQUIRE_TOOLS") == "1"
needs_arm = pytest.mark.skipif(not HAVE_ARM and not REQUIRE_TOOLS, reason="needs arm-none-eabi-gcc")


@needs_arm
def test_report_json_for_a_board_has_layers_totals_and_fits():
    r = run_cli("report", CNN, "--target", "cortex-m0", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    c = compile_to_memory(CNN)
    rows = layer_rows(c.graph, c.plan)
    assert [layer["step"] for layer in report["layers"]] == [row.step for row in rows]
    assert report["layers"][2]["binary_macs"] == rows[2].binary_macs
    t = report["totals"]
    assert t["binary_macs"] == 485_120
    assert t["flash_bytes"] == t["weight_bytes"] + t["threshold_bytes"] + t["code_bytes"] > t["weight_bytes"]
    assert t["ram_bytes"] == t["arena_bytes"] + t["io_bytes"] + t["stack_bytes"]
    assert t["arena_bytes"] == c.plan.arena_bytes
    assert t["io_bytes"] == 4 * (int(np.prod(c.plan.input_shape)) + int(np.prod(c.plan.output_shape))) == 296
    assert report["target"]["name"] == "cortex-m0" and report["target"]["ram_bytes"] == 16 * 1024
    assert report["fits"] is True
    assert report["ram_margin"] == 16 * 1024 - t["ram_bytes"] > 0
    assert report["flash_margin"] == 256 * 1024 - t["flash_bytes"] > 0
    assert "arm-none-eabi-gcc" in report["measured_with"]


@needs_arm
def test_report_says_by_how_much_a_model_does_not_fit_a_budget():
    r = run_cli("report", CNN, "--target", "cortex-m0", "--ram", "4K")
    assert r.returncode == 1, r.stderr  # exit 1: it does not fit
    need = json.loads(run_cli("report", CNN, "--target", "cortex-m0", "--json").stdout)["totals"]["ram_bytes"]
    assert "does NOT fit" in r.stdout
    assert f"RAM {need:,d} B of 4,096 B ({need - 4096:,d} B over;" in r.stdout, r.stdout
    assert "flash" in r.stdout and "B free" in r.stdout  # the flash still fits the micro:bit's 256 KB
    j = json.loads(run_cli("report", CNN, "--target", "cortex-m0", "--ram", "4K", "--json").stdout)
    assert j["fits"] is False and j["ram_margin"] == 4096 - need and j["flash_margin"] > 0
    # a custom budget alone: code and stack measured for the default core (Cortex-M4)
    r = run_cli("report", CNN, "--flash", "64K", "--ram", "1M")
    assert r.returncode == 0 and "target custom" in r.stdout and re.search(r"^fits: flash", r.stdout, re.M)


def test_report_without_a_target_has_no_verdict():
    report = json.loads(run_cli("report", MLP, "--json").stdout)
    assert report["fits"] is None and report["target"] is None and report["model"] == "digits_bnn"


@pytest.mark.parametrize("args,message", [
    (["--target", "cortex-m0", "--ram", "16Q"], "not a size"),
    (["--target", "nosuchboard"], "invalid choice"),
    (["--ram", "16K"], "needs both --flash and --ram"),
])
def test_report_refuses_bad_budgets_cleanly(args, message):
    r = run_cli("report", MLP, *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_sizes_are_read_as_users_write_them():
    assert [parse_size(s) for s in ("16384", "16K", "16KB", "16 KiB", "1M", "256k")] == \
        [16384, 16384, 16384, 16384, 1 << 20, 262144]
    for bad in ("", "0", "-1K", "1.5K", "16G", "K"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_fit_needs_both_budgets_and_is_unknown_without_measurements():
    board = with_budget(board_named("cortex-m0"), ram=4096)
    assert board.ram == 4096 and board.flash == 256 * 1024 and board.core.name == "cortex-m0"
    unmeasured = Footprint(weights=1000, thresholds=100, code=None, arena=2500, stack=None, io=500, toolchain=None)
    assert Fit(unmeasured, board).fits is None  # code and stack could still break it
    assert Fit(dataclasses.replace(unmeasured, arena=5000), board).fits is False  # already over without them
    assert Fit(dataclasses.replace(unmeasured, io=2000), board).fits is False  # the input/output arrays count
    measured = dataclasses.replace(unmeasured, code=2000, stack=1096)
    assert Fit(measured, board).fits is True and Fit(measured, board).ram_margin == 0
    assert Fit(dataclasses.replace(measured, stack=1097), board).fits is False


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m0", "riscv32", "riscv32-zbb"])
def test_measured_constants_are_the_reported_weights_and_thresholds(target):
    """The report's per-layer weight and threshold bytes are what the compiler
    puts in flash for the model's arrays, on every core."""
    core = BOARDS[target].core
    if toolchain_missing(core):
        if REQUIRE_TOOLS:
            pytest.fail(toolchain_missing(core))
        pytest.skip(toolchain_missing(core))
    c = compile_to_memory(CNN)
    measured = measure(c.files, c.plan.name, core, plan_constants(c.plan))
    planned = {name: nbytes for name, (nbytes, _) in constant_bytes(c.plan).items()}
    assert sum(planned.values()) == sum(r.weight_bytes + r.threshold_bytes for r in layer_rows(c.graph, c.plan))
    kept = measured["arrays"]
    assert kept and all(kept[name] == planned[name] for name in kept)  # every array kept as data: same size
    folded = set(planned) - set(kept)  # the rest the compiler folded into the code (a conv's geometry)
    assert sum(planned[name] for name in folded) < 200 and sum(kept.values()) > 5000
    assert 0 < measured["code"] < 20_000 and 0 < measured["stack"] < 4096
