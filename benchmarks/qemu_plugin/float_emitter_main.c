/*
 * float_emitter_main.c -- runs one inference of a float ONNX->C emitter's
 * code (emx-onnx-cgen) on a board under QEMU, between the markers that
 * insn_count.c counts (benchmarks/float_emitter.py builds and runs it).
 *
 * The emitter's entry point takes the model's input and output as arrays of
 * the model's shape (e.g. `const float input[1][1][8][8], float y[1][10]`);
 * they are passed here as pointers to their first element (same ABI, and the
 * generated file is compiled on its own). FLOAT_MODEL_FN, FLOAT_IN_SIZE and
 * FLOAT_OUT_SIZE come from the command line.
 *
 * The input is the xorshift32 sequence of bench_input() mapped to [0, 1),
 * which float_emitter.py recomputes for onnxruntime; the outputs are printed
 * as the bits of each float ("out I HEX"), so the host can check them.
 */
#include <stdint.h>
#include <string.h>

#include "target.h"

#if !defined(FLOAT_MODEL_FN) || !defined(FLOAT_IN_SIZE) || !defined(FLOAT_OUT_SIZE)
#error "define FLOAT_MODEL_FN, FLOAT_IN_SIZE and FLOAT_OUT_SIZE"
#endif

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

void FLOAT_MODEL_FN(const float *input, float *output);
void golden_bench_begin(void);
void golden_bench_end(void);

static volatile unsigned bench_marker;
NOINLINE void golden_bench_begin(void)
{
    bench_marker = 1u;
}
NOINLINE void golden_bench_end(void)
{
    bench_marker = 2u;
}

static float input[FLOAT_IN_SIZE];
static float output[FLOAT_OUT_SIZE];

/* xorshift32 from 1; the top 24 bits as a float in [0, 1) (exact). */
static void bench_input(void)
{
    uint32_t s = 1u;
    int i;
    for (i = 0; i < FLOAT_IN_SIZE; ++i) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        input[i] = (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

int main(void)
{
    int i;
    bench_input();
    golden_bench_begin(); /* empty region: what the markers cost */
    golden_bench_end();
    golden_bench_begin();
    FLOAT_MODEL_FN(input, output);
    golden_bench_end();
    for (i = 0; i < FLOAT_OUT_SIZE; ++i) {
        uint32_t bits;
        memcpy(&bits, &output[i], sizeof bits);
        console_printf("out %d %x\n", i, (unsigned)bits);
    }
    console_printf("stack: %lu of %lu bytes used\n", startup_stack_used(), startup_stack_size());
    return 0;
}
