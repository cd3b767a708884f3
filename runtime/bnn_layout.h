/*
 * bnn_layout.h -- moving real values around: transpose, concatenation,
 * padding, and the sum of two tensors (residual shortcuts).
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

static inline void bnn_add(const float *a, const float *b, size_t n, float *y)
{
    size_t i;
    for (i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

#endif /* BNN_LAYOUT_H */
