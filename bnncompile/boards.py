"""Microcontroller boards: what a model must fit into, how to build for its
core, and (for boards QEMU emulates) how the golden program runs.

    board = board_named("cortex-m0")            # micro:bit: 256 KB flash, 16 KB RAM
    board = with_budget(board, ram=8 * 1024)    # the same core, the user's own budget

Three small tables, data only:
- a Core is what the C compiler targets: the toolchain, its CPU/ABI flags and
  the targets/<family>/ startup code;
- a Machine is a QEMU board the golden program runs on: emulator options,
  linker script (its memory is the linker script's) and target sources;
- a Board is a name users pass to `--target`: a core, flash and RAM, and the
  machine that runs its golden program (a QEMU board with the same core and
  at least as much memory; None: `report` only).

Adding a board is one row in BOARDS (plus a linker script in targets/ if QEMU
is to run it).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class Core:
    name: str
    summary: str
    family: str  # targets/<family>/ holds its startup code and linker scripts
    tool_prefix: str  # e.g. "arm-none-eabi-": gcc, size and nm are prefix + name
    cflags: tuple[str, ...]  # CPU/ABI flags for compiling
    ldflags: tuple[str, ...]  # CPU/ABI flags for linking (they choose the libc/libgcc variant)
    packages: str  # Debian packages of the toolchain, for "install ..." hints
    qemu_cpu: str | None = None  # -cpu for machines that take any core of the family

    @property
    def cc(self) -> str:
        return self.tool_prefix + "gcc"

    def tool(self, name: str) -> str:
        return self.tool_prefix + name


@dataclass(frozen=True)
class Machine:
    name: str
    qemu: str
    qemu_args: tuple[str, ...]  # everything but -cpu and -kernel
    linker_script: str  # in targets/<family>/
    sources: tuple[str, ...]  # target files in targets/<family>/ besides the linker script
    console: str  # how the program's output and exit status reach the host
    flash: int
    ram: int


@dataclass(frozen=True)
class Board:
    name: str
    summary: str
    core: Core
    flash: int  # bytes
    ram: int  # bytes
    machine: Machine | None = None  # QEMU board that runs the golden program; None: report only


# Newlib-nano libc (memcpy, memset) and libm (expf, logf) on Arm.
_ARM_LINK = ("-nostartfiles", "--specs=nano.specs")
CORTEX_M4 = Core("cortex-m4", "Cortex-M4F (ARMv7E-M, single-precision FPU)", "cortex-m", "arm-none-eabi-",
                 ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
                 ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", *_ARM_LINK),
                 "gcc-arm-none-eabi libnewlib-arm-none-eabi")
CORTEX_M0 = Core("cortex-m0", "Cortex-M0 (ARMv6-M, no FPU: soft float)", "cortex-m", "arm-none-eabi-",
                 ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"),
                 ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", *_ARM_LINK),
                 "gcc-arm-none-eabi libnewlib-arm-none-eabi")
# Debian's riscv64-unknown-elf-gcc has rv32 multilibs (picolibc's too) but none
# for rv32imc, nor for arch strings with Zicsr or Zbb: the code is compiled for
# the real core and linked against the rv32im/ilp32 libraries (a subset).
# Zicsr is only used by the startup code (mtvec, mcause).
_RISCV_LINK = ("-nostartfiles", "--specs=picolibc.specs", "-march=rv32imc", "-mabi=ilp32")
# The emulated hart has exactly the core's extensions, so an instruction the
# core lacks (e.g. cpop without Zbb) traps instead of passing unnoticed.
_RV32_QEMU = "rv32,a=false,f=false,d=false,zba=false,zbc=false,zbs=false,zbb="
RISCV32 = Core("riscv32", "RV32IMC (no FPU: soft float)", "riscv", "riscv64-unknown-elf-",
               ("--specs=picolibc.specs", "-march=rv32imc_zicsr", "-mabi=ilp32"), _RISCV_LINK,
               "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf", _RV32_QEMU + "false")
RISCV32_ZBB = Core("riscv32-zbb", "RV32IMC + Zbb (cpop: one-instruction popcount)", "riscv",
                   "riscv64-unknown-elf-",
                   ("--specs=picolibc.specs", "-march=rv32imc_zicsr_zbb", "-mabi=ilp32"), _RISCV_LINK,
                   "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf", _RV32_QEMU + "true")

# Semihosting output to stdout (QEMU's default would be stderr).
_SEMIHOST = ("-display", "none", "-serial", "none", "-monitor", "none", "-chardev", "stdio,id=semihost",
             "-semihosting-config", "enable=on,target=native,chardev=semihost")
_SEMIHOST_CONSOLE = "ARM semihosting (semihost.c)"
MPS2_AN386 = Machine("mps2-an386", "qemu-system-arm", ("-M", "mps2-an386", *_SEMIHOST), "mps2-an386.ld",
                     ("startup.c", "semihost.c"), _SEMIHOST_CONSOLE, 4 * MB, 4 * MB)
MICROBIT = Machine("microbit", "qemu-system-arm", ("-M", "microbit", *_SEMIHOST), "microbit.ld",
                   ("startup.c", "semihost.c"), _SEMIHOST_CONSOLE, 256 * KB, 16 * KB)
VIRT_RV32 = Machine("virt", "qemu-system-riscv32",
                    ("-M", "virt", "-bios", "none", "-display", "none", "-serial", "stdio", "-monitor", "none"),
                    "virt.ld", ("startup.c", "virt.c"), "UART and SiFive test device (virt.c)", 4 * MB, 4 * MB)


def _emulated(name: str, summary: str, core: Core, machine: Machine) -> Board:
    return Board(name, summary, core, machine.flash, machine.ram, machine)


BOARDS: dict[str, Board] = {b.name: b for b in (
    # QEMU's own boards: their memory is the emulated machine's
    _emulated("cortex-m4", "QEMU mps2-an386: ARM MPS2+AN386, Cortex-M4F", CORTEX_M4, MPS2_AN386),
    _emulated("cortex-m0", "QEMU microbit: BBC micro:bit v1, nRF51822, Cortex-M0", CORTEX_M0, MICROBIT),
    _emulated("riscv32", "QEMU virt, RV32IMC hart", RISCV32, VIRT_RV32),
    _emulated("riscv32-zbb", "QEMU virt, RV32IMC+Zbb hart", RISCV32_ZBB, VIRT_RV32),
    # real boards (datasheet flash and RAM); their golden program runs the same
    # core's code on a QEMU board with at least as much memory
    Board("nrf52840", "Nordic nRF52840, Cortex-M4F", CORTEX_M4, 1 * MB, 256 * KB, MPS2_AN386),
    Board("stm32f411", "ST STM32F411CE, Cortex-M4F", CORTEX_M4, 512 * KB, 128 * KB, MPS2_AN386),
    Board("rp2040", "Raspberry Pi RP2040 (Pico: 2 MB QSPI flash), Cortex-M0+ (built as Cortex-M0, the same "
          "Armv6-M instructions)", CORTEX_M0, 2 * MB, 264 * KB, MPS2_AN386),
    Board("esp32-c3", "Espressif ESP32-C3 (4 MB flash), RV32IMC", RISCV32, 4 * MB, 400 * KB, VIRT_RV32),
    Board("gd32vf103", "GigaDevice GD32VF103CB, RV32IMAC (built as RV32IMC)", RISCV32, 128 * KB, 32 * KB,
          VIRT_RV32),
)}
# What `report` measures code and stack for when no --target is given.
DEFAULT_CORE = CORTEX_M4


def golden_targets() -> list[str]:
    """Boards whose golden program runs under QEMU."""
    return [name for name, b in BOARDS.items() if b.machine is not None]


def emulated(board: Board) -> Board:
    """The board the golden program really runs on: `board`'s core with the
    QEMU machine's memory (a --flash/--ram budget cannot enlarge it)."""
    m = board.machine
    if m is None:
        raise ValueError(f"board '{board.name}' has no QEMU machine to run on")
    if (m.flash, m.ram) == (board.flash, board.ram):
        return board
    return dataclasses.replace(board, summary=f"{board.core.summary} on QEMU {m.name}, where its golden program "
                                              f"runs", flash=m.flash, ram=m.ram)


