/*
 * bnn_opt_driver.h -- the fast convolution, dense and threshold kernels: the
 * walk over a layer that every instruction-set variant shares, calling the
 * micro-kernels of bnn_opt_portable.h (or of the instruction-set header that
 * replaced them; bnn_kernels.h picks one). Each computes exactly what
 * bnn_ref_conv.h computes, bit for bit.
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
 *   - tiles run along output rows; the kernel rows inside the input are known
 *     per row and the pixels each tap column is inside for per tile, before
 *     the inner loops start, so those hold no bounds checks; one padding adds
 *     the popcounts of the padded taps' kernel words, which the compiler
 *     precomputed (tap_popcounts);
 *   - with dilation 1 the words of consecutive taps of one kernel row are
 *     contiguous in the input and in the kernel: one long run.
 * Real-valued layers use the same walk with float sums: each output still adds
 * its terms in the reference's order (taps row-major, then channels, from
 * 0.0f), so every variant rounds identically.
 *
 * Grouped convolutions other than depthwise, ternary inputs and real layers
 * with a non-zero pad value are rare in BNNs and run the reference kernel.
 */
#ifndef BNN_OPT_DRIVER_H
#define BNN_OPT_DRIVER_H

#include "bnn_opt_portable.h"

/*
 * Optional threads: built with OpenMP (-fopenmp), the convolutions share their output
 * rows among the threads; a plain build sees no pragma at all. Each thread takes the same
 * rows in every block of channels (a static schedule), so the two blocks that share a
 * word of packed output bits are written by one thread.
 */
#if defined(_OPENMP)
#define BNN_OMP_PARALLEL _Pragma("omp parallel")
#define BNN_OMP_ROWS _Pragma("omp for schedule(static) nowait")
#else
#define BNN_OMP_PARALLEL
#define BNN_OMP_ROWS
#endif

/*
 * Thresholds of a channel-major tensor (an NCHW input where it lies) with
 * per-channel bounds: one channel's plane at a time, so the reads are
 * contiguous and the channel's bounds stay in registers; each decision sets
 * its bit in the pixel's word (bnn_ref_threshold's rule).
 */
static inline void bnn_opt_threshold_planes(const void *src, int src_is_float, size_t rows, size_t channels,
                                            const int32_t *lo, const int32_t *hi, const uint8_t *flip,
                                            uint32_t *bits, uint32_t *mask)
{
    const size_t words = BNN_WORDS(channels);
    size_t r, c;
    memset(bits, 0, rows * words * sizeof *bits);
    if (mask) memset(mask, 0, rows * words * sizeof *mask);
    for (c = 0; c < channels; ++c) {
        const int32_t low = lo[c], high = hi[c];
        const int flipped = flip[c];
        const uint32_t bit = 1u << (c % 32u);
        uint32_t *column = bits + c / 32u, *mask_column = mask ? mask + c / 32u : NULL;
        for (r = 0; r < rows; ++r) {
            const int32_t v = src_is_float ? bnn_float_key(((const float *)src)[c * rows + r])
                                           : ((const int32_t *)src)[c * rows + r];
            const int negative = bnn_is_negative(v, low, high, flipped);
            if (negative) column[r * words] |= bit;
            if (mask_column && (negative || !bnn_is_zero(v, low, high))) mask_column[r * words] |= bit;
        }
    }
}

/*
 * Thresholds of a tensor (bnn_ref_threshold) with per-channel bounds, 16
 * channels at a time through the same decision code as the fused layers;
 * bounds per element (t_len = the tensor size) take the reference.
 */
