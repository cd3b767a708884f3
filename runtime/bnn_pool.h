/*
 * bnn_pool.h -- pooling on channels-last tensors (bnncompile runtime):
 * (H, W, C) maps, and (D, H, W, C) volumes for 3-D pooling (a 2-D pool is a
 * 3-D one with d = kd = sd = od = 1 and no depth padding).
 *
 * Max pooling on bits: with +1 as bit 0 and -1 as bit 1, max(+1, -1) = +1,
 * so the max of a window is the AND of its bits, a word (32 channels) at a
 * time. For ternary values (mask plane m, 1 where non-zero) the max is -1 only
 * if all are -1 (sign = AND of signs) and non-zero if some value is +1 or all
 * are -1 (mask = OR(m AND NOT sign) OR AND(sign)).
 * Channels whose bit is set in `min_words` take the minimum instead (a
 * decreasing threshold was moved above the pool): -1 if any is -1 (sign = OR
 * of signs), non-zero if some value is -1 or all are non-zero
 * (mask = OR(sign) OR AND(m)).
 * Padded taps never take part in a max; for an average, `count_include_pad`
 * says whether they count (as zeros) in the divisor. A sum pool (ONNX
 * ReduceSum over the spatial axes) is the average's sum without the division.
 *
 * ceil_mode (ONNX): the output may have one more row or column than the
 * padded input holds whole windows for; that last window hangs over the end
 * (the compiler sets od, oh, ow). The overhang is not padding: it never takes
 * part in a max and never counts in an average, even with count_include_pad,
 * which counts the explicit padding only (pf/pk, pt/pb, pl/pr).
 */
#ifndef BNN_POOL_H
#define BNN_POOL_H

#include "bnn_bits.h"

struct bnn_pool_geometry {
    int h, w, c;   /* input */
    int kh, kw;    /* window */
    int sh, sw;    /* strides */
    int pt, pl;    /* padding before rows / columns */
    int oh, ow;    /* output */
    int pb, pr;    /* padding after rows / columns (without a ceil_mode overhang) */
    int d, kd, sd; /* depth: input, window, stride (1, 1, 1 for a 2-D pool) */
    int pf, od, pk; /* depth: padding in front, output, padding at the back */
};

/* Visits the taps of output position (k, i, j) that fall inside the input. */
#define BNN_POOL_WINDOW(g, k, i, j, zz, yy, xx)                                             \
    for (zz = (k) * (g)->sd - (g)->pf; zz < (k) * (g)->sd - (g)->pf + (g)->kd; ++zz)          \
        for (yy = (i) * (g)->sh - (g)->pt; yy < (i) * (g)->sh - (g)->pt + (g)->kh; ++yy)      \
            for (xx = (j) * (g)->sw - (g)->pl; xx < (j) * (g)->sw - (g)->pl + (g)->kw; ++xx) \
                if (zz >= 0 && zz < (g)->d && yy >= 0 && yy < (g)->h && xx >= 0 && xx < (g)->w)

/* Index of input position (zz, yy, xx) and of output position (k, i, j), in pixels. */
#define BNN_POOL_IN(g, zz, yy, xx) (((size_t)(zz) * (g)->h + (size_t)(yy)) * (g)->w + (size_t)(xx))
#define BNN_POOL_OUT(g, k, i, j) (((size_t)(k) * (g)->oh + (size_t)(i)) * (g)->ow + (size_t)(j))

static inline void bnn_maxpool_bits(const struct bnn_pool_geometry *g, const uint32_t *x, const uint32_t *x_mask,
                                    const uint32_t *min_words, uint32_t *y, uint32_t *y_mask)
{
    const int words = (int)BNN_WORDS((size_t)g->c);
    int k, i, j, q, zz, yy, xx;
    for (k = 0; k < g->od; ++k) {
        for (i = 0; i < g->oh; ++i) {
            for (j = 0; j < g->ow; ++j) {
                const size_t out = BNN_POOL_OUT(g, k, i, j) * words;
                for (q = 0; q < words; ++q) {
                    uint32_t all_negative = 0xFFFFFFFFu, some_negative = 0, some_positive = 0, all_nonzero = 0xFFFFFFFFu;
                    const uint32_t take_min = min_words ? min_words[q] : 0;
                    BNN_POOL_WINDOW(g, k, i, j, zz, yy, xx) {
                        const size_t at = BNN_POOL_IN(g, zz, yy, xx) * words + q;
                        all_negative &= x[at];
                        some_negative |= x[at];
                        if (x_mask) {
                            some_positive |= x_mask[at] & ~x[at];
                            all_nonzero &= x_mask[at];
                        }
                    }
                    if (q == words - 1 && g->c % 32) all_negative &= (1u << (g->c % 32)) - 1u; /* tail bits 0 */
                    y[out + q] = (all_negative & ~take_min) | (some_negative & take_min);
                    if (y_mask) {
                        y_mask[out + q] = ((some_positive | all_negative) & ~take_min) |
                                          ((some_negative | all_nonzero) & take_min);
                    }
                }
            }
        }
    }
}

