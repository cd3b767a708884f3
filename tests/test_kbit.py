"""k-bit levels, quantizers and binarizer spellings (issue 11 part B): the exported
Larq DoReFa / ste_tern, Brevitas 2-bit and scaled-bipolar and torch binarizer models
compile to binary or bit-plane kernels and are exact; QONNX Quant follows qonnx's own
numbers; binarizers in every spelling become packed bits."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
from builders import GraphBuilder, random_bn, signs
from conftest import digits_for, run_cli

from bnncompile.codegen.report import layer_rows
from bnncompile.compiler import compile_to_memory
from bnncompile.importer.qonnx_ops import quant
from bnncompile.importer.reference_model import ReferenceModel
from bnncompile.inputs import random_inputs
from bnncompile.ir import levels as lv
from bnncompile.validate import ATOL, RTOL, NativeModel, verify

MODERN = Path(__file__).parent / "fixtures" / "modern"
# fixture -> the report's kinds of its compute layers, in order (the first layer reads the real image)
# (DoReFa weights are odd levels {-3,-1,1,3}/3 per channel; those of its second conv came out +-a only)
KINDS = {
    "larq/larq_dorefa_op13": ["real", "k-bit w2a2", "k-bit w1a2", "k-bit w2a2"],
    "larq/larq_dorefa_op18": ["real", "k-bit w2a2", "k-bit w1a2", "k-bit w2a2"],
    "larq/larq_ternary_op13": ["real", "ternary w2a1", "ternary w2a1", "ternary w2a1"],
    "larq/larq_ternary_op18": ["real", "ternary w2a1", "ternary w2a1", "ternary w2a1"],
    "brevitas/brevitas_w2a2_legacy": ["real", "k-bit w2a2", "ternary w2a2", "k-bit w2a2"],
    "brevitas/brevitas_w2a2_dynamo": ["real", "k-bit w2a2", "ternary w2a2", "k-bit w2a2"],
    "brevitas/brevitas_bipolar_scaled_legacy": ["bin-weights", "binary", "binary", "binary"],
    "brevitas/brevitas_bipolar_scaled_dynamo": ["bin-weights", "binary", "binary", "binary"],
    "torch/torch_binarizers_legacy": ["bin-weights", "binary", "binary", "binary", "binary"],
    "torch/torch_binarizers_dynamo": ["bin-weights", "binary", "binary", "binary", "binary"],
}
COMPUTE = ("conv_", "dense_")


def compute_kinds(compiled) -> list[str]:
    return [r.kind for r in layer_rows(compiled.graph, compiled.plan) if r.step.startswith(COMPUTE)]


@pytest.mark.parametrize("fixture", KINDS)
def test_kbit_fixture_is_exact_with_bit_plane_kernels(fixture, digits):
    """Every activation level bit-identical to the reference (onnxruntime; qonnx's semantics
    for QONNX ops, held to qonnx itself below) on the 360 held-out digits, outputs within
    tolerance, arg-max identical; the layers run on binary or k-bit kernels, not float."""
    path = MODERN / f"{fixture}.onnx"
    compiled = compile_to_memory(path)
    assert compute_kinds(compiled) == KINDS[fixture]
    report = verify(compiled, digits_for(path, digits[0][-360:]))
    assert report.status == "PASS", report.verdict()
    assert report.argmax_agree == 360 and report.max_abs_err <= ATOL
    packed = [r for r in report.layers if r.compared and r.domain in ("bipolar", "ternary", "levels")]
    assert len(packed) >= 3 and all(r.values_differing == 0 for r in packed)
    if "w2a2" in fixture or "dorefa" in fixture:
        assert any(r.domain == "levels" for r in packed)  # 2-bit activations compared level by level


def test_report_counts_ternary_weights_at_two_bits():
    """A ternary kernel is stored as sign and mask planes: twice the words of a binary
    kernel of the same shape, and the report says `ternary w2a1`."""
    out = run_cli("report", MODERN / "larq/larq_ternary_op13.onnx")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if "conv_xnor_mask" in line]
    assert len(rows) == 2 and all(r[1:3] == ["ternary", "w2a1"] for r in rows)

    def kernel_words(path):  # of each 16 -> 32 channel, 3x3 convolution on packed input
        compiled = compile_to_memory(path)
        return sorted(len(a.values) for a in compiled.plan.arrays
                      if a.name.endswith("_weights") and a.ctype == "uint32_t")

    # 32 outputs x 9 taps x 1 word (16 channels) per plane
    assert 2 * 32 * 9 in kernel_words(MODERN / "larq/larq_ternary_op13.onnx")
    assert 32 * 9 in kernel_words(MODERN / "torch/torch_binarizers_legacy.onnx")


ORACLE = MODERN / "brevitas" / "qonnx_oracle.npz"


@pytest.mark.parametrize("stem", ["brevitas_w2a2_legacy", "brevitas_w2a2_dynamo", "brevitas_bipolar_scaled_legacy",
                                  "brevitas_bipolar_scaled_dynamo"])
def test_brevitas_levels_are_qonnx_levels(stem, digits):
    """qonnx's execute_onnx (recorded by fixtures/make_qonnx_oracle.py) is the oracle:
    every Quant/BipolarQuant output of our reference executor on the 360 held-out digits
    has qonnx's exact bytes (verify holds the C's levels to that executor bit for bit), and
    the C's logits are qonnx's within verify's tolerance, arg-max identical."""
    oracle = np.load(ORACLE)
    path = MODERN / "brevitas" / f"{stem}.onnx"
    quants = [k.split(":", 1)[1] for k in oracle.files if k.startswith(stem + ":")]
    assert len(quants) == 7
    x = digits[0][-360:].reshape(360, 1, 8, 8)
    model = ReferenceModel(path, quants)
    runs = [model.run_numpy(sample[None]) for sample in x]
    for q in quants:
        ours = np.ascontiguousarray(np.concatenate([r[q] for r in runs]), np.float32)
        assert hashlib.sha256(ours).hexdigest() == str(oracle[f"{stem}:{q}"]), q
    compiled = compile_to_memory(path)
    native = NativeModel(compiled.files, compiled.plan)
    try:
        logits = native.run(x)
    finally:
        native.close()
    ref = oracle[stem]
    assert np.array_equal(logits.argmax(axis=1), ref.argmax(axis=1))
    assert np.all(np.abs(logits - ref) <= ATOL + RTOL * np.abs(ref))


