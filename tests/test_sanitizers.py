"""The generated C under AddressSanitizer + UndefinedBehaviorSanitizer, and cppcheck.

Every exported fixture and the example model is compiled (`--name net`), built
with tests/c/sanitize_main.c by gcc and clang with
`-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all` and the strict
warning flags, and run on 50 digits plus a few hostile inputs (NaN, infinities,
FLT_MAX, denormals, -0). The run must exit 0 with no sanitizer output, both
entry points must agree bit for bit, and the digits' outputs must match the
reference within the contract's tolerance.

cppcheck (warning, style, performance, portability) runs on each generated
`net.c` with the runtime headers. Its value-flow analysis takes minutes on the
big weight initializers of some models, so the fast test blanks the contents
of the `static const` arrays (data, not code: sizes and types stay) and the
`slow` test runs it on the unmodified files.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from conftest import EXPORTED_FIXTURES, ROOT, c_compilers, digits_for

from bnncompile.compiler import compile_to_memory
from bnncompile.validate import ATOL, RTOL, Reference

# Issue-11 fixtures covering the new kernels: PRelu and global average pooling (ReActNet),
# arithmetic between activations (detach STE), zero-stuffing (ConvTranspose), ceil_mode
# pooling, one padding of 1-D maps, 3-D convolution and pooling; and the bit-plane kernels:
# ternary kernels (XNOR with a mask; plane forms), 2-bit levels (multi-thresholds, pooling),
# {0,1} inputs, packed concatenation.
MODERN = [ROOT / "tests" / "fixtures" / "modern" / f for f in (
    "torch/torch_reactnet_legacy.onnx", "torch/torch_bireal_legacy.onnx", "torch/torch_ste_detach_legacy.onnx",
    "torch/torch_convtranspose_legacy.onnx", "torch/torch_ceilpool_legacy.onnx", "larq/larq_conv1d_pad1_op13.onnx",
    "larq/larq_conv3d_op13.onnx", "larq/larq_ternary_op13.onnx", "brevitas/brevitas_w2a2_legacy.onnx",
    "torch/torch_binarizers_legacy.onnx")]
MODELS = [*EXPORTED_FIXTURES, ROOT / "examples" / "digits" / "digits_bnn.onnx", *MODERN]
DRIVER = ROOT / "tests" / "c" / "sanitize_main.c"
SAMPLES = 50
SANITIZE = ["-std=c99", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-Wall", "-Wextra", "-Werror", "-pedantic"]
CPPCHECK = ["cppcheck", "--enable=warning,style,performance,portability", "--error-exitcode=1", "--std=c99",
            "--max-configs=64",  # every kernel variant of the seam times the placement macros
            "--inline-suppr", "-q", "--template={file}:{line}:{severity}:{id}:{message}"]
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1",
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
WORKERS = max(2, os.cpu_count() or 2)


def missing(reason: str) -> None:
    """Skip on a developer machine without the tool; fail in CI, which installs it."""
    if os.environ.get("BNN_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)



@lru_cache(maxsize=None)
def sanitizers_work(cc: str) -> bool:
    """The compiler is installed and has its ASan/UBSan runtime."""
    if cc not in c_compilers():
        return False
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d, "t.c"), Path(d, "t")
        src.write_text("int main(void) { return 0; }\n")
        if subprocess.run([cc, *SANITIZE, str(src), "-o", str(exe)], capture_output=True).returncode != 0:
            return False
        return subprocess.run([str(exe)], capture_output=True, env=ENV).returncode == 0


def model_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def hostile_samples(shape) -> np.ndarray:
    specials = np.array([np.nan, np.inf, -np.inf, np.finfo(np.float32).max, -np.finfo(np.float32).max,
                         np.finfo(np.float32).tiny / 4, -0.0, 0.0], np.float32)
    rows = [np.full(shape, v, np.float32) for v in specials]
    rows.append(np.resize(specials, shape).astype(np.float32))  # all of them mixed in one sample
    return np.stack(rows)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, digits):
    """Per model: the generated files in a folder, the input file and the reference outputs."""
    root = tmp_path_factory.mktemp("sanitize")
    images = digits[0][:SAMPLES]

    def prepare(path):
        compiled = compile_to_memory(path, name="net")
        folder = root / model_id(path).replace("/", "_")
        folder.mkdir()
        for name, text in compiled.files.items():
            (folder / name).write_text(text)
        shape = compiled.graph.sample_shape
        if len(shape) == 4:  # the 3-D fixture: the digit rolled right by 0..3 pixels as 4 frames
            x = np.stack([np.roll(images, k, axis=2) for k in range(4)], axis=1)[..., None]
        else:
            x = digits_for(shape, images)
        x = np.ascontiguousarray(x, dtype=np.float32)
        np.concatenate([x, hostile_samples(shape)]).tofile(folder / "samples.f32")
        reference = Reference(path)
        y = reference.outputs(reference.run(x)).reshape(len(x), -1)
        return path, (folder, y)

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(prepare, MODELS))


@pytest.fixture(scope="module")
def sanitized_runs(prepared):
    """(model, compiler) -> (build, run) results; all built and run in parallel."""
    jobs = [(path, cc) for path in MODELS for cc in ("gcc", "clang") if sanitizers_work(cc)]

    def build_and_run(job):
        path, cc = job
        folder, _ = prepared[path]
        exe = folder / f"sanitize_{cc}"
        build = subprocess.run([cc, *SANITIZE, f"-I{folder}", str(folder / "net.c"), str(DRIVER), "-o", str(exe),
                                "-lm"], capture_output=True, text=True)
        run = None
        if build.returncode == 0:
            run = subprocess.run([str(exe), str(folder / "samples.f32")], capture_output=True, text=True, env=ENV,
                                 timeout=120)
        return job, (build, run)

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(build_and_run, jobs))


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("path", MODELS, ids=model_id)
def test_sanitized_build_runs_clean_and_matches_the_reference(sanitized_runs, prepared, path, cc):
    if not sanitizers_work(cc):
        missing(f"{cc} with -fsanitize=address,undefined is not available")
    build, run = sanitized_runs[(path, cc)]
    assert build.returncode == 0, build.stderr
    assert build.stderr == "", build.stderr  # no warnings either
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stderr[-4000:]}"
    assert run.stderr == "", run.stderr[-4000:]  # nothing from ASan, UBSan or LeakSanitizer
    lines = run.stdout.splitlines()
    _, ref = prepared[path]
    assert len(lines) == SAMPLES + len(hostile_samples((1,)))
    out = np.array([[float(v) for v in line.split()] for line in lines[:SAMPLES]], dtype=np.float32)
    assert out.shape == ref.shape
    assert np.all(np.abs(out - ref) <= ATOL + RTOL * np.abs(ref)), float(np.max(np.abs(out - ref)))
    assert np.array_equal(out.argmax(axis=1), ref.argmax(axis=1))


def blank_array_data(source: str) -> str:
    """`static const T name[N] = { ...numbers... };` -> `= { 0 };`: same declarations, no data."""
    return re.sub(r"(static const [\w ]+ \w+\[\d+\] = \{)\n.*?\n(\};)", r"\1 0 \2", source, flags=re.S)


def cppcheck(folder: Path, source: Path, *extra: str) -> tuple[int, list[tuple[str, str, str, str, str]]]:
    proc = subprocess.run([*CPPCHECK, *extra, "-I", str(folder), str(source)], capture_output=True, text=True)
    found = []
    for line in proc.stderr.splitlines():
        parts = line.split(":", 4)
        if len(parts) == 5 and parts[1].isdigit():
            name = Path(parts[0]).name.replace("net_blanked.c", "net.c")
            found.append((name, parts[1], parts[2], parts[3], parts[4]))
        elif line.strip():
            found.append(("?", "0", "error", "unparsed", line))
    return proc.returncode, found


def judge_cppcheck(returncode, found):
    assert not found, "cppcheck:\n" + "\n".join(":".join(w) for w in found)
    assert returncode == 0


@pytest.fixture(scope="module")
def cppcheck_results(prepared):
    if not shutil.which("cppcheck"):
        missing("cppcheck is not installed")

    def check(path):
        folder, _ = prepared[path]
        blanked = folder / "net_blanked.c"
        blanked.write_text(blank_array_data((folder / "net.c").read_text()))
        return path, cppcheck(folder, blanked)

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(check, MODELS))


@pytest.mark.parametrize("path", MODELS, ids=model_id)
def test_cppcheck_finds_nothing(cppcheck_results, path):
    judge_cppcheck(*cppcheck_results[path])


def test_blanking_keeps_every_declaration(prepared):
    folder, _ = prepared[MODELS[0]]
    source = (folder / "net.c").read_text()
    blanked = blank_array_data(source)
    declarations = re.findall(r"static const [\w ]+ \w+\[\d+\]", source)
    assert declarations and declarations == re.findall(r"static const [\w ]+ \w+\[\d+\]", blanked)
    assert len(blanked) < len(source)


@pytest.mark.slow
@pytest.mark.parametrize("path", MODELS, ids=model_id)
def test_cppcheck_on_the_unmodified_files(prepared, path):
    if not shutil.which("cppcheck"):
        missing("cppcheck is not installed")
    folder, _ = prepared[path]
    # Every configuration of the seam (kernel variants x placement macros) is checked on the
    # blanked file in the default tier; the real constant arrays are the same in every one, and
    # 64 configurations of the full arrays take cppcheck ~10 minutes per model since the
    # microcontroller kernels: one configuration here.
    judge_cppcheck(*cppcheck(folder, folder / "net.c", "--max-configs=1", "--suppress=toomanyconfigs"))
