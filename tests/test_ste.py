"""Straight-through-estimator arithmetic (issue 11): what PyTorch exports for
`x + (sign(x) - x).detach()` and Bi-Real Net's approx-sign activation is decided
exactly -- binarized where it is a binarizer on every value its input can take,
computed in float (with a note) where it is not -- and checked against
onnxruntime. The identity the decision relies on is checked on every float32
it covers."""
import numpy as np
import pytest
from builders import GraphBuilder, random_bn, signs

from bnncompile import ir
from bnncompile.compiler import compile_to_memory
from bnncompile.passes.intervals import STE_IDENTITY, Interval, binary, unary
from bnncompile.validate import verify

F32 = np.float32


# ---------------------------------------------------------------- the identity, on every float32 it covers


def floats_between(lo: float, hi: float, chunk: int = 1 << 24):
    """Every float32 in [lo, hi] (0 <= lo <= hi), in ascending chunks."""
    first = int(np.array(lo, F32).view(np.uint32))
    last = int(np.array(hi, F32).view(np.uint32))
    for start in range(first, last + 1, chunk):
        yield np.arange(start, min(start + chunk, last + 1), dtype=np.uint32).view(F32)


def ste(s, u):
    with np.errstate(all="ignore"):
        return (F32(s) - u) + u  # float32 throughout, as onnxruntime computes Sub then Add


def check_identity(lo: float, hi: float):
    for u in floats_between(lo, hi):
        assert np.all(ste(1, u) == 1), u[ste(1, u) != 1][:3]
        assert np.all(ste(-1, -u) == -1)
        assert np.all(ste(0, u) == 0) and np.all(ste(0, -u) == 0)


@pytest.mark.parametrize("lo,hi", [(0.0, 2.0 ** -120), (2.0 ** -27, 2.0 ** -22), (0.25, 4.0),
                                   (2.0 ** 23, 2.0 ** 24)])
def test_straight_through_identity_on_every_float_of_these_binades(lo, hi):
    """fl(fl(s - u) + u) == s for s = +1, u in [0, 2^24] (and the mirror for s = -1):
    exhaustively here on the binades where the argument changes (denormals, u
    around 2^-25 where 1 - u starts to round, Sterbenz's [0.5, 2], integer spacing
    up to 2^24); tests/test_ste.py::test_..._everywhere covers all of [0, 2^24]."""
    check_identity(lo, hi)


@pytest.mark.slow
def test_straight_through_identity_everywhere_it_is_claimed():
    check_identity(0.0, 2.0 ** 24)


def test_straight_through_identity_is_claimed_nowhere_it_fails():
    """Just outside the claimed ranges the identity fails, so the claim is tight."""
    assert ste(1, F32(2 ** 24 + 2)) == 2 and ste(1, F32(2 ** 24 + 4)) == 0
    assert ste(1, F32(-1 - 2 ** -23)) != 1  # u of the other sign
    assert ste(1, F32(-(2 ** -24))) != 1
    u = Interval(np.array([0.0, 0.0, -1.0], F32), np.array([2.0 ** 24, 2.0 ** 24 + 2, 0.0], F32), np.zeros(3, np.int8))
    assert STE_IDENTITY(1.0, u).tolist() == [True, False, False]
    assert STE_IDENTITY(-1.0, Interval(-u.hi, -u.lo, u.nan)).tolist() == [True, False, False]


def points_in(lo, hi, n=33):
    """n float32 points of each interval [lo, hi], both ends included."""
    with np.errstate(all="ignore"):
        t = lo.astype(np.float64)[:, None] + (hi.astype(np.float64) - lo)[:, None] * np.linspace(0, 1, n)[None, :]
    t = np.where(np.isfinite(t), t, lo[:, None])
    t[:, -1] = hi
    return np.clip(t, lo[:, None], hi[:, None]).astype(F32)


