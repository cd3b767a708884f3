/* Non-inline entry points to the header-only runtime, so pytest can call
 * each kernel through cffi and compare it with numpy. */
#define BNN_NEED_SOFTMAX
#include "bnn_runtime.h"
#include "kernel_shim.h"

uint32_t shim_popcount(uint32_t v) { return bnn_popcount(v); }

int32_t shim_float_key(float x) { return bnn_float_key(x); }

void shim_threshold(const void *src, int src_is_float, int channel_major, size_t rows, size_t channels,
                    const int32_t *lo, const int32_t *hi, const uint8_t *flip, size_t t_len, uint32_t *bits,
                    uint32_t *mask)
{
    bnn_threshold(src, src_is_float, channel_major, rows, channels, lo, hi, flip, t_len, bits, mask);
}

void shim_unpack(const uint32_t *bits, const uint32_t *mask, size_t rows, size_t channels, float *out)
{
    bnn_unpack(bits, mask, rows, channels, out);
}

void shim_dense_ban(const uint32_t *x, const uint32_t *x_mask, size_t rows, size_t k_in, const float *w, size_t n,
                    float *y)
{
    bnn_dense_ban(x, x_mask, rows, k_in, w, n, y);
}

void shim_channel_op(const float *x, size_t n, const float *c, size_t c_len, int kind, float *y)
{
    bnn_channel_op(x, n, c, c_len, (enum bnn_channel_kind)kind, y);
}

void shim_softmax(const float *x, size_t rows, size_t channels, int log, float *y) { bnn_softmax(x, rows, channels, log, y); }

/* The geometry struct from a plain int array, in the order the codegen writes it. */
static struct bnn_pool_geometry pool_geometry(const int *v)
{
    struct bnn_pool_geometry g;
    g.h = v[0]; g.w = v[1]; g.c = v[2]; g.kh = v[3]; g.kw = v[4]; g.sh = v[5]; g.sw = v[6];
    g.pt = v[7]; g.pl = v[8]; g.oh = v[9]; g.ow = v[10]; g.pb = v[11]; g.pr = v[12];
    g.d = v[13]; g.kd = v[14]; g.sd = v[15]; g.pf = v[16]; g.od = v[17]; g.pk = v[18];
    return g;
}

void shim_maxpool_bits(const int *geometry, const uint32_t *x, const uint32_t *x_mask, const uint32_t *min_words,
                       uint32_t *y, uint32_t *y_mask)
{
    struct bnn_pool_geometry g = pool_geometry(geometry);
    bnn_maxpool_bits(&g, x, x_mask, min_words, y, y_mask);
}

void shim_maxpool_float(const int *geometry, const float *x, float *y)
{
    struct bnn_pool_geometry g = pool_geometry(geometry);
    bnn_maxpool_words(&g, x, 1, y);
}

void shim_avgpool_float(const int *geometry, const float *x, int count_include_pad, float *y)
{
    struct bnn_pool_geometry g = pool_geometry(geometry);
    bnn_avgpool_float(&g, x, count_include_pad, y);
}

void shim_sumpool_float(const int *geometry, const float *x, int divisor, float *y)
{
    struct bnn_pool_geometry g = pool_geometry(geometry);
    bnn_sumpool_float(&g, x, (enum bnn_pool_divisor)divisor, y);
}

void shim_arith(const float *a, const float *b, int kind, int rank, const int *dims, const int *a_step,
                const int *b_step, float *y)
{
    bnn_arith(a, b, (enum bnn_channel_kind)kind, rank, dims, a_step, b_step, y);
}

void shim_prelu(const float *x, size_t n, const float *s, size_t s_len, float *y) { bnn_prelu(x, n, s, s_len, y); }

void shim_stuff_float(const float *x, const int *g, float *y)
{
    bnn_stuff_float(x, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], y);
}

void shim_stuff_bits(const uint32_t *x, const uint32_t *x_mask, const int *g, uint32_t *y, uint32_t *y_mask)
{
    bnn_stuff_bits(x, x_mask, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], y, y_mask);
}

void shim_transpose(const uint32_t *x, int rank, const int *dims, const int *perm, uint32_t *y)
{
    bnn_transpose(x, rank, dims, perm, y);
}
