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
 * Both are cases of one coding (bnncompile/ir/levels.py says the same): a
 * packed tensor holds levels, each an integer coded in `planes` bit planes
 * as a code word c (bit p of c is its bit in plane p) with
 *     value(c) = base + sum_p coeff[p] * bit_p(c)
 * (bipolar: base 1, coeff -2; ternary: sign and mask, base 0, coeffs -2, +1;
 * unsigned k-bit: base 0, coeffs 2^p; two's complement: the top coeff is
 * -2^(k-1); odd k-bit (bipolar planes): base 2^k - 1, coeffs -2^(p+1)).
 * Plane p of a tensor starts p * rows * BNN_WORDS(channels) words after
 * plane 0. The model's real value of each level is a table the compiler
 * writes where a kernel needs it (bnn_levels.h).
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
#define BNN_MAX_PLANES 8

/* How a packed tensor's levels are coded (see above). */
struct bnn_coding {
    int planes;
    int32_t base;
    int32_t coeff[BNN_MAX_PLANES];
};

/* The code of one value: bit `bit` of word `word` in each of `planes` planes. */
static inline uint32_t bnn_code_at(const uint32_t *x, size_t plane_words, size_t word, unsigned bit, int planes)
{
    uint32_t code = 0;
    int p;
    for (p = 0; p < planes; ++p) code |= ((x[(size_t)p * plane_words + word] >> bit) & 1u) << p;
    return code;
}

/* The integer a code stands for. */
static inline int32_t bnn_code_value(const struct bnn_coding *c, uint32_t code)
{
    int32_t v = c->base;
    int p;
    for (p = 0; p < c->planes; ++p) v += ((code >> p) & 1u) ? c->coeff[p] : 0;
    return v;
}

/* Sets the bits of `code` for one value (its bits must be 0 before). */
static inline void bnn_put_code(uint32_t *y, size_t plane_words, size_t word, unsigned bit, uint32_t code, int planes)
{
    int p;
    for (p = 0; p < planes; ++p) y[(size_t)p * plane_words + word] |= ((code >> p) & 1u) << bit;
}

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
 * Threshold: the folded form of "elementwise ops, then a binarizer". The
 * compiler derives, by evaluating the model's own ops on every value v can
 * take (an int32 accumulator, or bnn_float_key of a float), the rule
 *     u = flip ? -v : v;   +1 if u >= t_pos;   0 if t_zero <= u < t_pos;   -1 otherwise,
 * and stores it as two bounds on v itself, lo <= hi, so that deciding is one
 * or two compares:
 *     -1 if (flip ? v >= hi : v < lo);    0 if lo <= v < hi;    +1 otherwise.
 * Since -v < t_zero <=> v >= 1 - t_zero (integers), lo = t_zero, hi = t_pos
 * without flip and lo = 1 - t_pos, hi = 1 - t_zero with it (|v| <= 0x7F800001
 * for keys and the "never" bound, so 1 - t stays in int32). A bipolar output
 * has lo == hi: never 0.
 */
static inline int bnn_is_negative(int32_t v, int32_t lo, int32_t hi, int flip)
{
    return flip ? v >= hi : v < lo;
}

static inline int bnn_is_zero(int32_t v, int32_t lo, int32_t hi)
{
    return lo <= v && v < hi;
}

/*
 * Multi-threshold (QONNX MultiThreshold): the level of a value is the number of
 * steps t_0 <= t_1 <= ... it passes, u = flip ? -v : v passing t_k when u >= t_k.
 * Stored, like the two bounds above, on v itself: bounds[k] = t_k without flip
 * (v passes when v >= bounds[k]) and 1 - t_k with it (v passes when v < bounds[k]).
 * The two-bound form above is the case of one or two steps to bipolar or
 * ternary codes.
 */
static inline int bnn_level_of(int32_t v, const int32_t *bounds, int n_steps, int flip)
{
    int k, n = 0;
    for (k = 0; k < n_steps; ++k) n += flip ? v < bounds[k] : v >= bounds[k];
    return n;
}

/*
 * Thresholds of `rows` x `channels` values (int32, or floats decided on their
 * keys) into packed bits, and for a ternary output (mask != NULL) the mask
 * plane. Element i = (r, c) uses bounds j = i % t_len: t_len is the channel
 * count (per-channel bounds) or the tensor size. The values are read at
 * src[r * channels + c], or with channel_major at src[c * rows + r] (an NCHW
 * input binarized where it lies: no transposed copy).
 */
static inline void bnn_ref_threshold(const void *src, int src_is_float, int channel_major, size_t rows,
                                     size_t channels, const int32_t *lo, const int32_t *hi, const uint8_t *flip,
                                     size_t t_len, uint32_t *bits, uint32_t *mask)
{
    const size_t words = BNN_WORDS(channels);
    size_t r, c, i = 0;
    for (r = 0; r < rows; ++r) {
        uint32_t *brow = bits + r * words;
        uint32_t *mrow = mask ? mask + r * words : NULL;
        memset(brow, 0, words * sizeof *brow);
        if (mrow) memset(mrow, 0, words * sizeof *mrow);
        for (c = 0; c < channels; ++c, ++i) {
            const size_t j = i % t_len;
            const size_t at = channel_major ? c * rows + r : i;
            const int32_t v = src_is_float ? bnn_float_key(((const float *)src)[at]) : ((const int32_t *)src)[at];
            const uint32_t bit = 1u << (c % 32u);
            const int negative = bnn_is_negative(v, lo[j], hi[j], flip[j]);
            if (negative) brow[c / 32u] |= bit;
            if (mrow && (negative || !bnn_is_zero(v, lo[j], hi[j]))) mrow[c / 32u] |= bit;
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
