/*
 * bnn_opt_portable.h -- the micro-kernels of the fast kernels in plain C99
 * (the innermost loops: sums of a tile of pixels x 16 output channels, and
 * the output transform of a tile), and the defaults for whatever an
 * instruction-set header (bnn_opt_avx512.h, ...) included before this one
 * does not replace (BNN_HAVE_MK_*). bnn_opt_driver.h walks the layers with
 * them. Each computes exactly what bnn_ref_conv.h computes, bit for bit.
 *
 */
#ifndef BNN_OPT_PORTABLE_H
#define BNN_OPT_PORTABLE_H

#include <stddef.h>
#include "bnn_ref_conv.h"

#ifndef BNN_TILE
#define BNN_TILE 1 /* output pixels per micro-kernel call (instruction-set headers use more) */
#endif

/*
 * The portable micro-kernels are for cores without vector registers (a Cortex-M, a
 * plain RISC-V): the binary one takes one input word at a time and walks the 16 lanes'
 * kernel words, which lie side by side; the real ones keep one output in a register for
 * its whole sum, like the reference.
 */
#ifndef BNN_HAVE_MK_XOR_POPCOUNT
/*
 * acc[p][l] = (init ? 0 : acc[p][l]) + sum_{a < na} sum_{r < run} popcount(x[p*x_pix + a*x_row + r] XOR
 * k[(a*k_row + r)*16 + l]) for pixels p < np and lanes l < 16.
 */
static inline void bnn_mk_xor_popcount(const uint32_t *x, ptrdiff_t x_pix, ptrdiff_t x_row, const uint32_t *k,
                                       ptrdiff_t k_row, int na, int run, int np, int init, int32_t acc[][BNN_BLOCK])
{
    int a, r, p, l;
    for (p = 0; p < np; ++p) {
        int32_t *sums = acc[p];
        if (init)
            for (l = 0; l < BNN_BLOCK; ++l) sums[l] = 0;
        for (a = 0; a < na; ++a) {
            const uint32_t *xa = x + p * x_pix + a * x_row, *kr = k + a * k_row * BNN_BLOCK;
            for (r = 0; r < run; ++r, kr += BNN_BLOCK) {
                const uint32_t xv = xa[r];
                for (l = 0; l < BNN_BLOCK; ++l) sums[l] += (int32_t)bnn_popcount(xv ^ kr[l]);
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
    for (p = 0; p < np; ++p) {
        for (l = 0; l < BNN_BLOCK; ++l) {
            float s = acc[p][l];
            for (q = 0; q < n; ++q) s += x[p * x_pix + q] * k[q * BNN_BLOCK + l];
            acc[p][l] = s;
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
    int q, p, l, b;
    for (p = 0; p < np; ++p) {
        for (l = 0; l < BNN_BLOCK; ++l) {
            const uint32_t *kw = kbits + l;
            float s = acc[p][l];
            for (q = 0; q < n; q += 32, kw += BNN_BLOCK) { /* the 32 bits of one kernel word */
                const float *xq = x + p * x_pix + q;
                const int end = n - q < 32 ? n - q : 32;
                uint32_t bits = *kw;
                for (b = 0; b < end; ++b, bits >>= 1) s += bnn_negate_if(xq[b], bits & 1u);
            }
            acc[p][l] = s;
        }
    }
}
#endif

#ifndef BNN_HAVE_MK_WIDE
/*
 * One pixel, several blocks of output channels (a dense layer): for blocks n < nblocks,
 * acc[n][l] += sum_{r < run} popcount(x[r] XOR k[n*k_block + r*16 + l]), and the same for
 * a real input: acc[n][l] = acc[n][l] + x[q] * k[n*k_block + q*16 + l] (or +-x[q] for
 * a binary kernel) for q = 0 .. n_in-1 in order.
 */
static inline void bnn_mk_xor_popcount_wide(const uint32_t *x, const uint32_t *k, ptrdiff_t k_block, int run,
                                            int nblocks, int32_t acc[][BNN_BLOCK])
{
    int n;
    for (n = 0; n < nblocks; ++n) bnn_mk_xor_popcount(x, 0, 0, k + n * k_block, 0, 1, run, 1, 0, acc + n);
}

static inline void bnn_mk_mul_add_wide(const float *x, const float *k, ptrdiff_t k_block, int n_in, int nblocks,
                                       float acc[][BNN_BLOCK])
{
    int n;
    for (n = 0; n < nblocks; ++n) bnn_mk_mul_add(x, 0, k + n * k_block, n_in, 1, acc + n);
}

static inline void bnn_mk_signed_add_wide(const float *x, const uint32_t *kbits, ptrdiff_t k_block, int n_in,
                                          int nblocks, float acc[][BNN_BLOCK])
{
    int n;
    for (n = 0; n < nblocks; ++n) bnn_mk_signed_add(x, 0, kbits + n * k_block, n_in, 1, acc + n);
}
#endif

#ifndef BNN_HAVE_MK_LANES_MUL_ADD
/*
 * Depthwise: acc[p][l] = acc[p][l] + x[p*x_pix + l] * k[l] for lanes l < lanes (the
 * input's channels; the others stay as they are), pixels p < np.
 */
static inline void bnn_mk_lanes_mul_add(const float *x, ptrdiff_t x_pix, const float *k, int lanes, int np,
                                        float acc[][BNN_BLOCK])
{
    int p, l;
    for (p = 0; p < np; ++p) {
        const float *xp = x + p * x_pix;
        if (lanes == BNN_BLOCK) {
            for (l = 0; l < BNN_BLOCK; ++l) acc[p][l] += xp[l] * k[l];
        } else {
            for (l = 0; l < lanes; ++l) acc[p][l] += xp[l] * k[l];
        }
    }
}
#endif

/* ---------------------------------------------------------------- output transform of a tile */

#ifndef BNN_HAVE_MK_CHAIN
/*
 * The output chain on 16 lanes v (output channels c0 .. c0+15), one op after
 * another, each a loop over the lanes; `other` is the residual tensor's row at
 * c0 (lanes beyond `lanes` do not exist there). Per-channel constants are
 * padded to a whole block by the compiler, so 16 lanes can always be read.
 */
static inline void bnn_mk_chain(const struct bnn_output *out, int c0, const float *row, int lanes, float v[BNN_BLOCK])
{
    float c[BNN_BLOCK];
    int n, l;
    for (n = 0; n < out->n_ops; ++n) {
        const struct bnn_float_op *op = &out->ops[n];
        if (op->kind == BNN_RELU) {
            for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] > 0.0f ? v[l] : 0.0f;
            continue;
        }
        if (op->kind == BNN_CLIP) {
            const float lo = op->c[0], hi = op->c[1];
            for (l = 0; l < BNN_BLOCK; ++l) {
                const float x = v[l] < lo ? lo : v[l];
                v[l] = x > hi ? hi : x;
            }
            continue;
        }
        if (op->kind == BNN_ADD_TENSOR) {
            if (row == NULL) continue; /* (never: the compiler passes the tensor the chain adds) */
            if (lanes == BNN_BLOCK) {
                for (l = 0; l < BNN_BLOCK; ++l) c[l] = row[l];
            } else {
                for (l = 0; l < BNN_BLOCK; ++l) c[l] = l < lanes ? row[l] : 0.0f;
            }
            for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] + c[l];
            continue;
        }
        if (op->c_len == 1) {
            for (l = 0; l < BNN_BLOCK; ++l) c[l] = op->c[0];
        } else {
            for (l = 0; l < BNN_BLOCK; ++l) c[l] = op->c[c0 + l];
        }
        switch (op->kind) {
        case BNN_ADD: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] + c[l]; break;
        case BNN_SUB: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] - c[l]; break;
        case BNN_RSUB: for (l = 0; l < BNN_BLOCK; ++l) v[l] = c[l] - v[l]; break;
        case BNN_MUL: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] * c[l]; break;
        case BNN_DIV: for (l = 0; l < BNN_BLOCK; ++l) v[l] = v[l] / c[l]; break;
        case BNN_RDIV: for (l = 0; l < BNN_BLOCK; ++l) v[l] = c[l] / v[l]; break;
        default: break;
        }
    }
}
#endif

