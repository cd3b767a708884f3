"""Each C runtime kernel against a numpy statement of its maths, on random data.
Convolution and dense kernels (every variant, every output transform) are in
tests/test_kernel_variants.py."""
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cffi import FFI

from bnncompile.codegen.packing import pack_rows, padded_channels, threshold_bounds
from bnncompile.ir import float_key
from bnncompile.passes.thresholds import KEY_ALWAYS, KEY_NEVER
from bnncompile.resources import resource_dir

HERE = Path(__file__).parent / "c"


@pytest.fixture(scope="module", params=["reference", "fast"])
def kernels(tmp_path_factory, request):
    """The shim built with the reference kernels, and with the fast ones the seam picks for -O2."""
    out = tmp_path_factory.mktemp("shim") / "libshim.so"
    flags = ["-DBNN_REFERENCE_KERNELS"] if request.param == "reference" else []
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fPIC", "-shared", *flags,
                    f"-I{resource_dir('runtime')}", f"-I{HERE}", str(HERE / "kernel_shim.c"), "-o", str(out), "-lm"],
                   check=True)
    ffi = FFI()
    ffi.cdef((HERE / "kernel_shim.h").read_text())
    return ffi, ffi.dlopen(str(out))


def ptr(ffi, a, ctype):
    return ffi.from_buffer(f"{ctype}[]", a) if a is not None else ffi.NULL


def unpack_np(words, k):
    bits = (words[..., None] >> np.arange(32, dtype=np.uint32)) & 1
    return bits.reshape(words.shape[:-1] + (-1,))[..., :k]


def test_popcount_matches_python(kernels):
    ffi, lib = kernels
    rng = np.random.default_rng(0)
    for v in [0, 1, 0xFFFFFFFF, 0x80000000, *rng.integers(0, 2**32, 500)]:
        assert lib.shim_popcount(int(v)) == bin(int(v)).count("1")


def test_float_key_orders_like_floats(kernels):
    ffi, lib = kernels
    rng = np.random.default_rng(1)
    xs = np.concatenate([rng.normal(0, 10, 300), [0.0, -0.0, 1e-45, -1e-45, 3e38, -3e38, np.inf, -np.inf]])
    xs = xs.astype(np.float32)
    keys = np.array([lib.shim_float_key(float(x)) for x in xs])
    assert np.array_equal(keys, float_key(xs))
    order = np.argsort(xs, kind="stable")
    assert np.all(np.diff(keys[order]) >= 0)


@pytest.mark.parametrize("k", [1, 32, 45, 130])
def test_dense_ban(kernels, k):
    ffi, lib = kernels
    rng = np.random.default_rng(100 + k)
    rows, n = 2, 5
    wr = rng.integers(-8, 9, (n, k)).astype(np.float32)  # small integers: every order sums exactly
    xs = rng.choice([-1, 1], (rows, k)) * rng.choice([0, 1], (rows, k), p=[0.2, 0.8])
    y = np.zeros((rows, n), np.float32)
    mask = pack_rows(np.where(xs != 0, -1, 1))
    lib.shim_dense_ban(ptr(ffi, pack_rows(xs), "uint32_t"), ptr(ffi, mask, "uint32_t"), rows, k,
                       ptr(ffi, wr, "float"), n, ptr(ffi, y, "float"))
    assert np.array_equal(y, xs @ wr.T)


