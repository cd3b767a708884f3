/*
 * bnn_opt_portable.h -- fast convolution and dense kernels in plain C99, and
 * the driver every instruction-set variant shares (bnn_kernels.h picks one).
 * Each computes exactly what bnn_ref_conv.h computes, bit for bit.
 *
 * Where the reference walks pixel -> output channel -> tap -> word, these
 * kernels walk
 *     block of 16 output channels -> output row -> tile of BNN_TILE pixels
 *         -> taps -> words -> (pixels x 16 channels)
 * so that
 *   - the innermost step broadcasts one input word and updates 16 output
 *     channels at once, reading the 16 kernel words the compiler packed side
 *     by side (bnn_layer.h): 32-channel layers are as fast per MAC as
 *     512-channel ones;
 *   - a tile of pixels reuses every kernel word it loads (register blocking);
 *   - the sums of a tile stay in a BNN_TILE x 16 array that the micro-kernel
 *     keeps in registers, and the output transform turns them into what the
 *     layer stores (bits, floats or int32) right away;
 *   - the taps of a tile are a rectangle [a0, a1) x [b0, b1) known before the
 *     inner loops start, so they hold no bounds checks: interior pixels take
 *     every tap; a border pixel takes the taps inside the input, and one
 *     padding adds the popcounts of its padded taps' kernel words, which the
 *     compiler precomputed (tap_popcounts);
 *   - with dilation 1 the words of consecutive taps of one kernel row are
 *     contiguous in the input and in the kernel: one long run.
 * Real-valued layers use the same walk with float sums: each output still adds
 * its terms in the reference's order (taps row-major, then channels, from
 * 0.0f), so every variant rounds identically.
 *
 * The micro-kernels below are the portable defaults; an instruction-set
 * header included before this one replaces them (BNN_HAVE_MK_*). Grouped
 * binary convolutions other than 1 group, ternary inputs, grouped real ones
 * other than depthwise, and real layers with a non-zero pad value are rare in
 * BNNs and run the reference kernel.
 */
#ifndef BNN_OPT_PORTABLE_H
#define BNN_OPT_PORTABLE_H

#include <stddef.h>
#include "bnn_ref_conv.h"

#ifndef BNN_TILE
#define BNN_TILE 4 /* output pixels per micro-kernel call */
#endif

#ifndef BNN_HAVE_MK_XOR_POPCOUNT
/*
 * acc[p][l] += sum_{a < na} sum_{r < run} popcount(x[p*x_pix + a*x_row + r] XOR k[(a*k_row + r)*16 + l])
 * for pixels p < np and lanes l < 16.
 */
static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int32_t acc[][BNN_BLOCK])
{
    int a, r, p, l;
    for (a = 0; a < na; ++a) {
        for (r = 0; r < run; ++r) {
            const uint32_t *kr = k + (a * k_row + r) * BNN_BLOCK;
            for (p = 0; p < np; ++p) {
                const uint32_t xv = x[p * x_pix + a * x_row + r];
                for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] += (int32_t)bnn_popcount(xv ^ kr[l]);
            }
        }
    }
}
#endif

#ifndef BNN_HAVE_MK_MUL_ADD
/*
 * acc[p][l] = acc[p][l] + x[p*x_pix + q] * k[q*16 + l] for q = 0 .. n-1 in order (a
 * multiply, then an add: two roundings), for pixels p < np and lanes l < 16.
 */
static inline void bnn_mk_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int n, int np,
                                  float acc[][BNN_BLOCK])
{
    int q, p, l;
    for (q = 0; q < n; ++q) {
        for (p = 0; p < np; ++p) {
            const float xv = x[p * x_pix + q];
            for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] += xv * k[q * BNN_BLOCK + l];
        }
    }
}
#endif

#ifndef BNN_HAVE_MK_SIGNED_ADD
/*
 * acc[p][l] = acc[p][l] + (bit q of lane l is 1 ? -x : x) for q = 0 .. n-1 in order, x =
 * x[p*x_pix + q], lane l's bits in words kbits[(q/32)*16 + l] (a binary kernel on a real input).
 */
static inline void bnn_mk_signed_add(const float *x, ptrdiff_t x_pix, const uint32_t *kbits, int n, int np,
                                     float acc[][BNN_BLOCK])
{
    int q, p, l;
    for (q = 0; q < n; ++q) {
        const uint32_t *kw = kbits + (q / 32) * BNN_BLOCK;
        for (p = 0; p < np; ++p) {
            const float xv = x[p * x_pix + q];
            for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] += bnn_negate_if(xv, (kw[l] >> (q % 32)) & 1u);
        }
    }
}
#endif

