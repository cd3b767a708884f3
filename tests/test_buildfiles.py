"""What `compile` writes for a firmware project's build: a CMake library target,
a Makefile fragment, an Arduino/PlatformIO library folder, data-placement
macros; and how it writes (no silent overwrite, normal permissions)."""
import json
import os
import re
import shutil
import subprocess

import pytest
from conftest import ROOT, run_cli

MLP = "examples/digits/digits_bnn.onnx"  # has a Softmax: needs libm
CNN = "tests/fixtures/torch/torch_cnn_legacy.onnx"
C_DIR = ROOT / "tests" / "c"
CORTEX_M = ROOT / "targets" / "cortex-m"
TARGET_COMMON = ROOT / "targets" / "common"
REQUIRE_TOOLS = os.environ.get("BNN_REQUIRE_TOOLS") == "1"


def needs(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    return pytest.mark.skipif(bool(missing) and not REQUIRE_TOOLS, reason=f"needs {', '.join(missing)}")


def compile_to(folder, model=MLP, *extra):
    r = run_cli("compile", model, "-o", folder, "--name", "net", *extra)
    assert r.returncode == 0, r.stderr
    return r


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    return r


@needs("cmake", "cc")
def test_cmake_builds_a_static_library_that_a_firmware_project_links(tmp_path):
    compile_to(tmp_path / "model")
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(C_DIR / "workspace_main.c", app / "main.c")
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(firmware C)\n"
        f"add_subdirectory({(tmp_path / 'model').as_posix()} bnn_net)\n"
        "add_executable(app main.c)\ntarget_link_libraries(app PRIVATE bnn::net)\n")
    run(["cmake", "-S", app, "-B", tmp_path / "build", "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror -pedantic"])
    run(["cmake", "--build", tmp_path / "build"])
    assert (tmp_path / "build" / "bnn_net" / "libbnn_net.a").is_file()
    out = run([tmp_path / "build" / "app"]).stdout
    assert len(out.splitlines()) == 10  # both entry points ran and agreed on all 10 outputs


@needs("make", "cc")
def test_makefile_fragment_gives_sources_flags_and_libraries(tmp_path):
    compile_to(tmp_path / "model")
    fragment = (tmp_path / "model" / "net.mk").read_text()
    assert "NET_LDLIBS := -lm" in fragment  # Softmax needs expf
    shutil.copy(C_DIR / "workspace_main.c", tmp_path / "main.c")
    (tmp_path / "Makefile").write_text(
        "include model/net.mk\nCFLAGS = -std=c99 -Wall -Wextra -Werror -pedantic -O2 $(NET_CFLAGS)\n"
        "app: main.c $(NET_SRCS) $(NET_HDRS)\n\t$(CC) $(CFLAGS) -o $@ main.c $(NET_SRCS) $(NET_LDLIBS)\n")
    run(["make", "-C", tmp_path, "app"])
    assert len(run([tmp_path / "app"]).stdout.splitlines()) == 10


@needs("cc", "readelf")
def test_placement_macros_put_weights_and_arena_in_the_named_sections(tmp_path):
    compile_to(tmp_path / "c", CNN)
    obj = tmp_path / "net.o"
    run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c", tmp_path / "c" / "net.c",
         "-o", obj, '-DBNN_WEIGHTS_SECTION=".rodata.bnn_weights"', "-DBNN_WEIGHTS_ALIGN=16",
         '-DBNN_ARENA_SECTION=".bss.bnn_arena"', "-DBNN_ARENA_ALIGN=64"])
    sections = run(["readelf", "-S", "-W", obj]).stdout
    aligns = {m.group(1): int(m.group(2)) for m in
              re.finditer(r"\]\s+(\.\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s*$", sections, re.M)}
    assert aligns.get(".rodata.bnn_weights") == 16 and aligns.get(".bss.bnn_arena") == 64, sections
    symbols = run(["readelf", "-s", "-W", obj]).stdout
    index = {m.group(2): m.group(1) for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\.\S+)", sections, re.M)}
    arena = next(line for line in symbols.splitlines() if line.endswith(" net_arena"))
    assert arena.split()[6] == index[".bss.bnn_arena"]
    weights = [line for line in symbols.splitlines() if re.search(r" net_l\d+_weights$", line)]
    assert weights and all(line.split()[6] == index[".rodata.bnn_weights"] for line in weights)
    plain = tmp_path / "plain.o"  # without the macros: the compiler's usual sections
    run(["cc", "-std=c99", "-O2", "-c", tmp_path / "c" / "net.c", "-o", plain])
    assert ".bnn_" not in run(["readelf", "-S", "-W", plain]).stdout


# The flags Arduino's SAMD core (Arduino Zero, Cortex-M0+) compiles libraries and sketches with.
ARDUINO_SAMD = ["-mcpu=cortex-m0plus", "-mthumb", "-g", "-Os", "-ffunction-sections", "-fdata-sections",
                "--param", "max-inline-insns-single=500", "-DF_CPU=48000000L", "-DARDUINO=10607",
                "-DARDUINO_SAMD_ZERO", "-DARDUINO_ARCH_SAMD", "-D__SAMD21G18A__", "-Wall", "-Wextra", "-Werror"]