# qonnx 1.0.0's own `quant(x, scale=1, zeropt=0, bitwidth=3, signed, narrow, mode)` on X
# (run once in the fixtures venv; copied here so the test venv needs no qonnx)
X = np.array([-2.5, -1.5, -0.5, -0.49, 0.5, 1.5, 2.5, 3.7, -7.2, 0.0], np.float32)
QONNX_QUANT = {
    ("ROUND", 1, 0): [-2, -2, 0, 0, 0, 2, 2, 3, -4, 0], ("ROUND", 1, 1): [-2, -2, 0, 0, 0, 2, 2, 3, -3, 0],
    ("ROUND", 0, 0): [0, 0, 0, 0, 0, 2, 2, 4, 0, 0], ("HALF_EVEN", 1, 0): [-2, -2, 0, 0, 0, 2, 2, 3, -4, 0],
    ("CEIL", 1, 0): [-2, -1, 0, 0, 1, 2, 3, 3, -4, 0], ("CEIL", 0, 0): [0, 0, 0, 0, 1, 2, 3, 4, 0, 0],
    ("FLOOR", 1, 0): [-3, -2, -1, -1, 0, 1, 2, 3, -4, 0], ("FLOOR", 1, 1): [-3, -2, -1, -1, 0, 1, 2, 3, -3, 0],
    ("UP", 1, 0): [-3, -2, -1, -1, 1, 2, 3, 3, -4, 0], ("DOWN", 1, 0): [-2, -1, 0, 0, 0, 1, 2, 3, -4, 0],
    ("HALF_UP", 1, 0): [-3, -2, -1, 0, 1, 2, 3, 3, -4, 0], ("HALF_UP", 0, 0): [0, 0, 0, 0, 1, 2, 3, 4, 0, 0],
    ("HALF_DOWN", 1, 0): [-2, -1, 0, 0, 0, 1, 2, 3, -4, 0], ("HALF_DOWN", 0, 0): [0, 0, 0, 0, 0, 1, 2, 4, 0, 0],
}


