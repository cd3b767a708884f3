/*
 * bnn_opt_mcu_walk.h -- binary convolutions and dense layers on
 * microcontrollers: the walk over a layer that feeds the micro-kernel of
 * bnn_opt_mcu.h (carry-save popcount, or the core's own popcount instruction)
 * one output pixel at a time, and the output transform of that pixel.
 *
 * On these cores an instruction is a cycle or so and there are no vector
 * registers to fill, so the walk spends nothing on tiles of pixels: for output
 * pixel (i, j) the taps inside the input are one rectangle, kernel rows
 * [a0, a1) x columns [b0, b1) (bnn_tap_range). With dilation 1 the words of
 * those columns are contiguous in one input row and in one kernel row, so the
 * whole pixel is one micro-kernel call: a1 - a0 runs of (b1 - b0) * words
 * words, x_row apart in the input and kw * words apart in the kernel. A dense
 * layer (one pixel whose kernel covers the input) is one run of all its words.
 *
 * The 16 sums of the pixel then become y = K - 2 d (bnn_ref_conv.h): K counts
 * the channels of the taps inside the input for zero padding; one padding
 * counts all taps and adds, for each tap outside, the popcount of its kernel
 * words (the compiler's tap_popcounts). The driver's store
 * (bnn_mk_store_sums: packed bits through bnn_mk_decide, int32, or floats
 * through the chain) writes them, so no int32 tensor exists in memory.
 * Depthwise layers (one channel per group) take each lane's bit from the
 * pixel's word; other grouped convolutions and ternary inputs run the
 * reference kernel.
 */
#ifndef BNN_OPT_MCU_WALK_H
#define BNN_OPT_MCU_WALK_H

#include "bnn_opt_driver.h" /* bnn_tap_range, bnn_tile_at, bnn_mk_store_sums */
#include "bnn_softfloat.h"   /* bnn_mk_chain_sums on cores without an FPU */

/* d of one pixel: every tap of the rectangle [a0, a1) x [b0, b1). */
static inline void bnn_mcu_pixel_sums(const struct bnn_bconv2d *L, const uint32_t *x, const uint32_t *kb, int i, int j,
                                      int a0, int a1, int b0, int b1, int32_t d[BNN_BLOCK])
{
    const struct bnn_conv_geometry *g = &L->g;
    const int words = (int)BNN_WORDS((size_t)g->c);
    const ptrdiff_t x_row = (ptrdiff_t)g->dh * g->w * words, k_row = (ptrdiff_t)g->kw * words;
    const uint32_t *xt = x + ((ptrdiff_t)(i * g->sh - g->pt + a0 * g->dh) * g->w + (j * g->sw - g->pl + b0 * g->dw)) *
                                 words;
    const uint32_t *kt = kb + (size_t)(a0 * g->kw + b0) * words * BNN_BLOCK;
    if (a1 <= a0 || b1 <= b0) {
        int l;
        for (l = 0; l < BNN_BLOCK; ++l) d[l] = 0;
    } else if (g->dw == 1) {
        bnn_mcu_xor_popcount16(xt, x_row, kt, k_row, a1 - a0, (b1 - b0) * words, 1, d);
    } else {
        int b;
        for (b = b0; b < b1; ++b, xt += (ptrdiff_t)g->dw * words, kt += (size_t)words * BNN_BLOCK)
            bnn_mcu_xor_popcount16(xt, x_row, kt, k_row, a1 - a0, words, b == b0, d);
    }
}

/*
 * d of one pixel of a depthwise layer (one input channel per group, one output
 * channel per group): channel o of the output sees only bit o of each tap's
 * input word, so the 16 lanes of a block take their bits from one word.
 */
static inline void bnn_mcu_depthwise_sums(const struct bnn_bconv2d *L, const uint32_t *x, const uint32_t *kb, int i,
                                          int j, int block, int a0, int a1, int b0, int b1, int32_t d[BNN_BLOCK])
{
    const struct bnn_conv_geometry *g = &L->g;
    const int words = (int)BNN_WORDS((size_t)g->c), shift = (block * BNN_BLOCK) % 32;
    const uint32_t *xb = x + (block * BNN_BLOCK) / 32;
    int a, b, l;
    for (l = 0; l < BNN_BLOCK; ++l) d[l] = 0;
    for (a = a0; a < a1; ++a) {
        const int yy = i * g->sh - g->pt + a * g->dh;
        for (b = b0; b < b1; ++b) {
            const int xx = j * g->sw - g->pl + b * g->dw;
            const uint32_t xv = xb[((ptrdiff_t)yy * g->w + xx) * words] >> shift;
            const uint32_t *kt = kb + (size_t)(a * g->kw + b) * BNN_BLOCK; /* one word per tap and lane */
            BNN_CSA_UNROLL
            for (l = 0; l < BNN_BLOCK; ++l) d[l] += (int32_t)(((xv >> l) ^ kt[l]) & 1u);
        }
    }
}

