/*
 * softfloat_check.c -- runtime/bnn_softfloat.h against the C float ops of the
 * machine it runs on, bit for bit (tests/test_softfloat.py).
 *
 *   softfloat_check exhaustive       every a in [-2^13, 2^13] with 300 scales x 3 biases
 *   softfloat_check random N SEED    N random cases of every routine: bit patterns of every
 *                                    class, ties, cancellation, subnormal results, overflow
 *
 * Prints "checked C mismatches M fast F" (F: cases that took the fast path)
 * and the first mismatches. Build with -DBNN_SOFT_FLOAT_CHAIN -ffp-contract=off
 * on a host with an FPU. Built with -DSOFTFLOAT_CHECK_EMBEDDED for a core
 * without one (bare metal under QEMU: the routines are on by themselves there,
 * and the C ops they must equal are the compiler's soft-float library), it
 * runs a smaller exhaustive part (a in [-1024, 1024], 40 scales) and 20,000
 * random cases and prints the same line.
 */
#include <stdint.h>
#include <string.h>
#ifdef SOFTFLOAT_CHECK_EMBEDDED
#include "target.h"
#define PRINT console_printf
#else
#include <stdio.h>
#include <stdlib.h>
#define PRINT printf
#endif

static unsigned long slow_hits;
#define BNN_SF_SLOW_PATH_HOOK() (++slow_hits)
#include "bnn_softfloat.h"

static unsigned long checked, mismatches, fast;

static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float flt(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/* The C ops, each rounded to float once (volatile: no folding or contraction). */
static uint32_t ref_int_mul_add(int32_t a, uint32_t s, uint32_t b, int sub)
{
    volatile float v = (float)a;
    v = v * flt(s);
    v = sub ? v - flt(b) : v + flt(b);
    return bits(v);
}

static int is_nan(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }

/* Set by the caller: two NaNs meet in one op of the computation checked next. */
static int two_nans;

/*
 * Exact, except that where two NaNs meet in one op any NaN will do: which one
 * an op passes on depends on the order the compiler puts the operands of a
 * commutative instruction (or soft-float call) in, so C does not fix it.
 */
static void check(const char *what, uint32_t got, uint32_t want, int32_t a, uint32_t x, uint32_t y)
{
    ++checked;
    if (got == want || (two_nans && is_nan(got) && is_nan(want))) return;
    if (++mismatches <= 10)
        PRINT("mismatch %s a=%ld x=%lx y=%lx got %lx want %lx\n", what, (long)a, (unsigned long)x,
               (unsigned long)y, (unsigned long)got, (unsigned long)want);
}

/* Each routine on (a, x, y): x and y are the constants (or operands). */
static void check_all(int32_t a, uint32_t x, uint32_t y)
{
    unsigned long before;
    volatile float fa = (float)a, fx = flt(x), fy = flt(y), r;
#define CASE(name, got, want)                                                                  \
    do {                                                                                       \
        before = slow_hits;                                                                    \
        check(name, got, want, a, x, y);                                                       \
        fast += slow_hits == before;                                                           \
    } while (0)
    r = fa * fx;
    two_nans = is_nan(bits(r)) && is_nan(y); /* the product and the bias */
    CASE("int_mul_add", bnn_sf_int_mul_add(a, x, y, 0), ref_int_mul_add(a, x, y, 0));
    CASE("int_mul_sub", bnn_sf_int_mul_add(a, x, y, 1), ref_int_mul_add(a, x, y, 1));
    two_nans = 0; /* (float)a is never a NaN */
    CASE("from_int", bnn_sf_from_int(a), bits(fa));
    r = fx * fy;
    two_nans = is_nan(x) && is_nan(y);
    CASE("mul", bnn_sf_lane_op(BNN_MUL, x, y), bits(r));
    r = fx + fy;
    CASE("add", bnn_sf_lane_op(BNN_ADD, x, y), bits(r));
    r = fx - fy;
    CASE("sub", bnn_sf_lane_op(BNN_SUB, x, y), bits(r));
    r = fy - fx;
    CASE("rsub", bnn_sf_lane_op(BNN_RSUB, x, y), bits(r));
#undef CASE
}

static uint64_t state = 0x9E3779B97F4A7C15u;
static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 32);
}

/* A float's bits: any class, mostly normal numbers of moderate size. */
static uint32_t any_float(void)
{
    static const uint32_t edge_exp[] = {0, 1, 2, 24, 25, 103, 126, 127, 128, 229, 253, 254, 255};
    static const uint32_t edge_sig[] = {0, 1, 2, 0x400000, 0x7FFFFE, 0x7FFFFF, 0x3FFFFF, 0x400001};
    const uint32_t pick = next() % 8, sign = next() & 0x80000000u;
    uint32_t e = 0, m = next() & 0x7FFFFFu;
    if (pick < 4) e = 117 + next() % 20;
    else if (pick < 6) e = next() & 0xFFu;
    else e = edge_exp[next() % (sizeof edge_exp / sizeof edge_exp[0])];
    if (next() % 4 == 0) m = edge_sig[next() % (sizeof edge_sig / sizeof edge_sig[0])];
    if (next() % 8 == 0) m &= 0xFFFFFFFFu << (next() % 24); /* few significant bits: exact products, ties */
    return sign | e << 23 | m;
}