@pytest.mark.parametrize("mode,signed,narrow", QONNX_QUANT)
def test_quant_semantics_are_qonnx(mode, signed, narrow):
    y = quant(X, np.float32(1), np.float32(0), np.float32(3), signed, narrow, mode)
    assert np.array_equal(y, np.array(QONNX_QUANT[mode, signed, narrow], np.float32))


def _quant_mlp(rng, mode, signed, narrow):
    """real input -> dense -> BN -> Quant(3 bits) -> dense (2-bit weights) -> BN -> Quant -> dense."""
    b = GraphBuilder([64])
    for i, (k, n) in enumerate([(64, 32), (32, 16), (16, 10)]):
        w = signs(rng, (k, n)) if i == 0 else rng.integers(-2, 2, (k, n)).astype(np.float32) * 0.25
        b.matmul(w)
        if i < 2:
            b.batchnorm(*random_bn(rng, n))
            b.node("Quant", [b.last, b.const(np.float32(0.5)), b.const(np.float32(0)), b.const(np.float32(3))],
                   domain="qonnx.custom_op.general", signed=signed, narrow=narrow, rounding_mode=mode)
    return b


@pytest.mark.parametrize("mode,signed,narrow", [("ROUND", 1, 0), ("FLOOR", 0, 0), ("HALF_UP", 1, 1)])
def test_quant_mlp_is_exact_on_k_bit_kernels(tmp_path, mode, signed, narrow):
    rng = np.random.default_rng(11)
    path = _quant_mlp(rng, mode, signed, narrow).save(tmp_path / "q.onnx", extra_opsets=[("qonnx.custom_op.general", 1)])
    compiled = compile_to_memory(path)
    kinds = compute_kinds(compiled)
    assert kinds[0] == "bin-weights" and all(k.startswith("k-bit w2a3") for k in kinds[1:]), kinds
    x = random_inputs((64,), 300, seed=3)
    x[:100] = np.round(x[:100] * 4) / 4  # exact quarters: accumulators on the quantizer's edges
    report = verify(compiled, x)
    assert report.status == "PASS", report.verdict()
    assert all(r.values_differing == 0 for r in report.layers if r.compared and r.domain == "levels")


# ---------------------------------------------------------------- binarizer spellings

def _gt_cast(b):  # (x > 0).float(): {0, 1}
    return b.node("Cast", [b.node("Greater", [b.last, b.const(np.float32(0))])], to=1)


def _ge_where(b):  # torch.where(x >= 0, 1, -1)
    return b.where_sign()


def _lt_where_swapped(b):  # torch.where(x < 0, -1, 1): swapped branches
    lt = b.node("Less", [b.last, b.const(np.float32(0))])
    return b.node("Where", [lt, b.const(np.float32(-1)), b.const(np.float32(1))])


def _cast_int_where(b):  # integer branches, then a Cast (what torch writes for where(x < 0, -1, 1) on ints)
    lt = b.node("Less", [b.last, b.const(np.float32(0))])
    w = b.node("Where", [lt, b.const(np.int64(-1)), b.const(np.int64(1))])
    return b.node("Cast", [w], to=1)


def _scaled_bipolar(b):  # {-0.5, +0.5}
    ge = b.node("GreaterOrEqual", [b.last, b.const(np.float32(0))])
    return b.node("Where", [ge, b.const(np.float32(0.5)), b.const(np.float32(-0.5))])


SPELLINGS = {"gt_cast": _gt_cast, "ge_where": _ge_where, "lt_where_swapped": _lt_where_swapped,
             "cast_int_where": _cast_int_where, "scaled_bipolar": _scaled_bipolar}


