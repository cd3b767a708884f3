/*
 * bnn_opt_avx512.h -- micro-kernels for x86-64 with AVX-512F and VPOPCNTDQ
 * (e.g. -march=icelake-server, sapphirerapids, znver4, or native there).
 * Driver: bnn_opt_driver.h; maths and layout: bnn_layer.h; the plain-C
 * statement of each micro-kernel: bnn_opt_portable.h.
 *
 * One 512-bit register holds the 16 output channels of a block, so a tile
 * of 8 pixels keeps its 8 x 16 sums in 8 registers for the whole depth.
 * Each input word is broadcast to 16 lanes, XORed with the 16 channels'
 * kernel words, and VPOPCNTD counts the differing bits of every lane:
 * xor + popcount + add per 512 binary MACs.
 * The micro-kernels are written once for np pixels and instantiated for
 * np = 1 .. 8 (a switch), so a tile of fewer pixels (a short row, the pixels a
 * border tap column is inside for) computes only those, in registers.
 */
#ifndef BNN_OPT_AVX512_H
#define BNN_OPT_AVX512_H

#include <immintrin.h>
#include "bnn_layer.h"

#define BNN_TILE 8
#define BNN_HAVE_MK_XOR_POPCOUNT
#define BNN_HAVE_MK_MUL_ADD
#define BNN_HAVE_MK_SIGNED_ADD
#define BNN_HAVE_MK_STORE
#define BNN_HAVE_MK_WIDE
#define BNN_HAVE_MK_LANES_MUL_ADD
#define BNN_HAVE_MK_DECIDE
#define BNN_HAVE_MK_KEYS

/* (every compiler that targets AVX-512 VPOPCNTDQ takes the GNU attribute) */
#define BNN_AVX512_INLINE static inline __attribute__((always_inline))

/* Calls f(args..., np) with np a constant 1 .. 8 (each call inlined and unrolled). */
#define BNN_AVX512_FOR_NP(np, call) \
    switch (np) {                   \
    case 1: call(1); break;         \
    case 2: call(2); break;         \
    case 3: call(3); break;         \
    case 4: call(4); break;         \
    case 5: call(5); break;         \
    case 6: call(6); break;         \
    case 7: call(7); break;         \
    default: call(8); break;        \
    }

/* acc + popcount(broadcast(x) XOR k), per 32-bit lane */
static inline __m512i bnn_avx512_xor_popcount(__m512i acc, uint32_t x, __m512i k)
{
    return _mm512_add_epi32(acc, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32((int)x), k)));
}

BNN_AVX512_INLINE void bnn_avx512_xor_popcount_np(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row,
                                                   const uint32_t *k, ptrdiff_t k_row, int na, int run, int init,
                                                   int32_t acc[][BNN_BLOCK], const int np)
{
    __m512i s[BNN_TILE];
    int a, r, p;
    for (p = 0; p < np; ++p) s[p] = init ? _mm512_setzero_si512() : _mm512_loadu_si512(acc[p]);
    for (a = 0; a < na; ++a) {
        const uint32_t *ka = k + a * k_row * BNN_BLOCK, *xa = x + a * x_row;
        for (r = 0; r < run; ++r) {
            const __m512i kv = _mm512_loadu_si512(ka + r * BNN_BLOCK);
            for (p = 0; p < np; ++p) s[p] = bnn_avx512_xor_popcount(s[p], xa[p * x_pix + r], kv);
        }
    }
    for (p = 0; p < np; ++p) _mm512_storeu_si512(acc[p], s[p]);
}

static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int init, int32_t acc[][BNN_BLOCK])
{
#define BNN_CALL(n) bnn_avx512_xor_popcount_np(x, x_pix, x_row, k, k_row, na, run, init, acc, n)
    BNN_AVX512_FOR_NP(np, BNN_CALL)
#undef BNN_CALL
}

/* acc + x * k: a multiply, then an add (contraction is off, see bnn_runtime.h) */
static inline __m512 bnn_avx512_mul_add_vec(__m512 acc, __m512 x, __m512 k)
{
    return _mm512_add_ps(acc, _mm512_mul_ps(x, k));
}

static inline __m512 bnn_avx512_mul_add(__m512 acc, float x, __m512 k)
{
    return bnn_avx512_mul_add_vec(acc, _mm512_set1_ps(x), k);
}

BNN_AVX512_INLINE void bnn_avx512_mul_add_np(const float *x, ptrdiff_t x_pix, const float *k, int n,
                                              float acc[][BNN_BLOCK], const int np)
{
    __m512 s[BNN_TILE];
    int q, p;
    for (p = 0; p < np; ++p) s[p] = _mm512_loadu_ps(acc[p]);
    for (q = 0; q < n; ++q) {
        const __m512 kv = _mm512_loadu_ps(k + q * BNN_BLOCK);
        for (p = 0; p < np; ++p) s[p] = bnn_avx512_mul_add(s[p], x[p * x_pix + q], kv);
    }
    for (p = 0; p < np; ++p) _mm512_storeu_ps(acc[p], s[p]);
}

