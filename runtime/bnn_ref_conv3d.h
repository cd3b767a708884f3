/*
 * bnn_ref_conv3d.h -- reference 3-D convolutions on (D, H, W, C) volumes:
 * the maths of bnn_ref_conv.h with a depth axis. Output position (k, i, j)
 * reads input position
 *     (k*sd + a*dd - pf,  i*sh + b*dh - pt,  j*sw + c*dw - pl)
 * for every tap (a, b, c); a tap outside the input reads the pad value.
 *
 * Binary input, binary kernel: per tap, sum_ch x*k = c - 2 popcount(x XOR k)
 * (ternary input: popcount(m) - 2 popcount((x XOR k) AND m)); zero padding
 * skips a padded tap, Larq's one padding (pad_mode 1) adds c - 2 popcount(k).
 * Real input: one float sum per output, taps in (a, b, c) row-major order,
 * then the channels of the tap, from 0.0f; padded taps add pad_value * k.
 *
 * The kernel is packed as a 2-D kernel with kd*kh*kw taps, depth-major
 * (bnn_layer.h: bnn_kernel_index), and the output goes through the same
 * output transform (struct bnn_output). These are the only 3-D kernels (no
 * fast variant): every build runs this code.
 */
#ifndef BNN_REF_CONV3D_H
#define BNN_REF_CONV3D_H

#include "bnn_layer.h"

struct bnn_conv3d_geometry {
    int d, h, w, c;             /* input */
    int o, kd, kh, kw;          /* output channels, kernel size */
    int sd, sh, sw, dd, dh, dw; /* strides, dilations */
    int pf, pt, pl;             /* padding before depth / rows / columns */
    int od, oh, ow;             /* output size */
    int groups;
};

/* Binary (or ternary) input, binary kernel. */
struct bnn_bconv3d {
    struct bnn_conv3d_geometry g;
    int pad_mode;                 /* 0: zero padding, 1: one padding (Larq pad_values=1) */
    const uint32_t *kernel;       /* blocked, kd*kh*kw taps */
    const int16_t *tap_popcounts; /* one padding: popcount of the kernel words of each tap */
    struct bnn_output out;
};

/* Real input: real kernel, or binary kernel (BWN). */
struct bnn_fconv3d {
    struct bnn_conv3d_geometry g;
    float pad_value;
    const float *kernel;         /* real kernel, blocked; NULL for a binary kernel */
    const uint32_t *kernel_bits; /* binary kernel, blocked; NULL for a real kernel */
    struct bnn_output out;
};

/* Input pixel of tap (a, b, cc) for output position (k, i, j), or -1 when it falls outside. */
static inline long bnn_tap3d(const struct bnn_conv3d_geometry *g, int k, int i, int j, int a, int b, int cc)
{
    const int z = k * g->sd + a * g->dd - g->pf, y = i * g->sh + b * g->dh - g->pt, x = j * g->sw + cc * g->dw - g->pl;
    if (z < 0 || z >= g->d || y < 0 || y >= g->h || x < 0 || x >= g->w) return -1;
    return ((long)z * g->h + y) * g->w + x;
}