static inline void bnn_opt_threshold(const void *src, int src_is_float, int channel_major, size_t rows,
                                     size_t channels, const int32_t *lo, const int32_t *hi, const uint8_t *flip,
                                     size_t t_len, uint32_t *bits, uint32_t *mask)
{
    struct bnn_output out;
    struct bnn_tile tile;
    const int blocks = (int)((channels + BNN_BLOCK - 1) / BNN_BLOCK);
    size_t r;
    int block, l;
    if (t_len != channels) {
        bnn_ref_threshold(src, src_is_float, channel_major, rows, channels, lo, hi, flip, t_len, bits, mask);
        return;
    }
    if (channel_major) {
        bnn_opt_threshold_planes(src, src_is_float, rows, channels, lo, hi, flip, bits, mask);
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
            if (src_is_float && tile.lanes == BNN_BLOCK) {
                bnn_mk_keys((const float *)src + at, v);
            } else if (src_is_float) {
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

/* The pixels [*first, *last) of the tile j0 .. j0+np-1 whose tap column b lands inside the
 * input (a contiguous range: the column moves right with the pixel). */
static inline void bnn_tap_pixels(const struct bnn_conv_geometry *g, int j0, int np, int b, int *first, int *last)
{
    const int at = j0 * g->sw + b * g->dw - g->pl; /* input column of the tile's first pixel */
    int p = 0;
    if (g->sw == 1) { /* no division (a library call on cores without a divider) */
        p = at >= 0 ? 0 : -at;
        *first = p < np ? p : np;
        p = g->w - at;
        *last = p < *first ? *first : p < np ? p : np;
        return;
    }
    while (p < np && at + p * g->sw < 0) ++p;
    *first = p;
    while (p < np && at + p * g->sw < g->w) ++p;
    *last = p;
}

/* Are all taps of every pixel of the tile inside the input (rows [a0, a1) given)? */
static inline int bnn_tile_inside(const struct bnn_conv_geometry *g, int j0, int np, int a0, int a1)
{
    int p0, p1, q0, q1;
    bnn_tap_pixels(g, j0, np, 0, &p0, &p1);
    bnn_tap_pixels(g, j0, np, g->kw - 1, &q0, &q1);
    return a0 == 0 && a1 == g->kh && p0 == 0 && p1 == np && q0 == 0 && q1 == np;
}

/* Where the tile of output row i, pixels j .. j+np-1, block `block` stores. */
static inline struct bnn_tile bnn_tile_at(const struct bnn_conv_geometry *g, int i, int j, int np, int block)
{
    struct bnn_tile t;
    t.pixel = (size_t)i * g->ow + j;
    t.np = np;
    t.block = block;
    t.lanes = g->o - block * BNN_BLOCK < BNN_BLOCK ? g->o - block * BNN_BLOCK : BNN_BLOCK;
    t.channels = g->o;
    return t;
}

/*
 * The sums d of one tile of a binary layer: kernel rows [a0, a1) inside the input; per
 * tap column the pixels it is inside for (all of them in the interior), consecutive
 * columns with the same pixels in one run (with dilation 1 their words are contiguous).
 */
static inline void bnn_btile_sums(const struct bnn_conv_geometry *g, const uint32_t *x, const uint32_t *kb, int i,
                                  int j, int np, int a0, int a1, int32_t acc[][BNN_BLOCK])
{
    const int words = (int)BNN_WORDS((size_t)g->c);
    const ptrdiff_t x_pix = (ptrdiff_t)g->sw * words, x_row = (ptrdiff_t)g->dh * g->w * words;
    int b = 0, p0, p1, q0, q1;
    if (g->dw == 1 && bnn_tile_inside(g, j, np, a0, a1)) { /* every tap of a kernel row: one run */
        bnn_mk_xor_popcount(x + ((ptrdiff_t)(i * g->sh - g->pt) * g->w + (ptrdiff_t)(j * g->sw - g->pl)) * words,
                            x_pix, x_row, kb, (ptrdiff_t)g->kw * words, g->kh, g->kw * words, np, 1, acc);
        return;
    }
    memset(acc, 0, (size_t)np * sizeof acc[0]);
    while (b < g->kw) {
        int nb = 1;
        bnn_tap_pixels(g, j, np, b, &p0, &p1);
        while (g->dw == 1 && b + nb < g->kw) {
            bnn_tap_pixels(g, j, np, b + nb, &q0, &q1);
            if (q0 != p0 || q1 != p1) break;
            ++nb;
        }
        if (p1 > p0 && a1 > a0) {
            const uint32_t *xt = x + ((ptrdiff_t)(i * g->sh - g->pt + a0 * g->dh) * g->w +
                                      (ptrdiff_t)((j + p0) * g->sw - g->pl + b * g->dw)) * words;
            bnn_mk_xor_popcount(xt, x_pix, x_row, kb + (size_t)(a0 * g->kw + b) * words * BNN_BLOCK,
                                (ptrdiff_t)g->kw * words, a1 - a0, nb * words, p1 - p0, 0, acc + p0);
        }
        b += nb;
    }
}

/*
 * y = K - 2 d per pixel of a tile. K counts the channels of the taps inside the input
 * (zero padding) or of all taps (one padding, whose padded taps, all +1, add
 * d = popcount(kernel words): the compiler's tap_popcounts). A padded tap is in a kernel
 * row outside [a0, a1) (the same for every pixel of the tile) or in a column outside
 * the input for this pixel (only at the ends of a row).
 */
static inline void bnn_btile_finish(const struct bnn_bconv2d *L, int block, int j, int np, int a0, int a1,
                                    int32_t acc[][BNN_BLOCK])
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw;
    const int16_t *pc = L->pad_mode == 1 ? L->tap_popcounts + (size_t)block * taps * BNN_BLOCK : NULL;
    int32_t corr[BNN_TILE][BNN_BLOCK], column[BNN_BLOCK];
    int k_eff[BNN_TILE];
    int p, l, a, b, p0, p1;
    if (bnn_tile_inside(g, j, np, a0, a1)) {
        for (p = 0; p < np; ++p)
            for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] = taps * g->c - 2 * acc[p][l];
        return;
    }
    for (l = 0; l < BNN_BLOCK; ++l) column[l] = 0;
    for (a = 0; L->pad_mode == 1 && a < g->kh; ++a) { /* the kernel rows outside the input */
        if (a >= a0 && a < a1) continue;
        for (b = 0; b < g->kw; ++b)
            for (l = 0; l < BNN_BLOCK; ++l) column[l] += pc[(a * g->kw + b) * BNN_BLOCK + l];
    }
    for (p = 0; p < np; ++p) {
        k_eff[p] = L->pad_mode == 1 ? taps * g->c : g->kw * (a1 - a0) * g->c;
        for (l = 0; l < BNN_BLOCK; ++l) corr[p][l] = column[l];
    }
    for (b = 0; b < g->kw; ++b) { /* the columns outside the input for some pixels */
        bnn_tap_pixels(g, j, np, b, &p0, &p1);
        if (p0 == 0 && p1 == np) continue;
        if (L->pad_mode == 0) {
            for (p = 0; p < np; ++p) k_eff[p] -= p < p0 || p >= p1 ? (a1 - a0) * g->c : 0;
            continue;
        }
        for (l = 0; l < BNN_BLOCK; ++l) column[l] = 0;
        for (a = a0; a < a1; ++a)
            for (l = 0; l < BNN_BLOCK; ++l) column[l] += pc[(a * g->kw + b) * BNN_BLOCK + l];
        for (p = 0; p < np; ++p)
            if (p < p0 || p >= p1)
                for (l = 0; l < BNN_BLOCK; ++l) corr[p][l] += column[l];
    }
    for (p = 0; p < np; ++p)
        for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] = k_eff[p] - 2 * (acc[p][l] + corr[p][l]);
}

