/*
 * bnn_opt_avx2.h -- micro-kernels for x86-64 with AVX2 (e.g. -march=haswell,
 * znver2, or native there). Driver: bnn_opt_driver.h; maths and layout:
 * bnn_layer.h; the plain-C statement of each micro-kernel: bnn_opt_portable.h.
 *
 * The 16 output channels of a block fill two 256-bit registers, so a tile of
 * 4 pixels keeps its 4 x 16 sums in 8 registers. AVX2 has no popcount
 * instruction: the count of each byte comes from a 16-entry table of nibble
 * counts (VPSHUFB on the low and the high nibbles), and two multiply-adds by
 * 1 sum the 4 bytes of each 32-bit lane (Mula's method).
 * Pixels beyond np repeat the last pixel; their sums are dropped (acc has only np rows).
 */
#ifndef BNN_OPT_AVX2_H
#define BNN_OPT_AVX2_H

#include <immintrin.h>
#include "bnn_layer.h"

#define BNN_TILE 4
#define BNN_HAVE_MK_XOR_POPCOUNT
#define BNN_HAVE_MK_MUL_ADD
#define BNN_HAVE_MK_SIGNED_ADD

/* popcount of every 32-bit lane */
static inline __m256i bnn_avx2_popcount(__m256i v)
{
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i low = _mm256_shuffle_epi8(table, _mm256_and_si256(v, nibble));
    const __m256i high = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
    const __m256i bytes = _mm256_add_epi8(low, high);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(bytes, _mm256_set1_epi8(1)), _mm256_set1_epi16(1));
}

static inline __m256i bnn_avx2_xor_popcount(__m256i acc, __m256i x, __m256i k)
{
    return _mm256_add_epi32(acc, bnn_avx2_popcount(_mm256_xor_si256(x, k)));
}

static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int init, int32_t acc[][BNN_BLOCK])
{
    const uint32_t *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                   *x3 = x + (np > 3 ? 3 : np - 1) * x_pix;
    __m256i s0 = init ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)acc[0]);
    __m256i t0 = init ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)(acc[0] + 8));
    __m256i s1 = np > 1 && !init ? _mm256_loadu_si256((const __m256i *)acc[1]) : _mm256_setzero_si256();
    __m256i t1 = np > 1 && !init ? _mm256_loadu_si256((const __m256i *)(acc[1] + 8)) : _mm256_setzero_si256();
    __m256i s2 = np > 2 && !init ? _mm256_loadu_si256((const __m256i *)acc[2]) : _mm256_setzero_si256();
    __m256i t2 = np > 2 && !init ? _mm256_loadu_si256((const __m256i *)(acc[2] + 8)) : _mm256_setzero_si256();
    __m256i s3 = np > 3 && !init ? _mm256_loadu_si256((const __m256i *)acc[3]) : _mm256_setzero_si256();
    __m256i t3 = np > 3 && !init ? _mm256_loadu_si256((const __m256i *)(acc[3] + 8)) : _mm256_setzero_si256();
    int a, r;
    for (a = 0; a < na; ++a) {
        const uint32_t *ka = k + a * k_row * BNN_BLOCK;
        const ptrdiff_t xa = a * x_row;
        for (r = 0; r < run; ++r) {
            const __m256i klo = _mm256_loadu_si256((const __m256i *)(ka + r * BNN_BLOCK));
            const __m256i khi = _mm256_loadu_si256((const __m256i *)(ka + r * BNN_BLOCK + 8));
            __m256i v = _mm256_set1_epi32((int)x0[xa + r]);
            s0 = bnn_avx2_xor_popcount(s0, v, klo);
            t0 = bnn_avx2_xor_popcount(t0, v, khi);
            v = _mm256_set1_epi32((int)x1[xa + r]);
            s1 = bnn_avx2_xor_popcount(s1, v, klo);
            t1 = bnn_avx2_xor_popcount(t1, v, khi);
            v = _mm256_set1_epi32((int)x2[xa + r]);
            s2 = bnn_avx2_xor_popcount(s2, v, klo);
            t2 = bnn_avx2_xor_popcount(t2, v, khi);
            v = _mm256_set1_epi32((int)x3[xa + r]);
            s3 = bnn_avx2_xor_popcount(s3, v, klo);
            t3 = bnn_avx2_xor_popcount(t3, v, khi);
        }
    }
    _mm256_storeu_si256((__m256i *)acc[0], s0);
    _mm256_storeu_si256((__m256i *)(acc[0] + 8), t0);
    if (np > 1) {
        _mm256_storeu_si256((__m256i *)acc[1], s1);
        _mm256_storeu_si256((__m256i *)(acc[1] + 8), t1);
    }
    if (np > 2) {
        _mm256_storeu_si256((__m256i *)acc[2], s2);
        _mm256_storeu_si256((__m256i *)(acc[2] + 8), t2);
    }
    if (np > 3) {
        _mm256_storeu_si256((__m256i *)acc[3], s3);
        _mm256_storeu_si256((__m256i *)(acc[3] + 8), t3);
    }
}

/* acc + x * k: a multiply, then an add (contraction is off, see bnn_runtime.h) */
static inline __m256 bnn_avx2_mul_add(__m256 acc, __m256 x, __m256 k)
{
    return _mm256_add_ps(acc, _mm256_mul_ps(x, k));
}

