"""`bnncompile report`: per-layer MACs and bytes that add up, and an arena
plan that is never below its lower bound."""
import re


from conftest import run_cli

from bnncompile.codegen.report import arena_lower_bound, layer_rows
from bnncompile.compiler import compile_to_memory

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
