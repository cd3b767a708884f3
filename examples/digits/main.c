/*
 * The embedded-style use of a generated model: plain C99, no allocation.
 * Reads float32 samples (digits_INPUT_SIZE floats each) from the file named
 * by argv[1] and writes the output floats of every sample to stdout as raw
 * float32, in order. Build:
 *   cc -std=c99 -O2 -Ibuild/digits build/digits/digits.c examples/digits/main.c -lm
 */
#include <stdio.h>
#include "digits.h"

int main(int argc, char **argv)
{
    static float input[DIGITS_INPUT_SIZE];
    static float output[DIGITS_OUTPUT_SIZE];
    FILE *in;
    long samples = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: %s SAMPLES.f32\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    while (fread(input, sizeof(float), DIGITS_INPUT_SIZE, in) == DIGITS_INPUT_SIZE) {
        if (digits_run(input, output) != 0) {
            fclose(in);
            return 1;
        }
        fwrite(output, sizeof(float), DIGITS_OUTPUT_SIZE, stdout);
        ++samples;
    }
    fclose(in);
    fprintf(stderr, "ran %ld samples\n", samples);
    return samples > 0 ? 0 : 1;
}
