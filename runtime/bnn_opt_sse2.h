/*
 * bnn_opt_sse2.h -- micro-kernels for x86-64 without -march: SSE2 is part of
 * the x86-64 baseline, so every x86-64 compiler defines __SSE2__ and these
 * run on any x86-64 CPU. Driver: bnn_opt_driver.h; maths and layout:
 * bnn_layer.h; the plain-C statement of each micro-kernel: bnn_opt_portable.h.
 *
 * SSE2 has no popcount: each lane's bits are counted per byte with the first
 * three SWAR steps (bnn_sse2_count_bytes), byte counts of up to 31 words add up in
 * the register without overflow, and only then are the 4 bytes of a lane
 * summed (PMADDWD). A tile of 4 pixels works on 8 lanes at a time: 4 x 2
 * registers of byte counts, two of kernel words.
 * A long run of words (8 or more per kernel row) goes through carry-save adders
 * first (Harley-Seal): four words at a time are added into bit planes of
 * ones and twos, and only the carries into the fours are counted, which
 * costs about 8 instructions per word instead of 12.
 */
#ifndef BNN_OPT_SSE2_H
#define BNN_OPT_SSE2_H

#include <emmintrin.h>
#include <string.h>
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

/* the bits set in each byte of v */
static inline __m128i bnn_sse2_bytes(__m128i v)
{
    return bnn_sse2_count_bytes(_mm_setzero_si128(), v, _mm_setzero_si128());
}

/* the sums of the 4 byte counts of each 32-bit lane */
static inline __m128i bnn_sse2_lane_sums(__m128i c)
{
    const __m128i pairs = _mm_add_epi16(_mm_and_si128(c, _mm_set1_epi16(0x00FF)),
                                        _mm_and_si128(_mm_srli_epi16(c, 8), _mm_set1_epi16(0x00FF)));
    return _mm_madd_epi16(pairs, _mm_set1_epi16(1));
}