#ifndef BNN_HAVE_MK_KEYS
/* The ordered keys (bnn_float_key) of 16 floats. */
static inline void bnn_mk_keys(const float x[BNN_BLOCK], int32_t v[BNN_BLOCK])
{
    int l;
    for (l = 0; l < BNN_BLOCK; ++l) v[l] = bnn_float_key(x[l]);
}
#endif

#ifndef BNN_HAVE_MK_DECIDE
/* The decisions of 16 lanes v against bounds lo, hi, flip (bnn_bits.h) as bit masks. */
static inline void bnn_mk_decide(const int32_t v[BNN_BLOCK], const int32_t *lo, const int32_t *hi, const uint8_t *flip,
                                 uint32_t *negative, uint32_t *zero)
{
    uint32_t n = 0, z = 0;
    int l;
    for (l = 0; l < BNN_BLOCK; ++l) {
        n |= (uint32_t)bnn_is_negative(v[l], lo[l], hi[l], flip[l]) << l;
        z |= (uint32_t)bnn_is_zero(v[l], lo[l], hi[l]) << l;
    }
    *negative = n;
    *zero = z;
}
#endif

/* The 16 decisions of one pixel (v: its int32 sums) into its packed output words. */
static inline void bnn_tile_decide(const struct bnn_output *out, const struct bnn_tile *t, int p,
                                   const int32_t v[BNN_BLOCK], void *y, uint32_t *y_mask)
{
    const int c0 = t->block * BNN_BLOCK;
    const uint32_t valid = t->lanes == BNN_BLOCK ? 0xFFFFu : (1u << t->lanes) - 1u;
    const size_t at = (t->pixel + (size_t)p) * BNN_WORDS((size_t)t->channels) + (size_t)c0 / 32u;
    const int shift = c0 % 32;
    uint32_t sign, zero;
    bnn_mk_decide(v, out->lo + c0, out->hi + c0, out->flip + c0, &sign, &zero);
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

#ifndef BNN_HAVE_MK_STORE
/* Stores a tile of real values (a real layer's sums, or a binary layer's as floats). */
static inline void bnn_mk_store_real(const struct bnn_output *out, const struct bnn_tile *t,
                                       float v[][BNN_BLOCK], const float *other, float *y)
{
    int p, l;
    for (p = 0; p < t->np; ++p) {
        const size_t at = (t->pixel + (size_t)p) * (size_t)t->channels + (size_t)t->block * BNN_BLOCK;
        float *row = y + at;
        bnn_mk_chain(out, t->block * BNN_BLOCK, other ? other + at : NULL, t->lanes, v[p]);
        if (t->lanes == BNN_BLOCK) {
            for (l = 0; l < BNN_BLOCK; ++l) row[l] = v[p][l];
        } else {
            for (l = 0; l < t->lanes; ++l) row[l] = v[p][l];
        }
    }
}

/* Stores a tile of exact sums y[p][l]. */
static inline void bnn_mk_store_sums(const struct bnn_output *out, const struct bnn_tile *t,
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
        bnn_mk_store_real(out, t, v, other, (float *)y);
    }
}
#endif

#endif /* BNN_OPT_PORTABLE_H */