/* ---------------------------------------------------------------- output transform of a tile */

/* Where a tile's outputs go: np pixels from `pixel`, channels [16*block, 16*block + lanes). */
struct bnn_tile {
    size_t pixel;
    int np, block, lanes, channels;
};

/* Per-channel constants are padded to a whole block by the compiler, so 16 lanes can always be read. */
static inline void bnn_tile_chain(const struct bnn_output *out, const struct bnn_tile *t, int p, const float *other,
                                  float v[BNN_BLOCK])
{
    const int c0 = t->block * BNN_BLOCK;
    float o[BNN_BLOCK];
    int n, l;
    for (n = 0; n < out->n_ops; ++n) {
        const struct bnn_float_op *op = &out->ops[n];
        if (op->kind == BNN_ADD_TENSOR) {
            const float *row;
            if (other == NULL) continue; /* (never: the compiler passes the tensor the chain adds) */
            row = other + (t->pixel + (size_t)p) * (size_t)t->channels + (size_t)c0;
            for (l = 0; l < BNN_BLOCK; ++l) o[l] = l < t->lanes ? row[l] : 0.0f;
            for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] + o[l];
        } else if (op->c_len == 1 || op->kind == BNN_RELU || op->kind == BNN_CLIP) {
            for (l = 0; l < BNN_BLOCK; ++l) v[l] = bnn_float_op_apply(op, v[l], 0, 0.0f);
        } else {
            for (l = 0; l < BNN_BLOCK; ++l) o[l] = op->c[c0 + l];
            switch (op->kind) {
            case BNN_ADD: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] + o[l]; break;
            case BNN_SUB: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] - o[l]; break;
            case BNN_RSUB: for (l = 0; l < BNN_BLOCK; ++l) v[l] = o[l] - v[l]; break;
            case BNN_MUL: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] * o[l]; break;
            case BNN_DIV: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] / o[l]; break;
            case BNN_RDIV: for (l = 0; l < BNN_BLOCK; ++l) v[l] = o[l] / v[l]; break;
            default: break;
            }
        }
    }
}

/* The 16 decisions of one pixel (v: its int32 sums) into its packed output words. */
static inline void bnn_tile_decide(const struct bnn_output *out, const struct bnn_tile *t, int p,
                                   const int32_t v[BNN_BLOCK], void *y, uint32_t *y_mask)
{
    const int c0 = t->block * BNN_BLOCK;
    const uint32_t valid = t->lanes == BNN_BLOCK ? 0xFFFFu : (1u << t->lanes) - 1u;
    const size_t at = (t->pixel + (size_t)p) * BNN_WORDS((size_t)t->channels) + (size_t)c0 / 32u;
    const int shift = c0 % 32;
    uint32_t sign = 0, zero = 0;
    int l;
    for (l = 0; l < BNN_BLOCK; ++l) {
        sign |= (uint32_t)bnn_is_negative(v[l], out->lo[c0 + l], out->hi[c0 + l], out->flip[c0 + l]) << l;
        zero |= (uint32_t)bnn_is_zero(v[l], out->lo[c0 + l], out->hi[c0 + l]) << l;
    }
    sign &= valid;
    /* the first block of a word assigns it (clearing stale bits), the second adds its half */
    if (shift == 0) ((uint32_t *)y)[at] = sign;
    else ((uint32_t *)y)[at] |= sign << shift;
    if (out->ternary) {
        const uint32_t nonzero = ~zero & valid;
        if (shift == 0) y_mask[at] = nonzero;
        else y_mask[at] |= nonzero << shift;
    }
}

/* Stores a tile of real values (a real layer's sums, or a binary layer's as floats). */
static inline void bnn_tile_store_real(const struct bnn_output *out, const struct bnn_tile *t,
                                       float v[][BNN_BLOCK], const float *other, float *y)
{
    int p, l;
    for (p = 0; p < t->np; ++p) {
        float *row = y + (t->pixel + (size_t)p) * (size_t)t->channels + (size_t)t->block * BNN_BLOCK;
        bnn_tile_chain(out, t, p, other, v[p]);
        for (l = 0; l < t->lanes; ++l) row[l] = v[p][l];
    }
}

