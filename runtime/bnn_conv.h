/*
 * bnn_conv.h -- 2-D convolutions on NHWC tensors (bnncompile runtime).
 *
 * Shapes: input x[h][w][c], kernel k[o][kh][kw][c/groups] (OHWI), output
 * y[oh][ow][o]. Output pixel (i, j) reads input pixel
 *     (i*sh + a*dh - pt,  j*sw + b*dw - pl)    for every tap (a, b),
 * and a tap that falls outside the input reads the pad value instead.
 * `struct bnn_conv_geometry` carries these numbers for every kernel.
 *
 * Binary input, binary kernel (XNOR/popcount): per tap, over the c channels,
 *     sum_ch x*k = c - 2 popcount(x_bits XOR k_bits)         (see bnn_dense.h)
 * so y = sum over taps of (c - 2 d_tap). Padding of a +-1 tensor:
 *   pad_mode 0 (ONNX/PyTorch zero padding): a padded tap is 0 and is skipped,
 *              which is exactly what the float convolution computes;
 *   pad_mode 1 (Larq pad_values=1): a padded tap is +1, i.e. bits 0, so it
 *              contributes c - 2 popcount(k_bits).
 * Grouped convolutions (depthwise included) take the bit-by-bit path.
 */
#ifndef BNN_CONV_H
#define BNN_CONV_H

#include "bnn_bits.h"

struct bnn_conv_geometry {
    int h, w, c;        /* input */
    int o, kh, kw;      /* output channels, kernel size */
    int sh, sw, dh, dw; /* strides, dilations */
    int pt, pl;         /* padding before rows / columns */
    int oh, ow;         /* output size */
    int groups;
};

/* Input coordinate of tap (a, b) for output pixel (i, j); 0 when outside. */
static inline int bnn_tap(const struct bnn_conv_geometry *g, int i, int j, int a, int b, int *y, int *x)
{
    *y = i * g->sh + a * g->dh - g->pt;
    *x = j * g->sw + b * g->dw - g->pl;
    return *y >= 0 && *y < g->h && *x >= 0 && *x < g->w;
}

static inline int bnn_bit(const uint32_t *words, int index)
{
    return (int)((words[index / 32] >> (index % 32)) & 1u);
}

/*
 * Binary (or ternary, with x_mask) input, binary kernel -> int32 sums.
 * Loop order: output pixel, then tap, then output channel, so the bounds of
 * a tap are checked once for all output channels, and each output pixel's
 * row y[i][j][*] is the accumulator.
 */