/*
 * Max pooling of 4-byte values: int32 accumulators, or floats compared by
 * their ordered keys (bnn_float_key: the same order as the floats, -0 == +0),
 * so one kernel serves both and copies the winning value's bits unchanged.
 */
/* The ordered key of a 4-byte value (an int32, or a float: bnn_float_key). */
static inline int32_t bnn_word_key(uint32_t v, int is_float)
{
    float f;
    memcpy(&f, &v, sizeof f);
    return is_float ? bnn_float_key(f) : (int32_t)v;
}

static inline void bnn_maxpool_words(const struct bnn_pool_geometry *g, const void *x, int is_float, void *y)
{
    const uint32_t *xs = (const uint32_t *)x;
    uint32_t *ys = (uint32_t *)y;
    int k, i, j, ch, zz, yy, xx;
    for (k = 0; k < g->od; ++k)
        for (i = 0; i < g->oh; ++i)
            for (j = 0; j < g->ow; ++j) {
                uint32_t *row = ys + BNN_POOL_OUT(g, k, i, j) * g->c;
                int seen = 0;
                BNN_POOL_WINDOW(g, k, i, j, zz, yy, xx) {
                    const uint32_t *v = xs + BNN_POOL_IN(g, zz, yy, xx) * g->c;
                    if (!seen) { /* the first tap inside the window */
                        memcpy(row, v, (size_t)g->c * sizeof *row);
                        seen = 1;
                    } else if (is_float) { /* a later tap replaces only a strictly larger key: ties keep the first */
                        for (ch = 0; ch < g->c; ++ch)
                            row[ch] = bnn_word_key(v[ch], 1) > bnn_word_key(row[ch], 1) ? v[ch] : row[ch];
                    } else {
                        for (ch = 0; ch < g->c; ++ch) row[ch] = (int32_t)v[ch] > (int32_t)row[ch] ? v[ch] : row[ch];
                    }
                }
            }
}

enum bnn_pool_divisor { BNN_POOL_SUM, BNN_POOL_AVG, BNN_POOL_AVG_INCLUDE_PAD };

/* Taps of a window starting at `start` (padded coordinates from -pad) within the
 * input and its explicit padding, which ends at size + pad_end. */
static inline int bnn_pool_extent(int start, int k, int size, int pad_end)
{
    return (start + k < size + pad_end ? start + k : size + pad_end) - start;
}

/*
 * Sum of each window (taps in depth, row, column order, starting from 0.0f),
 * then divided by the window's count of input values (BNN_POOL_AVG), by its
 * count of input and explicitly padded positions (BNN_POOL_AVG_INCLUDE_PAD),
 * or not at all (BNN_POOL_SUM).
 */
static inline void bnn_sumpool_float(const struct bnn_pool_geometry *g, const float *x,
                                     enum bnn_pool_divisor divisor, float *y)
{
    int k, i, j, ch, zz, yy, xx;
    for (k = 0; k < g->od; ++k)
        for (i = 0; i < g->oh; ++i)
            for (j = 0; j < g->ow; ++j) {
                const int padded = bnn_pool_extent(k * g->sd - g->pf, g->kd, g->d, g->pk) *
                                   bnn_pool_extent(i * g->sh - g->pt, g->kh, g->h, g->pb) *
                                   bnn_pool_extent(j * g->sw - g->pl, g->kw, g->w, g->pr);
                for (ch = 0; ch < g->c; ++ch) {
                    float sum = 0.0f;
                    int count = 0;
                    BNN_POOL_WINDOW(g, k, i, j, zz, yy, xx) {
                        sum += x[BNN_POOL_IN(g, zz, yy, xx) * g->c + ch];
                        ++count;
                    }
                    if (divisor == BNN_POOL_AVG_INCLUDE_PAD) count = padded;
                    y[BNN_POOL_OUT(g, k, i, j) * g->c + ch] = divisor == BNN_POOL_SUM ? sum : sum / (float)count;
                }
            }
}

/* Average: the window's sum divided by its count (see bnn_sumpool_float). */
static inline void bnn_avgpool_float(const struct bnn_pool_geometry *g, const float *x, int count_include_pad,
                                     float *y)
{
    bnn_sumpool_float(g, x, count_include_pad ? BNN_POOL_AVG_INCLUDE_PAD : BNN_POOL_AVG, y);
}

#endif /* BNN_POOL_H */
