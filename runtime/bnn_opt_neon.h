/*
 * bnn_opt_neon.h -- micro-kernels for AArch64 with NEON (Advanced SIMD,
 * always present on AArch64). Driver: bnn_opt_driver.h; maths and layout:
 * bnn_layer.h; the plain-C statement of each micro-kernel: bnn_opt_portable.h.
 *
 * The 16 output channels of a block fill four 128-bit registers, so a tile
 * of 4 pixels keeps its 4 x 16 sums in 16 registers. CNT counts the bits of
 * every byte; two pairwise widening adds (UADDLP, UADALP) sum the 4 bytes of
 * each 32-bit lane into the accumulator.
 * Pixels beyond np repeat the last pixel; their sums are dropped (acc has only np rows).
 */
#ifndef BNN_OPT_NEON_H
#define BNN_OPT_NEON_H

#include <arm_neon.h>
#include "bnn_layer.h"

#define BNN_TILE 4
#define BNN_HAVE_MK_XOR_POPCOUNT
#define BNN_HAVE_MK_MUL_ADD
#define BNN_HAVE_MK_SIGNED_ADD

static inline uint32x4_t bnn_neon_xor_popcount(uint32x4_t acc, uint32x4_t x, uint32x4_t k)
{
    return vpadalq_u16(acc, vpaddlq_u8(vcntq_u8(vreinterpretq_u8_u32(veorq_u32(x, k)))));
}

/* The 16 lanes of one pixel as four registers. */
struct bnn_neon_u32x16 {
    uint32x4_t v[4];
};

static inline void bnn_neon_pixel_xor_popcount(struct bnn_neon_u32x16 *s, uint32_t x, const struct bnn_neon_u32x16 *k)
{
    const uint32x4_t v = vdupq_n_u32(x);
    s->v[0] = bnn_neon_xor_popcount(s->v[0], v, k->v[0]);
    s->v[1] = bnn_neon_xor_popcount(s->v[1], v, k->v[1]);
    s->v[2] = bnn_neon_xor_popcount(s->v[2], v, k->v[2]);
    s->v[3] = bnn_neon_xor_popcount(s->v[3], v, k->v[3]);
}

static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int init, int32_t acc[][BNN_BLOCK])
{
    const uint32_t *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                   *x3 = x + (np > 3 ? 3 : np - 1) * x_pix;
    struct bnn_neon_u32x16 s0, s1, s2, s3, kv;
    int a, r, i;
    for (i = 0; i < 4; ++i) {
        s0.v[i] = !init ? vreinterpretq_u32_s32(vld1q_s32(acc[0] + 4 * i)) : vdupq_n_u32(0);
        s1.v[i] = np > 1 && !init ? vreinterpretq_u32_s32(vld1q_s32(acc[1] + 4 * i)) : vdupq_n_u32(0);
        s2.v[i] = np > 2 && !init ? vreinterpretq_u32_s32(vld1q_s32(acc[2] + 4 * i)) : vdupq_n_u32(0);
        s3.v[i] = np > 3 && !init ? vreinterpretq_u32_s32(vld1q_s32(acc[3] + 4 * i)) : vdupq_n_u32(0);
    }
    for (a = 0; a < na; ++a) {
        const uint32_t *ka = k + a * k_row * BNN_BLOCK;
        const ptrdiff_t xa = a * x_row;
        for (r = 0; r < run; ++r) {
            const uint32_t *kr = ka + r * BNN_BLOCK;
            kv.v[0] = vld1q_u32(kr);
            kv.v[1] = vld1q_u32(kr + 4);
            kv.v[2] = vld1q_u32(kr + 8);
            kv.v[3] = vld1q_u32(kr + 12);
            bnn_neon_pixel_xor_popcount(&s0, x0[xa + r], &kv);
            bnn_neon_pixel_xor_popcount(&s1, x1[xa + r], &kv);
            bnn_neon_pixel_xor_popcount(&s2, x2[xa + r], &kv);
            bnn_neon_pixel_xor_popcount(&s3, x3[xa + r], &kv);
        }
    }
    for (i = 0; i < 4; ++i) {
        vst1q_s32(acc[0] + 4 * i, vreinterpretq_s32_u32(s0.v[i]));
        if (np > 1) vst1q_s32(acc[1] + 4 * i, vreinterpretq_s32_u32(s1.v[i]));
        if (np > 2) vst1q_s32(acc[2] + 4 * i, vreinterpretq_s32_u32(s2.v[i]));
        if (np > 3) vst1q_s32(acc[3] + 4 * i, vreinterpretq_s32_u32(s3.v[i]));
    }
}

/* The 16 float lanes of one pixel. */
struct bnn_neon_f32x16 {
    float32x4_t v[4];
};