static inline void bnn_conv2d_xnor(const struct bnn_conv_geometry *g, const uint32_t *x, const uint32_t *x_mask,
                                   const uint32_t *k, int pad_mode, int32_t *y)
{
    const int cg = g->c / g->groups, og = g->o / g->groups;
    const int xw = (int)BNN_WORDS((size_t)g->c);   /* words per input pixel */
    const int kw_words = (int)BNN_WORDS((size_t)cg); /* words per kernel tap */
    int i, j, o, a, b, q, yy, xx;
    for (i = 0; i < g->oh; ++i) {
        for (j = 0; j < g->ow; ++j) {
            int32_t *acc = y + ((size_t)i * g->ow + j) * g->o;
            for (o = 0; o < g->o; ++o) acc[o] = 0;
            for (a = 0; a < g->kh; ++a) {
                for (b = 0; b < g->kw; ++b) {
                    const int inside = bnn_tap(g, i, j, a, b, &yy, &xx);
                    const size_t at = inside ? ((size_t)yy * g->w + xx) * xw : 0;
                    const uint32_t *xp = x + at;
                    const uint32_t *mp = x_mask ? x_mask + at : NULL;
                    /* the kernel words of this tap for output channel o: kt + o * kstride */
                    const size_t kstride = (size_t)g->kh * g->kw * kw_words;
                    const uint32_t *kt = k + ((size_t)a * g->kw + b) * kw_words;
                    if (!inside && pad_mode == 0) continue; /* zero padding: the tap adds 0 */
                    if (!inside) { /* one padding: +1 everywhere, bits 0, so d = popcount(k) */
                        for (o = 0; o < g->o; ++o, kt += kstride) {
                            int32_t d = 0;
                            for (q = 0; q < kw_words; ++q) d += (int32_t)bnn_popcount(kt[q]);
                            acc[o] += cg - 2 * d;
                        }
                    } else if (g->groups == 1 && !mp && kw_words == 1) { /* the common small case */
                        const uint32_t x0 = xp[0];
                        for (o = 0; o < g->o; ++o, kt += kstride) {
                            acc[o] += cg - 2 * (int32_t)bnn_popcount(x0 ^ kt[0]);
                        }
                    } else if (g->groups == 1) {
                        int32_t nonzero = cg;
                        if (mp) {
                            nonzero = 0;
                            for (q = 0; q < kw_words; ++q) nonzero += (int32_t)bnn_popcount(mp[q]);
                        }
                        for (o = 0; o < g->o; ++o, kt += kstride) {
                            int32_t d = 0;
                            if (mp) {
                                for (q = 0; q < kw_words; ++q) d += (int32_t)bnn_popcount((xp[q] ^ kt[q]) & mp[q]);
                            } else {
                                for (q = 0; q < kw_words; ++q) d += (int32_t)bnn_popcount(xp[q] ^ kt[q]);
                            }
                            acc[o] += nonzero - 2 * d;
                        }
                    } else { /* grouped (depthwise too): this group's channels, bit by bit */
                        for (o = 0; o < g->o; ++o, kt += kstride) {
                            const int first = (o / og) * cg;
                            int32_t d = 0, nonzero = 0;
                            for (q = 0; q < cg; ++q) {
                                if (mp && !bnn_bit(mp, first + q)) continue;
                                ++nonzero;
                                d += bnn_bit(xp, first + q) ^ bnn_bit(kt, q);
                            }
                            acc[o] += nonzero - 2 * d;
                        }
                    }
                }
            }
        }
    }
}

/*
 * Real input: binary kernel (BWN, `kbits`, adds and subtracts only) or real
 * kernel (`kreal`); exactly one of the two is non-NULL. Padded taps read
 * `pad_value`. Sums run over taps, then channels, in order.
 */
static inline void bnn_conv2d_float(const struct bnn_conv_geometry *g, const float *x, const uint32_t *kbits,
                                    const float *kreal, float pad_value, float *y)
{
    const int cg = g->c / g->groups, og = g->o / g->groups;
    const int kw_words = (int)BNN_WORDS((size_t)cg);
    int i, j, o, a, b, q, yy, xx;
    for (i = 0; i < g->oh; ++i) {
        for (j = 0; j < g->ow; ++j) {
            for (o = 0; o < g->o; ++o) {
                const int first = (o / og) * cg;
                float acc = 0.0f;
                for (a = 0; a < g->kh; ++a) {
                    for (b = 0; b < g->kw; ++b) {
                        const size_t tap = (size_t)(o * g->kh + a) * g->kw + b;
                        const int inside = bnn_tap(g, i, j, a, b, &yy, &xx);
                        const float *xp = x + (inside ? ((size_t)yy * g->w + xx) * g->c + first : 0);
                        if (!inside && pad_value == 0.0f) continue;
                        for (q = 0; q < cg; ++q) {
                            const float v = inside ? xp[q] : pad_value;
                            if (kbits) {
                                acc += bnn_negate_if(v, (uint32_t)bnn_bit(kbits + tap * kw_words, q));
                            } else {
                                acc += v * kreal[tap * cg + q];
                            }
                        }
                    }
                }
                y[((size_t)i * g->ow + j) * g->o + o] = acc;
            }
        }
    }
}

#endif /* BNN_CONV_H */