static inline void bnn_mk_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int n, int np,
                                  float acc[][BNN_BLOCK])
{
#define BNN_CALL(m) bnn_avx512_mul_add_np(x, x_pix, k, n, acc, m)
    BNN_AVX512_FOR_NP(np, BNN_CALL)
#undef BNN_CALL
}

/* acc + (x with its sign bit flipped where the kernel bit is 1): exact, like bnn_negate_if */
static inline __m512 bnn_avx512_signed_add(__m512 acc, float x, __m512i sign)
{
    return _mm512_add_ps(acc, _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_set1_ps(x)), sign)));
}

BNN_AVX512_INLINE void bnn_avx512_signed_add_np(const float *x, ptrdiff_t x_pix, const uint32_t *kbits, int n,
                                                 float acc[][BNN_BLOCK], const int np)
{
    __m512 s[BNN_TILE];
    int q, p;
    for (p = 0; p < np; ++p) s[p] = _mm512_loadu_ps(acc[p]);
    for (q = 0; q < n; ++q) {
        const __m512i words = _mm512_loadu_si512(kbits + (q / 32) * BNN_BLOCK);
        const __m512i sign = _mm512_slli_epi32(_mm512_srl_epi32(words, _mm_cvtsi32_si128(q % 32)), 31);
        for (p = 0; p < np; ++p) s[p] = bnn_avx512_signed_add(s[p], x[p * x_pix + q], sign);
    }
    for (p = 0; p < np; ++p) _mm512_storeu_ps(acc[p], s[p]);
}

static inline void bnn_mk_signed_add(const float *x, ptrdiff_t x_pix, const uint32_t *kbits, int n, int np,
                                     float acc[][BNN_BLOCK])
{
#define BNN_CALL(m) bnn_avx512_signed_add_np(x, x_pix, kbits, n, acc, m)
    BNN_AVX512_FOR_NP(np, BNN_CALL)
#undef BNN_CALL
}

/* Depthwise: acc[p] + x[p*x_pix + lanes] * k, lanes beyond `lanes` read as 0 (and stay). */
static inline void bnn_mk_lanes_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int lanes, int np,
                                        float acc[][BNN_BLOCK])
{
    const __mmask16 valid = (__mmask16)(lanes == BNN_BLOCK ? 0xFFFFu : (1u << lanes) - 1u);
    const __m512 kv = _mm512_loadu_ps(k);
    int p;
    for (p = 0; p < np; ++p)
        _mm512_storeu_ps(acc[p], bnn_avx512_mul_add_vec(_mm512_loadu_ps(acc[p]),
                                                        _mm512_maskz_loadu_ps(valid, x + p * x_pix), kv));
}

/* One pixel, up to 8 blocks of output channels (a dense layer): block n's kernel at k + n*k_block. */
static inline void bnn_mk_xor_popcount_wide(const uint32_t *x, const uint32_t *k, ptrdiff_t k_block, int run,
                                            int nblocks, int32_t acc[][BNN_BLOCK])
{
    __m512i s[BNN_TILE];
    int n, r;
    for (n = 0; n < BNN_TILE; ++n) s[n] = _mm512_setzero_si512();
    for (r = 0; r < run; ++r) {
        const __m512i v = _mm512_set1_epi32((int)x[r]);
        for (n = 0; n < nblocks; ++n)
            s[n] = _mm512_add_epi32(s[n], _mm512_popcnt_epi32(_mm512_xor_si512(
                                              v, _mm512_loadu_si512(k + n * k_block + r * BNN_BLOCK))));
    }
    for (n = 0; n < nblocks; ++n) _mm512_storeu_si512(acc[n], _mm512_add_epi32(_mm512_loadu_si512(acc[n]), s[n]));
}

static inline void bnn_mk_mul_add_wide(const float *x, const float *k, ptrdiff_t k_block, int n_in, int nblocks,
                                       float acc[][BNN_BLOCK])
{
    __m512 s[BNN_TILE];
    int n, q;
    for (n = 0; n < nblocks; ++n) s[n] = _mm512_loadu_ps(acc[n]);
    for (q = 0; q < n_in; ++q) {
        const __m512 v = _mm512_set1_ps(x[q]);
        for (n = 0; n < nblocks; ++n)
            s[n] = bnn_avx512_mul_add_vec(s[n], v, _mm512_loadu_ps(k + n * k_block + q * BNN_BLOCK));
    }
    for (n = 0; n < nblocks; ++n) _mm512_storeu_ps(acc[n], s[n]);
}

