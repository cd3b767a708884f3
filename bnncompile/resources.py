"""Where the C runtime headers and jinja2 templates live: inside the package
in an installed wheel, at the top of the source tree otherwise."""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(kind: str) -> Path:
    """`kind` is "runtime" or "templates"."""
    for candidate in (_PACKAGE / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bnncompile is installed without its {kind}/ directory")


def runtime_headers() -> list[Path]:
    return sorted(resource_dir("runtime").glob("bnn_*.h"))
