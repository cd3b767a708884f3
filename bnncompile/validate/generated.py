"""The C a user keeps (e.g. in a firmware tree) against the C bnncompile
generates for the same model now: the generator is deterministic, so any
changed line is drift, found before a single sample runs."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import BnnError

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