/* acc (4 lanes of int32) + the sums of the 4 byte counts of each lane */
static inline void bnn_sse2_flush(int32_t *acc, __m128i c)
{
    _mm_storeu_si128((__m128i *)(void *)acc,
                     _mm_add_epi32(_mm_loadu_si128((const __m128i *)(const void *)acc), bnn_sse2_lane_sums(c)));
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

/* a carry-save adder on bit planes: a + b + c = sum + 2 * carry, per bit */
#define BNN_SSE2_CSA(carry, sum, a, b, c)                        \
    do {                                                         \
        const __m128i u_ = _mm_xor_si128(a, b);                  \
        carry = _mm_or_si128(_mm_and_si128(a, b), _mm_and_si128(u_, c)); \
        sum = _mm_xor_si128(u_, c);                              \
    } while (0)

/* x XOR k for 8 lanes (two registers) of word r of row a */
#define BNN_SSE2_WORD(lo, hi, r)                                                                       \
    do {                                                                                               \
        const __m128i v_ = _mm_set1_epi32((int)xa[r]);                                                 \
        lo = _mm_xor_si128(v_, _mm_loadu_si128((const __m128i *)(const void *)(ka + (r) * BNN_BLOCK)));     \
        hi = _mm_xor_si128(v_, _mm_loadu_si128((const __m128i *)(const void *)(ka + (r) * BNN_BLOCK + 4))); \
    } while (0)

/* One pixel, 8 lanes from `half`, a long run: Harley-Seal (see the top of this file). */
static inline void bnn_sse2_xor_popcount_csa(const uint32_t *x, ptrdiff_t x_row, const uint32_t *k, ptrdiff_t k_row,
                                             int na, int run, int half, int32_t *acc)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i ones0 = zero, ones1 = zero, twos0 = zero, twos1 = zero, fours0 = zero, fours1 = zero;
    __m128i w0, w1, w2, w3, v0, v1, v2, v3, ta0, ta1, tb0, tb1, f0, f1;
    __m128i s0 = _mm_loadu_si128((const __m128i *)(const void *)acc);
    __m128i s1 = _mm_loadu_si128((const __m128i *)(const void *)(acc + 4));
    int a, r, groups = 0;
    for (a = 0; a < na; ++a) {
        const uint32_t *xa = x + a * x_row, *ka = k + a * k_row * BNN_BLOCK + half;
        for (r = 0; r + 4 <= run; r += 4) { /* ones + twos*2 + four words = ones + twos*2 + fours*4 */
            BNN_SSE2_WORD(w0, v0, r);
            BNN_SSE2_WORD(w1, v1, r + 1);
            BNN_SSE2_CSA(ta0, ones0, ones0, w0, w1);
            BNN_SSE2_CSA(ta1, ones1, ones1, v0, v1);
            BNN_SSE2_WORD(w2, v2, r + 2);
            BNN_SSE2_WORD(w3, v3, r + 3);
            BNN_SSE2_CSA(tb0, ones0, ones0, w2, w3);
            BNN_SSE2_CSA(tb1, ones1, ones1, v2, v3);
            BNN_SSE2_CSA(f0, twos0, twos0, ta0, tb0);
            BNN_SSE2_CSA(f1, twos1, twos1, ta1, tb1);
            fours0 = _mm_add_epi8(fours0, bnn_sse2_bytes(f0));
            fours1 = _mm_add_epi8(fours1, bnn_sse2_bytes(f1));
            if (++groups == 31) { /* byte counts of at most 31 x 8 */
                s0 = _mm_add_epi32(s0, _mm_slli_epi32(bnn_sse2_lane_sums(fours0), 2));
                s1 = _mm_add_epi32(s1, _mm_slli_epi32(bnn_sse2_lane_sums(fours1), 2));
                fours0 = fours1 = zero;
                groups = 0;
            }
        }
        for (; r < run; ++r) { /* a word left over: ones + w = (ones ^ w) + 2 (ones & w) */
            BNN_SSE2_WORD(w0, v0, r);
            ta0 = _mm_and_si128(ones0, w0);
            ta1 = _mm_and_si128(ones1, v0);
            ones0 = _mm_xor_si128(ones0, w0);
            ones1 = _mm_xor_si128(ones1, v0);
            f0 = _mm_and_si128(twos0, ta0);
            f1 = _mm_and_si128(twos1, ta1);
            twos0 = _mm_xor_si128(twos0, ta0);
            twos1 = _mm_xor_si128(twos1, ta1);
            fours0 = _mm_add_epi8(fours0, bnn_sse2_bytes(f0));
            fours1 = _mm_add_epi8(fours1, bnn_sse2_bytes(f1));
            if (++groups == 31) {
                s0 = _mm_add_epi32(s0, _mm_slli_epi32(bnn_sse2_lane_sums(fours0), 2));
                s1 = _mm_add_epi32(s1, _mm_slli_epi32(bnn_sse2_lane_sums(fours1), 2));
                fours0 = fours1 = zero;
                groups = 0;
            }
        }
    }
    s0 = _mm_add_epi32(s0, _mm_slli_epi32(bnn_sse2_lane_sums(fours0), 2));
    s1 = _mm_add_epi32(s1, _mm_slli_epi32(bnn_sse2_lane_sums(fours1), 2));
    s0 = _mm_add_epi32(s0, _mm_add_epi32(_mm_slli_epi32(bnn_sse2_lane_sums(bnn_sse2_bytes(twos0)), 1),
                                         bnn_sse2_lane_sums(bnn_sse2_bytes(ones0))));
    s1 = _mm_add_epi32(s1, _mm_add_epi32(_mm_slli_epi32(bnn_sse2_lane_sums(bnn_sse2_bytes(twos1)), 1),
                                         bnn_sse2_lane_sums(bnn_sse2_bytes(ones1))));
    _mm_storeu_si128((__m128i *)(void *)acc, s0);
    _mm_storeu_si128((__m128i *)(void *)(acc + 4), s1);
}
#undef BNN_SSE2_WORD
#undef BNN_SSE2_CSA

static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int init, int32_t acc[][BNN_BLOCK])
{
    const uint32_t *xp[BNN_TILE];
    int half, a, r, p;
    for (p = 0; p < BNN_TILE; ++p) xp[p] = x + (p < np ? p : np - 1) * x_pix; /* extra pixels: dropped */
    if (init) memset(acc, 0, (size_t)np * sizeof acc[0]);
    if (run >= 8) {
        for (p = 0; p < np; ++p)
            for (half = 0; half < BNN_BLOCK; half += 8)
                bnn_sse2_xor_popcount_csa(xp[p], x_row, k, k_row, na, run, half, acc[p] + half);
        return;
    }
    for (half = 0; half < BNN_BLOCK; half += 8) {
        __m128i c0 = _mm_setzero_si128(), d0 = c0, c1 = c0, d1 = c0, c2 = c0, d2 = c0, c3 = c0, d3 = c0;
        int words = 0;
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
