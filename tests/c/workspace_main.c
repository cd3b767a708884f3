/* Runs the generated model `net` through both entry points: the static-arena
 * net_run and the reentrant net_run_ws with a caller-owned workspace filled
 * with garbage first. Prints the outputs of both; exits 1 if they differ. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include "net.h"

static uint32_t workspace[(NET_WORKSPACE_SIZE + 3) / 4];

int main(void)
{
    float input[NET_INPUT_SIZE], out_static[NET_OUTPUT_SIZE], out_ws[NET_OUTPUT_SIZE];
    int i;
    for (i = 0; i < NET_INPUT_SIZE; ++i) {
        input[i] = (float)((i * 7) % 17) / 16.0f;
    }
    memset(workspace, 0xA5, sizeof workspace);
    if (net_run(input, out_static) != 0 || net_run_ws(input, out_ws, workspace) != 0) {
        return 2;
    }
    for (i = 0; i < NET_OUTPUT_SIZE; ++i) {
        printf("%.9g %.9g\n", out_static[i], out_ws[i]);
        if (memcmp(&out_static[i], &out_ws[i], sizeof(float)) != 0) {
            return 1;
        }
    }
    return 0;
}
