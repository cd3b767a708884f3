/*
 * bnn_opt_avx512.h -- micro-kernels for x86-64 with AVX-512F and VPOPCNTDQ
 * (e.g. -march=icelake-server, sapphirerapids, znver4, or native there).
 * Driver, maths and layout: bnn_opt_portable.h, bnn_layer.h.
 *
 * One 512-bit register holds the 16 output channels of a block, so a tile
 * of 8 pixels keeps its 8 x 16 sums in 8 registers for the whole depth.
 * Each input word is broadcast to 16 lanes, XORed with the 16 channels'
 * kernel words, and VPOPCNTD counts the differing bits of every lane:
 * xor + popcount + add per 512 binary MACs.
 * Pixels beyond np (a tile at the end of a row) repeat the last pixel; their
 * sums are computed and dropped.
 */
#ifndef BNN_OPT_AVX512_H
#define BNN_OPT_AVX512_H

#include <immintrin.h>
#include "bnn_layer.h"

#define BNN_TILE 8
#define BNN_HAVE_MK_XOR_POPCOUNT
#define BNN_HAVE_MK_MUL_ADD
#define BNN_HAVE_MK_SIGNED_ADD

/* acc + popcount(broadcast(x) XOR k), per 32-bit lane */
static inline __m512i bnn_avx512_xor_popcount(__m512i acc, uint32_t x, __m512i k)
{
    return _mm512_add_epi32(acc, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32((int)x), k)));
}

static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int32_t acc[][BNN_BLOCK])
{
    const uint32_t *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                   *x3 = x + (np > 3 ? 3 : np - 1) * x_pix, *x4 = x + (np > 4 ? 4 : np - 1) * x_pix,
                   *x5 = x + (np > 5 ? 5 : np - 1) * x_pix, *x6 = x + (np > 6 ? 6 : np - 1) * x_pix,
                   *x7 = x + (np > 7 ? 7 : np - 1) * x_pix;
    __m512i s0 = _mm512_loadu_si512(acc[0]), s1 = _mm512_loadu_si512(acc[1]), s2 = _mm512_loadu_si512(acc[2]),
            s3 = _mm512_loadu_si512(acc[3]), s4 = _mm512_loadu_si512(acc[4]), s5 = _mm512_loadu_si512(acc[5]),
            s6 = _mm512_loadu_si512(acc[6]), s7 = _mm512_loadu_si512(acc[7]);
    int a, r;
    for (a = 0; a < na; ++a) {
        const uint32_t *ka = k + a * k_row * BNN_BLOCK;
        const ptrdiff_t xa = a * x_row;
        for (r = 0; r < run; ++r) {
            const __m512i kv = _mm512_loadu_si512(ka + r * BNN_BLOCK);
            s0 = bnn_avx512_xor_popcount(s0, x0[xa + r], kv);
            s1 = bnn_avx512_xor_popcount(s1, x1[xa + r], kv);
            s2 = bnn_avx512_xor_popcount(s2, x2[xa + r], kv);
            s3 = bnn_avx512_xor_popcount(s3, x3[xa + r], kv);
            s4 = bnn_avx512_xor_popcount(s4, x4[xa + r], kv);
            s5 = bnn_avx512_xor_popcount(s5, x5[xa + r], kv);
            s6 = bnn_avx512_xor_popcount(s6, x6[xa + r], kv);
            s7 = bnn_avx512_xor_popcount(s7, x7[xa + r], kv);
        }
    }
    _mm512_storeu_si512(acc[0], s0);
    _mm512_storeu_si512(acc[1], s1);
    _mm512_storeu_si512(acc[2], s2);
    _mm512_storeu_si512(acc[3], s3);
    _mm512_storeu_si512(acc[4], s4);
    _mm512_storeu_si512(acc[5], s5);
    _mm512_storeu_si512(acc[6], s6);
    _mm512_storeu_si512(acc[7], s7);
}

/* acc + x * k: a multiply, then an add (contraction is off, see bnn_runtime.h) */
static inline __m512 bnn_avx512_mul_add(__m512 acc, float x, __m512 k)
{
    return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(x), k));
}

