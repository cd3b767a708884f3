"""Helpers for users' own regression tests (no pytest needed to import this):

    from bnncompile.testing import assert_c_matches

    def test_firmware_model_still_matches():
        assert_c_matches("model.onnx", x_test, c_dir="firmware/model")

`assert_c_matches` raises AssertionError with `verify`'s verdict (and the
layer-by-layer table) unless the C holds the exactness contract against the
reference on the inputs. The pytest fixture `bnncompile_model` is in
bnncompile/pytest_plugin.py (registered as a pytest plugin on install).
"""
from __future__ import annotations

from pathlib import Path


def assert_c_matches(model, inputs=None, *, samples: int = 100, c_dir=None, name: str | None = None):
    """Check the C of `model` against its reference (onnxruntime) on `inputs`
    (a batch shaped like the model's input; None: `samples` random inputs).

    `model`: a path (ONNX, or Keras with bnncompile[keras]) or a CompiledModel.
    `c_dir`: check the C already generated in that folder (e.g. the copy in your
    firmware tree; found by `name`, default the model file's stem) instead of
    fresh C: it must come from the same model (sha256 in its banner).
    Returns the verify report (`.ok`, `.verdict()`, `.layers`)."""
    from .api import CompiledModel, compile_model
    from .validate import format_layers

    owned = not isinstance(model, CompiledModel)
    compiled_model = compile_model(model, name=name) if owned else model
    try:
        if c_dir is not None:
            compiled_model = _with_c_from(compiled_model, Path(c_dir))
        report = compiled_model.verify(inputs, samples=samples)
    finally:
        if owned:
            compiled_model.close()
    if not report.ok:
        raise AssertionError(f"the C does not match the model: {report.verdict()}\n{format_layers(report)}")
    return report


def _with_c_from(model, folder: Path):
    """`model`, once the C files in `folder` are checked to be exactly what
    bnncompile generates for it (the generator is deterministic, so any other
    line is drift: an AssertionError naming the file and line)."""
    from .validate.generated import diff_generated

    differences = diff_generated(folder, model.compiled)
    if differences:
        raise AssertionError(f"the C in {folder} is not what bnncompile generates for this model:\n"
                             + "\n".join(f"  {d}" for d in differences))
    return model


__all__ = ["assert_c_matches"]
