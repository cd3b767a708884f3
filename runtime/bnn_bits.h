/*
 * bnn_bits.h -- bit encoding, popcount and thresholds (bnncompile runtime).
 *
 * Encoding, everywhere in bnncompile:
 *   a bipolar value v in {-1,+1} is one bit b:  b = 0 for +1, b = 1 for -1,
 *   i.e. v = 1 - 2b.  Bits are packed along the innermost axis of a tensor
 *   into uint32_t words, least significant bit first; every row of
 *   `channels` values starts a new word, and the unused tail bits are 0.
 *   A ternary value v in {-1,0,+1} adds a second plane of the same shape,
 *   the mask: m = 1 where v != 0. Where m = 0 the sign bit is 0 as well.
 *
 * This file is plain C99, header-only; every function is `static inline`,
 * so a model includes only what it calls.
 */
#ifndef BNN_BITS_H
#define BNN_BITS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BNN_WORDS(n) (((n) + 31u) / 32u)

/*
 * popcount: the number of 1 bits. The portable version is the classic
 * SWAR reduction (sum bits in pairs, nibbles, bytes, then add the bytes
 * with one multiply). Compilers with a population-count instruction get
 * the builtin, which is bit-identical.
 */
static inline uint32_t bnn_popcount(uint32_t v)
{
#if defined(__GNUC__) && (defined(__POPCNT__) || defined(__ARM_NEON) || defined(__aarch64__) || defined(__riscv_zbb))
    return (uint32_t)__builtin_popcount(v);
#else
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0F0F0F0Fu;
    return (v * 0x01010101u) >> 24;
#endif
}

/*
 * Ordered key of a float32: an int32 whose order is the order of the
 * floats (-0 and +0 share key 0). Thresholds on float pre-activations are
 * stored as keys, so that deciding is one integer compare that no compiler
 * option (FMA contraction, excess precision, soft float) can change.
 */
static inline int32_t bnn_float_key(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (bits & 0x80000000u) ? -(int32_t)(bits & 0x7FFFFFFFu) : (int32_t)bits;
}

/*
 * Thresholds are stored in the smallest integer type their range allows
 * (1, 2 or 4 bytes): accumulator thresholds lie in [-K-1, K+1] for fan-in K.
 */
static inline int32_t bnn_load_int(const void *table, int bytes, size_t j)
{
    if (bytes == 1) return ((const int8_t *)table)[j];
    if (bytes == 2) return ((const int16_t *)table)[j];
    return ((const int32_t *)table)[j];
}

/*
 * Threshold: the folded form of "elementwise ops, then a binarizer".
 * For value v (an int32 accumulator, or bnn_float_key of a float) at
 * element i, with j = i % t_len (t_len = channels for per-channel
 * thresholds, 1 for one threshold, or the tensor size):
 *     u   = flip[j] ? -v : v
 *     out = +1 if u >= t_pos[j];  0 if t_zero[j] <= u < t_pos[j];  -1 otherwise.
 * The compiler derives t_zero and t_pos by evaluating the model's own ops on
 * every value v can take, so this compare reproduces them exactly.
 * For a bipolar output t_zero is NULL (it equals t_pos) and so is `mask`.
 * Negating u is safe: |v| <= 0x7F800000 for keys and |v| <= fan-in for
 * accumulators.
 */
static inline void bnn_ref_threshold(const void *src, int src_is_float, size_t rows, size_t channels,
                                     const void *t_zero, const void *t_pos, int t_bytes, const uint8_t *flip,
                                     size_t t_len, uint32_t *bits, uint32_t *mask)
{
    const size_t words = BNN_WORDS(channels);
    size_t r, c, i = 0;
    for (r = 0; r < rows; ++r) {
        uint32_t *brow = bits + r * words;
        uint32_t *mrow = mask ? mask + r * words : NULL;
        memset(brow, 0, words * sizeof *brow);
        if (mrow) {
            memset(mrow, 0, words * sizeof *mrow);
        }
        for (c = 0; c < channels; ++c, ++i) {
            const size_t j = i % t_len;
            const int32_t v = src_is_float ? bnn_float_key(((const float *)src)[i])
                                           : ((const int32_t *)src)[i];
            const int32_t u = flip[j] ? -v : v;
            const int32_t pos = bnn_load_int(t_pos, t_bytes, j);
            const int32_t zero = t_zero ? bnn_load_int(t_zero, t_bytes, j) : pos;
            const uint32_t bit = 1u << (c % 32u);
            if (u >= pos) { /* +1: sign bit 0 */
                if (mrow) {
                    mrow[c / 32u] |= bit;
                }
            } else if (u < zero) { /* -1: sign bit 1 */
                brow[c / 32u] |= bit;
                if (mrow) {
                    mrow[c / 32u] |= bit;
                }
            } /* else an exact zero: sign and mask bits stay 0 */
        }
    }
}

/*
 * x * (+1 or -1) for a weight or activation bit b, without a branch (the bits
 * of a binary kernel are random, so a branch would be mispredicted half the
 * time): negating a float flips its sign bit, which is exact.
 */
static inline float bnn_negate_if(float x, uint32_t b)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits ^= b << 31;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* Packed bits (and optional mask) back to floats -1, 0, +1. */
static inline void bnn_unpack(const uint32_t *bits, const uint32_t *mask, size_t rows, size_t channels,
                              float *out)
{
    const size_t words = BNN_WORDS(channels);
    size_t r, c;
    for (r = 0; r < rows; ++r) {
        for (c = 0; c < channels; ++c) {
            const uint32_t bit = 1u << (c % 32u);
            const size_t w = r * words + c / 32u;
            if (mask && !(mask[w] & bit)) {
                *out++ = 0.0f;
            } else {
                *out++ = (bits[w] & bit) ? -1.0f : 1.0f;
            }
        }
    }
}

#endif /* BNN_BITS_H */
