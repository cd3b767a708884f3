/*
 * bnn_opt_sse2.h -- micro-kernels for x86-64 without -march: SSE2 is part of
 * the x86-64 baseline, so every x86-64 compiler defines __SSE2__ and these
 * run on any x86-64 CPU. Driver, maths and layout: bnn_opt_portable.h,
 * bnn_layer.h.
 *
 * SSE2 has no popcount: each lane's bits are counted per byte with the first
 * three SWAR steps (bnn_sse2_count_bytes), byte counts of up to 31 words add up in
 * the register without overflow, and only then are the 4 bytes of a lane
 * summed (PMADDWD). A tile of 4 pixels works on 8 lanes at a time: 4 x 2
 * registers of byte counts, two of kernel words.
 */
#ifndef BNN_OPT_SSE2_H
#define BNN_OPT_SSE2_H

#include <emmintrin.h>
#include "bnn_layer.h"

#define BNN_TILE 4
#define BNN_HAVE_MK_XOR_POPCOUNT
#define BNN_HAVE_MK_MUL_ADD

/* per byte: the bits set in x XOR k (0..8), added to the byte counts c */
static inline __m128i bnn_sse2_count_bytes(__m128i c, __m128i x, __m128i k)
{
    const __m128i m1 = _mm_set1_epi8(0x55), m2 = _mm_set1_epi8(0x33), m4 = _mm_set1_epi8(0x0F);
    __m128i v = _mm_xor_si128(x, k);
    v = _mm_sub_epi8(v, _mm_and_si128(_mm_srli_epi16(v, 1), m1));
    v = _mm_add_epi8(_mm_and_si128(v, m2), _mm_and_si128(_mm_srli_epi16(v, 2), m2));
    v = _mm_and_si128(_mm_add_epi8(v, _mm_srli_epi16(v, 4)), m4);
    return _mm_add_epi8(c, v);
}

/* acc (4 lanes of int32) + the sums of the 4 byte counts of each lane */
static inline void bnn_sse2_flush(int32_t *acc, __m128i c)
{
    const __m128i pairs = _mm_add_epi16(_mm_and_si128(c, _mm_set1_epi16(0x00FF)),
                                        _mm_and_si128(_mm_srli_epi16(c, 8), _mm_set1_epi16(0x00FF)));
    const __m128i sums = _mm_madd_epi16(pairs, _mm_set1_epi16(1));
    _mm_storeu_si128((__m128i *)(void *)acc, _mm_add_epi32(_mm_loadu_si128((const __m128i *)(const void *)acc), sums));
}

/* the byte counts of the tile's pixels into acc (8 lanes from `half`), then from 0 again */
#define BNN_SSE2_FLUSH_TILE()                                                                          \
    do {                                                                                               \
        bnn_sse2_flush(acc[0] + half, c0);                                                             \
        bnn_sse2_flush(acc[0] + half + 4, d0);                                                         \
        if (np > 1) bnn_sse2_flush(acc[1] + half, c1), bnn_sse2_flush(acc[1] + half + 4, d1);          \
        if (np > 2) bnn_sse2_flush(acc[2] + half, c2), bnn_sse2_flush(acc[2] + half + 4, d2);          \
        if (np > 3) bnn_sse2_flush(acc[3] + half, c3), bnn_sse2_flush(acc[3] + half + 4, d3);          \
        c0 = d0 = c1 = d1 = c2 = d2 = c3 = d3 = _mm_setzero_si128();                                   \
    } while (0)