/* Exact sum of output channel o at output position (k, i, j). */
static inline int32_t bnn_ref_bsum3d(const struct bnn_bconv3d *L, const uint32_t *x, const uint32_t *x_mask, int k,
                                     int i, int j, int o)
{
    const struct bnn_conv3d_geometry *g = &L->g;
    const int cg = g->c / g->groups, og = g->o / g->groups, first = (o / og) * cg;
    const int xw = (int)BNN_WORDS((size_t)g->c), kw_words = (int)BNN_WORDS((size_t)cg);
    const int taps = g->kd * g->kh * g->kw;
    int32_t sum = 0;
    int a, b, cc, q;
    for (a = 0; a < g->kd; ++a) {
        for (b = 0; b < g->kh; ++b) {
            for (cc = 0; cc < g->kw; ++cc) {
                const int t = (a * g->kh + b) * g->kw + cc;
                const long pixel = bnn_tap3d(g, k, i, j, a, b, cc);
                const uint32_t *xp, *mp;
                int32_t d = 0, nonzero = 0;
                if (pixel < 0) {
                    if (L->pad_mode == 1) { /* +1 everywhere: bits 0, so d = popcount(k) */
                        for (q = 0; q < kw_words; ++q)
                            d += (int32_t)bnn_popcount(L->kernel[bnn_kernel_index(o, t, q, taps, kw_words)]);
                        sum += cg - 2 * d;
                    }
                    continue; /* zero padding: the tap adds 0 */
                }
                xp = x + (size_t)pixel * xw;
                mp = x_mask ? x_mask + (size_t)pixel * xw : NULL;
                for (q = 0; q < cg; ++q) { /* this group's channels, bit by bit */
                    const uint32_t kbits = L->kernel[bnn_kernel_index(o, t, q / 32, taps, kw_words)];
                    if (mp && !((mp[(first + q) / 32] >> ((first + q) % 32)) & 1u)) continue;
                    ++nonzero;
                    d += (int32_t)(((xp[(first + q) / 32] >> ((first + q) % 32)) ^ (kbits >> (q % 32))) & 1u);
                }
                sum += nonzero - 2 * d;
            }
        }
    }
    return sum;
}

static inline void bnn_ref_bconv3d(const struct bnn_bconv3d *L, const uint32_t *x, const uint32_t *x_mask, void *y,
                                   uint32_t *y_mask)
{
    const struct bnn_conv3d_geometry *g = &L->g;
    int k, i, j, o;
    for (k = 0; k < g->od; ++k)
        for (i = 0; i < g->oh; ++i)
            for (j = 0; j < g->ow; ++j) {
                const size_t pixel = ((size_t)k * g->oh + i) * g->ow + j;
                bnn_output_clear_bits(&L->out, y, y_mask, pixel, g->o);
                for (o = 0; o < g->o; ++o)
                    bnn_output_store_sum(&L->out, bnn_ref_bsum3d(L, x, x_mask, k, i, j, o), pixel, o, g->o, NULL, y,
                                         y_mask);
            }
}

static inline void bnn_ref_fconv3d(const struct bnn_fconv3d *L, const float *x, void *y, uint32_t *y_mask)
{
    const struct bnn_conv3d_geometry *g = &L->g;
    const int cg = g->c / g->groups, og = g->o / g->groups, taps = g->kd * g->kh * g->kw;
    int k, i, j, o, a, b, cc, q;
    for (k = 0; k < g->od; ++k)
        for (i = 0; i < g->oh; ++i)
            for (j = 0; j < g->ow; ++j) {
                const size_t pixel = ((size_t)k * g->oh + i) * g->ow + j;
                bnn_output_clear_bits(&L->out, y, y_mask, pixel, g->o);
                for (o = 0; o < g->o; ++o) {
                    const int first = (o / og) * cg;
                    float acc = 0.0f;
                    for (a = 0; a < g->kd; ++a)
                        for (b = 0; b < g->kh; ++b)
                            for (cc = 0; cc < g->kw; ++cc) {
                                const int t = (a * g->kh + b) * g->kw + cc;
                                const long at = bnn_tap3d(g, k, i, j, a, b, cc);
                                if (at < 0 && L->pad_value == 0.0f) continue;
                                for (q = 0; q < cg; ++q) {
                                    const float v = at < 0 ? L->pad_value : x[(size_t)at * g->c + first + q];
                                    if (L->kernel_bits) {
                                        const uint32_t kbits = L->kernel_bits[bnn_kernel_index(
                                            o, t, q / 32, taps, (int)BNN_WORDS((size_t)cg))];
                                        acc += bnn_negate_if(v, (kbits >> (q % 32)) & 1u);
                                    } else {
                                        acc += v * L->kernel[bnn_kernel_index(o, t, q, taps, cg)];
                                    }
                                }
                            }
                    bnn_output_store_real(&L->out, acc, pixel, o, g->o, NULL, (float *)y);
                }
            }
}

#endif /* BNN_REF_CONV3D_H */