/* A layer with one output pixel (a dense layer): BNN_TILE blocks of output channels at a time. */
static inline void bnn_opt_bdense(const struct bnn_bconv2d *L, const uint32_t *x, const float *other, void *y,
                                  uint32_t *y_mask)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int run = g->kh * g->kw * (int)BNN_WORDS((size_t)g->c), blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    int block, n, l;
    for (block = 0; block < blocks; block += BNN_TILE) {
        int32_t acc[BNN_TILE][BNN_BLOCK];
        const int nblocks = blocks - block < BNN_TILE ? blocks - block : BNN_TILE;
        memset(acc, 0, sizeof acc);
        bnn_mk_xor_popcount_wide(x, L->kernel + (size_t)block * run * BNN_BLOCK, (ptrdiff_t)run * BNN_BLOCK, run,
                                 nblocks, acc);
        for (n = 0; n < nblocks; ++n) {
            struct bnn_tile tile = bnn_tile_at(g, 0, 0, 1, block + n);
            for (l = 0; l < BNN_BLOCK; ++l) acc[n][l] = g->kh * g->kw * g->c - 2 * acc[n][l];
            bnn_mk_store_sums(&L->out, &tile, acc + n, other, y, y_mask);
        }
    }
}

/*
 * A binary depthwise convolution (one input channel per output channel): channel o's
 * sum over the taps (a, b) inside the input of 1 - 2 (x_bit XOR k_bit), plus, with one
 * padding, 1 - 2 k_bit for each padded tap. Bit by bit, but with the taps' ranges found
 * once per pixel and the kernel bits 16 words apart (bnn_layer.h).
 */