static inline void bnn_mk_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int n, int np,
                                  float acc[][BNN_BLOCK])
{
    const float *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                *x3 = x + (np > 3 ? 3 : np - 1) * x_pix, *x4 = x + (np > 4 ? 4 : np - 1) * x_pix,
                *x5 = x + (np > 5 ? 5 : np - 1) * x_pix, *x6 = x + (np > 6 ? 6 : np - 1) * x_pix,
                *x7 = x + (np > 7 ? 7 : np - 1) * x_pix;
    __m512 s0 = _mm512_loadu_ps(acc[0]), s1 = _mm512_loadu_ps(acc[1]), s2 = _mm512_loadu_ps(acc[2]),
           s3 = _mm512_loadu_ps(acc[3]), s4 = _mm512_loadu_ps(acc[4]), s5 = _mm512_loadu_ps(acc[5]),
           s6 = _mm512_loadu_ps(acc[6]), s7 = _mm512_loadu_ps(acc[7]);
    int q;
    for (q = 0; q < n; ++q) {
        const __m512 kv = _mm512_loadu_ps(k + q * BNN_BLOCK);
        s0 = bnn_avx512_mul_add(s0, x0[q], kv);
        s1 = bnn_avx512_mul_add(s1, x1[q], kv);
        s2 = bnn_avx512_mul_add(s2, x2[q], kv);
        s3 = bnn_avx512_mul_add(s3, x3[q], kv);
        s4 = bnn_avx512_mul_add(s4, x4[q], kv);
        s5 = bnn_avx512_mul_add(s5, x5[q], kv);
        s6 = bnn_avx512_mul_add(s6, x6[q], kv);
        s7 = bnn_avx512_mul_add(s7, x7[q], kv);
    }
    _mm512_storeu_ps(acc[0], s0);
    _mm512_storeu_ps(acc[1], s1);
    _mm512_storeu_ps(acc[2], s2);
    _mm512_storeu_ps(acc[3], s3);
    _mm512_storeu_ps(acc[4], s4);
    _mm512_storeu_ps(acc[5], s5);
    _mm512_storeu_ps(acc[6], s6);
    _mm512_storeu_ps(acc[7], s7);
}

/* acc + (x with its sign bit flipped where the kernel bit is 1): exact, like bnn_negate_if */
static inline __m512 bnn_avx512_signed_add(__m512 acc, float x, __m512i sign)
{
    return _mm512_add_ps(acc, _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_set1_ps(x)), sign)));
}

static inline void bnn_mk_signed_add(const float *x, ptrdiff_t x_pix, const uint32_t *kbits, int n, int np,
                                     float acc[][BNN_BLOCK])
{
    const float *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                *x3 = x + (np > 3 ? 3 : np - 1) * x_pix, *x4 = x + (np > 4 ? 4 : np - 1) * x_pix,
                *x5 = x + (np > 5 ? 5 : np - 1) * x_pix, *x6 = x + (np > 6 ? 6 : np - 1) * x_pix,
                *x7 = x + (np > 7 ? 7 : np - 1) * x_pix;
    __m512 s0 = _mm512_loadu_ps(acc[0]), s1 = _mm512_loadu_ps(acc[1]), s2 = _mm512_loadu_ps(acc[2]),
           s3 = _mm512_loadu_ps(acc[3]), s4 = _mm512_loadu_ps(acc[4]), s5 = _mm512_loadu_ps(acc[5]),
           s6 = _mm512_loadu_ps(acc[6]), s7 = _mm512_loadu_ps(acc[7]);
    int q;
    for (q = 0; q < n; ++q) {
        const __m512i words = _mm512_loadu_si512(kbits + (q / 32) * BNN_BLOCK);
        const __m512i sign = _mm512_slli_epi32(_mm512_srl_epi32(words, _mm_cvtsi32_si128(q % 32)), 31);
        s0 = bnn_avx512_signed_add(s0, x0[q], sign);
        s1 = bnn_avx512_signed_add(s1, x1[q], sign);
        s2 = bnn_avx512_signed_add(s2, x2[q], sign);
        s3 = bnn_avx512_signed_add(s3, x3[q], sign);
        s4 = bnn_avx512_signed_add(s4, x4[q], sign);
        s5 = bnn_avx512_signed_add(s5, x5[q], sign);
        s6 = bnn_avx512_signed_add(s6, x6[q], sign);
        s7 = bnn_avx512_signed_add(s7, x7[q], sign);
    }
    _mm512_storeu_ps(acc[0], s0);
    _mm512_storeu_ps(acc[1], s1);
    _mm512_storeu_ps(acc[2], s2);
    _mm512_storeu_ps(acc[3], s3);
    _mm512_storeu_ps(acc[4], s4);
    _mm512_storeu_ps(acc[5], s5);
    _mm512_storeu_ps(acc[6], s6);
    _mm512_storeu_ps(acc[7], s7);
}

#endif /* BNN_OPT_AVX512_H */
