"""Every kernel variant against the reference kernels, bit for bit, and the
reference against numpy; every fixture traced step by step in every variant.

tests/c/kernel_driver.c runs each case (tests/kernel_cases.py: odd channel
counts, tails, strides, dilation, groups, both padding modes, ternary inputs
and outputs, every output transform) through the reference kernels and
through the variant the seam picks for its build. It is built once per
variant this machine can run: x86-64 portable, SSE2 (the x86-64 baseline), AVX2,
AVX-512 VPOPCNTDQ (when the CPU has them), and AArch64 NEON and portable with aarch64-linux-gnu-gcc
under qemu-aarch64 (CI installs both; BNN_REQUIRE_TOOLS=1 makes a missing
tool a failure). Float cases also check that builds never differ: the
reference's outputs must be byte-identical in every build (-O2 and -O3
-march=native, GNU and ISO C, x86-64 and AArch64, with OpenMP threads), i.e.
no build contracted a multiply and an add into an FMA. Finally every fixture's generated C is
built in each variant and run on digits: every step's output bytes and the
final outputs must equal the reference build's.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from conftest import EXPORTED_FIXTURES, ROOT, digits_for
from kernel_cases import all_cases

from bnncompile.compiler import compile_to_memory
from bnncompile.resources import resource_dir

DRIVER = ROOT / "tests" / "c" / "kernel_driver.c"
TRACE_MAIN = ROOT / "tests" / "c" / "trace_main.c"
STRICT = ["-Wall", "-Wextra", "-Werror", "-pedantic"]
QEMU_AARCH64 = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]
# the OpenMP build shares rows between two threads (idle threads sleep: the machine is shared)
OMP_ENV = dict(os.environ, OMP_NUM_THREADS="2", OMP_WAIT_POLICY="passive")


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# variant -> (compiler, flags, the BNN_KERNELS name it must report, what it needs to run)
VARIANTS = {
    "reference": ("cc", ["-std=c99", "-O2", "-DBNN_REFERENCE_KERNELS"], "reference", None),
    "portable": ("cc", ["-std=c99", "-O2", "-DBNN_PORTABLE_KERNELS"], "portable", None),
    "portable-gnu-O3": ("cc", ["-std=gnu99", "-O3", "-DBNN_PORTABLE_KERNELS"], "portable", None),
    "sse2": ("cc", ["-std=c99", "-O2"], "sse2", {"sse2"}),
    "avx2": ("cc", ["-std=gnu99", "-O2", "-mavx2", "-mfma", "-mpopcnt"], "avx2", {"avx2", "fma", "popcnt"}),
    "avx512": ("cc", ["-std=gnu99", "-O3", "-mavx512f", "-mavx512vpopcntdq", "-mavx2", "-mfma", "-mpopcnt"],
               "avx512-vpopcntdq", {"avx512f", "avx512_vpopcntdq"}),
    "native": ("cc", ["-std=gnu99", "-O3", "-march=native"], None, None),
    "native-openmp": ("cc", ["-std=gnu99", "-O3", "-march=native", "-fopenmp"], None, None),
    "aarch64-neon": ("aarch64-linux-gnu-gcc", ["-std=gnu99", "-O2"], "neon", "qemu"),
    "aarch64-portable": ("aarch64-linux-gnu-gcc", ["-std=c99", "-O3", "-DBNN_PORTABLE_KERNELS"], "portable", "qemu"),
}


def missing(reason: str) -> None:
    if os.environ.get("BNN_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    cases = all_cases()
    path = tmp_path_factory.mktemp("cases") / "cases.bin"
    path.write_bytes(b"".join(c.record() for c in cases))
    return cases, path


def require(variant: str) -> None:
    """Skip a variant this CPU cannot run; fail (in CI) or skip when a tool is missing."""
    cc, _, _, needs = VARIANTS[variant]
    if needs == "qemu":
        if not shutil.which(cc) or not shutil.which("qemu-aarch64"):
            missing(f"{cc} and qemu-aarch64 are needed for the AArch64 variants (Debian: gcc-aarch64-linux-gnu, "
                    "libc6-dev-arm64-cross, qemu-user)")
    elif needs and not needs <= cpu_flags():
        pytest.skip(f"this CPU cannot run {variant} ({', '.join(sorted(needs - cpu_flags()))} missing)")


def command(variant: str, exe: Path) -> list[str]:
    return [*QEMU_AARCH64, str(exe)] if VARIANTS[variant][3] == "qemu" else [str(exe)]


@lru_cache(maxsize=None)
def run_variant(variant: str, cases_path: Path) -> tuple[str, bytes]:
    """(BNN_KERNELS the build reports, the output file) of one variant."""
    cc, flags, _, needs = VARIANTS[variant]
    require(variant)
    work = cases_path.parent
    exe = work / f"driver-{variant}"
    build = subprocess.run([cc, *flags, *STRICT, f"-I{resource_dir('runtime')}", str(DRIVER), "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    assert build.stderr == "", build.stderr
    out = work / f"out-{variant}.bin"
    run = subprocess.run([*command(variant, exe), str(cases_path), str(out)], capture_output=True, text=True,
                         timeout=600, env=OMP_ENV)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip(), out.read_bytes()


def split(cases, raw: bytes):
    """Per case: (reference planes, variant planes)."""
    result, at = [], 0
    for c in cases:
        n = c.y_bytes * c.planes
        result.append((raw[at:at + n], raw[at + n:at + 2 * n]))
        at += 2 * n
    assert at == len(raw)
    return result


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_is_bit_identical_to_the_reference(cases_file, variant):
    cases, path = cases_file
    name, raw = run_variant(variant, path)
    want = VARIANTS[variant][2]
    if want is not None:
        assert name == want, f"the seam picked {name}, not {want}"
    differing = [c.name for c, (ref, opt) in zip(cases, split(cases, raw)) if ref != opt]
    assert not differing, f"{variant} ({name}) differs from the reference on {differing}"


@pytest.mark.parametrize("variant", ["reference", "avx512", "aarch64-neon"])
def test_the_reference_computes_what_numpy_computes(cases_file, variant):
    cases, path = cases_file
    _, raw = run_variant(variant, path)
    wrong = [c.name for c, (ref, _) in zip(cases, split(cases, raw)) if c.expected is not None and ref != c.expected]
    assert not wrong, wrong


def test_every_build_rounds_the_same(cases_file):
    """The reference's float outputs (real sums in one order, chains of ops) are
    byte-identical across compilers, flags and architectures: no FMA contraction."""
    cases, path = cases_file
    outputs = {}
    for variant in VARIANTS:
        try:
            outputs[variant] = split(cases, run_variant(variant, path)[1])
        except pytest.skip.Exception:
            continue
    assert {"reference", "portable-gnu-O3", "native"} <= set(outputs)
    first = outputs["reference"]
    for variant, result in outputs.items():
        differing = [c.name for c, (a, b) in zip(cases, zip(first, result)) if a[0] != b[0]]
        assert not differing, f"{variant} rounds differently on {differing}"


# ---------------------------------------------------------------- every fixture, step by step

MODELS = [*EXPORTED_FIXTURES, ROOT / "examples" / "digits" / "digits_bnn.onnx"]
MODEL_VARIANTS = ["reference", "portable", "sse2", "avx2", "avx512", "native", "native-openmp", "aarch64-neon"]


def model_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture(scope="module")
def traced(tmp_path_factory, digits):
    """(model, variant) -> bytes of every step of 40 digits, or the reason the variant cannot run here."""
    root = tmp_path_factory.mktemp("traced")
    runnable = {}
    for variant in MODEL_VARIANTS:
        try:
            require(variant)
            runnable[variant] = None
        except pytest.skip.Exception as exc:
            runnable[variant] = str(exc)

    def prepare(path):
        folder = root / model_id(path).replace("/", "_")
        folder.mkdir()
        compiled = compile_to_memory(path, name="net")
        for name, text in compiled.files.items():
            (folder / name).write_text(text)
        shape = compiled.graph.tensors[compiled.graph.inputs[0]].shape
        x = digits_for(shape, digits[0][:40]).astype(np.float32)
        x.tofile(folder / "samples.f32")
        return folder

    def run(job):
        folder, variant = job
        cc, flags, _, _ = VARIANTS[variant]
        exe = folder / f"trace-{variant}"
        build = subprocess.run([cc, *flags, *STRICT, "-DBNN_TRACE", f"-I{folder}", str(folder / "net.c"),
                                str(TRACE_MAIN), "-o", str(exe), "-lm"], capture_output=True, text=True)
        if build.returncode != 0:
            return job, f"build failed: {build.stderr}"
        out = folder / f"trace-{variant}.bin"
        result = subprocess.run([*command(variant, exe), str(folder / "samples.f32"), str(out)],
                                capture_output=True, text=True, timeout=600, env=OMP_ENV)
        return job, out.read_bytes() if result.returncode == 0 else f"run failed: {result.stderr}"

    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        folders = dict(zip(MODELS, pool.map(prepare, MODELS)))
        jobs = [(folders[m], v) for m in MODELS for v in MODEL_VARIANTS if runnable[v] is None]
        results = dict(pool.map(run, jobs))
    return {(m, v): results[(folders[m], v)] if runnable[v] is None else runnable[v]
            for m in MODELS for v in MODEL_VARIANTS}


@pytest.mark.parametrize("variant", MODEL_VARIANTS[1:])
@pytest.mark.parametrize("path", MODELS, ids=model_id)
def test_every_fixture_traces_identically_in_every_variant(traced, path, variant):
    got = traced[(path, variant)]
    if isinstance(got, str) and got.startswith("this CPU"):
        pytest.skip(got)
    if isinstance(got, str) and not got.startswith(("build", "run")):
        missing(got)
    reference = traced[(path, "reference")]
    assert isinstance(reference, bytes), reference
    assert isinstance(got, bytes), got
    assert len(got) == len(reference) and got == reference, f"{variant} differs from the reference kernels"
