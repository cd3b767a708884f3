/*
 * bnn_dense.h -- the four dense (fully connected) layer kinds Larq knows.
 *
 *   y[r][j] = sum_k x[r][k] * w[j][k]      for r < rows, j < n, k < k_in
 *
 * Weights are stored output-major, w[j][k] (ONNX MatMul's [K][N] transposed),
 * binary weights packed along k like activations.
 *
 *   kind           x          w          y        arithmetic
 *   xnor           bits       bits       int32    popcount, exact
 *   bwn            float      bits       float    adds and subtracts only
 *   ban            bits       float      float    adds and subtracts only
 *   float          float      float      float    multiply-add
 *
 * XNOR/popcount. With x_k = 1 - 2a_k and w_k = 1 - 2b_k (a, b the bits),
 * x_k * w_k = +1 when a_k == b_k and -1 otherwise, so over K values
 *     sum_k x_k w_k = (K - d) - d = K - 2 d,   d = popcount(a XOR b).
 * Tail bits are 0 in both operands, so they never add to d. For a ternary
 * input with mask m (m_k = 0 where x_k = 0) only masked lanes count:
 *     sum_k x_k w_k = popcount(m) - 2 popcount((a XOR b) AND m).
 * |sum| <= K, so int32 never overflows for any K a tensor can have.
 */
#ifndef BNN_DENSE_H
#define BNN_DENSE_H

#include "bnn_bits.h"

/* Reference kernel: binary (or ternary) input, binary weights -> exact sums. */
static inline void bnn_dense_xnor(const uint32_t *x, const uint32_t *x_mask, size_t rows, size_t k_in,
                                  const uint32_t *w, size_t n, int32_t *y)
{
    const size_t words = BNN_WORDS(k_in);
    size_t r, j, q;
    for (r = 0; r < rows; ++r) {
        const uint32_t *xr = x + r * words;
        const uint32_t *mr = x_mask ? x_mask + r * words : NULL;
        int32_t nonzero = (int32_t)k_in;
        if (mr) {
            nonzero = 0;
            for (q = 0; q < words; ++q) {
                nonzero += (int32_t)bnn_popcount(mr[q]);
            }
        }
        for (j = 0; j < n; ++j) {
            const uint32_t *wj = w + j * words;
            int32_t d = 0;
            if (mr) {
                for (q = 0; q < words; ++q) {
                    d += (int32_t)bnn_popcount((xr[q] ^ wj[q]) & mr[q]);
                }
            } else {
                for (q = 0; q < words; ++q) {
                    d += (int32_t)bnn_popcount(xr[q] ^ wj[q]);
                }
            }
            y[r * n + j] = nonzero - 2 * d;
        }
    }
}

/* Binary weights on a real input (BWN): y = sum of +x_k or -x_k, k ascending. */
static inline void bnn_dense_bwn(const float *x, size_t rows, size_t k_in, const uint32_t *w, size_t n,
                                 float *y)
{
    const size_t words = BNN_WORDS(k_in);
    size_t r, j, k;
    for (r = 0; r < rows; ++r) {
        const float *xr = x + r * k_in;
        for (j = 0; j < n; ++j) {
            const uint32_t *wj = w + j * words;
            float acc = 0.0f;
            for (k = 0; k < k_in; ++k) {
                acc += bnn_negate_if(xr[k], (wj[k / 32u] >> (k % 32u)) & 1u);
            }
            y[r * n + j] = acc;
        }
    }
}

/* Binary (or ternary) input on real weights (BAN): y = sum of +w, -w or 0. */
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

/* Full precision. */
static inline void bnn_dense_float(const float *x, size_t rows, size_t k_in, const float *w, size_t n,
                                   float *y)
{
    size_t r, j, k;
    for (r = 0; r < rows; ++r) {
        const float *xr = x + r * k_in;
        for (j = 0; j < n; ++j) {
            const float *wj = w + j * k_in;
            float acc = 0.0f;
            for (k = 0; k < k_in; ++k) {
                acc += xr[k] * wj[k];
            }
            y[r * n + j] = acc;
        }
    }
}

#endif /* BNN_DENSE_H */