@pytest.mark.parametrize("channel_major", [0, 1])
@pytest.mark.parametrize("src_is_float", [0, 1])
@pytest.mark.parametrize("channels", [5, 32, 70])
def test_threshold_packs_decisions(kernels, src_is_float, channels, channel_major):
    """The IR's threshold rule, through the compiler's bounds (packing.threshold_bounds), in C;
    channel_major: the values read where an NCHW input lies (src[c][r])."""
    ffi, lib = kernels
    rng = np.random.default_rng(channels + src_is_float)
    rows = 4
    if src_is_float:
        src = rng.normal(0, 5, (rows, channels)).astype(np.float32)
        src[0, :3] = 0.0
        src[1, :4] = [np.inf, -np.inf, np.finfo(np.float32).max, -0.0]
        v = float_key(src)
    else:
        src = rng.integers(-40, 41, (rows, channels)).astype(np.int32)
        v = src.astype(np.int64)
    t_zero = rng.integers(-30, 30, channels)
    t_pos = t_zero + rng.integers(0, 3, channels)
    if src_is_float:
        t_zero, t_pos = float_key(t_zero.astype(np.float32)), float_key(t_pos.astype(np.float32))
        t_zero[:2], t_pos[:2] = KEY_ALWAYS, KEY_NEVER  # "always" and "never" bounds of the threshold pass
    flip = rng.integers(0, 2, channels).astype(np.uint8)
    u = np.where(flip == 1, -v, v)
    want = np.where(u >= t_pos, 1, np.where(u >= t_zero, 0, -1))
    words = (channels + 31) // 32
    bits = np.full((rows, words), 0xDEADBEEF, np.uint32)
    mask = np.full((rows, words), 0xDEADBEEF, np.uint32)
    lo, hi = (padded_channels(a, channels) for a in threshold_bounds(flip, t_zero, t_pos))
    stored = np.ascontiguousarray(src.T) if channel_major else src
    lib.shim_threshold(ptr(ffi, stored, "float" if src_is_float else "int32_t"), src_is_float, channel_major, rows,
                       channels,
                       ptr(ffi, lo, "int32_t"), ptr(ffi, hi, "int32_t"), ptr(ffi, padded_channels(flip, channels),
                                                                            "uint8_t"),
                       channels, ptr(ffi, bits, "uint32_t"), ptr(ffi, mask, "uint32_t"))
    got_sign, got_mask = unpack_np(bits, channels), unpack_np(mask, channels)
    assert np.array_equal(got_mask, (want != 0).astype(np.uint32))
    assert np.array_equal(got_sign, (want < 0).astype(np.uint32))
    # tail bits stay zero, so they never count in a later popcount
    if channels % 32:
        assert np.all(bits[:, -1] >> np.uint32(channels % 32) == 0)
        assert np.all(mask[:, -1] >> np.uint32(channels % 32) == 0)
    out = np.zeros((rows, channels), np.float32)
    lib.shim_unpack(ptr(ffi, bits, "uint32_t"), ptr(ffi, mask, "uint32_t"), rows, channels, ptr(ffi, out, "float"))
    assert np.array_equal(out, want)


@pytest.mark.parametrize("kind,fn", [(0, np.add), (1, np.subtract), (2, lambda x, c: c - x), (3, np.multiply),
                                     (4, np.divide), (5, lambda x, c: c / x)])
def test_channel_op_rounds_like_numpy_float32(kernels, kind, fn):
    ffi, lib = kernels
    rng = np.random.default_rng(kind)
    x = rng.normal(0, 3, (6, 11)).astype(np.float32)
    for c in (rng.normal(0, 2, 11).astype(np.float32), rng.normal(0, 2, 66).astype(np.float32).reshape(6, 11)):
        y = np.zeros_like(x)
        lib.shim_channel_op(ptr(ffi, x, "float"), x.size, ptr(ffi, c, "float"), c.size, kind, ptr(ffi, y, "float"))
        assert np.array_equal(y, fn(x, c).astype(np.float32))


@pytest.mark.parametrize("log", [0, 1])
def test_softmax_and_log_softmax_close_to_numpy(kernels, log):
    ffi, lib = kernels
    x = np.random.default_rng(3).normal(0, 4, (5, 10)).astype(np.float32)
    y = np.zeros_like(x)
    lib.shim_softmax(ptr(ffi, x, "float"), 5, 10, log, ptr(ffi, y, "float"))
    shifted = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    want = shifted - np.log(e.sum(axis=1, keepdims=True)) if log else e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- convolution, pooling, layout