static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int init, int32_t acc[][BNN_BLOCK])
{
    const uint32_t *xp[BNN_TILE];
    int half, a, r, p, l, words;
    for (p = 0; p < BNN_TILE; ++p) xp[p] = x + (p < np ? p : np - 1) * x_pix; /* extra pixels: dropped */
    if (init)
        for (p = 0; p < np; ++p)
            for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] = 0;
    for (half = 0; half < BNN_BLOCK; half += 8) {
        __m128i c0 = _mm_setzero_si128(), d0 = c0, c1 = c0, d1 = c0, c2 = c0, d2 = c0, c3 = c0, d3 = c0;
        words = 0;
        for (a = 0; a < na; ++a) {
            const uint32_t *ka = k + a * k_row * BNN_BLOCK + half;
            const ptrdiff_t xa = a * x_row;
            for (r = 0; r < run; ++r) {
                const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(ka + r * BNN_BLOCK));
                const __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(ka + r * BNN_BLOCK + 4));
                __m128i v = _mm_set1_epi32((int)xp[0][xa + r]);
                c0 = bnn_sse2_count_bytes(c0, v, lo);
                d0 = bnn_sse2_count_bytes(d0, v, hi);
                v = _mm_set1_epi32((int)xp[1][xa + r]);
                c1 = bnn_sse2_count_bytes(c1, v, lo);
                d1 = bnn_sse2_count_bytes(d1, v, hi);
                v = _mm_set1_epi32((int)xp[2][xa + r]);
                c2 = bnn_sse2_count_bytes(c2, v, lo);
                d2 = bnn_sse2_count_bytes(d2, v, hi);
                v = _mm_set1_epi32((int)xp[3][xa + r]);
                c3 = bnn_sse2_count_bytes(c3, v, lo);
                d3 = bnn_sse2_count_bytes(d3, v, hi);
                if (++words == 31) {
                    BNN_SSE2_FLUSH_TILE();
                    words = 0;
                }
            }
        }
        BNN_SSE2_FLUSH_TILE();
    }
}
#undef BNN_SSE2_FLUSH_TILE

/* acc + x * k: a multiply, then an add (contraction is off, see bnn_runtime.h) */
static inline __m128 bnn_sse2_mul_add(__m128 acc, __m128 x, const float *k)
{
    return _mm_add_ps(acc, _mm_mul_ps(x, _mm_loadu_ps(k)));
}

static inline void bnn_mk_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int n, int np,
                                  float acc[][BNN_BLOCK])
{
    int p, q, quarter;
    for (p = 0; p + 1 < np; p += 2) { /* two pixels, all 16 lanes: 8 registers of sums */
        const float *x0 = x + p * x_pix, *x1 = x0 + x_pix;
        for (quarter = 0; quarter < BNN_BLOCK; quarter += 8) {
            __m128 s0 = _mm_loadu_ps(acc[p] + quarter), s1 = _mm_loadu_ps(acc[p] + quarter + 4);
            __m128 t0 = _mm_loadu_ps(acc[p + 1] + quarter), t1 = _mm_loadu_ps(acc[p + 1] + quarter + 4);
            for (q = 0; q < n; ++q) {
                const float *kq = k + q * BNN_BLOCK + quarter;
                const __m128 v0 = _mm_set1_ps(x0[q]), v1 = _mm_set1_ps(x1[q]);
                s0 = bnn_sse2_mul_add(s0, v0, kq);
                s1 = bnn_sse2_mul_add(s1, v0, kq + 4);
                t0 = bnn_sse2_mul_add(t0, v1, kq);
                t1 = bnn_sse2_mul_add(t1, v1, kq + 4);
            }
            _mm_storeu_ps(acc[p] + quarter, s0);
            _mm_storeu_ps(acc[p] + quarter + 4, s1);
            _mm_storeu_ps(acc[p + 1] + quarter, t0);
            _mm_storeu_ps(acc[p + 1] + quarter + 4, t1);
        }
    }
    for (; p < np; ++p) { /* an odd last pixel */
        for (quarter = 0; quarter < BNN_BLOCK; quarter += 8) {
            __m128 s0 = _mm_loadu_ps(acc[p] + quarter), s1 = _mm_loadu_ps(acc[p] + quarter + 4);
            for (q = 0; q < n; ++q) {
                const __m128 v0 = _mm_set1_ps(x[p * x_pix + q]);
                s0 = bnn_sse2_mul_add(s0, v0, k + q * BNN_BLOCK + quarter);
                s1 = bnn_sse2_mul_add(s1, v0, k + q * BNN_BLOCK + quarter + 4);
            }
            _mm_storeu_ps(acc[p] + quarter, s0);
            _mm_storeu_ps(acc[p] + quarter + 4, s1);
        }
    }
}

#endif /* BNN_OPT_SSE2_H */