def _spelled_mlp(rng, spell, concat=False):
    """real input -> dense -> BN -> binarizer -> dense -> BN -> binarizer [-> Concat with the first] -> dense."""
    b = GraphBuilder([64])
    b.matmul(signs(rng, (64, 48)))
    b.batchnorm(*random_bn(rng, 48))
    first = spell(b)
    b.matmul(signs(rng, (48, 32)) * np.float32(0.125))
    b.batchnorm(*random_bn(rng, 32))
    second = spell(b)
    if concat:
        b.node("Concat", [first, second], axis=1)
    b.matmul(signs(rng, ((80 if concat else 32), 10)))
    return b


@pytest.mark.parametrize("concat", [False, True], ids=["chain", "concat"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_binarizer_spelling_runs_binary_kernels_exactly(tmp_path, spelling, concat):
    rng = np.random.default_rng(sorted(SPELLINGS).index(spelling))
    path = _spelled_mlp(rng, SPELLINGS[spelling], concat).save(tmp_path / "m.onnx")
    compiled = compile_to_memory(path)
    rows = [r for r in layer_rows(compiled.graph, compiled.plan)]
    kinds = [r.kind for r in rows if r.step.startswith(COMPUTE)]
    assert kinds == ["bin-weights", "binary", "binary"], kinds
    assert not concat or any(r.step == "concat_bits" for r in rows)  # the concatenation stays packed
    x = random_inputs((64,), 400, seed=5)
    x[:50] = 0  # every first-layer sum on its batchnorm's own value
    report = verify(compiled, x)
    assert report.status == "PASS", report.verdict()
    packed = [r for r in report.layers if r.compared and r.domain == "bipolar"]
    assert packed and all(r.values_differing == 0 for r in packed)


# ---------------------------------------------------------------- levels

@pytest.mark.parametrize("levels", [lv.BIPOLAR, lv.TERNARY, lv.unsigned(1), lv.unsigned(2), lv.signed(2),
                                    lv.signed(3, narrow=True), lv.odd(2), lv.unsigned(8)], ids=lambda l: l.name)
def test_levels_encode_decode_round_trip(levels):
    rng = np.random.default_rng(0)
    values = rng.choice(np.asarray(levels.reals), size=(5, 37))
    planes = levels.encode(values)
    assert np.array_equal(levels.decode(planes, 37), values)
    ints = levels.ints_of(values)
    assert np.array_equal(ints, np.asarray(levels.ints)[levels.index(values)])
    assert levels.planes == max(1, int(np.ceil(np.log2(levels.count))))


def test_quant_wider_than_the_planes_is_refused_naming_the_node(tmp_path):
    b = GraphBuilder([8])
    b.matmul(signs(np.random.default_rng(0), (8, 4)))
    b.node("Quant", [b.last, b.const(np.float32(0.5)), b.const(np.float32(0)), b.const(np.float32(12))],
           domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND")
    path = b.save(tmp_path / "wide.onnx", extra_opsets=[("qonnx.custom_op.general", 1)])
    out = run_cli("compile", path, "-o", tmp_path / "c")
    assert out.returncode == 2 and "Quant_" in out.stderr and "12 bits" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "c").exists()


@pytest.mark.parametrize("fixture", ["larq/larq_ternary_op13", "larq/larq_dorefa_op13", "brevitas/brevitas_w2a2_legacy"])
def test_every_multi_threshold_has_a_code_per_level(fixture):
    """n steps select one of n + 1 codes: a sign-like ternary threshold whose 0 is never
    reached is emitted with one step for its two codes (two steps read past the codes)."""
    import re

    source = compile_to_memory(MODERN / f"{fixture}.onnx", name="net").files["net.c"]
    sizes = {name: int(n) for name, n in re.findall(r"static const \w+ (net_\w+)\[(\d+)\]", source)}
    found = re.findall(r"\{ (\d+), (net_\w+_bounds), (net_\w+_flip), (net_\w+_codes), (\d+) \}", source)
    assert found
    for steps, bounds, flip, codes, planes in found:
        assert sizes[codes] == int(steps) + 1 and sizes[codes] <= 1 << int(planes)
        assert sizes[bounds] == int(steps) * sizes[flip]
