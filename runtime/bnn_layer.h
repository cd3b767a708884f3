/*
 * bnn_layer.h -- what every convolution and dense kernel shares: the layer's
 * geometry, the order its kernel is packed in, and its output transform.
 *
 * Dense layers are convolutions: y[r][j] = sum_k x[r][k] w[j][k] is a 1x1
 * convolution of an (rows x 1 x k) map; a dense layer after a Flatten of an
 * (h, w, c) map is a convolution whose kernel covers the whole map (h x w
 * taps of c channels), so packed bits need no repacking.
 *
 * Geometry. Input x[h][w][c] (NHWC), kernel k[o][kh][kw][c/groups] (OHWI),
 * output y[oh][ow][o]. Output pixel (i, j) reads input pixel
 *     (i*sh + a*dh - pt,  j*sw + b*dw - pl)    for every tap (a, b),
 * and a tap that falls outside the input reads the pad value instead.
 *
 * Kernel layout (packed once, by the compiler, in the order fast kernels
 * read it): output channels in blocks of BNN_BLOCK = 16, and inside a block
 * the 16 channels' words of one (tap, input word) side by side:
 *     word q of tap t of output channel o  is at
 *     ((o / 16 * taps + t) * words + q) * 16 + o % 16
 * with taps = kh*kw and words = BNN_WORDS(c/groups) for a binary kernel (bits
 * packed along input channels, tail bits 0), or words = c/groups floats for a
 * real kernel. A kernel that reads one input word can then update 16 output
 * channels with one vector load. The last block is padded with zero words.
 *
 * Output transform. A layer accumulates an exact sum per output (an int32
 * for binary inputs and kernels, a float otherwise) and then, in the same
 * pass, stores what the model needs next (struct bnn_output):
 *   BNN_OUT_INT32  the sum itself;
 *   BNN_OUT_FLOAT  v = (float)sum, then a chain of elementwise ops
 *                  (batchnorm, bias, scale, ReLU, a residual Add), in the
 *                  model's order, one float rounding each;
 *   BNN_OUT_BITS   (binary layers) the next binarizer's decision on the
 *                  int32 sum, packed: per channel lo, hi, flip as in
 *                  bnn_bits.h (bnn_is_negative, bnn_is_zero);
 *   BNN_OUT_LEVELS (bit-plane layers, bnn_ref_kbit.h) the next quantizer's
 *                  level of the int32 sum, packed in planes: a
 *                  multi-threshold (bnn_levels.h).
 * So the int32 accumulator tensor never exists in memory: a fused layer goes
 * from packed bits to packed bits. A real-valued output may also be stored
 * channel-major (plane != 0): the last layer of an NCHW model writes the
 * model's output itself, with no NHWC copy and no transpose after it.
 */
#ifndef BNN_LAYER_H
#define BNN_LAYER_H

#include "bnn_bits.h"
#include "bnn_float.h"

#define BNN_BLOCK 16

struct bnn_conv_geometry {
    int h, w, c;        /* input */
    int o, kh, kw;      /* output channels, kernel size */
    int sh, sw, dh, dw; /* strides, dilations */
    int pt, pl;         /* padding before rows / columns */
    int oh, ow;         /* output size */
    int groups;
};

enum bnn_output_kind { BNN_OUT_INT32, BNN_OUT_FLOAT, BNN_OUT_BITS, BNN_OUT_LEVELS };

struct bnn_output {
    enum bnn_output_kind kind;
    int n_ops;                     /* FLOAT: the chain after (float)sum */
    const struct bnn_float_op *ops;
    const int32_t *lo, *hi;        /* BITS: per output channel, see bnn_ref_threshold */
    const uint8_t *flip;
    int ternary;                   /* BITS: the output has a mask plane */
    size_t plane;                  /* FLOAT/INT32: 0 = channels innermost, y[pixel][o]; else
                                    * channel-major, y[o][pixel] with `plane` pixels per channel
                                    * (the model's NCHW output, stored where the user wants it) */
};

/* A convolution (or dense layer) with binary input and binary kernel: XNOR/popcount. */
struct bnn_bconv2d {
    struct bnn_conv_geometry g;
    int pad_mode;               /* 0: zero padding, 1: one padding (Larq pad_values=1) */
    const uint32_t *kernel;     /* blocked, see above */
    const int16_t *tap_popcounts; /* one padding: popcount of the kernel words of each tap, [o/16][tap][16] */
    struct bnn_output out;
};