def test_interval_enclosures_contain_every_value():
    """Each interval rule encloses the op's value at many points inside the interval."""
    rng = np.random.default_rng(0)
    ops = [ir.ChannelOp(inputs=("x",), output="y", origin="t", kind=k, const=np.array(c, F32))
           for k, c in [("add", 0.3), ("sub", -2.0), ("rsub", 1.5), ("mul", -0.7), ("mul", 0.0), ("div", 3.0),
                        ("rdiv", 2.0), ("rdiv", -1.0)]]
    ops += [ir.Binarize(inputs=("x",), output="y", origin="t", mode=m) for m in ("ge", "gt", "sign")]
    ops += [ir.PRelu(inputs=("x",), output="y", origin="t", slope=np.array(s, F32)) for s in (0.25, -0.5)]
    ops += [ir.Relu(inputs=("x",), output="y", origin="t"), ir.Clip(inputs=("x",), output="y", origin="t", lo=-1, hi=1)]
    lo = np.concatenate([rng.normal(0, 3, 200), [-np.inf, -1.0, 0.0, -3e38]]).astype(F32)
    hi = (lo + np.abs(rng.normal(0, 3, lo.size))).astype(F32)
    hi[-4:] = [5.0, np.inf, 0.0, 3e38]
    inside = points_in(lo, hi)
    for op in ops:
        iv = unary(op, Interval(lo, hi, np.zeros(lo.size, np.int8)))
        with np.errstate(all="ignore"):
            got = op.reference(inside)
        ok = (iv.lo[:, None] <= got) & (got <= iv.hi[:, None]) | np.isnan(got) & (iv.nan[:, None] > 0)
        assert ok.all(), (op, np.argwhere(~ok)[:3])
    b_lo, b_hi = np.roll(lo, 7), np.roll(hi, 7)
    other = points_in(b_lo, b_hi)[:, ::-1]
    for kind in ("add", "sub", "mul", "div"):
        op = ir.Arith(inputs=("a", "b"), output="y", origin="t", kind=kind)
        iv = binary(op, Interval(lo, hi, np.zeros(lo.size, np.int8)), Interval(b_lo, b_hi, np.zeros(lo.size, np.int8)))
        got = op.reference(inside, other)
        ok = (iv.lo[:, None] <= got) & (got <= iv.hi[:, None]) | np.isnan(got) & (iv.nan[:, None] > 0)
        assert ok.all(), (kind, np.argwhere(~ok)[:3])


# ---------------------------------------------------------------- models


def detach_ste(b, x=None):
    """x + (sign(x) - x), as torch exports x + (torch.sign(x) - x).detach()."""
    x = x or b.last
    s = b.node("Sign", [x])
    d = b.node("Sub", [s, x])
    return b.node("Add", [x, d])


def bireal_ste(b, x=None):
    """Bi-Real Net's BinaryActivation, node for node as the legacy exporter writes it."""
    x = x or b.last
    one, two, minus = b.const(F32(1)), b.const(F32(2)), b.const(F32(-1))
    sign = b.node("Sign", [x])
    m1 = b.node("Cast", [b.node("Less", [x, b.const(F32(-1))])], to=1)
    m2 = b.node("Cast", [b.node("Less", [x, b.const(F32(0))])], to=1)
    m3 = b.node("Cast", [b.node("Less", [x, b.const(F32(1))])], to=1)
    sq = b.node("Mul", [x, x])
    x2 = b.node("Mul", [x, two])
    out1 = b.node("Add", [b.node("Mul", [m1, minus]), b.node("Mul", [b.node("Add", [sq, x2]), b.node("Sub", [one, m1])])])
    neg = b.node("Mul", [b.node("Neg", [x]), x])
    out2 = b.node("Add", [b.node("Mul", [out1, m2]), b.node("Mul", [b.node("Add", [neg, x2]), b.node("Sub", [one, m2])])])
    out3 = b.node("Add", [b.node("Mul", [out2, m3]), b.node("Sub", [one, m3])])
    return b.node("Add", [b.node("Sub", [sign, out3]), out3])


def conv(b, rng, cin, cout, real=False):
    w = rng.normal(size=(cout, cin, 3, 3)).astype(F32) if real else signs(rng, (cout, cin, 3, 3))
    return b.node("Conv", [b.last, b.const(w)], kernel_shape=[3, 3], pads=[1] * 4)


def compiled_and_checked(b, tmp_path, x):
    compiled = compile_to_memory(b.save(tmp_path / "m.onnx"))
    report = verify(compiled, x)
    assert report.status == "PASS", report.verdict()
    return compiled


def kinds(compiled):
    return [(s.layer, s.kind) for s in compiled.plan.steps]


def inputs(rng, shape, n=150):
    x = np.concatenate([rng.uniform(-1, 1, (n,) + shape), rng.normal(0, 30, (n,) + shape)]).astype(F32)
    x[:10] = 0.0
    return x


def test_detach_ste_after_a_binary_layer_is_a_binarizer(tmp_path):
    """After an XNOR layer and batchnorm, x takes finitely many values, all far
    below 2^24: on every one of them x + (sign(x) - x) is sign(x)."""
    rng = np.random.default_rng(1)
    b = GraphBuilder([3, 6, 6])
    b.where_sign()
    conv(b, rng, 3, 8)
    b.batchnorm(*random_bn(rng, 8))
    detach_ste(b)
    conv(b, rng, 8, 4)
    compiled = compiled_and_checked(b, tmp_path, inputs(rng, (3, 6, 6)))
    assert kinds(compiled).count(("binary", "conv_xnor")) == 2
    assert not any(isinstance(op, ir.Arith) for op in compiled.graph.ops)
    assert not [n for n in compiled.graph.notes if n.kind == "ste-real"]


