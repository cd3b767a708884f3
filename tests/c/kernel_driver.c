/* Runs convolution / dense kernel cases through the reference kernels and
 * through the kernels the seam (bnn_kernels.h) picks for this build, for
 * tests/test_kernel_variants.py (host, qemu-user) and tests/test_mcu_kernels.py
 * (bare-metal microcontrollers under QEMU). Built once per variant (compiler
 * and flags: x86-64 portable, AVX2, AVX-512, AArch64 NEON, Cortex-M0/M4,
 * RISC-V rv32 with and without Zbb, ...).
 *
 * usage: kernel_driver CASES OUTPUTS
 * prints the variant's name (BNN_KERNELS) on stdout.
 *
 * Built with -DKERNEL_DRIVER_EMBEDDED (a bare-metal target: no files, no
 * malloc), CASES is the array kernel_cases[] of a generated C file, memory
 * comes from a static pool, and instead of OUTPUTS it prints, per case,
 *   case N ref CRC opt CRC
 * (CRC-32 of the reference's output planes and of this variant's) and a last
 * line "cases: N". See tests/test_mcu_kernels.py.
 *
 * CASES is a sequence of little-endian records written by the test:
 *   int32 kind (1: bnn_bconv2d, 2: bnn_fconv2d, 3: bnn_threshold, 4: bnn_kconv2d,
 *               5: bnn_levels_threshold)
 * for a threshold:
 *   int32 rows, channels, src_is_float, t_len, ternary_out, channel_major; blob src, lo, hi, flip;
 *   int32 y_bytes
 * for a convolution:
 *   int32 geometry[15] (struct bnn_conv_geometry, in order)
 *   int32 pad_mode, float pad_value, int32 binary_kernel (bnn_fconv2d),
 *   int32 out_kind, int32 ternary_out, int32 channel_major (the output stored y[o][pixel]), int32 n_ops
 *   n_ops x { int32 op kind, blob constants }
 *   blob kernel (uint32 words of a binary kernel, or floats), blob tap_popcounts (int16),
 *   blob x, blob x_mask, blob other, blob lo, blob hi, blob flip,
 *   int32 y_bytes (one output plane)
 * for a bit-plane layer (4):
 *   int32 geometry[15], x coding[10], w coding[10] (planes, base, 8 coefficients),
 *   int32 pad, out_kind, channel_major, n_ops, n_steps, out_planes; n_ops x { int32 op kind, blob, int32 c_len };
 *   blob kernel, tap_sums, x, other, bounds, flip, codes; int32 y_bytes (all planes)
 * for a multi-threshold (5):
 *   int32 rows, channels, src_is_float, t_len, n_steps, planes; blob src, bounds, flip, codes;
 *   int32 y_bytes (all planes)
 * where a blob is int32 n_bytes then the bytes (n_bytes 0: NULL).
 * OUTPUTS gets, per case, the reference's output planes and then this
 * variant's (y, and y_mask for a ternary output), each y_bytes long. */
#include <string.h>
#include "bnn_runtime.h"

#ifdef KERNEL_DRIVER_EMBEDDED
#include "target.h"

extern const unsigned char kernel_cases[];
extern const unsigned long kernel_cases_size;

static unsigned long cases_at;
static unsigned char pool[1536u * 1024u]; /* one case at a time; released after each */
static size_t pool_used;
static unsigned long case_index;
static uint32_t crc_planes[2];

static void fail(const char *what)
{
    console_printf("kernel_driver: %s\n", what);
    target_exit(2);
}

static int read_raw(void *dst, size_t n)
{
    if (cases_at + n > kernel_cases_size) return 0;
    memcpy(dst, kernel_cases + cases_at, n);
    cases_at += n;
    return 1;
}

static void *allocate(size_t n)
{
    unsigned char *p;
    n = (n + 7u) & ~(size_t)7u;
    if (pool_used + n > sizeof pool) fail("out of memory");
    p = pool + pool_used;
    pool_used += n;
    memset(p, 0, n);
    return p;
}

static void release(void *p)
{
    (void)p; /* the whole pool is released after each case */
}

/* CRC-32 (IEEE, reflected), bit by bit: small, and fast enough under QEMU. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    size_t i;
    int k;
    for (i = 0; i < n; ++i) {
        crc ^= p[i];
        for (k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc;
}

/* The reference's planes (which = 0), then this variant's (which = 1), as CRCs. */
static void emit(const unsigned char *bytes, size_t n, int which)
{
    crc_planes[which] = crc32_update(crc_planes[which], bytes, n);
}

