"""Handlers of the k-bit quantizers: QONNX `Quant` and the ops Larq's DoReFa
quantizer is written with (`Min`, `Max`, `Round`: clip to [0, 1], times
2^k - 1, round, times 1/(2^k - 1))."""
from __future__ import annotations

import numpy as np

from ... import ir
from ...errors import BnnError
from ...ir.quantizers import ROUNDING, quantizer_levels
from ..translator import F32, Translator, Unsupported, attr, node_label


def h_round(t: Translator, node, ins):
    """ONNX Round (halves to even); a pass makes it a quantizer where its input is bounded."""
    t.finish(node, t.emit(ir.Round, [t.as_float(ins[0])]))


def _clip_bound(t: Translator, node, ins) -> tuple[ir.Tensor, float]:
    tensors = [v for v in ins if isinstance(v, ir.Tensor)]
    consts = [v for v in ins if isinstance(v, np.ndarray)]
    if len(tensors) != 1 or len(consts) != len(ins) - 1:
        raise Unsupported(f"{node.op_type} of one activation and constants")
    x = t.as_float(tensors[0])
    values = [t.per_sample_const(c, x) for c in consts]  # refuses constants that would grow x
    if not values:
        return x, None
    pick = np.minimum if node.op_type == "Min" else np.maximum
    bound = values[0]
    for v in values[1:]:
        bound = pick(bound, v)
    return x, t.scalar(bound, f"the constant of {node.op_type}")


def h_min(t: Translator, node, ins):
    x, hi = _clip_bound(t, node, ins)
    t.finish(node, x if hi is None else t.emit(ir.Clip, [x], hi=float(hi)))


def h_max(t: Translator, node, ins):
    x, lo = _clip_bound(t, node, ins)
    t.finish(node, x if lo is None else t.emit(ir.Clip, [x], lo=float(lo)))


def _int_range(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    """QONNX's min_int/max_int."""
    if signed:
        return -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - int(narrow)


def h_quant(t: Translator, node, ins):
    """QONNX Quant: q = round(clip(x / scale + zero_point, min_int, max_int)),
    y = (q - zero_point) * scale, each step in float32 as QONNX's numpy does it.
    With one scale and zero point the output is packed levels whose values are
    exactly y; per-channel ones keep the levels' integers packed and compute y
    from them."""
    x, scale, zeropt, bitwidth = ins
    if not all(isinstance(c, np.ndarray) for c in (scale, zeropt, bitwidth)):
        raise Unsupported("Quant scale, zero point and bit width must be constants")
    bits = t.scalar(bitwidth, "Quant bit width")
    if bits != int(bits) or bits < 1:
        raise BnnError(f"Quant bit width {bits} is not a positive integer", node=node_label(node))
    bits = int(bits)
    signed, narrow = bool(attr(node, "signed", 1)), bool(attr(node, "narrow", 0))
    mode = attr(node, "rounding_mode", b"ROUND")
    mode = (mode.decode(errors="replace") if isinstance(mode, bytes) else str(mode)).upper()
    if mode not in ROUNDING:
        raise BnnError(f"unknown Quant rounding_mode '{mode}'", node=node_label(node),
                       hint=f"QONNX defines {', '.join(sorted(ROUNDING))}")
    x = t.as_float(x)
    if x.domain != ir.Domain.FLOAT:
        raise Unsupported("Quant in double precision")
    s, zp = t.per_sample_const(scale, x), t.per_sample_const(zeropt, x)
    if np.any(s == 0):
        raise BnnError("Quant scale 0: x / scale is infinite or NaN", node=node_label(node))
    y = t.emit(ir.ChannelOp, [x], kind="div", const=s)
    if np.any(zp != 0):
        y = t.emit(ir.ChannelOp, [y], kind="add", const=zp)
    one_scale = s.size == 1 and zp.size == 1 and float(s.reshape(-1)[0]) > 0
    if bits == 1 and signed:  # QONNX quantizes 1-bit signed as bipolar: x/scale + zp >= 0 ? 1 : -1
        lo, hi = -1, 1
    else:
        lo, hi = _int_range(signed, narrow, bits)
    ints = (lo, hi) if bits == 1 and signed else tuple(range(lo, hi + 1))
    reals = None
    if one_scale:  # (q - zero_point) * scale, as float32 ops
        reals = [F32(F32(q) - F32(zp.reshape(-1)[0])) * F32(s.reshape(-1)[0]) for q in ints]
        if any(b <= a for a, b in zip(reals, reals[1:])):
            reals = None
    if bits == 1 and signed:
        levels = ir.levels.BIPOLAR if reals is None else ir.levels.BIPOLAR.with_reals(reals)
        q = t.emit(ir.Binarize, [y], mode="ge", levels=levels)
    else:
        levels = quantizer_levels(lo, hi, reals)
        if levels is None:
            raise Unsupported(f"Quant to {bits} bits (bnncompile packs at most {ir.levels.MAX_PLANES} bit planes)")
        q = t.emit(ir.Quantize, [y], lo=lo, hi=hi, mode=mode, levels=levels)
    if reals is None:  # per-channel scale or zero point: float ops after the packed integers
        q = t.emit(ir.Cast, [q])
        if np.any(zp != 0):
            q = t.emit(ir.ChannelOp, [q], kind="sub", const=zp)
        q = t.emit(ir.ChannelOp, [q], kind="mul", const=s)
    t.finish(node, q)