def test_detach_ste_on_a_real_stream_is_computed_as_onnxruntime_does(tmp_path):
    """On a real-valued x the identity fails above 2^24 (x + (1 - x) is 0 or 2 there):
    the arithmetic stays, computed exactly, and a note gives a witness."""
    rng = np.random.default_rng(2)
    b = GraphBuilder([2, 6, 6])
    detach_ste(b)  # on the model's input: every float reachable
    conv(b, rng, 2, 4)
    x = inputs(rng, (2, 6, 6))
    x[-20:] = rng.integers(-2 ** 26, 2 ** 26, x[-20:].shape)  # beyond 2^24: 0 and +-2 must come out of the C too
    compiled = compiled_and_checked(b, tmp_path, x)
    note = next(n for n in compiled.graph.notes if n.kind == "ste-real")
    assert "onnxruntime computes" in note.message and "Clamp" in note.message
    assert any(isinstance(op, ir.Arith) for op in compiled.graph.ops)
    assert ("bin-weights", "conv_float") in kinds(compiled)


def test_clamped_detach_ste_on_a_real_stream_is_a_binarizer(tmp_path):
    """clamp(x, -1, 1) + (sign(x) - clamp(x, -1, 1)): the identity term stays small, so
    it is sign(x) on every float x (the remedy the note suggests)."""
    rng = np.random.default_rng(3)
    b = GraphBuilder([2, 6, 6])
    x = conv(b, rng, 2, 6, real=True)
    c = b.node("Clip", [x, b.const(F32(-1)), b.const(F32(1))])
    b.node("Add", [c, b.node("Sub", [b.node("Sign", [x]), c])])
    conv(b, rng, 6, 4)
    compiled = compiled_and_checked(b, tmp_path, inputs(rng, (2, 6, 6)))
    assert ("binary", "conv_xnor") in kinds(compiled)
    assert any(n.kind == "ternary" for n in compiled.graph.notes)  # torch.sign gives 0 at 0


@pytest.mark.parametrize("start", ["real", "binary"])
def test_bireal_activation_is_sign_on_every_float(tmp_path, start):
    rng = np.random.default_rng(4)
    b = GraphBuilder([3, 6, 6])
    if start == "binary":
        b.where_sign()
    conv(b, rng, 3, 8, real=start == "real")
    b.batchnorm(*random_bn(rng, 8))
    bireal_ste(b)
    conv(b, rng, 8, 4)
    b.batchnorm(*random_bn(rng, 4))
    bireal_ste(b)
    conv(b, rng, 4, 2)
    compiled = compiled_and_checked(b, tmp_path, inputs(rng, (3, 6, 6)))
    assert kinds(compiled).count(("binary", "conv_xnor")) == 2 + (start == "binary")
    assert not any(isinstance(op, ir.Arith) for op in compiled.graph.ops)


def test_other_arithmetic_between_activations_is_real(tmp_path):
    """x*x + x, a difference and a quotient of two maps, and a sum that broadcasts
    (a squeeze-and-excitation-like per-channel term): real ops, no STE note."""
    rng = np.random.default_rng(5)
    b = GraphBuilder([3, 6, 6])
    x = conv(b, rng, 3, 4, real=True)
    y = b.node("Add", [b.node("Mul", [x, x]), x])
    pooled = b.node("GlobalAveragePool", [y])
    z = b.node("Add", [y, pooled])  # broadcasts (N,4,1,1) over (N,4,6,6)
    w = b.node("Sub", [z, b.node("Div", [x, b.node("Add", [b.node("Mul", [x, x]), b.const(F32(1))])])])
    b.last = w
    conv(b, rng, 4, 2)
    compiled = compiled_and_checked(b, tmp_path, rng.uniform(-1, 1, (200, 3, 6, 6)).astype(F32))
    assert not [n for n in compiled.graph.notes if n.kind == "ste-real"]
    assert sum(isinstance(op, ir.Arith) for op in compiled.graph.ops) >= 3


def test_require_binary_refuses_straight_through_arithmetic_computed_in_float(tmp_path):
    from bnncompile.compiler import refuse_non_binary
    from bnncompile.errors import BnnError

    rng = np.random.default_rng(6)
    b = GraphBuilder([2, 6, 6])
    detach_ste(b)
    conv(b, rng, 2, 4)
    compiled = compile_to_memory(b.save(tmp_path / "m.onnx"))
    with pytest.raises(BnnError, match="straight-through arithmetic computed in float"):
        refuse_non_binary(compiled.graph)


def test_near_binary_kernels_are_binary_only_within_rounding():
    """Bi-Real's weight arithmetic leaves +-a up to an ulp or two: binary with scale a.
    A kernel whose entries differ by more than one rounding of the column's sum is real."""
    from bnncompile.passes.binary_weights import column_scales

    rng = np.random.default_rng(7)
    a = rng.uniform(0.01, 2, 8).astype(F32)
    w = (signs(rng, (144, 8)) * a).astype(F32)
    nudged = w.copy()
    nudged[rng.integers(0, 144, 20), rng.integers(0, 8, 20)] *= F32(1 + 2 ** -22)  # two ulp
    scales = column_scales(nudged)
    assert scales is not None and np.array_equal(scales, a)
    far = w.copy()
    far[3, 2] *= F32(1.001)
    assert column_scales(far) is None
    zero = w.copy()
    zero[0, 0] = 0
    assert column_scales(zero) is None