/* Stores a tile of exact sums y[p][l]. */
static inline void bnn_tile_store_sums(const struct bnn_output *out, const struct bnn_tile *t,
                                       int32_t sums[][BNN_BLOCK], const float *other, void *y, uint32_t *y_mask)
{
    int p, l;
    if (out->kind == BNN_OUT_BITS) {
        for (p = 0; p < t->np; ++p) bnn_tile_decide(out, t, p, sums[p], y, y_mask);
    } else if (out->kind == BNN_OUT_INT32) {
        for (p = 0; p < t->np; ++p) {
            int32_t *row = (int32_t *)y + (t->pixel + (size_t)p) * (size_t)t->channels + (size_t)t->block * BNN_BLOCK;
            for (l = 0; l < t->lanes; ++l) row[l] = sums[p][l];
        }
    } else {
        float v[BNN_TILE][BNN_BLOCK];
        for (p = 0; p < t->np; ++p)
            for (l = 0; l < BNN_BLOCK; ++l) v[p][l] = (float)sums[p][l]; /* exact: |sum| < 2^24 */
        bnn_tile_store_real(out, t, v, other, (float *)y);
    }
}

/*
 * Thresholds of a tensor (bnn_ref_threshold) with per-channel bounds, 16
 * channels at a time through the same decision code as the fused layers;
 * bounds per element (t_len = the tensor size) take the reference.
 */
static inline void bnn_opt_threshold(const void *src, int src_is_float, size_t rows, size_t channels,
                                     const int32_t *lo, const int32_t *hi, const uint8_t *flip, size_t t_len,
                                     uint32_t *bits, uint32_t *mask)
{
    struct bnn_output out;
    struct bnn_tile tile;
    const int blocks = (int)((channels + BNN_BLOCK - 1) / BNN_BLOCK);
    size_t r;
    int block, l;
    if (t_len != channels) {
        bnn_ref_threshold(src, src_is_float, rows, channels, lo, hi, flip, t_len, bits, mask);
        return;
    }
    memset(&out, 0, sizeof out);
    out.kind = BNN_OUT_BITS;
    out.lo = lo;
    out.hi = hi;
    out.flip = flip;
    out.ternary = mask != NULL;
    tile.np = 1;
    tile.channels = (int)channels;
    for (r = 0; r < rows; ++r) {
        tile.pixel = r;
        for (block = 0; block < blocks; ++block) {
            int32_t v[BNN_BLOCK];
            const size_t at = r * channels + (size_t)block * BNN_BLOCK;
            tile.block = block;
            tile.lanes = (int)channels - block * BNN_BLOCK < BNN_BLOCK ? (int)channels - block * BNN_BLOCK : BNN_BLOCK;
            if (src_is_float) {
                const float *x = (const float *)src + at;
                for (l = 0; l < BNN_BLOCK; ++l) v[l] = l < tile.lanes ? bnn_float_key(x[l]) : 0;
            } else {
                const int32_t *x = (const int32_t *)src + at;
                for (l = 0; l < BNN_BLOCK; ++l) v[l] = l < tile.lanes ? x[l] : 0;
            }
            bnn_tile_decide(&out, &tile, 0, v, bits, mask);
        }
    }
}

/* ---------------------------------------------------------------- the walk */

/* The taps [*first, *last) of one axis that land inside the input for output coordinate i. */
static inline void bnn_tap_range(int i, int stride, int dilation, int pad, int size, int taps, int *first,
                                 int *last)
{
    int a;
    *first = 0;
    while (*first < taps && i * stride + *first * dilation - pad < 0) ++*first;
    *last = *first;
    for (a = *first; a < taps && i * stride + a * dilation - pad < size; ++a) *last = a + 1;
}

/* Output columns [*first, *last) whose taps all land inside the input (maybe none). */
static inline void bnn_interior(int stride, int dilation, int pad, int size, int taps, int out, int *first, int *last)
{
    *first = 0;
    while (*first < out && *first * stride - pad < 0) ++*first;
    *last = *first;
    while (*last < out && *last * stride - pad + (taps - 1) * dilation < size) ++*last;
}

/* The number of pixels from column j that form one tile: interior columns go in tiles of
 * BNN_TILE, border columns one by one. */
static inline int bnn_tile_width(int j, int interior_first, int interior_last)
{
    int np = 1;
    if (j >= interior_first && j < interior_last) {
        while (np < BNN_TILE && j + np < interior_last) ++np;
    }
    return np;
}

