"""bnncompile: binarized neural networks from ONNX to exact, dependency-free C99.

Pipeline (each stage imports only earlier ones):
    [frontends: torch / Keras -> ONNX file] -> importer -> ir -> passes -> codegen -> validate

Python API (mirrors the command line; see api.py):
    model = bnncompile.compile("model.onnx", "build/net", name="net")
    model = bnncompile.from_torch(module, example_input, "build/net")
    model.run(x); model.verify(x); model.report(); model.golden("build/golden")
Regression tests: bnncompile.testing.assert_c_matches(...) and the pytest
fixture `bnncompile_model` (bnncompile/pytest_plugin.py).
"""
__version__ = "0.1.0"


def compile(model, out_dir=None, name=None, *, layout="flat", force=False, require_binary=False):  # noqa: A001
    """Compile `model` (an ONNX file; a Keras .keras/.h5/SavedModel with
    bnncompile[keras]) and, unless `out_dir` is None, write the C, the runtime
    headers and build files there (`layout` "flat" or "arduino"; existing
    files are kept unless `force`). Returns a `CompiledModel`: `.run(x)`,
    `.verify(...)`, `.report()`, `.html_report(path)`, `.golden(dir)`,
    `.header`, `.source`, `.files`, `.notes`. `require_binary`: refuse layers
    meant to be binary that run in float or ternary (see `.notes`)."""
    from .api import compile_model

    return compile_model(model, out_dir, name=name, layout=layout, force=force, require_binary=require_binary)


def from_torch(module, example_input, out_dir=None, **options):
    """Export a torch.nn.Module with the installed torch and compile it (see
    frontends.from_torch); needs bnncompile[torch]."""
    from .frontends import from_torch as _from_torch

    return _from_torch(module, example_input, out_dir, **options)
