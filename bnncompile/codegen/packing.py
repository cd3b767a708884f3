"""Constant data in the order the C kernels read it: packed bits, blocked
kernels, per-channel tables padded to whole blocks (runtime/bnn_layer.h says
why; this module is its Python half)."""
from __future__ import annotations

import numpy as np

from ..ir import levels as lv

BLOCK = 16  # output channels per kernel block: BNN_BLOCK in runtime/bnn_layer.h


words = lv.words


def blocks(channels: int) -> int:
    return (channels + BLOCK - 1) // BLOCK


def pack_rows(values: np.ndarray) -> np.ndarray:
    """+-1 array [..., K] -> uint32 words [..., ceil(K/32)]: the bipolar coding (ir/levels.py),
    bit 1 where the value is -1, LSB first."""
    return lv.pack_bits(np.asarray(values) < 0)


def _blocked(per_channel: np.ndarray) -> np.ndarray:
    """[O, ...] -> [ceil(O/16), ..., 16]: output channels in blocks of 16, innermost; the
    last block padded with zeros."""
    o = per_channel.shape[0]
    padded = np.zeros((blocks(o) * BLOCK,) + per_channel.shape[1:], per_channel.dtype)
    padded[:o] = per_channel
    shaped = padded.reshape((blocks(o), BLOCK) + per_channel.shape[1:])
    return np.moveaxis(shaped, 1, -1)


def blocked_binary_kernel(signs: np.ndarray) -> np.ndarray:
    """OHWI +-1 kernel [O, KH, KW, CG] -> uint32 [O/16, KH*KW, words(CG), 16] (bnn_kernel_index)."""
    o, kh, kw, cg = signs.shape
    return _blocked(pack_rows(signs).reshape(o, kh * kw, words(cg)))


def blocked_level_kernel(ints: np.ndarray, levels: lv.Levels) -> np.ndarray:
    """OHWI kernel of level integers -> uint32 [planes, O/16, KH*KW, words(CG), 16]: each bit
    plane of the levels' codes blocked like a binary kernel (bnn_ref_kbit.h)."""
    o, kh, kw, cg = ints.shape
    codes = np.asarray(levels.codes, np.int64)[levels.index(np.asarray(ints, np.float64))]
    return np.stack([_blocked(lv.pack_bits((codes >> p) & 1).reshape(o, kh * kw, words(cg)))
                     for p in range(levels.planes)])


def tap_sums(ints: np.ndarray) -> np.ndarray:
    """Sum of the weights over each tap's channels, per output channel: int32 [O/16, KH*KW, 16]
    (a padded tap of a bit-plane layer adds pad * this; bx * this is the input base's share)."""
    o, kh, kw, cg = ints.shape
    return _blocked(np.asarray(ints, np.int64).reshape(o, kh * kw, cg).sum(axis=-1).astype(np.int32))


def blocked_real_kernel(weight: np.ndarray) -> np.ndarray:
    """OHWI float kernel [O, KH, KW, CG] -> float32 [O/16, KH*KW, CG, 16]."""
    o, kh, kw, cg = weight.shape
    return _blocked(np.asarray(weight, np.float32).reshape(o, kh * kw, cg))


def tap_popcounts(signs: np.ndarray) -> np.ndarray:
    """Bits set (-1 weights) per tap and output channel: int16 [O/16, KH*KW, 16]. A tap
    of a one-padded binary convolution that falls outside the input adds c - 2 * this."""
    o, kh, kw, cg = signs.shape
    counts = (np.asarray(signs) < 0).reshape(o, kh * kw, cg).sum(axis=-1)
    if counts.max(initial=0) >= 1 << 15:
        raise NotImplementedError(f"one padding of {cg} channels per tap (at most 32767)")
    return _blocked(counts.astype(np.int16))


def padded_channels(values: np.ndarray, channels: int) -> np.ndarray:
    """A per-channel table padded to whole blocks, so fast kernels may read 16 lanes
    (one value for every channel stays one value)."""
    values = np.asarray(values).reshape(-1)
    if values.size != channels:
        assert values.size == 1, (values.size, channels)
        return values
    out = np.zeros(blocks(channels) * BLOCK, values.dtype)
    out[:channels] = values
    return out


def threshold_bounds(flip: np.ndarray, t_zero: np.ndarray, t_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The IR's threshold (u = flip ? -v : v; +1 if u >= t_pos, 0 if t_zero <= u < t_pos,
    else -1) as bounds lo <= hi on v itself (runtime/bnn_bits.h): -1 if (flip ? v >= hi :
    v < lo), 0 if lo <= v < hi. Since -v < t <=> v >= 1 - t for integers."""
    flip = np.asarray(flip).astype(bool)
    t_zero, t_pos = np.asarray(t_zero, np.int64), np.asarray(t_pos, np.int64)
    lo, hi = np.where(flip, 1 - t_pos, t_zero), np.where(flip, 1 - t_zero, t_pos)
    assert np.all(np.abs(lo) < 2**31) and np.all(np.abs(hi) < 2**31)
    return lo.astype(np.int32), hi.astype(np.int32)