static inline void bnn_opt_bconv2d(const struct bnn_bconv2d *L, const uint32_t *x, const uint32_t *x_mask,
                                   const float *other, void *y, uint32_t *y_mask)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int words = (int)BNN_WORDS((size_t)g->c), taps = g->kh * g->kw;
    const int blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    int block, i, j, a0, a1, b0, b1, jf, jl, np, p, l;
    if (g->groups != 1 || x_mask) {
        bnn_ref_bconv2d(L, x, x_mask, other, y, y_mask);
        return;
    }
    bnn_interior(g->sw, g->dw, g->pl, g->w, g->kw, g->ow, &jf, &jl);
    for (block = 0; block < blocks; ++block) {
        const uint32_t *kb = L->kernel + (size_t)block * taps * words * BNN_BLOCK;
        for (i = 0; i < g->oh; ++i) {
            bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
            for (j = 0; j < g->ow; j += np) {
                struct bnn_tile tile;
                int32_t acc[BNN_TILE][BNN_BLOCK], corr[BNN_BLOCK];
                int k_eff;
                np = bnn_tile_width(j, jf, jl);
                bnn_tap_range(j, g->sw, g->dw, g->pl, g->w, g->kw, &b0, &b1);
                memset(acc, 0, sizeof acc);
                if (a1 > a0 && b1 > b0) {
                    const uint32_t *xt = x + ((size_t)(i * g->sh - g->pt + a0 * g->dh) * g->w +
                                              (size_t)(j * g->sw - g->pl + b0 * g->dw)) * words;
                    const uint32_t *kt = kb + (size_t)(a0 * g->kw + b0) * words * BNN_BLOCK;
                    const ptrdiff_t x_row = (ptrdiff_t)g->dh * g->w * words, k_row = (ptrdiff_t)g->kw * words;
                    if (g->dw == 1) {
                        bnn_mk_xor_popcount(xt, (ptrdiff_t)g->sw * words, x_row, kt, k_row, a1 - a0,
                                            (b1 - b0) * words, np, acc);
                    } else {
                        int b;
                        for (b = 0; b < b1 - b0; ++b)
                            bnn_mk_xor_popcount(xt + (ptrdiff_t)b * g->dw * words, (ptrdiff_t)g->sw * words, x_row,
                                                kt + (ptrdiff_t)b * words * BNN_BLOCK, k_row, a1 - a0, words, np,
                                                acc);
                    }
                }
                /* y = K - 2 d: K counts the taps inside (zero padding) or all taps (one padding,
                 * whose padded taps add d = popcount(kernel words)) */
                for (l = 0; l < BNN_BLOCK; ++l) corr[l] = 0;
                if (L->pad_mode == 1 && (a1 - a0 < g->kh || b1 - b0 < g->kw)) {
                    /* the padded taps: all taps minus the rectangle inside the input */
                    const int16_t *pc = L->tap_popcounts + (size_t)block * taps * BNN_BLOCK;
                    int a, b;
                    for (a = 0; a < taps; ++a)
                        for (l = 0; l < BNN_BLOCK; ++l) corr[l] += pc[a * BNN_BLOCK + l];
                    for (a = a0; a < a1; ++a)
                        for (b = b0; b < b1; ++b)
                            for (l = 0; l < BNN_BLOCK; ++l) corr[l] -= pc[(a * g->kw + b) * BNN_BLOCK + l];
                    k_eff = taps * g->c;
                } else {
                    k_eff = L->pad_mode == 1 ? taps * g->c : (a1 - a0) * (b1 - b0) * g->c;
                }
                for (p = 0; p < np; ++p)
                    for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] = k_eff - 2 * (acc[p][l] + corr[l]);
                tile.pixel = (size_t)i * g->ow + j;
                tile.np = np;
                tile.block = block;
                tile.lanes = g->o - block * BNN_BLOCK < BNN_BLOCK ? g->o - block * BNN_BLOCK : BNN_BLOCK;
                tile.channels = g->o;
                bnn_tile_store_sums(&L->out, &tile, acc, other, y, y_mask);
            }
        }
    }
}

