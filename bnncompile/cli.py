"""Command line: bnncompile compile | verify."""
from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path

from .errors import BnnError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bnncompile", description="Binarized neural networks from ONNX to exact C99.")
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="write NAME.h, NAME.c and the runtime headers into DIR")
    c.add_argument("model")
    c.add_argument("-o", "--output", required=True, metavar="DIR")
    c.add_argument("--name", help="C prefix (default: from the file name)")
    v = sub.add_parser("verify", help="build the C, run it beside the reference: exit 0 PASS, 1 FAIL, "
                                      "4 INCONCLUSIVE (samples set aside at float ties or rounding ambiguity)")
    v.add_argument("model")
    v.add_argument("--inputs", help=".npy file of inputs in the model's input layout")
    v.add_argument("--samples", type=int, default=100, help="random samples when no --inputs (default 100)")
    v.add_argument("--layers", action="store_true", help="also print the layer-by-layer comparison")
    v.add_argument("--name", help="C prefix (default: from the file name)")
    v.add_argument("--c-dir", metavar="DIR",
                   help="verify the C already generated in DIR (e.g. the copy in your firmware) instead of fresh C")
    rp = sub.add_parser("report", help="per-layer table: kind, shapes, MACs, flash and RAM, and totals")
    rp.add_argument("model")
    rp.add_argument("--name", help="C prefix (default: from the file name)")
    gd = sub.add_parser("golden", help="emit a test program with golden vectors, for the host or a Cortex-M "
                                       "board under QEMU (make -C DIR run exits non-zero on any mismatch)")
    gd.add_argument("model")
    gd.add_argument("-o", "--output", required=True, metavar="DIR")
    gd.add_argument("--target", choices=["host", "cortex-m4", "cortex-m0"], default="host",
                    help="host (cc), cortex-m4 (QEMU mps2-an386) or cortex-m0 (QEMU microbit)")
    gd.add_argument("--samples", type=int, default=10, help="random samples when no --inputs (default 10)")
    gd.add_argument("--inputs", help=".npy file of inputs in the model's input layout")
    gd.add_argument("--name", help="C prefix (default: from the file name)")
    return p


def print_notes(graph) -> None:
    """Compile-time diagnostics (ir.Note) as warnings on stderr."""
    for note in graph.notes:
        print(f"bnncompile: warning: node '{note.node}': {note.message}", file=sys.stderr)


def cmd_report(args) -> int:
    from .codegen.report import format_report
    from .compiler import compile_to_memory
    from .validate.footprint import measure_cortex_m

    compiled = compile_to_memory(args.model, name=args.name)
    measured = measure_cortex_m(compiled.files, compiled.plan.name)
    print(format_report(compiled.graph, compiled.plan, measured))
    if not measured:
        print("(install gcc-arm-none-eabi to also measure code size and stack)")
    return 0


def sample_inputs(args, compiled):
    """--inputs X.npy in the model's input layout (or flat rows, with a note on
    stderr), else --samples random inputs; streamed in batches (inputs.Samples)."""
    from .inputs import load_inputs, random_samples
    from .limits import SAMPLES

    shape = compiled.graph.tensors[compiled.graph.inputs[0]].shape
    if args.inputs:
        samples, note = load_inputs(args.inputs, shape)
        if note:
            print(f"bnncompile: note: {note}", file=sys.stderr)
    else:
        if args.samples < 1:
            raise BnnError("--samples must be at least 1")
        samples = random_samples(shape, args.samples)
    SAMPLES.check(len(samples), "verifying this many samples")
    return samples


def cmd_golden(args) -> int:
    from .codegen.golden import write_golden
    from .compiler import compile_to_memory
    from .validate import ATOL, RTOL, Reference

    compiled = compile_to_memory(args.model, name=args.name)
    x = sample_inputs(args, compiled).array()
    reference = Reference(args.model)
    y = reference.run(x)[reference.model.output_names[0]]
    write_golden(compiled.files, compiled.plan.name, x, y, args.output, args.target, ATOL, RTOL)
    print(f"wrote a {args.target} golden test of {len(x)} samples to {args.output}/ "
          f"(make -C {args.output} run; reference: {reference.name})")
    return 0


