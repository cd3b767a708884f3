/* Driver for the sanitizer builds of a generated model `net`.
 *
 * usage: sanitize_main SAMPLES.f32
 *   SAMPLES.f32 holds n * NET_INPUT_SIZE float32 values (native byte order).
 *
 * Every sample is copied into a heap block of exactly NET_INPUT_SIZE floats and
 * the outputs go to a block of exactly NET_OUTPUT_SIZE floats, so that a kernel
 * reading or writing one element too far trips AddressSanitizer. Each sample
 * runs through both entry points: net_run (static arena) and net_run_ws with
 * a heap workspace of exactly NET_WORKSPACE_SIZE bytes filled with garbage
 * first (a step that reads scratch memory before writing it shows up as a
 * difference). Prints one line per sample: the outputs of net_run, "%.9g"
 * separated by spaces. Exit status: 0 ok, 1 the entry points disagree,
 * 2 usage or I/O error, 3 a run returned non-zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net.h"

int main(int argc, char **argv)
{
    FILE *f;
    float *input, *out_static, *out_ws;
    void *workspace;
    long n = 0;
    int i, status = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s SAMPLES.f32\n", argv[0]);
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    input = (float *)malloc(sizeof(float) * NET_INPUT_SIZE);
    out_static = (float *)malloc(sizeof(float) * NET_OUTPUT_SIZE);
    out_ws = (float *)malloc(sizeof(float) * NET_OUTPUT_SIZE);
    workspace = malloc(NET_WORKSPACE_SIZE > 0 ? NET_WORKSPACE_SIZE : 1);
    if (input == NULL || out_static == NULL || out_ws == NULL || workspace == NULL) {
        fclose(f);
        return 2;
    }
    while (fread(input, sizeof(float), NET_INPUT_SIZE, f) == NET_INPUT_SIZE) {
        memset(workspace, 0xA5, NET_WORKSPACE_SIZE);
        if (net_run(input, out_static) != 0 || net_run_ws(input, out_ws, workspace) != 0) {
            status = 3;
            break;
        }
        for (i = 0; i < NET_OUTPUT_SIZE; ++i) {
            printf(i ? " %.9g" : "%.9g", (double)out_static[i]);
            if (memcmp(&out_static[i], &out_ws[i], sizeof(float)) != 0) {
                fprintf(stderr, "sample %ld output %d: net_run %.9g, net_run_ws %.9g\n", n, i,
                        (double)out_static[i], (double)out_ws[i]);
                status = 1;
            }
        }
        printf("\n");
        ++n;
    }
    if (status == 0 && (ferror(f) || n == 0)) {
        status = 2;
    }
    fclose(f);
    free(input);
    free(out_static);
    free(out_ws);
    free(workspace);
    return status;
}
