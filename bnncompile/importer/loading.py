"""Reading an ONNX file (and its external data) with clear errors."""
from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
from onnx import external_data_helper

from ..errors import BnnError

MAX_OPSET = onnx.defs.onnx_opset_version()
MIN_OPSET = 7


def read_model(path: str | Path) -> tuple[onnx.ModelProto, str]:
    """Load `path` with its external data; returns the model and a sha256 of
    every byte it was built from (model file plus external data files)."""
    p = Path(path)
    if not p.is_file():
        raise BnnError(f"cannot read '{path}': no such file")
    data = p.read_bytes()
    if not data:
        raise BnnError(f"'{path}' is empty, not an ONNX model")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises several unrelated types
        raise BnnError(f"'{path}' is not an ONNX model (protobuf parse failed: {exc.__class__.__name__})") from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.opset_import:
        raise BnnError(f"'{path}' is not an ONNX model (no ir_version, graph or opset)")
    digest = hashlib.sha256(data)
    for location in sorted(_external_locations(model)):
        target = p.parent / location
        if not target.is_file():
            raise BnnError(
                f"external data file '{location}' is missing",
                hint=f"it must lie beside the model, at {target}",
            )
        digest.update(target.read_bytes())
    try:
        external_data_helper.load_external_data_for_model(model, str(p.parent))
    except Exception as exc:
        raise BnnError(f"cannot load the external data of '{path}': {exc}") from None
    _check_opset(model)
    return model, digest.hexdigest()


def _external_locations(model: onnx.ModelProto) -> set[str]:
    found = set()
    for tensor in external_data_helper._get_all_tensors(model):
        if external_data_helper.uses_external_data(tensor):
            for entry in tensor.external_data:
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


def default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return MAX_OPSET