static void case_done(void)
{
    console_printf("case %lu ref %x opt %x\n", case_index, (unsigned)~crc_planes[0], (unsigned)~crc_planes[1]);
    crc_planes[0] = crc_planes[1] = 0xFFFFFFFFu;
    pool_used = 0;
    ++case_index;
}
#else
#include <stdio.h>
#include <stdlib.h>

static FILE *in, *out;

static void fail(const char *what)
{
    fprintf(stderr, "kernel_driver: %s\n", what);
    exit(2);
}

static int read_raw(void *dst, size_t n)
{
    return fread(dst, 1, n, in) == n;
}

static void *allocate(size_t n)
{
    void *p = calloc(n, 1);
    if (p == NULL) fail("out of memory");
    return p;
}

static void release(void *p)
{
    free(p);
}

static void emit(const unsigned char *bytes, size_t n, int which)
{
    (void)which;
    fwrite(bytes, 1, n, out);
}

static void case_done(void)
{
}
#endif

#define MAX_OPS 8

static int32_t read_int(void)
{
    int32_t v = 0;
    if (!read_raw(&v, sizeof v)) fail("truncated cases");
    return v;
}

/* A blob as a heap block (padded so 16 lanes can be read), or NULL when empty. */
static void *read_blob(void)
{
    const int32_t n = read_int();
    unsigned char *p;
    if (n == 0) return NULL;
    p = (unsigned char *)allocate((size_t)n + 64);
    if (!read_raw(p, (size_t)n)) fail("bad blob");
    return p;
}

static struct bnn_conv_geometry read_geometry(void)
{
    struct bnn_conv_geometry g;
    g.h = read_int(); g.w = read_int(); g.c = read_int();
    g.o = read_int(); g.kh = read_int(); g.kw = read_int();
    g.sh = read_int(); g.sw = read_int(); g.dh = read_int(); g.dw = read_int();
    g.pt = read_int(); g.pl = read_int(); g.oh = read_int(); g.ow = read_int();
    g.groups = read_int();
    return g;
}

static void write_planes(const unsigned char *y, const unsigned char *m, size_t bytes, int ternary, int which)
{
    emit(y, bytes, which);
    if (ternary) emit(m, bytes, which);
}

static void run_threshold(void)
{
    const int32_t rows = read_int(), channels = read_int(), src_is_float = read_int(), t_len = read_int();
    const int32_t ternary = read_int(), channel_major = read_int();
    void *src = read_blob(), *lo = read_blob(), *hi = read_blob(), *flip = read_blob();
    const int32_t y_bytes = read_int();
    unsigned char *planes = (unsigned char *)allocate(4 * (size_t)y_bytes);
    memset(planes, 0xA5, 2 * (size_t)y_bytes);
    memset(planes + 2 * (size_t)y_bytes, 0x5A, 2 * (size_t)y_bytes);
    bnn_ref_threshold(src, src_is_float, channel_major, (size_t)rows, (size_t)channels, (const int32_t *)lo,
                      (const int32_t *)hi, (const uint8_t *)flip, (size_t)t_len, (uint32_t *)(void *)planes,
                      ternary ? (uint32_t *)(void *)(planes + y_bytes) : NULL);
    bnn_threshold(src, src_is_float, channel_major, (size_t)rows, (size_t)channels, (const int32_t *)lo,
                  (const int32_t *)hi, (const uint8_t *)flip, (size_t)t_len, (uint32_t *)(void *)(planes + 2 * (size_t)y_bytes),
                  ternary ? (uint32_t *)(void *)(planes + 3 * (size_t)y_bytes) : NULL);
    write_planes(planes, planes + y_bytes, (size_t)y_bytes, ternary, 0);
    write_planes(planes + 2 * (size_t)y_bytes, planes + 3 * (size_t)y_bytes, (size_t)y_bytes, ternary, 1);
    release(planes);
    release(src);
    release(lo);
    release(hi);
    release(flip);
}

static struct bnn_coding read_coding(void)
{
    struct bnn_coding c;
    int p;
    c.planes = read_int();
    c.base = read_int();
    for (p = 0; p < BNN_MAX_PLANES; ++p) c.coeff[p] = read_int();
    return c;
}

