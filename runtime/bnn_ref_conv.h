/*
 * bnn_ref_conv.h -- reference convolutions (and dense layers, as 1x1
 * convolutions): the readable oracle every fast kernel is tested against,
 * bit for bit. Layer data and output transform: bnn_layer.h.
 *
 * Binary input, binary kernel (XNOR/popcount). With x = 1 - 2a and
 * k = 1 - 2b (a, b the bits), x*k = +1 when a == b and -1 otherwise, so over
 * the c values of one tap
 *     sum_ch x*k = (c - d) - d = c - 2 d,     d = popcount(a XOR b),
 * and y = sum over taps of (c - 2 d_tap). Tail bits are 0 in both operands,
 * so they never add to d. A ternary input (mask m, 1 where x != 0) counts
 * only its non-zero lanes:  sum_ch x*k = popcount(m) - 2 popcount((a XOR b) AND m).
 * |y| <= K, so int32 never overflows. Padding of a +-1 tensor:
 *   pad_mode 0 (ONNX/PyTorch zero padding): a padded tap is 0 and is skipped,
 *              which is exactly what the float convolution computes;
 *   pad_mode 1 (Larq pad_values=1): a padded tap is +1, i.e. bits 0, so it
 *              contributes c - 2 popcount(k_bits).
 * Grouped convolutions (depthwise included) read their group's channels bit
 * by bit.
 *
 * Real input: real kernel (multiply-add) or binary kernel (BWN: adds and
 * subtracts). Every output sums its terms in one order -- taps (a, b) in
 * row-major order, then the channels of the tap -- starting from 0.0f, one
 * rounding per multiply and per add; padded taps add pad_value * k (nothing
 * for zero padding). Fast kernels keep exactly this order.
 */
#ifndef BNN_REF_CONV_H
#define BNN_REF_CONV_H

#include "bnn_layer.h"

static inline int bnn_bit(const uint32_t *words, int index)
{
    return (int)((words[index / 32] >> (index % 32)) & 1u);
}

/* Exact sum of output channel o over the taps of output pixel (i, j). */
static inline int32_t bnn_ref_bsum(const struct bnn_bconv2d *L, const uint32_t *x, const uint32_t *x_mask, int i,
                                   int j, int o)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int cg = g->c / g->groups, og = g->o / g->groups;
    const int xw = (int)BNN_WORDS((size_t)g->c);   /* words per input pixel */
    const int kw_words = (int)BNN_WORDS((size_t)cg); /* words per kernel tap */
    const int taps = g->kh * g->kw;
    int32_t sum = 0;
    int a, b, q, yy, xx;
    for (a = 0; a < g->kh; ++a) {
        for (b = 0; b < g->kw; ++b) {
            /* the kernel words of tap (a, b) for output channel o, BNN_BLOCK apart (bnn_layer.h) */
            const uint32_t *kt = L->kernel + bnn_kernel_index(o, a * g->kw + b, 0, taps, kw_words);
            const uint32_t *xp, *mp;
            int32_t d = 0, nonzero = 0;
            if (!bnn_tap(g, i, j, a, b, &yy, &xx)) {
                if (L->pad_mode == 1) { /* +1 everywhere: bits 0, so d = popcount(k) */
                    for (q = 0; q < kw_words; ++q) d += (int32_t)bnn_popcount(kt[q * BNN_BLOCK]);
                    sum += cg - 2 * d;
                }
                continue; /* zero padding: the tap adds 0 */
            }
            xp = x + ((size_t)yy * g->w + xx) * xw;
            mp = x_mask ? x_mask + ((size_t)yy * g->w + xx) * xw : NULL;
            if (g->groups == 1) {
                for (q = 0; q < kw_words; ++q) {
                    const uint32_t k = kt[q * BNN_BLOCK];
                    const uint32_t m = mp ? mp[q] : 0xFFFFFFFFu;
                    d += (int32_t)bnn_popcount((xp[q] ^ k) & m);
                    nonzero += mp ? (int32_t)bnn_popcount(mp[q]) : 0;
                }
                sum += (mp ? nonzero : cg) - 2 * d;
            } else { /* this group's channels, bit by bit */
                const int first = (o / og) * cg;
                for (q = 0; q < cg; ++q) {
                    const uint32_t k = kt[(q / 32) * BNN_BLOCK];
                    if (mp && !bnn_bit(mp, first + q)) continue;
                    ++nonzero;
                    d += bnn_bit(xp, first + q) ^ (int)((k >> (q % 32)) & 1u);
                }
                sum += nonzero - 2 * d;
            }
        }
    }
    return sum;
}

/* Binary (or ternary, with x_mask) input, binary kernel; `other` is the
 * residual tensor if the output chain adds one, y_mask the mask plane of a
 * ternary BITS output. */
static inline void bnn_ref_bconv2d(const struct bnn_bconv2d *L, const uint32_t *x, const uint32_t *x_mask,
                                   const float *other, void *y, uint32_t *y_mask)
{
    const struct bnn_conv_geometry *g = &L->g;
    int i, j, o;
    for (i = 0; i < g->oh; ++i) {
        for (j = 0; j < g->ow; ++j) {
            const size_t pixel = (size_t)i * g->ow + j;
            bnn_output_clear_bits(&L->out, y, y_mask, pixel, g->o);
            for (o = 0; o < g->o; ++o) {
                bnn_output_store_sum(&L->out, bnn_ref_bsum(L, x, x_mask, i, j, o), pixel, o, g->o, other, y, y_mask);
            }
        }
    }
}

/* Kernel term of a real layer: k(o, tap t, channel q) times v (or +-v for a binary kernel). */
static inline float bnn_ref_fterm(const struct bnn_fconv2d *L, int o, int t, int q, float v)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int cg = g->c / g->groups, taps = g->kh * g->kw;
    if (L->kernel_bits) {
        const uint32_t k = L->kernel_bits[bnn_kernel_index(o, t, q / 32, taps, (int)BNN_WORDS((size_t)cg))];
        return bnn_negate_if(v, (k >> (q % 32)) & 1u);
    }
    return v * L->kernel[bnn_kernel_index(o, t, q, taps, cg)];
}

/* Real input; `other` as for bnn_ref_bconv2d. */
static inline void bnn_ref_fconv2d(const struct bnn_fconv2d *L, const float *x, const float *other, float *y)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int cg = g->c / g->groups, og = g->o / g->groups;
    int i, j, o, a, b, q, yy, xx;
    for (i = 0; i < g->oh; ++i) {
        for (j = 0; j < g->ow; ++j) {
            const size_t pixel = (size_t)i * g->ow + j;
            for (o = 0; o < g->o; ++o) {
                const int first = (o / og) * cg;
                float acc = 0.0f;
                for (a = 0; a < g->kh; ++a) {
                    for (b = 0; b < g->kw; ++b) {
                        const int t = a * g->kw + b;
                        const int inside = bnn_tap(g, i, j, a, b, &yy, &xx);
                        const float *xp = x + (inside ? ((size_t)yy * g->w + xx) * g->c + first : 0);
                        if (!inside && L->pad_value == 0.0f) continue;
                        for (q = 0; q < cg; ++q) acc += bnn_ref_fterm(L, o, t, q, inside ? xp[q] : L->pad_value);
                    }
                }
                bnn_output_store_real(&L->out, acc, pixel, o, g->o, other, y);
            }
        }
    }
}

#endif /* BNN_REF_CONV_H */
