"""Validate: build the generated C, run it beside the reference, judge the contract."""
from .build import NativeModel
from .compare import ATOL, EXIT_CODES, RTOL, ProgressPrinter, Report, format_layers, verify
from .reference import Reference

__all__ = ["NativeModel", "Reference", "Report", "verify", "format_layers", "ProgressPrinter", "EXIT_CODES",
           "ATOL", "RTOL"]