/*
 * K of one pixel (cg channels per group) whose taps inside the input are [a0, a1) x [b0, b1), so that
 * y = K - 2 d; for one padding, d gains the popcounts of the taps outside.
 */
static inline int32_t bnn_mcu_pixel_k(const struct bnn_bconv2d *L, int cg, int block, int a0, int a1, int b0, int b1,
                                      int32_t d[BNN_BLOCK])
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw;
    int l, a, b;
    if (L->pad_mode == 0) return (int32_t)((a1 - a0) * (b1 - b0)) * cg;
    if (a0 == 0 && a1 == g->kh && b0 == 0 && b1 == g->kw) return (int32_t)taps * cg;
    for (a = 0; a < g->kh; ++a) { /* one padding: the taps outside add popcount(kernel words) */
        for (b = 0; b < g->kw; ++b) {
            const int16_t *pc = L->tap_popcounts + ((size_t)block * taps + (size_t)(a * g->kw + b)) * BNN_BLOCK;
            if (a >= a0 && a < a1 && b >= b0 && b < b1) continue;
            for (l = 0; l < BNN_BLOCK; ++l) d[l] += pc[l];
        }
    }
    return (int32_t)taps * cg;
}

/* The 16 flip flags of block `block` as a bit mask. */
static inline uint32_t bnn_mcu_flips(const struct bnn_output *out, int block)
{
    uint32_t flipped = 0;
    int l;
    for (l = BNN_BLOCK - 1; l >= 0; --l) flipped = flipped << 1 | out->flip[block * BNN_BLOCK + l];
    return flipped;
}

/*
 * Stores output pixel `pixel`, block `block`, of y = k - 2 d: packed decisions
 * (bnn_mk_decide's rule, with the flips given as a mask), else through the
 * driver's store.
 */
static inline void bnn_mcu_store(const struct bnn_output *out, const struct bnn_tile *t, uint32_t flipped, int32_t k,
                                 int32_t d[][BNN_BLOCK], const float *other, void *y, uint32_t *y_mask)
{
    int l;
    if (out->kind == BNN_OUT_BITS) {
        const int c0 = t->block * BNN_BLOCK, shift = c0 % 32;
        const int32_t *lo = out->lo + c0, *hi = out->hi + c0;
        const uint32_t valid = t->lanes == BNN_BLOCK ? 0xFFFFu : (1u << t->lanes) - 1u;
        const size_t at = t->pixel * BNN_WORDS((size_t)t->channels) + (size_t)c0 / 32u;
        uint32_t below = 0, not_above, negative;
        BNN_CSA_UNROLL
        for (l = BNN_BLOCK - 1; l >= 0; --l) below = below << 1 | bnn_mcu_less(k - 2 * d[0][l], lo[l]);
        not_above = below; /* lo == hi: a bipolar output */
        if (hi != lo) {
            not_above = 0;
            BNN_CSA_UNROLL
            for (l = BNN_BLOCK - 1; l >= 0; --l) not_above = not_above << 1 | bnn_mcu_less(k - 2 * d[0][l], hi[l]);
        }
        negative = ((below & ~flipped) | (~not_above & flipped)) & valid;
        /* the first block of a word assigns it (clearing stale bits), the second adds its half */
        if (shift == 0) ((uint32_t *)y)[at] = negative;
        else ((uint32_t *)y)[at] |= negative << shift;
        if (out->ternary) {
            const uint32_t nonzero = (below | ~not_above) & valid;
            if (shift == 0) y_mask[at] = nonzero;
            else y_mask[at] |= nonzero << shift;
        }
        return;
    }
    if (out->kind == BNN_OUT_FLOAT) { /* the chain on one pixel's 16 lanes, straight into the row */
        const size_t at = t->pixel * (size_t)t->channels + (size_t)t->block * BNN_BLOCK;
        float *row = (float *)y + at;
#ifdef BNN_SOFT_FLOAT_CHAIN /* the chain in integers (bnn_softfloat.h), each lane stored where it goes */
        for (l = 0; l < BNN_BLOCK; ++l) d[0][l] = k - 2 * d[0][l];
        if (out->plane) row = (float *)y + (size_t)t->block * BNN_BLOCK * out->plane + t->pixel;
        bnn_mk_chain_sums(out, t->block * BNN_BLOCK, other ? other + at : NULL, t->lanes, d[0], row,
                          out->plane ? out->plane : 1u);
        return;
#else
        float v[BNN_BLOCK];
        for (l = 0; l < BNN_BLOCK; ++l) v[l] = (float)(k - 2 * d[0][l]); /* exact: |sum| < 2^24 */
        bnn_mk_chain(out, t->block * BNN_BLOCK, other ? other + at : NULL, t->lanes, v);
        if (out->plane) { /* channel-major: lane l goes to plane c0 + l */
            row = (float *)y + (size_t)t->block * BNN_BLOCK * out->plane + t->pixel;
            for (l = 0; l < t->lanes; ++l) row[(size_t)l * out->plane] = v[l];
        } else if (t->lanes == BNN_BLOCK) {
            BNN_CSA_UNROLL
            for (l = 0; l < BNN_BLOCK; ++l) row[l] = v[l];
        } else {
            for (l = 0; l < t->lanes; ++l) row[l] = v[l];
        }
        return;
#endif
    }
    for (l = 0; l < BNN_BLOCK; ++l) d[0][l] = k - 2 * d[0][l];
    bnn_mk_store_sums(out, t, d, other, y, y_mask);
}

