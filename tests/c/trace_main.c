/* Runs a generated model `net` (built with -DBNN_TRACE) on samples and writes
 * every step's output bytes and the final outputs, for comparing kernel
 * variants byte for byte (tests/test_kernel_variants.py).
 *
 * usage: trace_main SAMPLES.f32 OUT.bin
 *   SAMPLES.f32 holds n * NET_INPUT_SIZE float32 values (native byte order).
 *   OUT.bin gets, per sample, for every step: int32 step index, the bytes it
 *   wrote; then the NET_OUTPUT_SIZE output floats. */
#include <stdio.h>
#include <stdlib.h>
#include "net.h"

extern void (*net_trace_hook)(int step, const void *data, unsigned long bytes);

static FILE *out;

static void record(int step, const void *data, unsigned long bytes)
{
    fwrite(&step, sizeof step, 1, out);
    fwrite(data, 1, bytes, out);
}

int main(int argc, char **argv)
{
    static float input[NET_INPUT_SIZE], output[NET_OUTPUT_SIZE];
    FILE *in;
    if (argc != 3) {
        fprintf(stderr, "usage: %s SAMPLES.f32 OUT.bin\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        perror("trace_main");
        return 2;
    }
    net_trace_hook = record;
    while (fread(input, sizeof(float), NET_INPUT_SIZE, in) == NET_INPUT_SIZE) {
        if (net_run(input, output) != 0) return 3;
        fwrite(output, sizeof(float), NET_OUTPUT_SIZE, out);
    }
    fclose(in);
    fclose(out);
    return 0;
}
