/*
 * popcount_bench.c -- instructions per 32-bit popcount on Cortex-M and RISC-V,
 * counted under QEMU with insn_count.c (benchmarks/mcu_footprint.py --popcount
 * builds it for every board and prints the table).
 *
 * Each strategy popcounts the same BENCH_WORDS pseudo-random words and sums
 * the counts, between bench_begin() and bench_end(). The plugin reports one
 * region per call, in this order:
 *   0  empty            the markers' own cost
 *   1  loop             the loop alone (load + add), no popcount
 *   2  bnn_popcount     the runtime's (runtime/bnn_bits.h: SWAR on Cortex-M and
 *                       RV32IMC, the cpop instruction with Zbb)
 *   3  builtin          __builtin_popcount (a call to libgcc __popcountsi2,
 *                       or cpop with Zbb)
 *   4  lut8             256-entry byte table, 4 lookups
 *   5  lut4             16-entry nibble table, 8 lookups
 *   6  swar_nomul       SWAR with shifts/adds instead of the final multiply
 * (per popcount = (region - loop region) / BENCH_WORDS). Prints each
 * strategy's sum; exits 1 if any differs from the others.
 */
#include <stddef.h>
#include <stdint.h>

#include "bnn_bits.h"
#include "target.h"

#define BENCH_WORDS 1024

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

void bench_begin(void);
void bench_end(void);
static volatile unsigned bench_marker;
NOINLINE void bench_begin(void)
{
    bench_marker = 1u;
}
NOINLINE void bench_end(void)
{
    bench_marker = 2u;
}

static uint32_t words[BENCH_WORDS];

static const uint8_t lut8[256] = {
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
    B6(0), B6(1), B6(1), B6(2)
#undef B2
#undef B4
#undef B6
};

static const uint8_t lut4[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};

static inline uint32_t pc_lut8(uint32_t v)
{
    return (uint32_t)lut8[v & 0xFFu] + lut8[(v >> 8) & 0xFFu] + lut8[(v >> 16) & 0xFFu] + lut8[v >> 24];
}

static inline uint32_t pc_lut4(uint32_t v)
{
    uint32_t n = 0;
    int i;
    for (i = 0; i < 8; ++i) {
        n += lut4[v & 0xFu];
        v >>= 4;
    }
    return n;
}

static inline uint32_t pc_swar_nomul(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0F0F0F0Fu;
    v += v >> 8;
    v += v >> 16;
    return v & 0x3Fu;
}

#define BENCH_LOOP(fn_name, expr)                                                                         \
    static NOINLINE uint32_t fn_name(const uint32_t *w, size_t n)                                         \
    {                                                                                                     \
        uint32_t sum = 0;                                                                                 \
        size_t i;                                                                                         \
        for (i = 0; i < n; ++i) {                                                                         \
            const uint32_t v = w[i];                                                                      \
            sum += (expr);                                                                                \
        }                                                                                                 \
        return sum;                                                                                       \
    }

BENCH_LOOP(run_loop, v)
BENCH_LOOP(run_bnn, bnn_popcount(v))
BENCH_LOOP(run_builtin, (uint32_t)__builtin_popcount(v))
BENCH_LOOP(run_lut8, pc_lut8(v))
BENCH_LOOP(run_lut4, pc_lut4(v))
BENCH_LOOP(run_swar_nomul, pc_swar_nomul(v))

struct strategy {
    const char *name;
    uint32_t (*run)(const uint32_t *, size_t);
};

static const struct strategy strategies[] = {
    {"loop", run_loop},       {"bnn_popcount", run_bnn}, {"builtin", run_builtin},
    {"lut8", run_lut8},       {"lut4", run_lut4},        {"swar_nomul", run_swar_nomul},
};

int main(void)
{
    uint32_t x = 0x12345678u, reference = 0;
    size_t i;
    int bad = 0;
    for (i = 0; i < BENCH_WORDS; ++i) { /* xorshift32 */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        words[i] = x;
    }
    bench_begin();
    bench_end();
    for (i = 0; i < sizeof strategies / sizeof strategies[0]; ++i) {
        uint32_t sum;
        bench_begin();
        sum = strategies[i].run(words, BENCH_WORDS);
        bench_end();
        console_printf("strategy %s words %u sum %lu\n", strategies[i].name, (unsigned)BENCH_WORDS,
                        (unsigned long)sum);
        if (i == 1) {
            reference = sum;
        } else if (i > 1 && sum != reference) {
            bad = 1;
        }
    }
    console_printf("popcount: %s\n", bad ? "strategies DISAGREE" : "all strategies agree");
    return bad;
}
