/*
 * bnn_opt_kbit.h -- fast bit-plane layers in plain C99: what bnn_ref_kbit.h
 * computes, bit for bit, from popcounts of planes instead of decoded values
 * (the algebra is in bnn_ref_kbit.h).
 *
 * The walk is the binary kernels' (bnn_opt_portable.h): a block of 16 output
 * channels at a time, whose kernel words of one (tap, input word) lie side by
 * side, so every input word loaded updates 16 sums. Per tap inside the input:
 *   - XNOR form (both operands bipolar or ternary):
 *       acc[l] += popcount(m) - 2 popcount((s_x XOR s_w[l]) AND m),
 *     m = m_x AND m_w[l] (all ones for an operand without a mask, tail bits
 *     of the mask planes being 0, or the tap's channel count without masks);
 *   - plane form (any codings):
 *       acc[l] += sum_ij cx_i cw_j popcount(a_i AND b_j[l]),
 *     plus bw sum_i cx_i popcount(a_i) for all lanes and bx W_t[l];
 * and a padded tap adds pad W_t[l]. Integer sums in any order are the same.
 */
#ifndef BNN_OPT_KBIT_H
#define BNN_OPT_KBIT_H

#include "bnn_ref_kbit.h"

/* Is a coding a sign (bipolar: 1 plane) or a sign and a mask (ternary: 2 planes)? */
static inline int bnn_sign_mask_coding(const struct bnn_coding *c)
{
    return (c->planes == 1 && c->base == 1 && c->coeff[0] == -2) ||
           (c->planes == 2 && c->base == 0 && c->coeff[0] == -2 && c->coeff[1] == 1);
}

/* The 16 sums of block `block` at output pixel (i, j). */
static inline void bnn_opt_ksums(const struct bnn_kconv2d *L, const uint32_t *x, int block, int i, int j,
                                 int32_t acc[BNN_BLOCK])
{
    const struct bnn_conv_geometry *g = &L->g;
    const int taps = g->kh * g->kw, words = (int)BNN_WORDS((size_t)g->c);
    const size_t x_plane = (size_t)g->h * (size_t)g->w * (size_t)words, k_plane = bnn_kplane_words(g);
    const int xor_form = bnn_sign_mask_coding(&L->x) && bnn_sign_mask_coding(&L->w);
    const int x_mask = L->x.planes == 2, w_mask = L->w.planes == 2;
    int32_t x_terms = 0; /* sum over inside taps of sum_i cx_i A_i */
    int a, b, q, l, ip, jp, yy, xx;
    for (l = 0; l < BNN_BLOCK; ++l) acc[l] = 0;
    for (a = 0; a < g->kh; ++a) {
        for (b = 0; b < g->kw; ++b) {
            const int t = a * g->kw + b;
            const size_t at = ((size_t)block * taps + t) * BNN_BLOCK; /* of this tap's sums (tap_sums) */
            const uint32_t *kb = L->kernel + ((size_t)block * taps + t) * (size_t)words * BNN_BLOCK;
            const uint32_t *xp;
            if (!bnn_tap(g, i, j, a, b, &yy, &xx)) {
                if (L->pad)
                    for (l = 0; l < BNN_BLOCK; ++l) acc[l] += L->pad * L->tap_sums[at + (size_t)l];
                continue;
            }
            xp = x + ((size_t)yy * g->w + xx) * (size_t)words;
            if (xor_form) {
                for (q = 0; q < words; ++q) {
                    const uint32_t s = xp[q], m = x_mask ? xp[x_plane + q] : 0xFFFFFFFFu;
                    const uint32_t *ks = kb + (size_t)q * BNN_BLOCK, *km = ks + k_plane;
                    for (l = 0; l < BNN_BLOCK; ++l) {
                        const uint32_t mm = w_mask ? m & km[l] : m;
                        acc[l] += (int32_t)bnn_popcount(mm) - 2 * (int32_t)bnn_popcount((s ^ ks[l]) & mm);
                    }
                }
                if (!x_mask && !w_mask) /* all ones over 32 * words bits: count the tap's channels only */
                    for (l = 0; l < BNN_BLOCK; ++l) acc[l] -= 32 * words - g->c;
                continue;
            }
            for (q = 0; q < words; ++q) {
                for (ip = 0; ip < L->x.planes; ++ip) {
                    const uint32_t xa = xp[(size_t)ip * x_plane + q];
                    x_terms += L->x.coeff[ip] * (int32_t)bnn_popcount(xa);
                    for (jp = 0; jp < L->w.planes; ++jp) {
                        const uint32_t *kw = kb + (size_t)jp * k_plane + (size_t)q * BNN_BLOCK;
                        const int32_t c = L->x.coeff[ip] * L->w.coeff[jp];
                        for (l = 0; l < BNN_BLOCK; ++l) acc[l] += c * (int32_t)bnn_popcount(xa & kw[l]);
                    }
                }
            }
            if (L->x.base)
                for (l = 0; l < BNN_BLOCK; ++l) acc[l] += L->x.base * L->tap_sums[at + (size_t)l];
        }
    }
    if (!xor_form && L->w.base)
        for (l = 0; l < BNN_BLOCK; ++l) acc[l] += L->w.base * x_terms;
}

static inline void bnn_opt_kconv2d(const struct bnn_kconv2d *L, const uint32_t *x, const float *other, void *y)
{
    const struct bnn_conv_geometry *g = &L->g;
    const int blocks = (g->o + BNN_BLOCK - 1) / BNN_BLOCK;
    int block, i, j, l;
    if (g->groups != 1) {
        bnn_ref_kconv2d(L, x, other, y);
        return;
    }
    bnn_kconv_clear(L, y);
    for (block = 0; block < blocks; ++block) {
        const int lanes = g->o - block * BNN_BLOCK < BNN_BLOCK ? g->o - block * BNN_BLOCK : BNN_BLOCK;
        for (i = 0; i < g->oh; ++i) {
            for (j = 0; j < g->ow; ++j) {
                int32_t acc[BNN_BLOCK];
                bnn_opt_ksums(L, x, block, i, j, acc);
                for (l = 0; l < lanes; ++l)
                    bnn_kconv_store(L, acc[l], (size_t)i * g->ow + j, block * BNN_BLOCK + l, other, y);
            }
        }
    }
}

#endif /* BNN_OPT_KBIT_H */
