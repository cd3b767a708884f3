/*
 * bnn_ref_dense.h -- the dense layer kind that is not a convolution kernel.
 *
 *   y[r][j] = sum_k x[r][k] * w[j][k]      for r < rows, j < n, k < k_in
 *
 * Larq knows four dense kinds; three of them run as 1x1 convolutions
 * (bnn_layer.h): XNOR/popcount (binary x, binary w) and BWN (real x, binary
 * w) in bnn_bconv2d / bnn_fconv2d, full precision in bnn_fconv2d. The fourth,
 * BAN (binary or ternary x, real w), is rare and has only this kernel: it sums
 * +w, -w or nothing (a zero of a ternary input) in k order. Weights are
 * output-major, w[j][k] (ONNX MatMul's [K][N] transposed).
 */
#ifndef BNN_REF_DENSE_H
#define BNN_REF_DENSE_H

#include "bnn_bits.h"

static inline void bnn_dense_ban(const uint32_t *x, const uint32_t *x_mask, size_t rows, size_t k_in,
                                 const float *w, size_t n, float *y)
{
    const size_t words = BNN_WORDS(k_in);
    size_t r, j, k;
    for (r = 0; r < rows; ++r) {
        const uint32_t *xr = x + r * words;
        const uint32_t *mr = x_mask ? x_mask + r * words : NULL;
        for (j = 0; j < n; ++j) {
            const float *wj = w + j * k_in;
            float acc = 0.0f;
            for (k = 0; k < k_in; ++k) {
                const float term = bnn_negate_if(wj[k], (xr[k / 32u] >> (k % 32u)) & 1u);
                if (mr && !((mr[k / 32u] >> (k % 32u)) & 1u)) {
                    continue; /* a zero of a ternary input adds nothing */
                }
                acc += term;
            }
            y[r * n + j] = acc;
        }
    }
}

#endif /* BNN_REF_DENSE_H */
