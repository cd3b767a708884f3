"""Command line: bnncompile compile | verify."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import __version__
from .boards import BOARDS, golden_targets, parse_size
from .errors import BnnError


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flash", type=_size, metavar="SIZE",
                        help="flash budget instead of the board's, e.g. 256K")
    parser.add_argument("--ram", type=_size, metavar="SIZE", help="RAM budget instead of the board's, e.g. 16K")


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def installed(dist):
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return (f"bnncompile {__version__} (python {sys.version.split()[0]}, onnx {installed('onnx')}, "
            f"onnxruntime {installed('onnxruntime')})")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bnncompile", description="Binarized neural networks from ONNX to exact C99.")
    p.add_argument("--version", action="version", version=version_text())
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="write NAME.h, NAME.c, the runtime headers and build files into DIR")
    c.add_argument("model",
                   help="ONNX file, or a Keras model (.keras, .h5, SavedModel folder; needs bnncompile[keras])")
    c.add_argument("-o", "--output", required=True, metavar="DIR")
    c.add_argument("--name", help="C prefix (default: from the file name)")
    c.add_argument("--layout", choices=["flat", "arduino"], default="flat",
                   help="flat: the C plus CMakeLists.txt and NAME.mk (default); arduino: an Arduino/PlatformIO "
                        "library folder (src/, library.properties, library.json, an example sketch)")
    c.add_argument("--force", action="store_true", help="overwrite files in DIR that already exist")
    c.add_argument("--require-binary", action="store_true",
                   help="fail if a layer the model meant to be binary runs in float or ternary (see the warnings)")
    v = sub.add_parser("verify", help="build the C, run it beside the reference: exit 0 PASS, 1 FAIL, "
                                      "4 INCONCLUSIVE (samples set aside at float ties or rounding ambiguity)")
    v.add_argument("model")
    v.add_argument("--inputs", help=".npy file of inputs in the model's input layout")
    v.add_argument("--samples", type=int, default=100, help="random samples when no --inputs (default 100)")
    v.add_argument("--layers", action="store_true", help="also print the layer-by-layer comparison")
    v.add_argument("--name", help="C prefix (default: from the file name)")
    v.add_argument("--c-dir", metavar="DIR",
                   help="verify the C already generated in DIR (e.g. the copy in your firmware) instead of fresh C")
    rp = sub.add_parser("report", help="per-layer table: kind, shapes, MACs, flash and RAM, and totals; "
                                        "with --target, whether the model fits the board (exit 1 if not)")
    rp.add_argument("model")
    rp.add_argument("--name", help="C prefix (default: from the file name)")
    rp.add_argument("--target", choices=list(BOARDS), metavar="BOARD",
                    help=f"check the fit on a board: {', '.join(BOARDS)}")
    _add_budget_options(rp)
    rp.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with the table and charts")
    rp.add_argument("--json", action="store_true", help="print the report as one JSON object (for CI scripts)")
    gd = sub.add_parser("golden", help="emit a test program with golden vectors, for the host or a board under "
                                       "QEMU (make -C DIR run exits non-zero on any mismatch)")
    gd.add_argument("model")
    gd.add_argument("-o", "--output", required=True, metavar="DIR")
    gd.add_argument("--target", choices=["host", *golden_targets()], default="host", metavar="TARGET",
                    help="host (cc, the default) or a board, run under QEMU: "
                         f"{', '.join(golden_targets())}; the program is only written if the model fits the board")
    _add_budget_options(gd)
    gd.add_argument("--samples", type=int, default=10, help="random samples when no --inputs (default 10)")
    gd.add_argument("--inputs", help=".npy file of inputs in the model's input layout")
    gd.add_argument("--name", help="C prefix (default: from the file name)")
    for command in sub.choices.values():  # --debug after the command too; SUPPRESS keeps one given before it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show a traceback on errors")
    return p


def print_notes(graph) -> None:
    """Compile-time diagnostics (ir.Note) as warnings on stderr."""
    for note in graph.notes:
        print(f"bnncompile: warning: node '{note.node}': {note.message}", file=sys.stderr)


def _board(args):
    """The board of --target with --flash/--ram applied (None: no fit check)."""
    from .boards import board_named, with_budget

    target = None if args.target in (None, "host") else board_named(args.target)
    if args.command == "golden" and target is None and (args.flash or args.ram):
        raise BnnError("--flash/--ram need a board --target for golden")
    try:
        return with_budget(target, args.flash, args.ram)
    except ValueError as exc:
        raise BnnError(str(exc)) from None


def cmd_report(args) -> int:
    import json

    from .api import measure_footprint, measured_dict
    from .codegen.fit import Fit, format_fit
    from .codegen.report import format_report
    from .codegen.report_json import report_dict
    from .compiler import compile_to_memory

    board = _board(args)
    compiled = compile_to_memory(args.model, name=args.name)
    need, missing = measure_footprint(compiled, board)
    fit = Fit(need, board) if board else None
    if args.json:
        print(json.dumps(report_dict(compiled.graph, compiled.plan, need, fit), indent=2))
    else:
        print(format_report(compiled.graph, compiled.plan, measured_dict(need)))
        if fit:
            print(format_fit(fit))
        if missing:
            print(f"({missing})")
    if args.html:
        from .codegen.html_report import write_html_report

        write_html_report(compiled, args.html, measured_dict(need))
        print(f"wrote {args.html}", file=sys.stderr if args.json else sys.stdout)
    return 1 if fit and fit.fits is False else 0


def sample_inputs(args, compiled):
    """--inputs X.npy in the model's input layout (or flat rows, with a note on
    stderr), else --samples random inputs; streamed in batches (inputs.Samples)."""
    from .inputs import load_inputs, random_samples
    from .limits import SAMPLES

    shape = compiled.graph.sample_shape
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
    from .api import write_golden_program
    from .compiler import compile_to_memory

    board = _board(args)
    compiled = compile_to_memory(args.model, name=args.name)
    x = sample_inputs(args, compiled).array()
    write_golden_program(compiled, args.model, x, args.output, board)
    print(f"wrote a {args.target} golden test of {len(x)} samples to {args.output}/ "
          f"(make -C {args.output} run)")
    return 0


def cmd_compile(args) -> int:
    from .compiler import compile_to_memory, refuse_non_binary, write_compiled

    compiled = compile_to_memory(args.model, name=args.name)
    g = compiled.graph
    print_notes(g)
    if args.require_binary:
        refuse_non_binary(g)
    written = write_compiled(compiled, args.output, layout=args.layout, force=args.force)
    print(f"wrote {', '.join(sorted(written))} to {args.output}/ "
          f"({len(compiled.plan.steps)} steps, arena {compiled.plan.arena_bytes} bytes, "
          f"input {compiled.plan.input_shape}, output {compiled.plan.output_shape})")
    return 0


def cmd_verify(args) -> int:
    from .compiler import compile_to_memory
    from .validate import ProgressPrinter, format_layers, verify
    from .validate.generated import diff_generated

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
        from .frontends import onnx_file

        with onnx_file(args.model) as args.model:  # a Keras model is converted to ONNX first
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
