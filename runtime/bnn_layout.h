/*
 * bnn_layout.h -- moving values around: transpose, concatenation, padding,
 * zero-stuffing (transposed convolutions), and the sum of two tensors
 * (residual shortcuts).
 */
#ifndef BNN_LAYOUT_H
#define BNN_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/*
 * y = x transposed: y has dims[perm[0]] x ... x dims[perm[rank-1]], and
 * y[i_0]..[i_{r-1}] = x at the index whose axis perm[k] is i_k. Rank <= 4;
 * works on any 4-byte element (float or int32), passed as uint32_t.
 */
static inline void bnn_transpose(const uint32_t *x, int rank, const int *dims, const int *perm, uint32_t *y)
{
    size_t stride[4] = {1, 1, 1, 1}, ystride[4], ydim[4] = {1, 1, 1, 1};
    size_t i0, i1, i2, i3, n = 0;
    int k;
    for (k = rank - 2; k >= 0; --k) stride[k] = stride[k + 1] * (size_t)dims[k + 1];
    for (k = 0; k < 4; ++k) ystride[k] = 0;
    for (k = 0; k < rank; ++k) { /* right-aligned: the last axis is the innermost loop */
        ydim[4 - rank + k] = (size_t)dims[perm[k]];
        ystride[4 - rank + k] = stride[perm[k]];
    }
    for (i0 = 0; i0 < ydim[0]; ++i0)
        for (i1 = 0; i1 < ydim[1]; ++i1)
            for (i2 = 0; i2 < ydim[2]; ++i2) {
                /* the innermost axis as a pointer walk: a few instructions per element on a microcontroller */
                const uint32_t *xp = x + i0 * ystride[0] + i1 * ystride[1] + i2 * ystride[2];
                for (i3 = 0; i3 < ydim[3]; ++i3, xp += ystride[3]) y[n++] = *xp;
            }
}

/* One input of a concatenation: `outer` blocks of `chunk` floats go to
 * y at offset `offset` within blocks of `y_chunk` floats. */
static inline void bnn_concat_part(const float *x, size_t outer, size_t chunk, size_t y_chunk, size_t offset,
                                   float *y)
{
    size_t r, i;
    for (r = 0; r < outer; ++r)
        for (i = 0; i < chunk; ++i) y[r * y_chunk + offset + i] = x[r * chunk + i];
}

/* Pad an (h, w, c) float tensor with `value`: pt/pb rows, pl/pr columns. */
static inline void bnn_pad_hw(const float *x, int h, int w, int c, int pt, int pl, int pb, int pr, float value,
                              float *y)
{
    const int yw = w + pl + pr;
    int i, j, ch;
    for (i = 0; i < h + pt + pb; ++i)
        for (j = 0; j < yw; ++j)
            for (ch = 0; ch < c; ++ch) {
                const int inside = i >= pt && i < pt + h && j >= pl && j < pl + w;
                y[((size_t)i * yw + j) * c + ch] = inside ? x[((size_t)(i - pt) * w + (j - pl)) * c + ch] : value;
            }
}

/*
 * Zero-stuffing, the input of a transposed convolution written as an ordinary
 * convolution: output pixel (i, j) of an (oh, ow) map is input pixel
 * ((i - pt) / sh, (j - pl) / sw) when both divisions are exact and land inside
 * the (h, w) input, else zero. pt and pl may be negative (cropping).
 */
static inline int bnn_stuffed_source(int i, int pad, int stride, int size)
{
    const int k = i - pad;
    return k >= 0 && k % stride == 0 && k / stride < size ? k / stride : -1;
}

/* Real values: a zero pixel is c zeros. */
static inline void bnn_stuff_float(const float *x, int h, int w, int c, int sh, int sw, int pt, int pl, int oh,
                                   int ow, float *y)
{
    int i, j, ch;
    for (i = 0; i < oh; ++i) {
        const int u = bnn_stuffed_source(i, pt, sh, h);
        for (j = 0; j < ow; ++j) {
            const int v = bnn_stuffed_source(j, pl, sw, w);
            float *out = y + ((size_t)i * ow + j) * c;
            for (ch = 0; ch < c; ++ch) out[ch] = u >= 0 && v >= 0 ? x[((size_t)u * w + v) * c + ch] : 0.0f;
        }
    }
}

/*
 * Packed values (bnn_bits.h): the output is ternary; a zero pixel has sign and
 * mask words 0, a copied pixel keeps its sign words and takes its mask words
 * from x_mask (a ternary input) or all ones but the tail bits (a bipolar one).
 */
static inline void bnn_stuff_bits(const uint32_t *x, const uint32_t *x_mask, int h, int w, int c, int sh, int sw,
                                  int pt, int pl, int oh, int ow, uint32_t *y, uint32_t *y_mask)
{
    const size_t words = ((size_t)c + 31u) / 32u;
    int i, j;
    size_t q;
    for (i = 0; i < oh; ++i) {
        const int u = bnn_stuffed_source(i, pt, sh, h);
        for (j = 0; j < ow; ++j) {
            const int v = bnn_stuffed_source(j, pl, sw, w);
            const size_t at = ((size_t)i * ow + j) * words;
            for (q = 0; q < words; ++q) {
                const uint32_t all = q == words - 1 && c % 32 ? (1u << (c % 32)) - 1u : 0xFFFFFFFFu;
                if (u < 0 || v < 0) {
                    y[at + q] = y_mask[at + q] = 0u;
                } else {
                    const size_t from = ((size_t)u * w + v) * words + q;
                    y[at + q] = x[from];
                    y_mask[at + q] = x_mask ? x_mask[from] : all;
                }
            }
        }
    }
}

static inline void bnn_add(const float *a, const float *b, size_t n, float *y)
{
    size_t i;
    for (i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

#endif /* BNN_LAYOUT_H */