def test_arduino_layout_is_a_library_folder(tmp_path):
    lib = tmp_path / "bnn_net"
    compile_to(lib, MLP, "--layout", "arduino")
    assert (lib / "src" / "net.c").is_file() and (lib / "src" / "bnn_runtime.h").is_file()
    props = dict(line.split("=", 1) for line in (lib / "library.properties").read_text().splitlines())
    assert props["name"] == "bnn_net" and props["includes"] == "net.h" and props["architectures"] == "*"
    meta = json.loads((lib / "library.json").read_text())
    assert meta["name"] == "bnn_net" and meta["build"] == {"srcDir": "src", "includeDir": "src"}
    assert (lib / "examples" / "net_demo" / "net_demo.ino").is_file()
    assert not (lib / "net.c").exists() and not (lib / "CMakeLists.txt").exists()


@needs("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm")
def test_arduino_library_and_sketch_build_with_the_samd_core_flags_and_run(tmp_path):
    """arduino-cli is not installable here and pio needs its own registry, so the
    library is built the way the Arduino SAMD core builds it: src/*.c with its C
    flags, the sketch (.ino -> .cpp with Arduino.h first) with its C++ flags,
    against a stand-in core (tests/c/arduino/), then run under QEMU."""
    lib = tmp_path / "bnn_net"
    compile_to(lib, MLP, "--layout", "arduino")
    build = tmp_path / "build"
    build.mkdir()
    ino = lib / "examples" / "net_demo" / "net_demo.ino"
    (build / "net_demo.ino.cpp").write_text(f'#include <Arduino.h>\n#line 1 "{ino}"\n' + ino.read_text())
    cpu = ["-mcpu=cortex-m0plus", "-mthumb"]
    # the weights in a named flash section and the arena in a named RAM one, as firmware would
    place = ['-DBNN_WEIGHTS_SECTION=".rodata.bnn"', '-DBNN_ARENA_SECTION=".bss.bnn"', "-DBNN_ARENA_ALIGN=8"]
    objs = []
    for source in sorted((lib / "src").glob("*.c")):
        objs.append(build / (source.stem + ".o"))
        run(["arm-none-eabi-gcc", *ARDUINO_SAMD, "-std=gnu11", "-nostdlib", *place, f"-I{lib / 'src'}", "-c",
             source, "-o", objs[-1]])
    cxx = [*ARDUINO_SAMD, "-std=gnu++11", "-fno-threadsafe-statics", "-fno-rtti", "-fno-exceptions",
           f"-I{C_DIR / 'arduino'}", f"-I{lib / 'src'}", f"-I{TARGET_COMMON}"]
    for source in (build / "net_demo.ino.cpp", C_DIR / "arduino" / "arduino_main.cpp"):
        objs.append(build / (source.name + ".o"))
        run(["arm-none-eabi-g++", *cxx, "-c", source, "-o", objs[-1]])
    for source in (CORTEX_M / "startup.c", CORTEX_M / "semihost.c", TARGET_COMMON / "console.c"):
        objs.append(build / (source.name + ".o"))
        run(["arm-none-eabi-gcc", *cpu, "-std=c99", "-Os", f"-I{TARGET_COMMON}", "-c", source, "-o", objs[-1]])
    elf = build / "sketch.elf"
    run(["arm-none-eabi-gcc", *cpu, "-nostartfiles", "--specs=nano.specs", "-T", CORTEX_M / "microbit.ld",
         "-Wl,--gc-sections", *objs, "-o", elf, "-lm"])
    symbols = run(["arm-none-eabi-nm", elf]).stdout
    arena = next(int(line.split()[0], 16) for line in symbols.splitlines() if line.endswith(" net_arena"))
    assert arena >= 0x20000000 and arena % 8 == 0  # RAM, aligned as asked
    out = run(["timeout", "120", "qemu-system-arm", "-M", "microbit", "-display", "none", "-serial", "none",
               "-monitor", "none", "-chardev", "stdio,id=semihost", "-semihosting-config",
               "enable=on,target=native,chardev=semihost", "-kernel", elf], stdin=subprocess.DEVNULL).stdout
    assert re.fullmatch(r"net: status 0, output \d \(\S+\) in 1 us\n", out), out


def test_existing_files_are_kept_unless_force(tmp_path):
    out = tmp_path / "c"
    compile_to(out)
    (out / "net.h").write_text("/* the user's own edit */\n")
    r = run_cli("compile", MLP, "-o", out, "--name", "net")
    assert r.returncode == 2 and "net.h' already exists" in r.stderr and "--force" in r.stderr
    assert (out / "net.h").read_text() == "/* the user's own edit */\n"
    assert run_cli("compile", MLP, "-o", out, "--name", "net").returncode == 2  # still refused, nothing changed
    compile_to(out, MLP, "--force")
    assert "net_run" in (out / "net.h").read_text()
    compile_to(out)  # the same files again: nothing would change, so no --force is needed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no staging folder left behind


def test_output_folders_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        compile_to(tmp_path / "a" / "b", MLP, "--layout", "arduino")
    finally:
        os.umask(old)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "src"):
        assert folder.stat().st_mode & 0o777 == 0o755, folder
    assert (tmp_path / "a" / "b" / "src" / "net.c").stat().st_mode & 0o777 == 0o644
