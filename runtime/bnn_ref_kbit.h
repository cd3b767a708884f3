/*
 * bnn_ref_kbit.h -- reference bit-plane layers: convolutions (and dense layers,
 * as 1x1 convolutions, bnn_layer.h) whose input and kernel are packed levels
 * in any coding (bnn_bits.h): ternary kernels (a sign and a mask bit per
 * weight), k-bit activations and weights, {0,1} activations. It is the
 * readable oracle: it decodes every value and multiplies integers. The fast
 * kernels (bnn_opt_kbit.h) compute the same sums from popcounts of planes:
 *
 * With x = bx + sum_i cx_i a_i and w = bw + sum_j cw_j b_j (a_i the bit of
 * x's plane i, b_j of w's plane j), the sum over the channels of one tap is
 *     sum_ch x w = bx W_t + bw sum_i cx_i A_i + sum_ij cx_i cw_j P_ij
 * where W_t = sum_ch w (a constant of the kernel: `tap_sums`),
 * A_i = popcount(a_i) and P_ij = popcount(a_i AND b_j). Two unsigned k-bit
 * operands, for example, give sum_ij 2^(i+j) popcount(a_i AND b_j); odd
 * (bipolar-plane) weights on unsigned activations
 *     sum_j 2^j (A - 2 popcount(a AND b_j)) per activation plane a.
 * When both operands are signs with an optional mask (bipolar or ternary:
 * x = m_x (1 - 2 s_x)) the XNOR form is shorter: with m = m_x AND m_w,
 *     sum_ch x w = popcount(m) - 2 popcount((s_x XOR s_w) AND m).
 * A tap outside the input reads the integer `pad` (0: zero padding, which
 * adds nothing), i.e. adds pad * W_t. |sum| < 2^24 (the compiler checks), so
 * int32 holds it and its conversion to float is exact.
 *
 * Kernel layout: each of w's planes is blocked exactly like a binary kernel
 * (bnn_layer.h, bnn_kernel_index), and plane j starts j * kplane words after
 * plane 0, kplane = ceil(o/16) * 16 * taps * BNN_WORDS(c). Output: the int32
 * sums, the float chain of bnn_output, or (BNN_OUT_LEVELS) packed levels
 * through a multi-threshold (bnn_levels.h).
 */
#ifndef BNN_REF_KBIT_H
#define BNN_REF_KBIT_H

#include "bnn_layer.h"
#include "bnn_levels.h"

struct bnn_kconv2d {
    struct bnn_conv_geometry g;     /* groups == 1 */
    struct bnn_coding x, w;         /* how the input and the kernel are coded */
    int32_t pad;                    /* the integer a padded tap reads (0: zero padding) */
    const uint32_t *kernel;         /* w's planes, blocked */
    const int32_t *tap_sums;        /* [o/16][tap][16]: W_t, the sum of w over the tap's channels
                                       (NULL when pad == 0 and x.base == 0: the fast kernels need it then only) */
    struct bnn_output out;          /* kind BNN_OUT_INT32, BNN_OUT_FLOAT or BNN_OUT_LEVELS */
    struct bnn_levels_out levels;   /* BNN_OUT_LEVELS: the multi-threshold */
};

static inline size_t bnn_kplane_words(const struct bnn_conv_geometry *g)
{
    return (size_t)((g->o + BNN_BLOCK - 1) / BNN_BLOCK) * BNN_BLOCK * (size_t)(g->kh * g->kw) * BNN_WORDS((size_t)g->c);
}

/* The integer of weight (o, tap t, channel ch). */
static inline int32_t bnn_kweight(const struct bnn_kconv2d *L, int o, int t, int ch)
{
    const int words = (int)BNN_WORDS((size_t)L->g.c);
    return bnn_code_value(&L->w, bnn_code_at(L->kernel, bnn_kplane_words(&L->g),
                                             bnn_kernel_index(o, t, ch / 32, L->g.kh * L->g.kw, words),
                                             (unsigned)(ch % 32), L->w.planes));
}

/* Exact sum of output channel o over the taps of output pixel (i, j). */
static inline int32_t bnn_ref_ksum(const struct bnn_kconv2d *L, const uint32_t *x, int i, int j, int o)
{
    const struct bnn_conv_geometry *g = &L->g;
    const size_t words = BNN_WORDS((size_t)g->c), x_plane = (size_t)g->h * (size_t)g->w * words;
    int32_t sum = 0;
    int a, b, ch, yy, xx;
    for (a = 0; a < g->kh; ++a) {
        for (b = 0; b < g->kw; ++b) {
            const int t = a * g->kw + b;
            const int inside = bnn_tap(g, i, j, a, b, &yy, &xx);
            if (!inside && L->pad == 0) continue;
            for (ch = 0; ch < g->c; ++ch) {
                const int32_t xv = inside ? bnn_code_value(&L->x, bnn_code_at(x, x_plane,
                                                ((size_t)yy * g->w + xx) * words + (size_t)ch / 32u,
                                                (unsigned)(ch % 32), L->x.planes)) : L->pad;
                sum += xv * bnn_kweight(L, o, t, ch);
            }
        }
    }
    return sum;
}

/* Stores output (pixel, o) from its exact sum (LEVELS: y's planes must be cleared first). */
static inline void bnn_kconv_store(const struct bnn_kconv2d *L, int32_t sum, size_t pixel, int o, const float *other,
                                   void *y)
{
    const size_t channels = (size_t)L->g.o;
    if (L->out.kind == BNN_OUT_LEVELS) {
        const size_t words = BNN_WORDS(channels);
        bnn_put_code((uint32_t *)y, (size_t)L->g.oh * (size_t)L->g.ow * words, pixel * words + (size_t)o / 32u,
                     (unsigned)(o % 32), bnn_levels_code(&L->levels, sum, (size_t)o), L->levels.planes);
    } else if (L->out.kind == BNN_OUT_INT32) {
        ((int32_t *)y)[bnn_output_at(&L->out, pixel, o, (int)channels)] = sum;
    } else {
        bnn_output_store_real(&L->out, (float)sum, pixel, o, (int)channels, other, (float *)y);
    }
}

/* Clears the planes of a LEVELS output (bits are OR-ed in). */
static inline void bnn_kconv_clear(const struct bnn_kconv2d *L, void *y)
{
    if (L->out.kind == BNN_OUT_LEVELS)
        memset(y, 0, (size_t)L->levels.planes * (size_t)L->g.oh * (size_t)L->g.ow * BNN_WORDS((size_t)L->g.o) *
                         sizeof(uint32_t));
}

/* Packed input x (L->x coding); `other` is the residual tensor if the float chain adds one. */
static inline void bnn_ref_kconv2d(const struct bnn_kconv2d *L, const uint32_t *x, const float *other, void *y)
{
    const struct bnn_conv_geometry *g = &L->g;
    int i, j, o;
    bnn_kconv_clear(L, y);
    for (i = 0; i < g->oh; ++i)
        for (j = 0; j < g->ow; ++j)
            for (o = 0; o < g->o; ++o)
                bnn_kconv_store(L, bnn_ref_ksum(L, x, i, j, o), (size_t)i * g->ow + j, o, other, y);
}

#endif /* BNN_REF_KBIT_H */
