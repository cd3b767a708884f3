"""Measured footprint of generated C on a Cortex-M: code bytes and the stack
of one inference, from arm-none-eabi-gcc (-Os, -fstack-usage), when that
toolchain is installed."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CORTEX_M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def measure_cortex_m(files: dict[str, str], name: str) -> dict:
    """{'code': bytes of .text, 'stack': bytes, 'toolchain': text} or {} without a toolchain."""
    gcc, size = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-size")
    if not gcc or not size:
        return {}
    with tempfile.TemporaryDirectory(prefix="bnncompile-size-") as tmp:
        for fname, text in files.items():
            Path(tmp, fname).write_text(text)
        obj = Path(tmp, f"{name}.o")
        subprocess.run([gcc, "-std=c99", "-Os", *CORTEX_M4, "-ffunction-sections", "-fdata-sections",
                        "-fstack-usage", "-c", f"{name}.c", "-o", obj.name], cwd=tmp, check=True,
                       capture_output=True)
        sections = subprocess.run([size, "-A", obj.name], cwd=tmp, check=True, capture_output=True,
                                  text=True).stdout
        code = sum(int(line.split()[1]) for line in sections.splitlines()
                   if line.startswith(".text"))
        frames = {}
        for line in Path(tmp, f"{name}.su").read_text().splitlines():
            where, nbytes, _ = line.split("\t")
            frames[where.rsplit(":", 1)[-1]] = int(nbytes)
    # run_ws calls only leaf kernels (inlined or not): its frame plus the largest other frame
    own = frames.pop(f"{name}_run_ws", 0)
    stack = own + max([v for k, v in frames.items() if k != f"{name}_run"] + [0])
    return {"code": code, "stack": stack, "toolchain": "arm-none-eabi-gcc -Os, Cortex-M4"}
