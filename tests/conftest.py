import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(Path(__file__).parent))

# Every exported fixture (MLPs and CNNs); each is checked on all 1797 digits.
EXPORTED_FIXTURES = sorted(FIXTURES.glob("*/*.onnx"))


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target


def digits_for(path_or_shape, images):
    """Digits shaped like the model's per-sample input."""
    from bnncompile.importer import import_model

    if isinstance(path_or_shape, (str, Path)):
        g, _ = import_model(path_or_shape)
        shape = g.tensors[g.inputs[0]].shape
    else:
        shape = path_or_shape
    return images.reshape((len(images),) + tuple(shape))


def c_compilers():
    return [cc for cc in ("gcc", "clang") if shutil.which(cc)]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bnncompile", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)

# Property tests run the same examples on every machine; `--hypothesis-profile=long`
# explores new ones (see the README).
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("ci")