static inline void bnn_opt_bconv2d_depthwise(const struct bnn_bconv2d *L, const uint32_t *x, const float *other,
                                             void *y, uint32_t *y_mask)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw, words = (int)BNN_WORDS((size_t)g->c);
    const int blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    int block, i, j, l, a, b, a0, a1, b0, b1;
    for (i = 0; i < g->oh; ++i) {
        bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
        for (j = 0; j < g->ow; ++j) {
            bnn_tap_range(j, g->sw, g->dw, g->pl, g->w, g->kw, &b0, &b1);
            for (block = 0; block < blocks; ++block) {
                struct bnn_tile tile = bnn_tile_at(g, i, j, 1, block);
                int32_t acc[1][BNN_BLOCK];
                for (l = 0; l < BNN_BLOCK; ++l) {
                    const int o = block * BNN_BLOCK + l;
                    const uint32_t *kt = L->kernel + (size_t)block * taps * BNN_BLOCK + l; /* tap t at kt[t*16] */
                    int32_t sum = 0;
                    for (a = 0; l < tile.lanes && a < g->kh; ++a) {
                        for (b = 0; b < g->kw; ++b) {
                            const uint32_t k = kt[(a * g->kw + b) * BNN_BLOCK] & 1u;
                            if (a >= a0 && a < a1 && b >= b0 && b < b1) {
                                const uint32_t *xp = x + ((size_t)(i * g->sh + a * g->dh - g->pt) * g->w +
                                                          (size_t)(j * g->sw + b * g->dw - g->pl)) * words;
                                sum += 1 - 2 * (int32_t)(((xp[o / 32] >> (o % 32)) & 1u) ^ k);
                            } else if (L->pad_mode == 1) {
                                sum += 1 - 2 * (int32_t)k;
                            }
                        }
                    }
                    acc[0][l] = sum;
                }
                bnn_mk_store_sums(&L->out, &tile, acc, other, y, y_mask);
            }
        }
    }
}

static inline void bnn_opt_bconv2d(const struct bnn_bconv2d *L, const uint32_t *x, const uint32_t *x_mask,
                                   const float *other, void *y, uint32_t *y_mask)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw, words = (int)BNN_WORDS((size_t)g->c);
    const int blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    if (g->groups > 1 && g->groups == g->c && g->groups == g->o && !x_mask) {
        bnn_opt_bconv2d_depthwise(L, x, other, y, y_mask);
        return;
    }
    if (g->groups != 1 || x_mask) {
        bnn_ref_bconv2d(L, x, x_mask, other, y, y_mask);
        return;
    }
    if (g->oh * g->ow == 1 && !g->pt && !g->pl && g->kh == g->h && g->kw == g->w) {
        bnn_opt_bdense(L, x, other, y, y_mask);
        return;
    }
    BNN_OMP_PARALLEL
    {
        int block, i, j, a0, a1, np;
        for (block = 0; block < blocks; ++block) {
            const uint32_t *kb = L->kernel + (size_t)block * taps * words * BNN_BLOCK;
            BNN_OMP_ROWS
            for (i = 0; i < g->oh; ++i) {
                bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
                for (j = 0; j < g->ow; j += np) {
                    int32_t acc[BNN_TILE][BNN_BLOCK];
                    struct bnn_tile tile;
                    np = g->ow - j < BNN_TILE ? g->ow - j : BNN_TILE;
                    bnn_btile_sums(g, x, kb, i, j, np, a0, a1, acc);
                    bnn_btile_finish(L, block, j, np, a0, a1, acc);
                    tile = bnn_tile_at(g, i, j, np, block);
                    bnn_mk_store_sums(&L->out, &tile, acc, other, y, y_mask);
                }
            }
        }
    }
}

/*
 * The float sums of one tile of a real layer: every tap (a, b) inside the input for some
 * pixels of the tile, in row-major order, adds its channels to those pixels. With a real
 * kernel and dilation 1, consecutive taps of a kernel row with the same pixels are one run:
 * their channels are contiguous in the input and in the kernel, in the same order.
 */
static inline void bnn_ftile_sums(const struct bnn_fconv2d *L, const float *x, int block, int i, int j, int np,
                                  float acc[][BNN_BLOCK])
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw;
    const int kwords = L->kernel_bits ? (int)BNN_WORDS((size_t)g->c) : g->c; /* per tap, per lane */
    int a, b, nb, a0, a1, p0, p1, q0, q1;
    bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
    for (a = a0; a < a1; ++a) {
        for (b = 0; b < g->kw; b += nb) {
            const size_t kt = ((size_t)block * taps + a * g->kw + b) * kwords * BNN_BLOCK;
            const float *xt;
            bnn_tap_pixels(g, j, np, b, &p0, &p1);
            nb = 1;
            while (L->kernel && g->dw == 1 && b + nb < g->kw) {
                bnn_tap_pixels(g, j, np, b + nb, &q0, &q1);
                if (q0 != p0 || q1 != p1) break;
                ++nb;
            }
            if (p1 <= p0) continue;
            xt = x + ((ptrdiff_t)(i * g->sh + a * g->dh - g->pt) * g->w +
                      (ptrdiff_t)((j + p0) * g->sw + b * g->dw - g->pl)) * g->c;
            if (L->kernel_bits)
                bnn_mk_signed_add(xt, (ptrdiff_t)g->sw * g->c, L->kernel_bits + kt, g->c, p1 - p0, acc + p0);
            else
                bnn_mk_mul_add(xt, (ptrdiff_t)g->sw * g->c, L->kernel + kt, nb * g->c, p1 - p0, acc + p0);
        }
    }
}