/* A convolution (or dense layer) on a real input: real kernel, or binary kernel (BWN, adds only). */
struct bnn_fconv2d {
    struct bnn_conv_geometry g;
    float pad_value;
    const float *kernel;        /* real kernel, blocked; NULL for a binary kernel */
    const uint32_t *kernel_bits; /* binary kernel, blocked; NULL for a real kernel */
    struct bnn_output out;
};

/* Where the outputs of a tile of a fast kernel go: np pixels from `pixel`, channels
 * [16*block, 16*block + lanes) of `channels` (bnn_opt_portable.h). */
struct bnn_tile {
    size_t pixel;
    int np, block, lanes, channels;
};

static inline size_t bnn_kernel_index(int o, int tap, int q, int taps, int words)
{
    return (((size_t)(o / BNN_BLOCK) * (size_t)taps + (size_t)tap) * (size_t)words + (size_t)q) * BNN_BLOCK +
           (size_t)(o % BNN_BLOCK);
}

/* Input coordinate of tap (a, b) for output pixel (i, j); 0 when outside. */
static inline int bnn_tap(const struct bnn_conv_geometry *g, int i, int j, int a, int b, int *y, int *x)
{
    *y = i * g->sh + a * g->dh - g->pt;
    *x = j * g->sw + b * g->dw - g->pl;
    return *y >= 0 && *y < g->h && *x >= 0 && *x < g->w;
}

/* ---------------------------------------------------------------- storing one output */

/* The elementwise chain of `out` on v, for output channel o; `other` is this
 * element of the residual tensor (if the chain adds one). */
static inline float bnn_output_chain(const struct bnn_output *out, float v, int o, float other)
{
    int n;
    for (n = 0; n < out->n_ops; ++n) v = bnn_float_op_apply(&out->ops[n], v, (size_t)o, other);
    return v;
}

/* Bit o of a packed output row: sign (and, for a ternary output, mask) from value v. */
static inline void bnn_output_decide(const struct bnn_output *out, int32_t v, int o, uint32_t *sign_row,
                                     uint32_t *mask_row)
{
    const int negative = bnn_is_negative(v, out->lo[o], out->hi[o], out->flip[o]);
    const uint32_t bit = 1u << (o % 32);
    if (negative) sign_row[o / 32] |= bit;
    if (mask_row && (negative || !bnn_is_zero(v, out->lo[o], out->hi[o]))) mask_row[o / 32] |= bit;
}

/* Starts output pixel `pixel` of a BITS output: its words are cleared (tail bits stay 0). */
static inline void bnn_output_clear_bits(const struct bnn_output *out, void *y, uint32_t *y_mask, size_t pixel,
                                         int channels)
{
    const size_t words = BNN_WORDS((size_t)channels);
    if (out->kind != BNN_OUT_BITS) return;
    memset((uint32_t *)y + pixel * words, 0, words * sizeof(uint32_t));
    if (out->ternary) memset(y_mask + pixel * words, 0, words * sizeof(uint32_t));
}

/* Where output (pixel, o) of a real-valued or int32 output goes (out->plane: channel-major). */
static inline size_t bnn_output_at(const struct bnn_output *out, size_t pixel, int o, int channels)
{
    return out->plane ? (size_t)o * out->plane + pixel : pixel * (size_t)channels + (size_t)o;
}

/* Stores output (pixel, o) of a real layer from its float sum (a residual `other` is channels innermost). */
static inline void bnn_output_store_real(const struct bnn_output *out, float sum, size_t pixel, int o, int channels,
                                         const float *other, float *y)
{
    const size_t at = pixel * (size_t)channels + (size_t)o;
    y[bnn_output_at(out, pixel, o, channels)] = bnn_output_chain(out, sum, o, other ? other[at] : 0.0f);
}

/* Stores output (pixel, o) of a binary layer from its exact sum. */
static inline void bnn_output_store_sum(const struct bnn_output *out, int32_t sum, size_t pixel, int o, int channels,
                                        const float *other, void *y, uint32_t *y_mask)
{
    if (out->kind == BNN_OUT_INT32) {
        ((int32_t *)y)[bnn_output_at(out, pixel, o, channels)] = sum;
    } else if (out->kind == BNN_OUT_BITS) {
        const size_t words = BNN_WORDS((size_t)channels);
        bnn_output_decide(out, sum, o, (uint32_t *)y + pixel * words, out->ternary ? y_mask + pixel * words : NULL);
    } else {
        bnn_output_store_real(out, (float)sum, pixel, o, channels, other, (float *)y); /* exact: |sum| < 2^24 */
    }
}

#endif /* BNN_LAYER_H */