/* A sum of a layer, or any integer. */
static int32_t any_int(void)
{
    switch (next() % 4) {
    case 0: return (int32_t)(next() % 1153) - 576;
    case 1: return (int32_t)(next() % 65536) - 32768;
    case 2: return (int32_t)((next() >> (next() % 32)) * ((next() & 1) ? 1 : -1));
    default: return (int32_t)next();
    }
}

/* Constants that make the chain hard: -fl(a s) nearby (cancellation), halfway cases, extremes. */
static uint32_t partner_bias(int32_t a, uint32_t s)
{
    volatile float p = (float)a * flt(s);
    const uint32_t pb = bits(p);
    switch (next() % 6) {
    case 0: return pb ^ 0x80000000u;                                     /* exact cancellation: +0 */
    case 1: return (pb ^ 0x80000000u) + (next() % 9) - 4;                /* near cancellation */
    case 2: return (pb ^ 0x80000000u) + ((next() % 5) << 20);            /* partial cancellation */
    case 3: return (pb & 0xFF800000u) - ((24u + next() % 3) << 23);     /* a power of 2 at the rounding bit */
    case 4: return (pb & 0x80000000u) | ((pb & 0x7F800000u) - ((next() % 30) << 23)) | (next() & 0x7FFFFFu);
    default: return any_float();
    }
}

static void exhaustive(int pairs, int32_t a_max)
{
    static const uint32_t edge[] = {
        0x3F800000u, 0xBF800000u, 0x00000000u, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x00800000u, 0x80800000u,
        0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x3F7FFFFFu,
        0x3F800001u, 0x3EFFFFFFu, 0x3F000000u, 0x33800000u, 0x34000000u, 0x3FC00000u, 0x4B000000u, 0x4B800000u,
        0x0C000000u, 0x0C800000u, 0x72000000u, 0x72800000u, 0x3DCCCCCDu, 0xC0490FDBu, 0x3F7FFFFEu, 0x3FAAAAABu,
    };
    const int n_edge = (int)(sizeof edge / sizeof edge[0]);
    int i, j;
    int32_t a;
    for (i = 0; i < pairs; ++i) {
        const uint32_t s = i < n_edge ? edge[i] : any_float();
        for (j = 0; j < 3; ++j) {
            const uint32_t b = j == 0 ? edge[(unsigned)(i * 7 + j) % (unsigned)n_edge] : j == 1 ? any_float() : 0;
            for (a = -a_max; a <= a_max; ++a) {
                const uint32_t bb = j == 2 ? partner_bias(a, s) : b;
                check_all(a, s, bb);
            }
        }
    }
}

static void random_cases(unsigned long n)
{
    unsigned long i;
    for (i = 0; i < n; ++i) {
        const int32_t a = any_int();
        const uint32_t s = any_float();
        const uint32_t b = next() % 2 ? partner_bias(a, s) : any_float();
        check_all(a, s, b);
        {   /* two floats of nearby exponents (the sum's hard cases) */
            const uint32_t x = any_float();
            uint32_t y = (x & 0x807FFFFFu) ^ (next() & 0x807FFFFFu & (0xFFFFFFFFu << (next() % 24)));
            const int32_t ey = (int32_t)((x >> 23) & 0xFF) + (int32_t)(next() % 7) - 3;
            if (ey >= 0 && ey <= 255) y |= (uint32_t)ey << 23;
            check_all(a, x, y);
        }
    }
}

#ifdef SOFTFLOAT_CHECK_EMBEDDED
int main(void)
{
    exhaustive(40, 1024);
    random_cases(20000);
    PRINT("checked %lu mismatches %lu fast %lu\n", checked, mismatches, fast);
    return mismatches != 0;
}
#else
int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "exhaustive") == 0) {
        exhaustive(300, 8192);
    } else if (argc >= 4 && strcmp(argv[1], "random") == 0) {
        state ^= strtoull(argv[3], NULL, 10) * 0x2545F4914F6CDD1Du;
        random_cases(strtoul(argv[2], NULL, 10));
    } else {
        fprintf(stderr, "usage: softfloat_check exhaustive | random N SEED\n");
        return 2;
    }
    printf("checked %lu mismatches %lu fast %lu\n", checked, mismatches, fast);
    return mismatches != 0;
}
#endif
