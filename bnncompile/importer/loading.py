"""Reading an ONNX file (and its external data) with clear errors."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import onnx
from onnx import external_data_helper

from ..errors import BnnError
from ..limits import WEIGHTS

MAX_OPSET = onnx.defs.onnx_opset_version()
MIN_OPSET = 7


def printable(text: str) -> str:
    """Untrusted text from the model (node names, producer) made safe for a
    one-line message and a C block comment: control characters escaped, comment
    delimiters and trigraph starts broken up."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    while "*/" in text or "/*" in text or "??" in text:
        text = text.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
    return text


def read_model(path: str | Path) -> tuple[onnx.ModelProto, str]:
    """Load `path` with its external data; returns the model and a sha256 of
    every byte it was built from (model file plus external data files)."""
    p = Path(path)
    if p.is_dir():
        raise BnnError(f"cannot read '{path}': it is a directory, not an ONNX file")
    if not p.is_file():
        raise BnnError(f"cannot read '{path}': no such file")
    data = p.read_bytes()
    if not data:
        raise BnnError(f"'{path}' is empty, not an ONNX model")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises several unrelated types
        raise BnnError(f"'{path}' is not an ONNX model (protobuf parse failed: {exc.__class__.__name__})") from None
    bad_text = _non_utf8_field(model)
    if bad_text:
        raise BnnError(f"'{path}' is not a valid ONNX model: its field '{bad_text}' holds text that is not UTF-8")
    if model.ir_version <= 0 or not model.HasField("graph") or not model.opset_import:
        raise BnnError(f"'{path}' is not an ONNX model (no ir_version, graph or opset)")
    if model.ir_version > onnx.IR_VERSION:
        raise BnnError(f"'{path}' has ONNX IR version {model.ir_version}, newer than the newest this "
                       f"bnncompile knows ({onnx.IR_VERSION})")
    digest = hashlib.sha256(data)
    _check_declared_sizes(model)
    for location in sorted(_external_locations(model)):
        target = p.parent / location
        base = os.path.abspath(p.parent)
        inside = os.path.normpath(os.path.join(base, location)).startswith(base + os.sep)
        if "\x00" in location or os.path.isabs(location) or not inside:
            raise BnnError(f"external data file {location!r} lies outside the model's folder",
                           hint="external data must be a relative path beside the model")
        if not target.is_file():
            raise BnnError(
                f"external data file '{location}' is missing",
                hint=f"it must lie beside the model, at {target}",
            )
        with open(target, "rb") as f:  # in chunks: an external data file can be gigabytes
            for chunk in iter(lambda: f.read(HASH_CHUNK), b""):
                digest.update(chunk)
    try:
        external_data_helper.load_external_data_for_model(model, str(p.parent))
    except Exception as exc:
        raise BnnError(f"cannot load the external data of '{path}': {exc}") from None
    _check_opset(model)
    # The producer is printed into the generated files' banner comment.
    model.producer_name, model.producer_version = printable(model.producer_name), printable(model.producer_version)
    return model, digest.hexdigest()


HASH_CHUNK = 1 << 24


def _check_declared_sizes(model: onnx.ModelProto) -> None:
    """Initializers by their declared shapes, before any external data is read."""
    total = 0
    for tensor in model.graph.initializer:
        total += int(np.prod([max(int(d), 0) for d in tensor.dims], dtype=np.float64))
    WEIGHTS.check(total, "the model's initializers")


def _non_utf8_field(message) -> str | None:
    """The name of a string field holding invalid UTF-8 (protobuf hands those over as bytes)."""
    for field, value in message.ListFields():
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:  # protobuf < 5
            repeated = field.label == field.LABEL_REPEATED
        values = value if repeated else [value]
        if field.type == field.TYPE_STRING and any(isinstance(v, bytes) for v in values):
            return field.name
        if field.type == field.TYPE_MESSAGE:
            for v in values:
                found = _non_utf8_field(v)
                if found:
                    return found
    return None


TYPE_ERRORS = re.compile(r"inconsistent type|has unsupported type|elem type differs")


def check_types(model: onnx.ModelProto) -> None:
    """ONNX's own type inference, the check onnxruntime makes when it loads a model:
    operands whose types disagree, wrong input counts. (Shapes are checked node by
    node in the translator.) Strict mode also looks inside function ops such as
    GreaterOrEqual, but of its findings only type errors count."""
    for strict in (False, True):
        try:
            onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=strict)
        except Exception as exc:  # InferenceError, or anything else an odd model provokes
            text = " ".join(str(exc).split()) or exc.__class__.__name__
            if strict and not TYPE_ERRORS.search(text):
                continue
            found = re.search(r"\(op_type:([^,]*), node name: (.*?)\): (.*)", text)
            if found:
                raise BnnError(f"{found[1]}: {printable(found[3])} (the model is not valid ONNX)",
                               node=printable(found[2] or found[1])) from None
            raise BnnError(f"the model is not valid ONNX: {printable(text)}") from None


EXTERNAL_KEYS = {"location", "offset", "length", "checksum", "basepath"}


def _external_locations(model: onnx.ModelProto) -> set[str]:
    found = set()
    for tensor in external_data_helper._get_all_tensors(model):
        if external_data_helper.uses_external_data(tensor):
            for entry in tensor.external_data:
                if entry.key not in EXTERNAL_KEYS:  # onnx would ignore it: a corrupt 'offset' reads wrong bytes
                    raise BnnError(f"tensor '{printable(tensor.name)}' has an unknown external data key "
                                   f"'{printable(entry.key)}'", hint=f"known keys: {', '.join(sorted(EXTERNAL_KEYS))}")
                if entry.key == "location":
                    found.add(entry.value)
    return found


def _check_opset(model: onnx.ModelProto) -> None:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            if entry.version > MAX_OPSET:
                raise BnnError(
                    f"the model uses ONNX opset {entry.version}, newer than the newest this "
                    f"bnncompile knows ({MAX_OPSET})",
                    hint=f"export with opset {MAX_OPSET} or older",
                )
            if entry.version < MIN_OPSET:
                raise BnnError(f"ONNX opset {entry.version} is older than supported ({MIN_OPSET})")
        elif entry.domain == "ai.onnx.ml" and entry.version > onnx.defs.onnx_ml_opset_version():
            raise BnnError(f"the model imports ai.onnx.ml opset {entry.version}, newer than the newest this "
                           f"bnncompile knows ({onnx.defs.onnx_ml_opset_version()})")


def default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return MAX_OPSET
