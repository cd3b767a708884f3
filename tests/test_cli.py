"""The command line and the generated C as a user sees them."""
import subprocess
from pathlib import Path

import numpy as np
import pytest
from builders import GraphBuilder
from conftest import c_compilers, digits_for, run_cli

import bnncompile
from bnncompile.resources import resource_dir

MODEL = Path("tests/fixtures/torch/torch_legacy_where.onnx")
HERE = Path(__file__).parent


def test_compile_writes_header_source_and_runtime(tmp_path):
    out = tmp_path / "c"
    r = run_cli("compile", MODEL, "-o", out, "--name", "net")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    runtime = sorted(p.name for p in resource_dir("runtime").glob("bnn_*.h"))
    assert names == sorted(runtime + ["net.c", "net.h", "CMakeLists.txt", "net.mk"]) and "bnn_runtime.h" in runtime
    header = (out / "net.h").read_text()
    assert "int net_run(const float *input, float *output);" in header
    assert "#define NET_INPUT_SIZE 64" in header and "#define NET_OUTPUT_SIZE 10" in header
    source = (out / "net.c").read_text()
    assert "sha256" in source and "bnncompile " + bnncompile.__version__ in source
    assert "malloc" not in source


def test_compiling_twice_gives_byte_identical_files(tmp_path):
    for d in ("a", "b"):
        assert run_cli("compile", MODEL, "-o", tmp_path / d, "--name", "net").returncode == 0
    for f in (tmp_path / "a").iterdir():
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


@pytest.mark.parametrize("cc", c_compilers())
def test_generated_c_is_strict_c99_and_both_entry_points_agree(tmp_path, cc):
    out = tmp_path / "c"
    assert run_cli("compile", MODEL, "-o", out, "--name", "net").returncode == 0
    exe = tmp_path / "prog"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", f"-I{out}", str(out / "net.c"),
                    str(HERE / "c" / "workspace_main.c"), "-o", str(exe), "-lm"], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert len(r.stdout.splitlines()) == 10


def test_python_api_runs_the_c_on_a_batch(tmp_path, digits):
    model = bnncompile.compile(str(MODEL), tmp_path / "c", name="net")
    try:
        x = digits_for(MODEL, digits[0][:50])
        y = model.run(x)
    finally:
        model.close()
    assert y.shape == (50, 10)
    assert (y.argmax(axis=1) == digits[1][:50]).mean() > 0.9


def test_verify_passes_on_a_real_model(tmp_path):
    r = run_cli("verify", MODEL, "--samples", "40", "--layers")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("PASS: 40 samples")


@pytest.mark.parametrize("content,message", [(b"", "is empty"), (b"garbage\xff\xfe" * 10, "not an ONNX model")])
def test_errors_are_one_line_exit_2_and_leave_nothing_behind(tmp_path, content, message):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    out = tmp_path / "never"
    r = run_cli("compile", bad, "-o", out)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.startswith("bnncompile: error:")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_unsupported_model_leaves_no_partial_output(tmp_path):
    b = GraphBuilder([4])
    b.node("Tanh", ["x"])
    path = b.save(tmp_path / "tanh.onnx")
    r = run_cli("compile", path, "-o", tmp_path / "out")
    assert r.returncode == 2 and "Tanh_1" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_debug_flag_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"")
    r = run_cli("--debug", "compile", bad, "-o", tmp_path / "o")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_debug_is_accepted_after_the_command_too(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"")
    r = run_cli("compile", bad, "-o", tmp_path / "o", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr
    quiet = run_cli("compile", bad, "-o", tmp_path / "o")
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout.startswith(f"bnncompile {bnncompile.__version__} (python ") and "onnxruntime" in r.stdout


def test_bad_name_is_refused(tmp_path):
    r = run_cli("compile", MODEL, "-o", tmp_path / "o", "--name", "3net-x")
    assert r.returncode == 2 and "C identifier" in r.stderr


def test_verify_reads_inputs_from_npy(tmp_path, digits):
    np.save(tmp_path / "x.npy", digits_for(MODEL, digits[0][:30]))
    r = run_cli("verify", MODEL, "--inputs", tmp_path / "x.npy")
    assert r.returncode == 0 and "30 samples" in r.stdout


def test_the_wheel_ships_runtime_templates_and_targets(tmp_path):
    """An installed wheel must be able to compile a model and emit golden programs."""
    import sys
    import zipfile

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "-w", str(tmp_path), "."], check=True, capture_output=True, text=True)
    # a clean pyproject.toml: setuptools has nothing to complain about
    assert not [line for line in (built.stdout + built.stderr).splitlines()
                if "Warning" in line and "pypi" not in line], built.stderr
    wheel = next(tmp_path.glob("bnncompile-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for header in resource_dir("runtime").glob("bnn_*.h"):
        assert f"bnncompile/runtime/{header.name}" in names
    for template in ("model.c.j2", "model.h.j2", "banner.j2", "placement.j2", "golden/golden_main.c.j2",
                     "golden/Makefile.j2", "build/CMakeLists.txt.j2", "build/model.mk.j2", "build/hash_banner.j2",
                     "build/arduino/library.properties.j2", "build/arduino/example.ino.j2",
                     "report/report.html.j2"):
        assert f"bnncompile/templates/{template}" in names
    from bnncompile.boards import BOARDS
    from bnncompile.codegen.golden import COMMON_FILES

    for board in (b for b in BOARDS.values() if b.machine):  # every file a golden program copies
        for target in (*board.machine.sources, board.machine.linker_script):
            assert f"bnncompile/targets/{board.core.family}/{target}" in names
    for target in COMMON_FILES:
        assert f"bnncompile/targets/common/{target}" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "bnncompile = bnncompile.pytest_plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.parametrize("array,message", [
    (np.zeros((0, 64), np.float32), "no samples"),
    (np.array(["a", "b"]), "numeric"),
    (np.full((2, 64), np.nan, np.float32), "NaN or infinite"),
])
def test_verify_refuses_unusable_inputs_cleanly(tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    r = run_cli("verify", MODEL, "--inputs", tmp_path / "x.npy")
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_compile_notes_are_printed_as_warnings(capsys):
    """Passes report diagnostics as ir.Note; the CLI prints each one on stderr, naming the node."""
    from bnncompile import ir
    from bnncompile.cli import print_notes

    g = ir.Graph("g", {}, (), (), (), notes=(ir.Note("not-binary", "fc1", "3 weights are exactly 0"),))
    assert ir.rebuild(g, []).notes == g.notes  # passes keep notes through rebuild
    print_notes(g)
    assert capsys.readouterr().err == "bnncompile: warning: node 'fc1': 3 weights are exactly 0\n"