/* Output planes of the reference and of this build, y_bytes each, garbage first. */
static void run_both(int32_t y_bytes, void (*run)(void *ctx, int opt, unsigned char *y), void *ctx)
{
    unsigned char *y = (unsigned char *)allocate(2 * (size_t)y_bytes + 8);
    memset(y, 0xA5, (size_t)y_bytes);
    memset(y + y_bytes, 0x5A, (size_t)y_bytes);
    run(ctx, 0, y);
    run(ctx, 1, y + y_bytes);
    emit(y, (size_t)y_bytes, 0);
    emit(y + y_bytes, (size_t)y_bytes, 1);
    release(y);
}

struct kconv_job {
    struct bnn_kconv2d L;
    const uint32_t *x;
    const float *other;
};

static void run_kconv_variant(void *ctx, int opt, unsigned char *y)
{
    struct kconv_job *job = (struct kconv_job *)ctx;
    if (opt) bnn_kconv2d(&job->L, job->x, job->other, y);
    else bnn_ref_kconv2d(&job->L, job->x, job->other, y);
}

static void run_kconv(void)
{
    struct kconv_job job;
    struct bnn_float_op ops[MAX_OPS];
    void *consts[MAX_OPS], *kernel, *tap_sums, *x, *other, *bounds, *flip, *codes;
    int32_t n_ops, i;
    memset(&job, 0, sizeof job);
    job.L.g = read_geometry();
    job.L.x = read_coding();
    job.L.w = read_coding();
    job.L.pad = read_int();
    job.L.out.kind = (enum bnn_output_kind)read_int();
    if (read_int()) job.L.out.plane = (size_t)job.L.g.oh * (size_t)job.L.g.ow;
    n_ops = read_int();
    job.L.levels.n_steps = read_int();
    job.L.levels.planes = read_int();
    if (n_ops > MAX_OPS) fail("too many ops");
    for (i = 0; i < n_ops; ++i) {
        ops[i].kind = (enum bnn_channel_kind)read_int();
        consts[i] = read_blob();
        ops[i].c = (const float *)consts[i];
        ops[i].c_len = read_int();
    }
    job.L.out.n_ops = n_ops;
    job.L.out.ops = ops;
    kernel = read_blob();
    tap_sums = read_blob();
    x = read_blob();
    other = read_blob();
    bounds = read_blob();
    flip = read_blob();
    codes = read_blob();
    job.L.kernel = (const uint32_t *)kernel;
    job.L.tap_sums = (const int32_t *)tap_sums;
    job.L.levels.bounds = (const int32_t *)bounds;
    job.L.levels.flip = (const uint8_t *)flip;
    job.L.levels.codes = (const uint8_t *)codes;
    job.x = (const uint32_t *)x;
    job.other = (const float *)other;
    run_both(read_int(), run_kconv_variant, &job);
    for (i = 0; i < n_ops; ++i) release(consts[i]);
    release(kernel);
    release(tap_sums);
    release(x);
    release(other);
    release(bounds);
    release(flip);
    release(codes);
}

struct levels_job {
    const void *src;
    int src_is_float;
    size_t rows, channels, t_len;
    struct bnn_levels_out L;
};

static void run_levels_variant(void *ctx, int opt, unsigned char *y)
{
    struct levels_job *job = (struct levels_job *)ctx;
    (void)opt; /* one kernel for every build */
    bnn_levels_threshold(job->src, job->src_is_float, job->rows, job->channels, &job->L, job->t_len,
                         (uint32_t *)(void *)y);
}

static void run_levels_threshold(void)
{
    struct levels_job job;
    void *src, *bounds, *flip, *codes;
    job.rows = (size_t)read_int();
    job.channels = (size_t)read_int();
    job.src_is_float = read_int();
    job.t_len = (size_t)read_int();
    job.L.n_steps = read_int();
    job.L.planes = read_int();
    src = read_blob();
    bounds = read_blob();
    flip = read_blob();
    codes = read_blob();
    job.src = src;
    job.L.bounds = (const int32_t *)bounds;
    job.L.flip = (const uint8_t *)flip;
    job.L.codes = (const uint8_t *)codes;
    run_both(read_int(), run_levels_variant, &job);
    release(src);
    release(bounds);
    release(flip);
    release(codes);
}

