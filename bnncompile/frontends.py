"""Front doors: models that are not ONNX files yet become one, then take the
usual pipeline. ONNX stays the core: these only run the frameworks' own
exporters (torch.onnx, tf2onnx) and never read protobufs themselves.

- `from_torch(module, example_input, ...)`: exports a torch.nn.Module with the
  installed torch (dynamo or legacy exporter, batch dimension kept dynamic) to
  a temporary file and compiles it. Extra: `pip install bnncompile[torch]`.
- Keras (`.keras`, `.h5`, a SavedModel folder), e.g. from Larq: loaded with
  tf-keras (TF_USE_LEGACY_KERAS=1, which Larq needs) and converted with
  tf2onnx, for `bnncompile compile model.keras` and `bnncompile.compile(...)`.
  Extra: `pip install bnncompile[keras]`.
A missing extra is one clear error saying what to install.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from .errors import BnnError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
KERAS_OPSET = 13  # what the Larq fixtures are exported with and tested at
TORCH_LEGACY_OPSET = 13
TORCH_DYNAMO_OPSET = 18


def _require(module: str, extra: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BnnError(f"{what} needs the Python package '{exc.name or module}', which is not installed here",
                       hint=f"pip install 'bnncompile[{extra}]'") from None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else exc.__class__.__name__)[:400]


# ------------------------------------------------------------------ Keras / Larq


def is_keras(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix.lower() in KERAS_SUFFIXES or (p.is_dir() and (p / "saved_model.pb").is_file())


def keras_to_onnx(path: str | Path, onnx_path: str | Path) -> Path:
    """Convert a Keras model file or SavedModel folder to ONNX with tf2onnx
    (opset 13, batch dimension left dynamic)."""
    path = Path(path)
    if not path.exists():
        raise BnnError(f"'{path}' does not exist")
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Larq needs Keras 2 (tf-keras)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    what = f"reading the Keras model '{path.name}'"
    tf = _require("tensorflow", "keras", what)
    _require("tf_keras", "keras", what)
    tf2onnx = _require("tf2onnx", "keras", what)
    keras = tf.keras
    if not keras.Sequential.__module__.startswith("tf_keras"):
        raise BnnError("TensorFlow was imported with Keras 3 before bnncompile could select tf-keras",
                       hint="set TF_USE_LEGACY_KERAS=1 before importing TensorFlow")
    with contextlib.suppress(ImportError):
        import larq  # noqa: F401  (registers Larq's layers and quantizers with Keras)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise BnnError(f"Keras cannot load '{path}': {_first_line(exc)}",
                       hint="custom layers must be importable (Larq's are, when larq is installed)") from None
    if len(model.inputs) != 1:
        raise BnnError(f"'{path}' has {len(model.inputs)} inputs; bnncompile takes models with one")
    x = model.inputs[0]
    spec = (tf.TensorSpec((None,) + tuple(x.shape[1:]), x.dtype, name="input"),)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            tf2onnx.convert.from_keras(model, input_signature=spec, opset=KERAS_OPSET, output_path=str(onnx_path))
    except Exception as exc:
        raise BnnError(f"tf2onnx cannot convert '{path}': {_first_line(exc)}") from None
    return Path(onnx_path)


def as_onnx_file(path: str | Path) -> tuple[Path, Path | None]:
    """(an ONNX file for `path`, the temporary folder holding it or None):
    ONNX files as they are, Keras models converted into a new temporary
    folder that the caller removes."""
    if not is_keras(path):
        return Path(path), None
    folder = Path(tempfile.mkdtemp(prefix="bnncompile-keras-"))
    try:
        return keras_to_onnx(path, folder / f"{_c_name(Path(path).stem)}.onnx"), folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


@contextlib.contextmanager
def onnx_file(path: str | Path):
    """`as_onnx_file` for the length of a `with` block (the command line)."""
    onnx_path, folder = as_onnx_file(path)
    try:
        yield str(onnx_path)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ PyTorch


@contextlib.contextmanager
def _quiet():
    """Keep the exporter's progress prints, log lines and FutureWarnings about
    its own internals off the user's terminal (failures still raise)."""
    torch_onnx = logging.getLogger("torch.onnx")
    level = torch_onnx.level
    torch_onnx.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        torch_onnx.setLevel(level)


def _c_name(text: str) -> str:
    name = re.sub(r"\W", "_", text.encode("ascii", "ignore").decode()).strip("_").lower() or "model"
    return name if name.isidentifier() else f"m_{name}"


def torch_default_is_dynamo(torch) -> bool:
    """Whether this torch's `torch.onnx.export` uses the dynamo exporter by default (2.9 and later)."""
    parameter = inspect.signature(torch.onnx.export).parameters.get("dynamo")
    return bool(parameter is not None and parameter.default is True)


def export_torch(module, example_input, onnx_path: str | Path, dynamo: bool | None = None,
                 opset: int | None = None) -> Path:
    """Export `module` (in eval mode) to `onnx_path` with a dynamic batch dimension,
    input named "input" and output "output"."""
    torch = _require("torch", "torch", "from_torch")
    if dynamo is None:
        dynamo = torch_default_is_dynamo(torch)
    if dynamo:
        _require("onnxscript", "torch", "torch's dynamo exporter")
    x = example_input if isinstance(example_input, torch.Tensor) else torch.as_tensor(example_input)
    x = x.to(torch.float32)
    names = dict(input_names=["input"], output_names=["output"])
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), _quiet():
            if dynamo:
                # a batch of 1 would be specialised as a constant: trace with two samples
                x2 = torch.cat([x, x]) if x.shape[0] == 1 else x
                torch.onnx.export(module, (x2,), str(onnx_path), dynamo=True, opset_version=opset or TORCH_DYNAMO_OPSET,
                                  dynamic_shapes=({0: torch.export.Dim("batch")},), **names)
            else:
                torch.onnx.export(module, (x,), str(onnx_path), dynamo=False,
                                  opset_version=opset or TORCH_LEGACY_OPSET,
                                  dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, **names)
    except BnnError:
        raise
    except Exception as exc:
        exporter = "dynamo" if dynamo else "legacy (TorchScript)"
        raise BnnError(f"torch.onnx.export ({exporter} exporter) failed: {_first_line(exc)}",
                       hint=f"try dynamo={not dynamo}, or export to ONNX yourself and compile the file") from None
    finally:
        module.train(was_training)
    return Path(onnx_path)


def from_torch(module, example_input, out_dir=None, *, name: str | None = None, dynamo: bool | None = None,
               opset: int | None = None, onnx_path=None, **options):
    """Export a torch.nn.Module and compile it; returns a `CompiledModel`
    (`.run`, `.verify`, `.report`, `.golden`, paths).

    `example_input`: one batch shaped like the model's input. `dynamo`: None
    uses this torch's default exporter. `onnx_path`: keep the exported file
    there (else it lives in a temporary folder until `.close()`). `options`:
    as for `bnncompile.compile` (layout, force, require_binary)."""
    from .api import compile_model

    name = name or _c_name(type(module).__name__)
    folder = None
    if onnx_path is None:
        folder = Path(tempfile.mkdtemp(prefix="bnncompile-torch-"))
        onnx_path = folder / f"{name}.onnx"
    try:
        export_torch(module, example_input, onnx_path, dynamo=dynamo, opset=opset)
        return compile_model(onnx_path, out_dir, name=name, owned_dir=folder, **options)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
