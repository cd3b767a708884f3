/*
 * bnn_float.h -- real-valued elementwise ops (bnncompile runtime).
 *
 * Each op does exactly one float32 rounding per element, like the ONNX op it
 * comes from, so outputs match onnxruntime's up to the rounding of sums.
 * Build without -ffast-math. No build may fuse a multiply and an add into
 * one FMA (one rounding instead of two): bnn_runtime.h turns contraction off
 * for the whole file, so every build of the same C gives the same bits.
 */
#ifndef BNN_FLOAT_H
#define BNN_FLOAT_H

#include <stddef.h>
#include <stdint.h>

enum bnn_channel_kind { BNN_ADD, BNN_SUB, BNN_RSUB, BNN_MUL, BNN_DIV, BNN_RDIV, BNN_RELU, BNN_CLIP, BNN_ADD_TENSOR };

/*
 * One elementwise op of a chain that a layer applies to its sums before it
 * stores them (its output transform, bnn_layer.h): x (op) c[j % c_len] for
 * output channel j, a ReLU, a clip to [c[0], c[1]], or the sum with another
 * tensor of the output's shape (a residual shortcut).
 */
struct bnn_float_op {
    enum bnn_channel_kind kind;
    int c_len; /* 1 (one constant) or the channel count */
    const float *c;
};

/* The op on value x of channel j; `other` is the other tensor's element (BNN_ADD_TENSOR). */
static inline float bnn_float_op_apply(const struct bnn_float_op *op, float x, size_t j, float other)
{
    const float c = op->c ? op->c[j % (size_t)op->c_len] : 0.0f;
    switch (op->kind) {
    case BNN_ADD: return x + c;
    case BNN_SUB: return x - c;
    case BNN_RSUB: return c - x;
    case BNN_MUL: return x * c;
    case BNN_DIV: return x / c;
    case BNN_RDIV: return c / x;
    case BNN_RELU: return x > 0.0f ? x : 0.0f;
    case BNN_CLIP: {
        const float v = x < op->c[0] ? op->c[0] : x;
        return v > op->c[1] ? op->c[1] : v;
    }
    case BNN_ADD_TENSOR: return x + other;
    }
    return x;
}

/*
 * y[i] = x[i] (op) c[i % c_len]; c_len is 1 (a scalar), the channel count
 * (a per-channel constant, channels innermost) or the tensor size.
 * y may equal x.
 */
/* y[j] = x[j] (op) c[j] for j < n: one row of channels. */
static inline void bnn_channel_row(const float *x, size_t n, const float *c, enum bnn_channel_kind kind, float *y)
{
    size_t j;
    switch (kind) {
    case BNN_ADD: for (j = 0; j < n; ++j) y[j] = x[j] + c[j]; break;
    case BNN_SUB: for (j = 0; j < n; ++j) y[j] = x[j] - c[j]; break;
    case BNN_RSUB: for (j = 0; j < n; ++j) y[j] = c[j] - x[j]; break;
    case BNN_MUL: for (j = 0; j < n; ++j) y[j] = x[j] * c[j]; break;
    case BNN_DIV: for (j = 0; j < n; ++j) y[j] = x[j] / c[j]; break;
    case BNN_RDIV: for (j = 0; j < n; ++j) y[j] = c[j] / x[j]; break;
    default: break; /* not constant ops: bnn_relu, bnn_clip and bnn_add below */
    }
}

static inline void bnn_channel_op(const float *x, size_t n, const float *c, size_t c_len,
                                  enum bnn_channel_kind kind, float *y)
{
    size_t i;
    if (c_len == 1) {
        struct bnn_float_op op;
        op.kind = kind;
        op.c_len = 1;
        op.c = c;
        for (i = 0; i < n; ++i) y[i] = bnn_float_op_apply(&op, x[i], 0, 0.0f);
        return;
    }
    for (i = 0; i < n; i += c_len) bnn_channel_row(x + i, c_len, c, kind, y + i); /* n: a multiple of c_len */
}

/*
 * y = a (op) b between two tensors with broadcasting (ONNX, numpy): y has
 * `rank` axes of sizes dims[]; a_step[k] and b_step[k] are the strides of a
 * and b along axis k, in elements (0 along an axis it broadcasts). One
 * rounding per element (kind: BNN_ADD, BNN_SUB, BNN_MUL or BNN_DIV). Rank at
 * most 5; y may equal a when a does not broadcast.
 */
static inline void bnn_arith(const float *a, const float *b, enum bnn_channel_kind kind, int rank, const int *dims,
                             const int *a_step, const int *b_step, float *y)
{
    int idx[5] = {0, 0, 0, 0, 0};
    size_t n = 1, i, ia = 0, ib = 0;
    int k;
    for (k = 0; k < rank; ++k) n *= (size_t)dims[k];
    for (i = 0; i < n; ++i) {
        const float u = a[ia], v = b[ib];
        switch (kind) {
        case BNN_SUB: y[i] = u - v; break;
        case BNN_MUL: y[i] = u * v; break;
        case BNN_DIV: y[i] = u / v; break;
        default: y[i] = u + v; break;
        }
        for (k = rank - 1; k >= 0; --k) { /* the next index, last axis fastest */
            ia += (size_t)a_step[k];
            ib += (size_t)b_step[k];
            if (++idx[k] < dims[k]) break;
            ia -= (size_t)a_step[k] * (size_t)dims[k];
            ib -= (size_t)b_step[k] * (size_t)dims[k];
            idx[k] = 0;
        }
    }
}

/* Exact: every accumulator is an integer of magnitude below 2^24. */
static inline void bnn_int_to_float(const int32_t *x, size_t n, float *y)
{
    size_t i;
    for (i = 0; i < n; ++i) y[i] = (float)x[i];
}

static inline void bnn_copy(const float *x, size_t n, float *y)
{
    size_t i;
    for (i = 0; i < n; ++i) y[i] = x[i];
}

static inline void bnn_relu(const float *x, size_t n, float *y)
{
    size_t i;
    for (i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/*
 * ONNX PRelu and LeakyRelu as onnxruntime computes them: x itself where x >= 0
 * (so -0 stays -0), else x * s[i % s_len], one rounding. y may equal x.
 */
static inline void bnn_prelu(const float *x, size_t n, const float *s, size_t s_len, float *y)
{
    size_t i;
    for (i = 0; i < n; ++i) y[i] = x[i] >= 0.0f ? x[i] : x[i] * s[i % s_len];
}

static inline void bnn_clip(const float *x, size_t n, float lo, float hi, float *y)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        const float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

#ifdef BNN_NEED_SOFTMAX
#include <math.h>
/*
 * Softmax over rows of `channels` values: exp(x - max) / sum, or with `log`
 * LogSoftmax: (x - max) - log(sum). Needs libm.
 */
static inline void bnn_softmax(const float *x, size_t rows, size_t channels, int log, float *y)
{
    size_t r, c;
    for (r = 0; r < rows; ++r) {
        const float *xr = x + r * channels;
        float *yr = y + r * channels;
        float max = xr[0], sum = 0.0f;
        for (c = 1; c < channels; ++c) max = xr[c] > max ? xr[c] : max;
        for (c = 0; c < channels; ++c) {
            yr[c] = xr[c] - max;
            sum += expf(yr[c]);
        }
        if (log) {
            const float log_sum = logf(sum);
            for (c = 0; c < channels; ++c) yr[c] -= log_sum;
        } else {
            for (c = 0; c < channels; ++c) yr[c] = expf(yr[c]) / sum;
        }
    }
}
#endif

#endif /* BNN_FLOAT_H */
