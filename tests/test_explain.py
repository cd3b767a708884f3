"""Explain every layer: a layer the model almost certainly meant to be binary
but that runs in float or ternary gets a warning naming the node and the
reason; `--require-binary` makes it an error; `report` shows the reason."""
import numpy as np
import pytest
from builders import GraphBuilder, signs
from conftest import run_cli

from bnncompile.compiler import compile_to_memory

SIGN_FIXTURE = "tests/fixtures/torch/torch_legacy_sign.onnx"  # torch.sign on activations


def mlp_with_zero_weights(tmp_path, zeros=3, conv=False):
    """x -> where(x>=0) -> layer with +-1 weights except `zeros` exact zeros -> where -> XNOR dense."""
    rng = np.random.default_rng(0)
    if conv:
        b = GraphBuilder([4, 6, 6])
        b.where_sign()
        w = signs(rng, (8, 4, 3, 3))
        w.reshape(-1)[rng.choice(w.size, zeros, replace=False)] = 0
        b.node("Conv", [b.last, b.const(w)], pads=[1, 1, 1, 1])
        b.node("Flatten", [b.last])
        k = 8 * 6 * 6
    else:
        b = GraphBuilder([64])
        b.where_sign()
        w = signs(rng, (64, 32))
        w.reshape(-1)[rng.choice(w.size, zeros, replace=False)] = 0
        b.matmul(w)
        k = 32
    layer = b.nodes[-1 if not conv else -2].name
    b.where_sign()
    b.matmul(signs(rng, (k, 10)))
    return b.save(tmp_path / "m.onnx"), layer


@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv"])
def test_exact_zero_weights_are_named_with_count_and_remedy(tmp_path, conv):
    path, layer = mlp_with_zero_weights(tmp_path, zeros=3, conv=conv)
    notes = compile_to_memory(path).graph.notes
    # on a packed input the kernel still runs on bits: a ternary one (sign and mask, 2 bits per weight)
    assert [(n.kind, n.node) for n in notes] == [("ternary-weights", layer)]
    assert notes[0].message.startswith(f"3 of {8 * 4 * 9 if conv else 64 * 32} weights are exactly 0")
    assert "x >= 0" in notes[0].message


def test_real_and_deliberately_ternary_kernels_are_not_flagged(tmp_path):
    rng = np.random.default_rng(1)
    b = GraphBuilder([16])
    b.matmul(rng.normal(size=(16, 8)).astype(np.float32))  # a real first layer
    b.where_sign()
    twn = signs(rng, (8, 8))
    twn[rng.uniform(size=twn.shape) < 0.4] = 0  # ternary weights on purpose (40% zeros)
    b.matmul(twn)
    assert compile_to_memory(b.save(tmp_path / "m.onnx")).graph.notes == ()


def test_fixtures_written_to_be_binary_get_no_notes():
    for path in ("examples/digits/digits_bnn.onnx",  # Larq: Sign -> Add(0.1) -> Sign folds to one bipolar step
                 "tests/fixtures/torch/torch_legacy_where.onnx", "tests/fixtures/larq/larq_cnn_op13.onnx"):
        assert compile_to_memory(path).graph.notes == (), path


def test_sign_on_activations_that_can_be_zero_is_a_ternary_note():
    notes = compile_to_memory(SIGN_FIXTURE).graph.notes
    assert [(n.kind, n.node) for n in notes] == [("ternary", "/act1/Sign")]
    assert "ternary kernel" in notes[0].message and "x >= 0" in notes[0].message


def test_compile_warns_and_require_binary_refuses_writing_nothing(tmp_path):
    path, layer = mlp_with_zero_weights(tmp_path)
    r = run_cli("compile", path, "-o", tmp_path / "ok")
    assert r.returncode == 0
    assert r.stderr.startswith(f"bnncompile: warning: node '{layer}': 3 of 2048 weights are exactly 0")
    bad = run_cli("compile", path, "-o", tmp_path / "never", "--require-binary")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    error = bad.stderr.splitlines()[-1]
    assert error.startswith("bnncompile: error: --require-binary: 1 layer meant to be binary is not: "
                            f"'{layer}' (ternary kernel)")
    assert not (tmp_path / "never").exists()
    fine = run_cli("compile", "tests/fixtures/torch/torch_legacy_where.onnx", "-o", tmp_path / "bin",
                   "--require-binary")
    assert fine.returncode == 0 and fine.stderr == ""
    sign = run_cli("compile", SIGN_FIXTURE, "-o", tmp_path / "never", "--require-binary")
    assert sign.returncode == 2 and "'/act1/Sign' (ternary activation)" in sign.stderr


def test_report_shows_the_reason_beside_the_layer(tmp_path):
    path, layer = mlp_with_zero_weights(tmp_path)
    out = run_cli("report", path).stdout
    notes = out[out.index("\nnotes:\n"):]
    assert f"({layer}): 3 of 2048 weights are exactly 0" in notes
    step = next(line for line in out.splitlines() if line.rstrip().endswith(f"  {layer}"))
    assert "dense_xnor_mask" in step and f"step {step.split()[0]} ({layer})" in notes