/* Depthwise real convolution (one input channel per output channel): 16 channels side by side. */
static inline void bnn_opt_fconv2d_depthwise(const struct bnn_fconv2d *L, const float *x, const float *other,
                                             float *y)
{
    const struct bnn_conv_geometry *g = &L->g;
    const float *kernel = L->kernel;
    const int taps = g->kh * g->kw, blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    int block, i, j, a, b, l, a0, a1, b0, b1;
    if (kernel == NULL) { /* a binary depthwise kernel on a real input */
        bnn_ref_fconv2d(L, x, other, y);
        return;
    }
    for (block = 0; block < blocks; ++block) {
        struct bnn_tile tile;
        tile.np = 1;
        tile.block = block;
        tile.lanes = g->o - block * BNN_BLOCK < BNN_BLOCK ? g->o - block * BNN_BLOCK : BNN_BLOCK;
        tile.channels = g->o;
        for (i = 0; i < g->oh; ++i) {
            bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
            for (j = 0; j < g->ow; ++j) {
                float acc[1][BNN_BLOCK], v[BNN_BLOCK];
                bnn_tap_range(j, g->sw, g->dw, g->pl, g->w, g->kw, &b0, &b1);
                for (l = 0; l < BNN_BLOCK; ++l) acc[0][l] = 0.0f;
                for (a = a0; a < a1; ++a) {
                    for (b = b0; b < b1; ++b) {
                        const float *xp = x + ((size_t)(i * g->sh + a * g->dh - g->pt) * g->w +
                                               (size_t)(j * g->sw + b * g->dw - g->pl)) * g->c + block * BNN_BLOCK;
                        const float *kp = kernel + ((size_t)block * taps + a * g->kw + b) * BNN_BLOCK;
                        for (l = 0; l < BNN_BLOCK; ++l) v[l] = l < tile.lanes ? xp[l] : 0.0f;
                        for (l = 0; l < BNN_BLOCK; ++l) acc[0][l] += v[l] * kp[l];
                    }
                }
                tile.pixel = (size_t)i * g->ow + j;
                bnn_tile_store_real(&L->out, &tile, acc, other, y);
            }
        }
    }
}

static inline void bnn_opt_fconv2d(const struct bnn_fconv2d *L, const float *x, const float *other, float *y)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw, blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    const int kwords = L->kernel_bits ? (int)BNN_WORDS((size_t)g->c) : g->c; /* per tap, per lane */
    int block, i, j, a, b, np, a0, a1, b0, b1, jf, jl;
    if (L->pad_value != 0.0f) {
        bnn_ref_fconv2d(L, x, other, y);
        return;
    }
    if (g->groups != 1) {
        if (g->groups == g->c && g->groups == g->o) bnn_opt_fconv2d_depthwise(L, x, other, y);
        else bnn_ref_fconv2d(L, x, other, y);
        return;
    }
    bnn_interior(g->sw, g->dw, g->pl, g->w, g->kw, g->ow, &jf, &jl);
    for (block = 0; block < blocks; ++block) {
        for (i = 0; i < g->oh; ++i) {
            bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
            for (j = 0; j < g->ow; j += np) {
                struct bnn_tile tile;
                float acc[BNN_TILE][BNN_BLOCK];
                np = bnn_tile_width(j, jf, jl);
                bnn_tap_range(j, g->sw, g->dw, g->pl, g->w, g->kw, &b0, &b1);
                memset(acc, 0, sizeof acc);
                for (a = a0; a < a1; ++a) {
                    for (b = b0; b < b1; ++b) {
                        const float *xt = x + ((size_t)(i * g->sh + a * g->dh - g->pt) * g->w +
                                               (size_t)(j * g->sw + b * g->dw - g->pl)) * g->c;
                        const size_t kt = ((size_t)block * taps + a * g->kw + b) * kwords * BNN_BLOCK;
                        if (L->kernel_bits)
                            bnn_mk_signed_add(xt, (ptrdiff_t)g->sw * g->c, L->kernel_bits + kt, g->c, np, acc);
                        else
                            bnn_mk_mul_add(xt, (ptrdiff_t)g->sw * g->c, L->kernel + kt, g->c, np, acc);
                    }
                }
                tile.pixel = (size_t)i * g->ow + j;
                tile.np = np;
                tile.block = block;
                tile.lanes = g->o - block * BNN_BLOCK < BNN_BLOCK ? g->o - block * BNN_BLOCK : BNN_BLOCK;
                tile.channels = g->o;
                bnn_tile_store_real(&L->out, &tile, acc, other, y);
            }
        }
    }
}

#endif /* BNN_OPT_PORTABLE_H */