/* One convolution case: the reference's output planes, then the variant's. */
static void run_conv(int32_t kind)
{
    struct bnn_conv_geometry g;
    struct bnn_output o;
    struct bnn_float_op ops[MAX_OPS];
    void *consts[MAX_OPS];
    int32_t pad_mode, binary_kernel, n_ops, y_bytes, i;
    float pad_value;
    void *kernel, *popcounts, *x, *x_mask, *other, *lo, *hi, *flip;
    unsigned char *y_ref, *m_ref, *y_opt, *m_opt;
    int32_t raw;
    g = read_geometry();
    pad_mode = read_int();
    raw = read_int();
    memcpy(&pad_value, &raw, sizeof pad_value);
    binary_kernel = read_int();
    memset(&o, 0, sizeof o);
    o.kind = (enum bnn_output_kind)read_int();
    o.ternary = read_int();
    if (read_int()) o.plane = (size_t)g.oh * (size_t)g.ow;
    n_ops = read_int();
    if (n_ops > MAX_OPS) fail("too many ops");
    for (i = 0; i < n_ops; ++i) {
        ops[i].kind = (enum bnn_channel_kind)read_int();
        consts[i] = read_blob();
        ops[i].c = (const float *)consts[i];
        ops[i].c_len = read_int();
    }
    o.n_ops = n_ops;
    o.ops = ops;
    kernel = read_blob();
    popcounts = read_blob();
    x = read_blob();
    x_mask = read_blob();
    other = read_blob();
    lo = read_blob();
    hi = read_blob();
    flip = read_blob();
    o.lo = (const int32_t *)lo;
    o.hi = (const int32_t *)hi;
    o.flip = (const uint8_t *)flip;
    y_bytes = read_int();
    y_ref = (unsigned char *)allocate((size_t)y_bytes);
    m_ref = (unsigned char *)allocate((size_t)y_bytes);
    y_opt = (unsigned char *)allocate((size_t)y_bytes);
    m_opt = (unsigned char *)allocate((size_t)y_bytes);
    /* garbage first: every output word must be written */
    memset(y_ref, 0xA5, (size_t)y_bytes);
    memset(m_ref, 0xA5, (size_t)y_bytes);
    memset(y_opt, 0x5A, (size_t)y_bytes);
    memset(m_opt, 0x5A, (size_t)y_bytes);
    if (kind == 1) {
        struct bnn_bconv2d L;
        L.g = g;
        L.pad_mode = pad_mode;
        L.kernel = (const uint32_t *)kernel;
        L.tap_popcounts = (const int16_t *)popcounts;
        L.out = o;
        bnn_ref_bconv2d(&L, (const uint32_t *)x, (const uint32_t *)x_mask, (const float *)other, y_ref,
                        o.ternary ? (uint32_t *)(void *)m_ref : NULL);
        bnn_bconv2d(&L, (const uint32_t *)x, (const uint32_t *)x_mask, (const float *)other, y_opt,
                    o.ternary ? (uint32_t *)(void *)m_opt : NULL);
    } else {
        struct bnn_fconv2d L;
        L.g = g;
        L.pad_value = pad_value;
        L.kernel = binary_kernel ? NULL : (const float *)kernel;
        L.kernel_bits = binary_kernel ? (const uint32_t *)kernel : NULL;
        L.out = o;
        bnn_ref_fconv2d(&L, (const float *)x, (const float *)other, (float *)(void *)y_ref);
        bnn_fconv2d(&L, (const float *)x, (const float *)other, (float *)(void *)y_opt);
    }
    write_planes(y_ref, m_ref, (size_t)y_bytes, o.ternary, 0);
    write_planes(y_opt, m_opt, (size_t)y_bytes, o.ternary, 1);
    release(y_ref);
    release(m_ref);
    release(y_opt);
    release(m_opt);
    for (i = 0; i < n_ops; ++i) release(consts[i]);
    release(kernel);
    release(popcounts);
    release(x);
    release(x_mask);
    release(other);
    release(lo);
    release(hi);
    release(flip);
}

static void run_case(int32_t kind)
{
    if (kind == 3) run_threshold();
    else if (kind == 4) run_kconv();
    else if (kind == 5) run_levels_threshold();
    else run_conv(kind);
    case_done();
}

#ifdef KERNEL_DRIVER_EMBEDDED
int main(void)
{
    int32_t kind;
    crc_planes[0] = crc_planes[1] = 0xFFFFFFFFu;
    console_printf("%s\n", BNN_KERNELS);
    while (read_raw(&kind, sizeof kind)) run_case(kind);
    console_printf("cases: %lu\n", case_index);
    return 0;
}
#else
int main(int argc, char **argv)
{
    int32_t kind;
    if (argc != 3) {
        fprintf(stderr, "usage: %s CASES OUTPUTS\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        perror("kernel_driver");
        return 2;
    }
    printf("%s\n", BNN_KERNELS);
    while (fread(&kind, sizeof kind, 1, in) == 1) run_case(kind);
    fclose(in);
    fclose(out);
    return 0;
}
#endif