static inline void bnn_mk_signed_add_wide(const float *x, const uint32_t *kbits, ptrdiff_t k_block, int n_in,
                                          int nblocks, float acc[][BNN_BLOCK])
{
    __m512 s[BNN_TILE];
    int n, q;
    for (n = 0; n < nblocks; ++n) s[n] = _mm512_loadu_ps(acc[n]);
    for (q = 0; q < n_in; ++q) {
        const __m512i v = _mm512_castps_si512(_mm512_set1_ps(x[q]));
        const __m128i shift = _mm_cvtsi32_si128(q % 32);
        for (n = 0; n < nblocks; ++n) {
            const __m512i words = _mm512_loadu_si512(kbits + n * k_block + (q / 32) * BNN_BLOCK);
            const __m512i sign = _mm512_slli_epi32(_mm512_srl_epi32(words, shift), 31);
            s[n] = _mm512_add_ps(s[n], _mm512_castsi512_ps(_mm512_xor_si512(v, sign)));
        }
    }
    for (n = 0; n < nblocks; ++n) _mm512_storeu_ps(acc[n], s[n]);
}

/*
 * The output transform of a whole tile in registers (bnn_opt_portable.h has the plain-C
 * statement): one pass per op of the chain over the tile's np pixels (np a constant
 * after inlining). MAXPS and MINPS are exactly x > 0 ? x : 0 and the clip's compares,
 * NaN and -0 included.
 */
BNN_AVX512_INLINE void bnn_avx512_chain_store_np(const struct bnn_output *out, const struct bnn_tile *t,
                                                 const int32_t *sums, const float *reals, const float *other, float *y,
                                                 const int np)
{
    const int c0 = t->block * BNN_BLOCK;
    const __mmask16 valid = (__mmask16)(t->lanes == BNN_BLOCK ? 0xFFFFu : (1u << t->lanes) - 1u);
    const size_t first = t->pixel * (size_t)t->channels + (size_t)c0, stride = (size_t)t->channels;
    __m512 v[BNN_TILE];
    int n, p;
    for (p = 0; p < np; ++p) /* int32 sums are exact in float: |sum| < 2^24 */
        v[p] = sums ? _mm512_cvtepi32_ps(_mm512_loadu_si512(sums + p * BNN_BLOCK)) : _mm512_loadu_ps(reals + p * BNN_BLOCK);
    for (n = 0; n < out->n_ops; ++n) {
        const struct bnn_float_op *op = &out->ops[n];
        const __m512 c = op->kind == BNN_RELU || op->kind == BNN_ADD_TENSOR ? _mm512_setzero_ps()
                         : op->c_len == 1 || op->kind == BNN_CLIP ? _mm512_set1_ps(op->c[0])
                         : _mm512_loadu_ps(op->c + c0);
        switch (op->kind) {
        case BNN_RELU: for (p = 0; p < np; ++p) v[p] = _mm512_max_ps(v[p], c); break;
        case BNN_CLIP: {
            const __m512 hi = _mm512_set1_ps(op->c[1]);
            for (p = 0; p < np; ++p) v[p] = _mm512_min_ps(hi, _mm512_max_ps(c, v[p]));
            break;
        }
        case BNN_ADD_TENSOR:
            if (other == NULL) break; /* (never: the compiler passes the tensor the chain adds) */
            for (p = 0; p < np; ++p)
                v[p] = _mm512_add_ps(v[p], _mm512_maskz_loadu_ps(valid, other + first + (size_t)p * stride));
            break;
        case BNN_ADD: for (p = 0; p < np; ++p) v[p] = _mm512_add_ps(v[p], c); break;
        case BNN_SUB: for (p = 0; p < np; ++p) v[p] = _mm512_sub_ps(v[p], c); break;
        case BNN_RSUB: for (p = 0; p < np; ++p) v[p] = _mm512_sub_ps(c, v[p]); break;
        case BNN_MUL: for (p = 0; p < np; ++p) v[p] = _mm512_mul_ps(v[p], c); break;
        case BNN_DIV: for (p = 0; p < np; ++p) v[p] = _mm512_div_ps(v[p], c); break;
        case BNN_RDIV: for (p = 0; p < np; ++p) v[p] = _mm512_div_ps(c, v[p]); break;
        }
    }
    if (out->plane) { /* channel-major: lane l goes to plane c0 + l */
        float lanes[BNN_BLOCK];
        int l;
        for (p = 0; p < np; ++p) {
            float *at = y + (size_t)c0 * out->plane + t->pixel + (size_t)p;
            _mm512_storeu_ps(lanes, v[p]);
            for (l = 0; l < t->lanes; ++l) at[(size_t)l * out->plane] = lanes[l];
        }
        return;
    }
    for (p = 0; p < np; ++p) _mm512_mask_storeu_ps(y + first + (size_t)p * stride, valid, v[p]);
}

