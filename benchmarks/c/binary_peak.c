/* The binary peak of this core: how many binary multiply-accumulates
 * (XOR + popcount + add, one bit each) one thread can do per second when
 * nothing but the arithmetic limits it (benchmarks/host_speed.py).
 *
 * The loop keeps 12 independent accumulators in registers and per step
 * XORs 12 input registers with one kernel vector (from a 4 KB table, in L1),
 * counts bits per lane and adds: the instruction mix of the bconv micro-
 * kernels without their loads of input words. Built with -O2 -march=native;
 * uses AVX-512 VPOPCNTDQ (512-bit), else AVX2 (nibble table, 256-bit), else
 * 64-bit scalar popcount.
 *
 *   double bnn_binary_peak(double seconds, const char **method)
 * returns binary MACs per second, measured over about `seconds` of thread CPU time. */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <time.h>
#if defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__) || defined(__AVX2__)
#include <immintrin.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint32_t table[1024];
volatile uint64_t bnn_peak_sink;

#if defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
#define METHOD "avx512-vpopcntdq (512-bit xor + vpopcntd + add)"
#define BITS 512
typedef __m512i vec;
#define LOAD(p) _mm512_loadu_si512(p)
#define SET(i) _mm512_set1_epi32((int)(0x9E3779B9u * (unsigned)(i + 1)))
#define STEP(acc, x, k) acc = _mm512_add_epi32(acc, _mm512_popcnt_epi32(_mm512_xor_si512(x, k)))
#define FOLD(acc) ((uint64_t)_mm512_reduce_add_epi32(acc))
#elif defined(__AVX2__)
#define METHOD "avx2 (256-bit xor + nibble-table popcount + add)"
#define BITS 256
typedef __m256i vec;
#define LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define SET(i) _mm256_set1_epi32((int)(0x9E3779B9u * (unsigned)(i + 1)))
static inline __m256i popcount8(__m256i v)
{
    const __m256i t = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2,
                                       3, 2, 3, 3, 4);
    const __m256i m = _mm256_set1_epi8(0x0F);
    return _mm256_add_epi8(_mm256_shuffle_epi8(t, _mm256_and_si256(v, m)),
                           _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(v, 4), m)));
}
/* bytes accumulate (the kernels widen to 32-bit lanes every few words) */
#define STEP(acc, x, k) acc = _mm256_add_epi8(acc, popcount8(_mm256_xor_si256(x, k)))
#define FOLD(acc) ((uint64_t)_mm256_extract_epi32(acc, 0))
#else
#define METHOD "scalar (64-bit xor + popcount + add)"
#define BITS 64
typedef uint64_t vec;
#define LOAD(p) (*(const uint64_t *)(const void *)(p))
#define SET(i) ((uint64_t)0x9E3779B97F4A7C15u * (uint64_t)(i + 1))
#define STEP(acc, x, k) acc += (uint64_t)__builtin_popcountll((x) ^ (k))
#define FOLD(acc) (acc)
#endif

double bnn_binary_peak(double seconds, const char **method)
{
    const int steps = 1 << 14, per_vector = BITS / 32;
    vec a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    vec x0 = SET(0), x1 = SET(1), x2 = SET(2), x3 = SET(3), x4 = SET(4), x5 = SET(5), x6 = SET(6), x7 = SET(7),
        x8 = SET(8), x9 = SET(9), x10 = SET(10), x11 = SET(11);
    double start, elapsed = 0.0, macs = 0.0;
    int i;
    for (i = 0; i < 1024; ++i) table[i] = 0x2545F491u * (uint32_t)i;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = LOAD(table);
    start = now();
    while (elapsed < seconds) {
        for (i = 0; i < steps; ++i) {
            const vec k = LOAD(table + (i % (1024 / per_vector - 1)) * per_vector);
            STEP(a0, x0, k); STEP(a1, x1, k); STEP(a2, x2, k); STEP(a3, x3, k);
            STEP(a4, x4, k); STEP(a5, x5, k); STEP(a6, x6, k); STEP(a7, x7, k);
            STEP(a8, x8, k); STEP(a9, x9, k); STEP(a10, x10, k); STEP(a11, x11, k);
        }
        macs += 12.0 * BITS * steps;
        elapsed = now() - start;
    }
    bnn_peak_sink = FOLD(a0) + FOLD(a1) + FOLD(a2) + FOLD(a3) + FOLD(a4) + FOLD(a5) + FOLD(a6) + FOLD(a7) +
                    FOLD(a8) + FOLD(a9) + FOLD(a10) + FOLD(a11);
    *method = METHOD;
    return macs / elapsed;
}
