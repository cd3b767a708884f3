/*
 * bnn_pool.h -- pooling on NHWC tensors (bnncompile runtime).
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
 * says whether they count (as zeros) in the divisor.
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
};

/* Visits the taps of output pixel (i, j) that fall inside the input. */
#define BNN_POOL_WINDOW(g, i, j, yy, xx)                                           \
    for (yy = (i) * (g)->sh - (g)->pt; yy < (i) * (g)->sh - (g)->pt + (g)->kh; ++yy) \
        for (xx = (j) * (g)->sw - (g)->pl; xx < (j) * (g)->sw - (g)->pl + (g)->kw; ++xx) \
            if (yy >= 0 && yy < (g)->h && xx >= 0 && xx < (g)->w)

static inline void bnn_maxpool_bits(const struct bnn_pool_geometry *g, const uint32_t *x, const uint32_t *x_mask,
                                    const uint32_t *min_words, uint32_t *y, uint32_t *y_mask)
{
    const int words = (int)BNN_WORDS((size_t)g->c);
    int i, j, q, yy, xx;
    for (i = 0; i < g->oh; ++i) {
        for (j = 0; j < g->ow; ++j) {
            const size_t out = ((size_t)i * g->ow + j) * words;
            for (q = 0; q < words; ++q) {
                uint32_t all_negative = 0xFFFFFFFFu, some_negative = 0, some_positive = 0, all_nonzero = 0xFFFFFFFFu;
                const uint32_t take_min = min_words ? min_words[q] : 0;
                BNN_POOL_WINDOW(g, i, j, yy, xx) {
                    const size_t at = ((size_t)yy * g->w + xx) * words + q;
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
    int i, j, ch, yy, xx;
    for (i = 0; i < g->oh; ++i)
        for (j = 0; j < g->ow; ++j) {
            uint32_t *row = ys + ((size_t)i * g->ow + j) * g->c;
            int seen = 0;
            BNN_POOL_WINDOW(g, i, j, yy, xx) {
                const uint32_t *v = xs + ((size_t)yy * g->w + xx) * g->c;
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

/* Average: the window's sum (taps in row-major order) divided by its count. */
static inline void bnn_avgpool_float(const struct bnn_pool_geometry *g, const float *x, int count_include_pad,
                                     float *y)
{
    int i, j, ch, yy, xx;
    for (i = 0; i < g->oh; ++i)
        for (j = 0; j < g->ow; ++j)
            for (ch = 0; ch < g->c; ++ch) {
                float sum = 0.0f;
                int count = 0;
                BNN_POOL_WINDOW(g, i, j, yy, xx) {
                    sum += x[((size_t)yy * g->w + xx) * g->c + ch];
                    ++count;
                }
                y[((size_t)i * g->ow + j) * g->c + ch] = sum / (float)(count_include_pad ? g->kh * g->kw : count);
            }
}

#endif /* BNN_POOL_H */