/* s + x * k per lane: a multiply, then an add (contraction is off, see bnn_runtime.h) */
static inline void bnn_neon_pixel_mul_add(struct bnn_neon_f32x16 *s, float x, const struct bnn_neon_f32x16 *k)
{
    const float32x4_t v = vdupq_n_f32(x);
    s->v[0] = vaddq_f32(s->v[0], vmulq_f32(v, k->v[0]));
    s->v[1] = vaddq_f32(s->v[1], vmulq_f32(v, k->v[1]));
    s->v[2] = vaddq_f32(s->v[2], vmulq_f32(v, k->v[2]));
    s->v[3] = vaddq_f32(s->v[3], vmulq_f32(v, k->v[3]));
}

/* s + (x with its sign flipped where the lane's kernel bit is 1): exact, like bnn_negate_if */
static inline void bnn_neon_pixel_signed_add(struct bnn_neon_f32x16 *s, float x, const uint32x4_t sign[4])
{
    const uint32x4_t v = vreinterpretq_u32_f32(vdupq_n_f32(x));
    s->v[0] = vaddq_f32(s->v[0], vreinterpretq_f32_u32(veorq_u32(v, sign[0])));
    s->v[1] = vaddq_f32(s->v[1], vreinterpretq_f32_u32(veorq_u32(v, sign[1])));
    s->v[2] = vaddq_f32(s->v[2], vreinterpretq_f32_u32(veorq_u32(v, sign[2])));
    s->v[3] = vaddq_f32(s->v[3], vreinterpretq_f32_u32(veorq_u32(v, sign[3])));
}

static inline void bnn_neon_load_tile(struct bnn_neon_f32x16 s[4], float acc[][BNN_BLOCK], int np)
{
    int p, i;
    for (p = 0; p < 4; ++p)
        for (i = 0; i < 4; ++i) s[p].v[i] = p < np ? vld1q_f32(acc[p] + 4 * i) : vdupq_n_f32(0.0f);
}

static inline void bnn_neon_store_tile(const struct bnn_neon_f32x16 s[4], float acc[][BNN_BLOCK], int np)
{
    int p, i;
    for (p = 0; p < np; ++p)
        for (i = 0; i < 4; ++i) vst1q_f32(acc[p] + 4 * i, s[p].v[i]);
}

static inline void bnn_mk_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int n, int np,
                                  float acc[][BNN_BLOCK])
{
    const float *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                *x3 = x + (np > 3 ? 3 : np - 1) * x_pix;
    struct bnn_neon_f32x16 s[4], kv;
    int q;
    bnn_neon_load_tile(s, acc, np);
    for (q = 0; q < n; ++q) {
        const float *kq = k + q * BNN_BLOCK;
        kv.v[0] = vld1q_f32(kq);
        kv.v[1] = vld1q_f32(kq + 4);
        kv.v[2] = vld1q_f32(kq + 8);
        kv.v[3] = vld1q_f32(kq + 12);
        bnn_neon_pixel_mul_add(&s[0], x0[q], &kv);
        bnn_neon_pixel_mul_add(&s[1], x1[q], &kv);
        bnn_neon_pixel_mul_add(&s[2], x2[q], &kv);
        bnn_neon_pixel_mul_add(&s[3], x3[q], &kv);
    }
    bnn_neon_store_tile(s, acc, np);
}

static inline void bnn_mk_signed_add(const float *x, ptrdiff_t x_pix, const uint32_t *kbits, int n, int np,
                                     float acc[][BNN_BLOCK])
{
    const float *x0 = x, *x1 = x + (np > 1 ? 1 : 0) * x_pix, *x2 = x + (np > 2 ? 2 : np - 1) * x_pix,
                *x3 = x + (np > 3 ? 3 : np - 1) * x_pix;
    struct bnn_neon_f32x16 s[4];
    uint32x4_t sign[4];
    int q, i;
    bnn_neon_load_tile(s, acc, np);
    for (q = 0; q < n; ++q) {
        const uint32_t *kw = kbits + (q / 32) * BNN_BLOCK;
        const int32x4_t shift = vdupq_n_s32(-(q % 32)); /* a negative count shifts right */
        for (i = 0; i < 4; ++i) sign[i] = vshlq_n_u32(vshlq_u32(vld1q_u32(kw + 4 * i), shift), 31);
        bnn_neon_pixel_signed_add(&s[0], x0[q], sign);
        bnn_neon_pixel_signed_add(&s[1], x1[q], sign);
        bnn_neon_pixel_signed_add(&s[2], x2[q], sign);
        bnn_neon_pixel_signed_add(&s[3], x3[q], sign);
    }
    bnn_neon_store_tile(s, acc, np);
}

#endif /* BNN_OPT_NEON_H */
