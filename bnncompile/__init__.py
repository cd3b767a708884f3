"""bnncompile: binarized neural networks from ONNX to exact, dependency-free C99.

Pipeline (each stage imports only earlier ones):
    importer -> ir -> passes -> codegen -> validate
"""
__version__ = "0.1.0"


def compile(path, out_dir, name=None):  # noqa: A001 - the natural name for users
    """Compile `path` into C files in `out_dir`; returns a `CompiledModel`
    whose `.run(x)` executes the generated C on a numpy batch."""
    from .api import compile_model

    return compile_model(path, out_dir, name=name)