/* The float sums of one tile of a depthwise layer (one input channel per output channel):
 * lanes are channels, so each tap reads 16 input channels side by side. */
static inline void bnn_dwtile_sums(const struct bnn_fconv2d *L, const float *x, int block, int i, int j, int np,
                                   int lanes, float acc[][BNN_BLOCK])
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw;
    int a, b, a0, a1, p0, p1;
    bnn_tap_range(i, g->sh, g->dh, g->pt, g->h, g->kh, &a0, &a1);
    for (a = a0; a < a1; ++a) {
        for (b = 0; b < g->kw; ++b) {
            const float *xt;
            bnn_tap_pixels(g, j, np, b, &p0, &p1);
            if (p1 <= p0) continue;
            xt = x + ((ptrdiff_t)(i * g->sh + a * g->dh - g->pt) * g->w +
                      (ptrdiff_t)((j + p0) * g->sw + b * g->dw - g->pl)) * g->c + block * BNN_BLOCK;
            bnn_mk_lanes_mul_add(xt, (ptrdiff_t)g->sw * g->c, L->kernel + ((size_t)block * taps + a * g->kw + b) *
                                 BNN_BLOCK, lanes, p1 - p0, acc + p0);
        }
    }
}

/* A real layer with one output pixel (a dense layer): BNN_TILE blocks of output channels at a time. */
static inline void bnn_opt_fdense(const struct bnn_fconv2d *L, const float *x, const float *other, float *y)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int n_in = g->kh * g->kw * g->c, blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    const int kwords = L->kernel_bits ? g->kh * g->kw * (int)BNN_WORDS((size_t)g->c) : n_in;
    int block, n;
    for (block = 0; block < blocks; block += BNN_TILE) {
        float acc[BNN_TILE][BNN_BLOCK];
        const int nblocks = blocks - block < BNN_TILE ? blocks - block : BNN_TILE;
        const ptrdiff_t stride = (ptrdiff_t)kwords * BNN_BLOCK;
        memset(acc, 0, sizeof acc);
        if (L->kernel_bits)
            bnn_mk_signed_add_wide(x, L->kernel_bits + (size_t)block * stride, stride, n_in, nblocks, acc);
        else
            bnn_mk_mul_add_wide(x, L->kernel + (size_t)block * stride, stride, n_in, nblocks, acc);
        for (n = 0; n < nblocks; ++n) {
            struct bnn_tile tile = bnn_tile_at(g, 0, 0, 1, block + n);
            bnn_mk_store_real(&L->out, &tile, acc + n, other, y);
        }
    }
}

static inline void bnn_opt_fconv2d(const struct bnn_fconv2d *L, const float *x, const float *other, float *y)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    const int depthwise = g->groups > 1 && g->groups == g->c && g->groups == g->o && L->kernel;
    if (L->pad_value != 0.0f || (g->groups != 1 && !depthwise)) {
        bnn_ref_fconv2d(L, x, other, y);
        return;
    }
    if (g->oh * g->ow == 1 && !g->pt && !g->pl && g->kh == g->h && g->kw == g->w && g->groups == 1 &&
        (L->kernel || g->kh * g->kw == 1)) {
        bnn_opt_fdense(L, x, other, y);
        return;
    }
    BNN_OMP_PARALLEL
    {
        int block, i, j, np;
        for (block = 0; block < blocks; ++block) {
            BNN_OMP_ROWS
            for (i = 0; i < g->oh; ++i) {
                for (j = 0; j < g->ow; j += np) {
                    float acc[BNN_TILE][BNN_BLOCK];
                    struct bnn_tile tile;
                    np = g->ow - j < BNN_TILE ? g->ow - j : BNN_TILE;
                    tile = bnn_tile_at(g, i, j, np, block);
                    memset(acc, 0, sizeof acc);
                    if (depthwise) bnn_dwtile_sums(L, x, block, i, j, np, tile.lanes, acc);
                    else bnn_ftile_sums(L, x, block, i, j, np, acc);
                    bnn_mk_store_real(&L->out, &tile, acc, other, y);
                }
            }
        }
    }
}

#endif /* BNN_OPT_DRIVER_H */
