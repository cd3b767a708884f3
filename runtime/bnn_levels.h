/*
 * bnn_levels.h -- k-bit level tensors (bnn_bits.h states their coding):
 * multi-thresholds into packed levels, levels back to their real values, max
 * pooling of levels, and the concatenation of packed tensors (any coding,
 * bipolar included), which keeps them packed.
 */
#ifndef BNN_LEVELS_H
#define BNN_LEVELS_H

#include "bnn_bits.h"
#include "bnn_pool.h"

/*
 * A multi-threshold into packed levels (bnn_level_of): `bounds` holds n_steps
 * bounds per threshold row (an output channel, or an element), `codes` the
 * code word of each of the n_steps + 1 levels, in `planes` planes.
 */
struct bnn_levels_out {
    int n_steps;
    const int32_t *bounds;
    const uint8_t *flip;
    const uint8_t *codes;
    int planes;
};

/* The code of value v under threshold row j. */
static inline uint32_t bnn_levels_code(const struct bnn_levels_out *L, int32_t v, size_t j)
{
    return L->codes[bnn_level_of(v, L->bounds + j * (size_t)L->n_steps, L->n_steps, L->flip[j])];
}

/*
 * Thresholds of `rows` x `channels` values (int32, or floats decided on their
 * keys, bnn_float_key) into packed levels y (every plane written). Element i
 * uses threshold row i % t_len: t_len is the channel count or the tensor size.
 */
static inline void bnn_levels_threshold(const void *src, int src_is_float, size_t rows, size_t channels,
                                        const struct bnn_levels_out *L, size_t t_len, uint32_t *y)
{
    const size_t words = BNN_WORDS(channels), plane_words = rows * words;
    size_t r, c, i = 0;
    memset(y, 0, (size_t)L->planes * plane_words * sizeof *y);
    for (r = 0; r < rows; ++r) {
        for (c = 0; c < channels; ++c, ++i) {
            const int32_t v = src_is_float ? bnn_float_key(((const float *)src)[i]) : ((const int32_t *)src)[i];
            bnn_put_code(y, plane_words, r * words + c / 32u, (unsigned)(c % 32u), bnn_levels_code(L, v, i % t_len),
                         L->planes);
        }
    }
}

/* Packed levels back to the model's values: `table` holds the real value of each code. */
static inline void bnn_unpack_levels(const uint32_t *x, size_t rows, size_t channels, int planes, const float *table,
                                     float *out)
{
    const size_t words = BNN_WORDS(channels), plane_words = rows * words;
    size_t r, c;
    for (r = 0; r < rows; ++r)
        for (c = 0; c < channels; ++c)
            *out++ = table[bnn_code_at(x, plane_words, r * words + c / 32u, (unsigned)(c % 32u), planes)];
}

/*
 * Max pooling of levels: the level with the largest integer in each window
 * (levels' real values increase with their integers, so this is the max of
 * the values). Padded taps take no part.
 */
static inline void bnn_maxpool_levels(const struct bnn_pool_geometry *g, const uint32_t *x,
                                      const struct bnn_coding *coding, uint32_t *y)
{
    const size_t words = BNN_WORDS((size_t)g->c);
    const size_t x_plane = (size_t)g->h * (size_t)g->w * words, y_plane = (size_t)g->oh * (size_t)g->ow * words;
    int i, j, ch, a, b;
    memset(y, 0, (size_t)coding->planes * y_plane * sizeof *y);
    for (i = 0; i < g->oh; ++i) {
        for (j = 0; j < g->ow; ++j) {
            for (ch = 0; ch < g->c; ++ch) {
                uint32_t best = 0;
                int32_t best_value = 0;
                int seen = 0;
                for (a = 0; a < g->kh; ++a) {
                    for (b = 0; b < g->kw; ++b) {
                        const int yy = i * g->sh - g->pt + a, xx = j * g->sw - g->pl + b;
                        uint32_t code;
                        int32_t v;
                        if (yy < 0 || yy >= g->h || xx < 0 || xx >= g->w) continue;
                        code = bnn_code_at(x, x_plane, ((size_t)yy * g->w + xx) * words + (size_t)ch / 32u,
                                           (unsigned)(ch % 32), coding->planes);
                        v = bnn_code_value(coding, code);
                        if (!seen || v > best_value) {
                            best = code;
                            best_value = v;
                        }
                        seen = 1;
                    }
                }
                bnn_put_code(y, y_plane, ((size_t)i * g->ow + j) * words + (size_t)ch / 32u, (unsigned)(ch % 32),
                             best, coding->planes);
            }
        }
    }
}

/*
 * One input of a concatenation of packed tensors (`planes` planes each). The
 * output has `outer` blocks of y_rows rows of y_bits values; this input, of
 * outer blocks of x_rows rows of x_bits values, goes to rows row_offset ..
 * row_offset + x_rows - 1 of each block, at bit bit_offset of each row (a
 * concatenation along the channels is one row per block and a bit offset;
 * along another axis, whole rows). The input at bit offset 0 writes its rows
 * whole (tail bits 0), the others add their bits to them, so the inputs are
 * written in order.
 */
static inline void bnn_concat_bits(const uint32_t *x, int planes, size_t outer, size_t x_rows, size_t x_bits,
                                   size_t y_rows, size_t y_bits, size_t row_offset, size_t bit_offset, uint32_t *y)
{
    const size_t x_words = BNN_WORDS(x_bits), y_words = BNN_WORDS(y_bits);
    const size_t x_plane = outer * x_rows * x_words, y_plane = outer * y_rows * y_words;
    size_t o, r, k;
    int p;
    for (p = 0; p < planes; ++p) {
        for (o = 0; o < outer; ++o) {
            for (r = 0; r < x_rows; ++r) {
                const uint32_t *xr = x + (size_t)p * x_plane + (o * x_rows + r) * x_words;
                uint32_t *yr = y + (size_t)p * y_plane + (o * y_rows + row_offset + r) * y_words;
                if (bit_offset == 0) memset(yr, 0, y_words * sizeof *yr);
                for (k = 0; k < x_bits; ++k) {
                    const size_t at = bit_offset + k;
                    yr[at / 32u] |= ((xr[k / 32u] >> (k % 32u)) & 1u) << (at % 32u);
                }
            }
        }
    }
}

#endif /* BNN_LEVELS_H */