def board_named(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board '{name}' (choose from {', '.join(BOARDS)})") from None


def with_budget(board: Board | None, flash: int | None = None, ram: int | None = None) -> Board | None:
    """`board` with the user's --flash/--ram in place of its own figures; a
    board named "custom" (code measured for DEFAULT_CORE) when only a budget
    is given; None when neither is."""
    if board is None:
        if flash is None and ram is None:
            return None
        board = Board("custom", f"custom budget, code and stack measured for a {DEFAULT_CORE.summary}",
                      DEFAULT_CORE, 0, 0)
        if flash is None or ram is None:
            raise ValueError("a custom budget needs both --flash and --ram (or a --target to take the other from)")
    if flash is None and ram is None:
        return board
    summary = board.summary if board.name == "custom" else f"{board.summary}; budget from --flash/--ram"
    return dataclasses.replace(board, summary=summary, flash=board.flash if flash is None else flash,
                               ram=board.ram if ram is None else ram)


_SIZE = re.compile(r"(\d+)\s*([kKmM]?)(?:i?[bB])?")


def parse_size(text: str) -> int:
    """'16384', '16K', '16KB', '16KiB', '1M' -> bytes (K = 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"'{text}' is not a size in bytes (e.g. 16384, 16K, 1M; K = 1024)")
    return int(m.group(1)) * {"": 1, "k": KB, "m": MB}[m.group(2).lower()]


def format_size(nbytes: int) -> str:
    """Budget figures as users write them: 16 KB, 4 MB, else bytes."""
    for unit, size in (("MB", MB), ("KB", KB)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size} {unit}"
    return f"{nbytes:,d} B"