def cmd_compile(args) -> int:
    from .compiler import compile_to_dir

    compiled = compile_to_dir(args.model, args.output, name=args.name)
    g = compiled.graph
    print_notes(g)
    print(f"wrote {', '.join(sorted(compiled.files))} to {args.output}/ "
          f"({len(compiled.plan.steps)} steps, arena {compiled.plan.arena_bytes} bytes, "
          f"input {g.tensors[g.inputs[0]].shape}, output {g.tensors[g.outputs[0]].shape})")
    return 0


BANNER_SHA = re.compile(r"^ \*   sha256:   ([0-9a-f]{64})$", re.M)


def banner_sha256(text: str) -> str | None:
    """The sha256 field of a generated file's provenance banner (templates/banner.j2)."""
    found = BANNER_SHA.search(text[:2000])
    return found[1] if found else None


def diff_generated(folder: Path, compiled) -> list[str]:
    """Differences between the files in `folder` and those bnncompile generates for
    this model now, one line each (file, first changed line). A banner naming
    another model's sha256 is an error of its own."""
    header = folder / f"{compiled.plan.name}.h"
    if header.is_file():
        sha = banner_sha256(header.read_text(errors="replace"))
        if sha is not None and sha != compiled.info.sha256:
            raise BnnError(f"the C in '{folder}' was generated from a different model (its banner says sha256 "
                           f"{sha[:12]}..., this model is {compiled.info.sha256[:12]}...)",
                           hint="recompile it from this model")
    differences = []
    for name, text in sorted(compiled.files.items()):
        path = folder / name
        if not path.is_file():
            differences.append(f"{path}: missing")
            continue
        have, want = path.read_text(errors="replace").splitlines(), text.splitlines()
        for line, (a, b) in enumerate(zip(have, want), start=1):
            if a != b:
                differences.append(f"{path}:{line}: is {a.strip()[:100]!r}, bnncompile generates {b.strip()[:100]!r}")
                break
        else:
            if len(have) != len(want):
                line = min(len(have), len(want)) + 1
                differences.append(f"{path}:{line}: has {len(have)} lines, bnncompile generates {len(want)}")
    return differences


def cmd_verify(args) -> int:
    from .compiler import compile_to_memory
    from .validate import ProgressPrinter, format_layers, verify

    compiled = compile_to_memory(args.model, name=args.name)
    print_notes(compiled.graph)
    if args.c_dir:
        differences = diff_generated(Path(args.c_dir), compiled)
        if differences:
            print(f"FAIL: the C in {args.c_dir}/ is not what bnncompile generates for this model "
                  f"({len(differences)} file(s) differ; no sample was run):")
            print("\n".join(f"  {d}" for d in differences))
            return 1
    samples = sample_inputs(args, compiled)
    report = verify(compiled, samples, progress=ProgressPrinter(len(samples), sys.stderr))
    if args.layers:
        print(format_layers(report))
    print(report.verdict())
    return report.exit_code


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every `finally` cleans up
    (compile's staging folder, verify's temporary build folder)."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return {"compile": cmd_compile, "verify": cmd_verify, "golden": cmd_golden,
                "report": cmd_report}[args.command](args)
    except BnnError as exc:
        if args.debug:
            raise
        print(f"bnncompile: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system said no: unwritable -o, a full disk, a name too long
        if args.debug:
            raise
        where = f" '{exc.filename}'" if exc.filename else ""
        print(f"bnncompile: error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        if args.debug:
            raise
        print("bnncompile: error: out of memory (the model or the inputs are too large for this machine; "
              "see the README's limits)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return 128 + signal.SIGTERM
    except Exception as exc:  # a bug in bnncompile, not in the model: still no traceback by default
        if args.debug:
            raise
        print(f"bnncompile: internal error: {exc.__class__.__name__}: {exc} "
              f"(please report it; --debug shows the traceback)", file=sys.stderr)
        return 3
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
