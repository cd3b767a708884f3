"""Validate: build the generated C, run it beside the reference, judge the contract."""
from .build import NativeModel
from .compare import ATOL, RTOL, Report, format_layers, verify
from .reference import Reference

__all__ = ["NativeModel", "Reference", "Report", "verify", "format_layers", "ATOL", "RTOL"]