static inline void bnn_mcu_bconv2d(const struct bnn_bconv2d *L, const uint32_t *x, const uint32_t *x_mask,
                                   const float *other, void *y, uint32_t *y_mask)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw, cg = g->c / g->groups; /* channels per group */
    const int words = (int)BNN_WORDS((size_t)cg);          /* per kernel tap */
    const int blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    const int dense = g->groups == 1 && g->oh * g->ow == 1 && !g->pt && !g->pl && g->kh == g->h && g->kw == g->w;
    const int depthwise = g->groups > 1 && g->c == g->groups && g->o == g->groups;
    int block, i, j, a0, a1, b0, b1;
    if ((g->groups != 1 && !depthwise) || x_mask) {
        bnn_ref_bconv2d(L, x, x_mask, other, y, y_mask);
        return;
    }
    for (block = 0; block < blocks; ++block) {
        const uint32_t *kb = L->kernel + (size_t)block * taps * words * BNN_BLOCK;
        const uint32_t flipped = L->out.kind == BNN_OUT_BITS ? bnn_mcu_flips(&L->out, block) : 0u;
        struct bnn_tile tile = bnn_tile_at(g, 0, 0, 1, block);
        for (i = 0; i < g->oh; ++i) {
            bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
            for (j = 0; j < g->ow; ++j, ++tile.pixel) {
                int32_t d[1][BNN_BLOCK], k;
                const int column = j * g->sw - g->pl; /* input column of tap 0 */
                if (dense) { /* the whole input is one run, as is the kernel */
                    bnn_mcu_xor_popcount16(x, 0, kb, 0, 1, taps * words, 1, d[0]);
                    k = (int32_t)taps * g->c;
                } else {
                    if (column >= 0 && column + (g->kw - 1) * g->dw < g->w) { /* every tap column inside */
                        b0 = 0;
                        b1 = g->kw;
                    } else {
                        bnn_tap_range(j, g->sw, g->dw, g->pl, g->w, g->kw, &b0, &b1);
                    }
                    if (depthwise) bnn_mcu_depthwise_sums(L, x, kb, i, j, block, a0, a1, b0, b1, d[0]);
                    else bnn_mcu_pixel_sums(L, x, kb, i, j, a0, a1, b0, b1, d[0]);
                    k = bnn_mcu_pixel_k(L, cg, block, a0, a1, b0, b1, d[0]);
                }
                bnn_mcu_store(&L->out, &tile, flipped, k, d, other, y, y_mask);
            }
        }
    }
}

#endif /* BNN_OPT_MCU_WALK_H */