static inline void bnn_mk_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int n, int np,
                                  float acc[][BNN_BLOCK])
{
    const float *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                *x3 = x + (np > 3 ? 3 : np - 1) * x_pix;
    __m256 s0 = _mm256_loadu_ps(acc[0]), t0 = _mm256_loadu_ps(acc[0] + 8);
    __m256 s1 = np > 1 ? _mm256_loadu_ps(acc[1]) : _mm256_setzero_ps();
    __m256 t1 = np > 1 ? _mm256_loadu_ps(acc[1] + 8) : _mm256_setzero_ps();
    __m256 s2 = np > 2 ? _mm256_loadu_ps(acc[2]) : _mm256_setzero_ps();
    __m256 t2 = np > 2 ? _mm256_loadu_ps(acc[2] + 8) : _mm256_setzero_ps();
    __m256 s3 = np > 3 ? _mm256_loadu_ps(acc[3]) : _mm256_setzero_ps();
    __m256 t3 = np > 3 ? _mm256_loadu_ps(acc[3] + 8) : _mm256_setzero_ps();
    int q;
    for (q = 0; q < n; ++q) {
        const __m256 klo = _mm256_loadu_ps(k + q * BNN_BLOCK), khi = _mm256_loadu_ps(k + q * BNN_BLOCK + 8);
        __m256 v = _mm256_set1_ps(x0[q]);
        s0 = bnn_avx2_mul_add(s0, v, klo);
        t0 = bnn_avx2_mul_add(t0, v, khi);
        v = _mm256_set1_ps(x1[q]);
        s1 = bnn_avx2_mul_add(s1, v, klo);
        t1 = bnn_avx2_mul_add(t1, v, khi);
        v = _mm256_set1_ps(x2[q]);
        s2 = bnn_avx2_mul_add(s2, v, klo);
        t2 = bnn_avx2_mul_add(t2, v, khi);
        v = _mm256_set1_ps(x3[q]);
        s3 = bnn_avx2_mul_add(s3, v, klo);
        t3 = bnn_avx2_mul_add(t3, v, khi);
    }
    _mm256_storeu_ps(acc[0], s0);
    _mm256_storeu_ps(acc[0] + 8, t0);
    if (np > 1) {
        _mm256_storeu_ps(acc[1], s1);
        _mm256_storeu_ps(acc[1] + 8, t1);
    }
    if (np > 2) {
        _mm256_storeu_ps(acc[2], s2);
        _mm256_storeu_ps(acc[2] + 8, t2);
    }
    if (np > 3) {
        _mm256_storeu_ps(acc[3], s3);
        _mm256_storeu_ps(acc[3] + 8, t3);
    }
}

/* acc + (x with its sign bit flipped where the kernel bit is 1): exact, like bnn_negate_if */
static inline __m256 bnn_avx2_signed_add(__m256 acc, __m256 x, __m256i sign)
{
    return _mm256_add_ps(acc, _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(x), sign)));
}

static inline void bnn_mk_signed_add(const float *x, ptrdiff_t x_pix, const uint32_t *kbits, int n, int np,
                                     float acc[][BNN_BLOCK])
{
    const float *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                *x3 = x + (np > 3 ? 3 : np - 1) * x_pix;
    __m256 s0 = _mm256_loadu_ps(acc[0]), t0 = _mm256_loadu_ps(acc[0] + 8);
    __m256 s1 = np > 1 ? _mm256_loadu_ps(acc[1]) : _mm256_setzero_ps();
    __m256 t1 = np > 1 ? _mm256_loadu_ps(acc[1] + 8) : _mm256_setzero_ps();
    __m256 s2 = np > 2 ? _mm256_loadu_ps(acc[2]) : _mm256_setzero_ps();
    __m256 t2 = np > 2 ? _mm256_loadu_ps(acc[2] + 8) : _mm256_setzero_ps();
    __m256 s3 = np > 3 ? _mm256_loadu_ps(acc[3]) : _mm256_setzero_ps();
    __m256 t3 = np > 3 ? _mm256_loadu_ps(acc[3] + 8) : _mm256_setzero_ps();
    int q;
    for (q = 0; q < n; ++q) {
        const __m128i shift = _mm_cvtsi32_si128(q % 32);
        const uint32_t *kw = kbits + (q / 32) * BNN_BLOCK;
        const __m256i slo = _mm256_slli_epi32(_mm256_srl_epi32(_mm256_loadu_si256((const __m256i *)kw), shift), 31);
        const __m256i shi =
            _mm256_slli_epi32(_mm256_srl_epi32(_mm256_loadu_si256((const __m256i *)(kw + 8)), shift), 31);
        __m256 v = _mm256_set1_ps(x0[q]);
        s0 = bnn_avx2_signed_add(s0, v, slo);
        t0 = bnn_avx2_signed_add(t0, v, shi);
        v = _mm256_set1_ps(x1[q]);
        s1 = bnn_avx2_signed_add(s1, v, slo);
        t1 = bnn_avx2_signed_add(t1, v, shi);
        v = _mm256_set1_ps(x2[q]);
        s2 = bnn_avx2_signed_add(s2, v, slo);
        t2 = bnn_avx2_signed_add(t2, v, shi);
        v = _mm256_set1_ps(x3[q]);
        s3 = bnn_avx2_signed_add(s3, v, slo);
        t3 = bnn_avx2_signed_add(t3, v, shi);
    }
    _mm256_storeu_ps(acc[0], s0);
    _mm256_storeu_ps(acc[0] + 8, t0);
    if (np > 1) {
        _mm256_storeu_ps(acc[1], s1);
        _mm256_storeu_ps(acc[1] + 8, t1);
    }
    if (np > 2) {
        _mm256_storeu_ps(acc[2], s2);
        _mm256_storeu_ps(acc[2] + 8, t2);
    }
    if (np > 3) {
        _mm256_storeu_ps(acc[3], s3);
        _mm256_storeu_ps(acc[3] + 8, t3);
    }
}

#endif /* BNN_OPT_AVX2_H */
