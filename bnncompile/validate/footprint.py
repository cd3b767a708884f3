"""Measured footprint of generated C on a microcontroller core: code bytes and
the stack of one inference, from the core's cross compiler, when it is
installed.

The model's C is compiled exactly as the golden program compiles it (the
core's flags, -O2, one section per function and per array), then:
- code  = every read-only section of the object (.text*, .rodata*,
  .srodata*) except the model's own constant arrays, which `report` counts
  as weights and thresholds: functions, literal pools, jump tables and any
  runtime tables (an array the compiler folded into the code counts in both:
  a few bytes over, never under);
- stack = the deepest call path from NAME_run or NAME_run_ws in GCC's call
  graph with frame sizes (-fcallgraph-info=su), plus LIBRARY_STACK for each
  call into the C library or libgcc on that path (soft-float arithmetic,
  memset, expf), whose frames the compiler cannot see. The golden programs
  reserve this much stack (plus their own) and fail if it was exceeded.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from ..boards import Core

OPT_FLAGS = ("-std=c99", "-O2", "-ffunction-sections", "-fdata-sections")
# Bytes allowed per library call on a path (the deepest library routine the
# generated code calls -- soft-float add/mul/div/compare, memset/memcpy,
# expf/logf in newlib-nano or picolibc -- uses less; tests/test_golden.py
# runs every golden program with a stack of exactly the measured size).
LIBRARY_STACK = 128

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "[^"]*?(?:\\n(\d+) bytes \((?:static|dynamic)[^)]*\))?"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def toolchain_missing(core: Core) -> str | None:
    """None if `core`'s compiler and size tool are installed, else a hint."""
    if shutil.which(core.cc) and shutil.which(core.tool("size")):
        return None
    return f"install {core.packages} to also measure code size and stack for {core.name}"


def _worst_stack(callgraph: str, roots: list[str]) -> int:
    frames: dict[str, int | None] = {}
    for title, nbytes in _NODE.findall(callgraph):
        frames[title] = int(nbytes) if nbytes else None  # None: outside this file (a library)
    calls: dict[str, set[str]] = {}
    for src, dst in _EDGE.findall(callgraph):
        calls.setdefault(src, set()).add(dst)

    @lru_cache(maxsize=None)
    def depth(fn: str) -> int:
        own = frames.get(fn)
        if own is None:
            return LIBRARY_STACK
        return own + max([depth(callee) for callee in calls.get(fn, ()) if callee != fn] + [0])

    return max([depth(r) for r in roots if r in frames] + [0])


def measure(files: dict[str, str], name: str, core: Core, constants: set[str]) -> dict:
    """{'code': bytes, 'stack': bytes, 'arrays': {name: bytes}, 'toolchain':
    text} for `core`, or {} when its toolchain is not installed. `constants`
    are the names of the model's arrays, which `report` counts as weights and
    thresholds; 'arrays' are those the compiler kept as data (it may fold a
    small one, e.g. a conv geometry, into the code: that one is then counted
    twice, a slight overestimate)."""
    if toolchain_missing(core):
        return {}
    with tempfile.TemporaryDirectory(prefix="bnncompile-size-") as tmp:
        for fname, text in files.items():
            Path(tmp, fname).write_text(text)
        subprocess.run([core.cc, *core.cflags, *OPT_FLAGS, "-fcallgraph-info=su", "-c", f"{name}.c",
                        "-o", f"{name}.o"], cwd=tmp, check=True, capture_output=True)
        sections = subprocess.run([core.tool("size"), "-A", f"{name}.o"], cwd=tmp, check=True,
                                  capture_output=True, text=True).stdout
        callgraph = Path(tmp, f"{name}.ci").read_text()
    code, arrays = 0, {}
    for line in sections.splitlines():
        parts = line.split()
        if len(parts) < 2 or not re.match(r"\.(text|s?rodata)", parts[0]):
            continue
        if parts[0].split(".", 2)[-1] in constants:
            arrays[parts[0].split(".", 2)[-1]] = int(parts[1])
        else:
            code += int(parts[1])
    stack = _worst_stack(callgraph, [f"{name}_run", f"{name}_run_ws"])
    return {"code": code, "stack": stack, "arrays": arrays, "toolchain": f"{core.cc} -O2, {core.name}"}