# The numpy references are the IR ops' own (bnncompile.ir), which the pass
# tests check against onnxruntime.

from bnncompile import ir  # noqa: E402


def pool_geometry(op, shape) -> np.ndarray:
    """struct bnn_pool_geometry as the codegen writes it."""
    from bnncompile.codegen.lowering import pool_geometry as geometry

    x = ir.Tensor("x", shape, ir.Domain.FLOAT)
    return np.array(geometry(x, op.output_tensor([x]), op), np.int32)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("ternary", [False, True])
@pytest.mark.parametrize("some_min", [False, True])
def test_max_and_average_pooling(kernels, ternary, some_min, ceil_mode):
    ffi, lib = kernels
    rng = np.random.default_rng(12)
    h, w, c = 8, 6, 37
    op = ir.Pool2D(inputs=("x",), output="y", origin="t", kind="max", kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 0),
                   ceil_mode=ceil_mode)
    oh, ow, _ = op.out_shape((h, w, c))
    assert (oh, ow) == ((5, 3) if ceil_mode else (4, 3))  # ceil_mode adds a row whose window hangs over
    geometry = pool_geometry(op, (h, w, c))
    x = rng.choice([-1, 1], (1, h, w, c))
    if ternary:
        x = x * rng.choice([0, 1], x.shape, p=[0.3, 0.7])
    take_min = rng.integers(0, 2, c).astype(bool) if some_min else None
    bits_op = ir.Pool2D(**{**op.__dict__, "min_channels": take_min})
    y, ymask = np.zeros((oh, ow, 2), np.uint32), np.zeros((oh, ow, 2), np.uint32)
    mask = pack_rows(np.where(x[0] != 0, -1, 1)) if ternary else None
    min_words = pack_rows(np.where(take_min, -1, 1)) if some_min else None
    lib.shim_maxpool_bits(ptr(ffi, geometry, "int"), ptr(ffi, pack_rows(x[0]), "uint32_t"), ptr(ffi, mask, "uint32_t"),
                          ptr(ffi, min_words, "uint32_t"), ptr(ffi, y, "uint32_t"),
                          ptr(ffi, ymask if ternary else None, "uint32_t"))
    got = np.where(unpack_np(y, c) == 1, -1, 1)
    if ternary:
        got = np.where(unpack_np(ymask, c) == 1, got, 0)
    assert np.array_equal(got, bits_op.reference(x.astype(np.float32))[0])
    assert np.all(y[..., -1] >> np.uint32(c % 32) == 0) and np.all(ymask[..., -1] >> np.uint32(c % 32) == 0)
    xf = rng.normal(size=(1, h, w, c)).astype(np.float32)
    yf = np.zeros((oh, ow, c), np.float32)
    lib.shim_maxpool_float(ptr(ffi, geometry, "int"), ptr(ffi, xf[0], "float"), ptr(ffi, yf, "float"))
    assert np.array_equal(yf, op.reference(xf)[0])
    for include in (0, 1):
        avg = ir.Pool2D(**{**op.__dict__, "kind": "avg", "count_include_pad": bool(include)})
        lib.shim_avgpool_float(ptr(ffi, geometry, "int"), ptr(ffi, xf[0], "float"), include, ptr(ffi, yf, "float"))
        np.testing.assert_allclose(yf, avg.reference(xf)[0], rtol=1e-6, atol=1e-6)
    total = ir.Pool2D(**{**op.__dict__, "kind": "sum"})
    lib.shim_sumpool_float(ptr(ffi, geometry, "int"), ptr(ffi, xf[0], "float"), 0, ptr(ffi, yf, "float"))
    np.testing.assert_allclose(yf, total.reference(xf)[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("a_shape,b_shape", [((4, 5, 6), (4, 5, 6)), ((4, 5, 6), (1, 1, 6)), ((1, 5, 1), (4, 5, 6)),
                                             ((2, 3, 1, 4, 5), (2, 1, 6, 4, 1)), ((7,), (1,))])
def test_arithmetic_between_tensors_broadcasts_like_numpy(kernels, a_shape, b_shape):
    from bnncompile.codegen.lowering import KIND_ENUM

    ffi, lib = kernels
    rng = np.random.default_rng(len(a_shape) + sum(b_shape))
    a = rng.normal(size=a_shape).astype(np.float32)
    b = rng.normal(size=b_shape).astype(np.float32)
    out = np.broadcast_shapes(a_shape, b_shape)

    def steps(shape):
        strides = np.cumprod((1,) + shape[:0:-1])[::-1]
        return np.where(np.array(shape) == 1, 0, strides).astype(np.int32)

    enum = {"BNN_ADD": 0, "BNN_SUB": 1, "BNN_MUL": 3, "BNN_DIV": 4}  # enum bnn_channel_kind
    for kind in ("add", "sub", "mul", "div"):
        op = ir.Arith(inputs=("a", "b"), output="y", origin="t", kind=kind)
        y = np.zeros(out, np.float32)
        lib.shim_arith(ptr(ffi, a, "float"), ptr(ffi, b, "float"), enum[KIND_ENUM[kind]], len(out),
                       ptr(ffi, np.array(out, np.int32), "int"), ptr(ffi, steps(a_shape), "int"),
                       ptr(ffi, steps(b_shape), "int"), ptr(ffi, y, "float"))
        assert np.array_equal(y, op.reference(a[None], b[None])[0]), kind


def test_prelu_kernel(kernels):
    ffi, lib = kernels
    x = np.concatenate([np.random.default_rng(3).normal(0, 2, 61), [0.0, -0.0, -np.inf]]).astype(np.float32)
    for slope in (np.array([0.25], np.float32), np.linspace(-1, 1, 64).astype(np.float32)):
        y = np.zeros_like(x)
        lib.shim_prelu(ptr(ffi, x, "float"), x.size, ptr(ffi, slope, "float"), slope.size, ptr(ffi, y, "float"))
        want = ir.PRelu(inputs=("x",), output="y", origin="t", slope=slope).reference(x[None])[0]
        assert np.array_equal(y.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("strides,pads", [((2, 2), (1, 1, 2, 2)), ((3, 1), (0, 2, 1, 0)), ((2, 3), (-1, 1, -1, 0)),
                                          ((1, 1), (2, 2, 2, 2))])
def test_zero_stuffing_of_real_and_packed_maps(kernels, strides, pads):
    """The input of a transposed convolution: values `strides` apart, zeros between,
    padded (or cropped, negative pads) with zeros; bits become ternary."""
    ffi, lib = kernels
    rng = np.random.default_rng(sum(strides) + sum(pads))
    h, w, c = 4, 5, 37
    op = ir.Dilate(inputs=("x",), output="y", origin="t", strides=strides, pads=pads)
    oh, ow, _ = op.out_shape((h, w, c))
    g = np.array([h, w, c, *strides, pads[0], pads[1], oh, ow], np.int32)
    xf = rng.normal(size=(1, h, w, c)).astype(np.float32)
    yf = np.full((oh, ow, c), np.nan, np.float32)
    lib.shim_stuff_float(ptr(ffi, xf[0], "float"), ptr(ffi, g, "int"), ptr(ffi, yf, "float"))
    assert np.array_equal(yf, op.reference(xf)[0])
    for ternary in (False, True):
        xb = rng.choice([-1, 1], (1, h, w, c)) * (rng.choice([0, 1], (1, h, w, c)) if ternary else 1)
        mask = pack_rows(np.where(xb[0] != 0, -1, 1)) if ternary else None
        y = np.full((oh, ow, 2), 0xDEADBEEF, np.uint32)
        ymask = np.full((oh, ow, 2), 0xDEADBEEF, np.uint32)
        lib.shim_stuff_bits(ptr(ffi, pack_rows(xb[0]), "uint32_t"), ptr(ffi, mask, "uint32_t"), ptr(ffi, g, "int"),
                            ptr(ffi, y, "uint32_t"), ptr(ffi, ymask, "uint32_t"))
        got = np.where(unpack_np(ymask, c) == 1, np.where(unpack_np(y, c) == 1, -1, 1), 0)
        assert np.array_equal(got, op.reference(xb.astype(np.float32))[0])
        assert not np.any(y[..., 1] >> (c % 32)) and not np.any(ymask[..., 1] >> (c % 32))  # tail bits 0


@pytest.mark.parametrize("kernel,strides,pads,ceil_mode", [((2, 2, 2), (2, 2, 2), (0,) * 6, False),
                                                          ((3, 2, 3), (2, 1, 2), (1, 0, 1, 1, 1, 0), True),
                                                          ((1, 3, 3), (1, 2, 2), (0, 1, 1, 0, 1, 1), False)])
def test_3d_pooling(kernels, kernel, strides, pads, ceil_mode):
    ffi, lib = kernels
    rng = np.random.default_rng(sum(kernel))
    shape = (5, 6, 7, 33)
    op = ir.Pool3D(inputs=("x",), output="y", origin="t", kind="max", kernel=kernel, strides=strides, pads=pads,
                   ceil_mode=ceil_mode)
    out = op.out_shape(shape)
    geometry = pool_geometry(op, shape)
    x = rng.choice([-1, 1], (1,) + shape) * rng.choice([0, 1], (1,) + shape, p=[0.2, 0.8])
    y, ymask = np.zeros(out[:3] + (2,), np.uint32), np.zeros(out[:3] + (2,), np.uint32)
    lib.shim_maxpool_bits(ptr(ffi, geometry, "int"), ptr(ffi, pack_rows(x[0]), "uint32_t"),
                          ptr(ffi, pack_rows(np.where(x[0] != 0, -1, 1)), "uint32_t"), ffi.NULL, ptr(ffi, y, "uint32_t"),
                          ptr(ffi, ymask, "uint32_t"))
    got = np.where(unpack_np(ymask, 33) == 1, np.where(unpack_np(y, 33) == 1, -1, 1), 0)
    assert np.array_equal(got, op.reference(x.astype(np.float32))[0])
    xf = rng.normal(size=(1,) + shape).astype(np.float32)
    yf = np.zeros(out, np.float32)
    lib.shim_maxpool_float(ptr(ffi, geometry, "int"), ptr(ffi, xf[0], "float"), ptr(ffi, yf, "float"))
    assert np.array_equal(yf, op.reference(xf)[0])
    for divisor, kind, include in ((0, "sum", False), (1, "avg", False), (2, "avg", True)):
        pool = ir.Pool3D(**{**op.__dict__, "kind": kind, "count_include_pad": include})
        lib.shim_sumpool_float(ptr(ffi, geometry, "int"), ptr(ffi, xf[0], "float"), divisor, ptr(ffi, yf, "float"))
        np.testing.assert_allclose(yf, pool.reference(xf)[0], rtol=1e-5, atol=1e-5)


def test_transpose_any_permutation_of_four_axes(kernels):
    ffi, lib = kernels
    x = np.arange(2 * 3 * 4 * 5, dtype=np.uint32).reshape(2, 3, 4, 5)
    for perm in [(0, 1, 2, 3), (3, 2, 1, 0), (1, 2, 0, 3), (2, 0, 3, 1)]:
        y = np.zeros(x.size, np.uint32)
        lib.shim_transpose(ptr(ffi, x, "uint32_t"), 4, ptr(ffi, np.array(x.shape, np.int32), "int"),
                           ptr(ffi, np.array(perm, np.int32), "int"), ptr(ffi, y, "uint32_t"))
        assert np.array_equal(y, np.transpose(x, perm).ravel())