static inline void bnn_mk_store_real(const struct bnn_output *out, const struct bnn_tile *t, float v[][BNN_BLOCK],
                                     const float *other, float *y)
{
#define BNN_CALL(n) bnn_avx512_chain_store_np(out, t, NULL, v[0], other, y, n)
    BNN_AVX512_FOR_NP(t->np, BNN_CALL)
#undef BNN_CALL
}

/* bnn_float_key of 16 floats: the bits, negated (two's complement) where the sign is set */
static inline void bnn_mk_keys(const float x[BNN_BLOCK], int32_t v[BNN_BLOCK])
{
    const __m512i bits = _mm512_castps_si512(_mm512_loadu_ps(x));
    const __m512i sign = _mm512_srai_epi32(bits, 31);
    const __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF));
    _mm512_storeu_si512(v, _mm512_sub_epi32(_mm512_xor_si512(magnitude, sign), sign));
}

/* 16 decisions in two compares: negative = flip ? !(v < hi) : (v < lo), zero = !(v < lo) && (v < hi) */
static inline void bnn_mk_decide(const int32_t v[BNN_BLOCK], const int32_t *lo, const int32_t *hi, const uint8_t *flip,
                                 uint32_t *negative, uint32_t *zero)
{
    const __m512i x = _mm512_loadu_si512(v);
    const __m512i f = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)flip));
    const __mmask16 flipped = _mm512_test_epi32_mask(f, f);
    const __mmask16 below_lo = _mm512_cmplt_epi32_mask(x, _mm512_loadu_si512(lo));
    const __mmask16 below_hi = _mm512_cmplt_epi32_mask(x, _mm512_loadu_si512(hi));
    *negative = (uint32_t)((below_lo & (__mmask16)~flipped) | ((__mmask16)~below_hi & flipped)) & 0xFFFFu;
    *zero = (uint32_t)((__mmask16)~below_lo & below_hi) & 0xFFFFu;
}

/* The 16 decisions of one pixel into its packed words (the first block of a word assigns it). */
static inline void bnn_avx512_decide_store(const struct bnn_output *out, const struct bnn_tile *t, int p,
                                           const int32_t v[BNN_BLOCK], void *y, uint32_t *y_mask)
{
    const int c0 = t->block * BNN_BLOCK, shift = c0 % 32;
    const uint32_t valid = t->lanes == BNN_BLOCK ? 0xFFFFu : (1u << t->lanes) - 1u;
    const size_t at = (t->pixel + (size_t)p) * BNN_WORDS((size_t)t->channels) + (size_t)c0 / 32u;
    uint32_t sign, zero;
    bnn_mk_decide(v, out->lo + c0, out->hi + c0, out->flip + c0, &sign, &zero);
    sign &= valid;
    if (shift == 0) ((uint32_t *)y)[at] = sign;
    else ((uint32_t *)y)[at] |= sign << shift;
    if (out->ternary) {
        const uint32_t nonzero = ~zero & valid;
        if (shift == 0) y_mask[at] = nonzero;
        else y_mask[at] |= nonzero << shift;
    }
}

static inline void bnn_mk_store_sums(const struct bnn_output *out, const struct bnn_tile *t, int32_t sums[][BNN_BLOCK],
                                     const float *other, void *y, uint32_t *y_mask)
{
    const __mmask16 valid = (__mmask16)(t->lanes == BNN_BLOCK ? 0xFFFFu : (1u << t->lanes) - 1u);
    const size_t first = t->pixel * (size_t)t->channels + (size_t)t->block * BNN_BLOCK;
    int p;
    if (out->kind == BNN_OUT_BITS) {
        for (p = 0; p < t->np; ++p) bnn_avx512_decide_store(out, t, p, sums[p], y, y_mask);
        return;
    }
    if (out->kind == BNN_OUT_INT32 && out->plane) {
        int l;
        for (p = 0; p < t->np; ++p)
            for (l = 0; l < t->lanes; ++l)
                ((int32_t *)y)[bnn_output_at(out, t->pixel + (size_t)p, t->block * BNN_BLOCK + l, t->channels)] =
                    sums[p][l];
        return;
    }
    if (out->kind == BNN_OUT_INT32) {
        for (p = 0; p < t->np; ++p)
            _mm512_mask_storeu_epi32((int32_t *)y + first + (size_t)p * (size_t)t->channels, valid,
                                     _mm512_loadu_si512(sums[p]));
        return;
    }
#define BNN_CALL(n) bnn_avx512_chain_store_np(out, t, sums[0], NULL, other, (float *)y, n)
    BNN_AVX512_FOR_NP(t->np, BNN_CALL)
#undef BNN_CALL
}

#endif /* BNN_OPT_AVX512_H */
