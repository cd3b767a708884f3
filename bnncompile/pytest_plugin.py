"""pytest plugin (entry point `bnncompile` in pyproject.toml, loaded by pytest
when bnncompile is installed): the fixture `bnncompile_model`.

    def test_my_model(bnncompile_model):
        model = bnncompile_model("model.onnx")        # compiled into tmp_path, closed afterwards
        assert (model.run(x).argmax(1) == labels).mean() > 0.9
        assert model.verify(x).ok
"""
from __future__ import annotations

import pytest


@pytest.fixture
def bnncompile_model(tmp_path):
    """A factory: `bnncompile_model(path, **options)` compiles the model into a
    folder under tmp_path (options as for bnncompile.compile) and returns the
    CompiledModel; every model it made is closed when the test ends."""
    from .api import compile_model

    made = []

    def make(model, name=None, **options):
        out = tmp_path / f"bnncompile_{len(made)}"
        made.append(compile_model(model, out, name=name, **options))
        return made[-1]

    yield make
    for model in made:
        model.close()
