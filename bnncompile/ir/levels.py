"""Levels and bit planes: how every packed tensor is coded. The one home of
the bit encoding; the C side states the same in runtime/bnn_bits.h.

A packed tensor holds, for each value, one of a few *levels*. A level has
- an integer (`ints`), what the binary and k-bit kernels compute with, and
- a real value (`reals`, float32), what the value is in the model: the
  numpy reference of a packed tensor holds these, so that it equals the ONNX
  tensor it comes from bit for bit (a Brevitas bipolar activation is +-0.5,
  `(x > 0).float()` is 0 or 1, QONNX `Quant` is (q - zero_point) * scale).
Reals increase with the integers, so max pooling on levels is max pooling on
values.

Each level is coded in P bit planes. The code of a level is a P-bit word
whose bit p is its bit in plane p, and the coding is linear:

    ints[k] = base + sum_p coeffs[p] * bit_p(codes[k]).

That makes every dot product of two coded tensors a sum of popcounts of
planes (runtime/bnn_ref_kbit.h). The codings in use:

    bipolar      {-1,+1}: 1 plane, base 1, coeff -2   (+1 is bit 0, -1 is bit 1)
    ternary      {-1,0,+1}: plane 0 the sign, plane 1 the mask (non-zero):
                 base 0, coeffs (-2, +1); a zero has both bits 0
    unsigned k   {0..2^k-1}: base 0, coeffs 2^p
    signed k     two's complement {-2^(k-1)..2^(k-1)-1} (narrow: from -2^(k-1)+1):
                 base 0, coeffs (1, 2, .., -2^(k-1))
    odd k        {-(2^k-1), .., -1, 1, .., 2^k-1} (DoReFa weights): k bipolar planes,
                 value sum_p 2^p (1 - 2 bit_p): base 2^k-1, coeffs -2^(p+1)

Memory: each plane is packed along the innermost axis of the tensor into
uint32_t words, least significant bit first; every row of `channels` values
starts a new word and unused tail bits are 0. The planes follow one another
(plane p starts at p * rows * words(channels) words).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

F32 = np.float32
MAX_PLANES = 8  # BNN_MAX_PLANES in runtime/bnn_bits.h


def words(n: int) -> int:
    """uint32_t words of one packed row of n values."""
    return (n + 31) // 32


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """0/1 array [..., K] -> uint32 words [..., words(K)], LSB first, tail bits 0."""
    bits = np.asarray(bits)
    k = bits.shape[-1]
    padded = np.zeros(bits.shape[:-1] + (words(k) * 32,), dtype=np.uint64)
    padded[..., :k] = bits != 0
    grouped = padded.reshape(bits.shape[:-1] + (words(k), 32))
    return (grouped << np.arange(32, dtype=np.uint64)).sum(axis=-1).astype(np.uint32)


def unpack_bits(packed: np.ndarray, k: int) -> np.ndarray:
    """uint32 words [..., words(k)] -> 0/1 int array [..., k]."""
    packed = np.asarray(packed, np.uint32)
    bits = (packed[..., None] >> np.arange(32, dtype=np.uint32)) & 1
    return bits.reshape(packed.shape[:-1] + (-1,))[..., :k].astype(np.int64)


def _code_bit(code: int, p: int) -> int:
    return (code >> p) & 1


@dataclass(frozen=True)
class Levels:
    name: str
    ints: tuple[int, ...]  # ascending
    codes: tuple[int, ...]  # one code word per level
    base: int
    coeffs: tuple[int, ...]  # one per plane
    reals: tuple[float, ...] = ()  # float32, ascending; () means the integers themselves

    def __post_init__(self):
        if not self.reals:
            object.__setattr__(self, "reals", tuple(float(F32(i)) for i in self.ints))
        if len(self.codes) != len(self.ints) or len(self.reals) != len(self.ints):
            raise ValueError("one code and one real per level")
        if list(self.ints) != sorted(set(self.ints)) or any(b <= a for a, b in zip(self.reals, self.reals[1:])):
            raise ValueError(f"levels must increase: ints {self.ints}, reals {self.reals}")
        for i, c in zip(self.ints, self.codes):
            if self.value_of_code(c) != i:
                raise ValueError(f"code {c:b} of level {i} decodes to {self.value_of_code(c)}")
        if not 1 <= self.planes <= MAX_PLANES:
            raise ValueError(f"{self.planes} planes (1 to {MAX_PLANES})")

    # -------------------------------------------------------------- facts
    @property
    def planes(self) -> int:
        return len(self.coeffs)

    @property
    def count(self) -> int:
        return len(self.ints)

    def value_of_code(self, code: int) -> int:
        return self.base + sum(c * _code_bit(code, p) for p, c in enumerate(self.coeffs))

    @property
    def reals_are_ints(self) -> bool:
        return all(float(F32(i)) == r for i, r in zip(self.ints, self.reals))

    @property
    def coding(self) -> tuple:
        """What the kernels see (planes, codes, integers), without the reals."""
        return (self.ints, self.codes, self.base, self.coeffs)

    def same_coding(self, other: "Levels") -> bool:
        return self.coding == other.coding

    def describe(self) -> str:
        return f"{self.name} ({self.planes} bit{'s' if self.planes > 1 else ''})"

    # -------------------------------------------------------------- values <-> level indices
    def index(self, values: np.ndarray) -> np.ndarray:
        """Level index of each real value (values must be levels of this set)."""
        reals = np.asarray(self.reals, np.float64)
        v = np.asarray(values, np.float64)
        k = np.clip(np.searchsorted(reals, v), 0, self.count - 1)
        if not np.all(reals[k] == v):
            bad = v[reals[k] != v].ravel()[0]
            raise ValueError(f"{bad} is not one of the levels {self.reals}")
        return k

    def ints_of(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(self.ints, np.int64)[self.index(values)]

    # -------------------------------------------------------------- packing
    def encode(self, values: np.ndarray) -> np.ndarray:
        """Real values [..., C] -> uint32 planes [planes, ..., words(C)]."""
        codes = np.asarray(self.codes, np.int64)[self.index(values)]
        return np.stack([pack_bits((codes >> p) & 1) for p in range(self.planes)])

    def decode(self, planes: np.ndarray, channels: int) -> np.ndarray:
        """uint32 planes [planes, ..., words(C)] -> real values [..., C] (float32)."""
        codes = sum(unpack_bits(planes[p], channels) << p for p in range(self.planes))
        table = np.zeros(1 << self.planes, F32)
        valid = np.zeros(1 << self.planes, bool)
        table[list(self.codes)], valid[list(self.codes)] = self.reals, True
        if not np.all(valid[codes]):
            raise ValueError("planes hold a code that is no level")
        return table[codes]

    def real_table(self) -> np.ndarray:
        """float32 [2^planes]: the real value of each code (0 for unused codes): bnn_unpack_levels."""
        table = np.zeros(1 << self.planes, F32)
        table[list(self.codes)] = self.reals
        return table

    # -------------------------------------------------------------- new level sets from old
    def with_reals(self, reals) -> "Levels":
        return replace(self, reals=tuple(float(F32(r)) for r in reals))

    def relabel(self, ints) -> "Levels":
        """The same planes and codes standing for other integers (reals = the integers):
        the coding stays linear when the new integers are an affine function of the old."""
        ints = tuple(int(i) for i in ints)
        base, coeffs = _solve_linear(self.codes, ints, self.planes)
        order = np.argsort(ints)
        return Levels(self.name if ints == self.ints else f"{self.name}-relabelled",
                      tuple(ints[k] for k in order), tuple(self.codes[k] for k in order), base, coeffs)

    def subset(self, keep: list[int]) -> "Levels":
        """Only the levels with these indices (same coding)."""
        return replace(self, ints=tuple(self.ints[k] for k in keep), codes=tuple(self.codes[k] for k in keep),
                       reals=tuple(self.reals[k] for k in keep))


def _solve_linear(codes, ints, planes) -> tuple[int, tuple[int, ...]]:
    """base, coeffs with ints[k] = base + sum_p coeffs[p]*bit_p(codes[k]) (exact), or ValueError."""
    a = np.array([[1] + [_code_bit(c, p) for p in range(planes)] for c in codes], np.float64)
    sol, *_ = np.linalg.lstsq(a, np.asarray(ints, np.float64), rcond=None)
    sol = np.round(sol).astype(np.int64)
    if not np.array_equal(a.astype(np.int64) @ sol, np.asarray(ints, np.int64)):
        raise ValueError(f"levels {ints} are not linear in the bits of codes {codes}")
    return int(sol[0]), tuple(int(c) for c in sol[1:])


def _make(name: str, base: int, coeffs: tuple[int, ...], ints=None) -> Levels:
    """The coding with these coefficients over all 2^P codes (or only the levels `ints`)."""
    by_value = {}
    for code in range(1 << len(coeffs)):
        value = base + sum(c * _code_bit(code, p) for p, c in enumerate(coeffs))
        by_value.setdefault(value, code)
    wanted = sorted(by_value) if ints is None else sorted(ints)
    return Levels(name, tuple(wanted), tuple(by_value[v] for v in wanted), base, coeffs)


BIPOLAR = _make("bipolar", 1, (-2,))
TERNARY = Levels("ternary", (-1, 0, 1), (0b11, 0b00, 0b10), 0, (-2, 1))


def unsigned(k: int) -> Levels:
    return _make(f"unsigned {k}-bit", 0, tuple(1 << p for p in range(k)))


def signed(k: int, narrow: bool = False) -> Levels:
    coeffs = tuple(1 << p for p in range(k - 1)) + (-(1 << (k - 1)),)
    lo = -(1 << (k - 1)) + int(narrow)
    return _make(f"signed {k}-bit{' narrow' if narrow else ''}", 0, coeffs, range(lo, 1 << (k - 1)))


def odd(k: int) -> Levels:
    return _make(f"odd {k}-bit", (1 << k) - 1, tuple(-(1 << (p + 1)) for p in range(k)))


def _candidates() -> list[Levels]:
    """Every coding bnncompile packs, fewest planes first."""
    codings = [BIPOLAR, TERNARY]
    for k in range(1, MAX_PLANES + 1):
        codings.append(unsigned(k))
        if k > 1:
            codings += [signed(k, narrow=True), signed(k), odd(k)]
    return sorted(codings, key=lambda c: c.planes)


def for_ints(values) -> Levels | None:
    """The coding with the fewest planes whose integers include every value (None: more
    than MAX_PLANES bits would be needed). Only the levels used are kept."""
    wanted = sorted({int(v) for v in values})
    for levels in _candidates():
        if set(wanted) <= set(levels.ints):
            return levels.subset([levels.ints.index(v) for v in wanted])
    return None


def with_value(levels: Levels, real: float) -> Levels | None:
    """Levels that also hold `real` (a pad value): the same if it is one of them; a
    bipolar set {-s, +s} with 0 becomes ternary {-s, 0, +s}; otherwise None."""
    real = float(F32(real))
    if real in levels.reals:
        return levels
    if standard(levels) == "bipolar" and levels.count == 2 and real == 0 and levels.reals[0] == -levels.reals[1]:
        return TERNARY.with_reals((levels.reals[0], 0.0, levels.reals[1]))
    return None


def standard(levels: Levels) -> str | None:
    """'bipolar' or 'ternary' when the levels are (some of) that standard coding's, with its
    codes (reals aside), else None."""
    for name, std in (("bipolar", BIPOLAR), ("ternary", TERNARY)):
        if (levels.base, levels.coeffs) == (std.base, std.coeffs) and set(levels.ints) <= set(std.ints):
            return name
    return None
