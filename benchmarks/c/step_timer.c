/* Times the steps of a generated model `net` built with -DBNN_TRACE, for
 * benchmarks/host_speed.py: the trace hook runs after every step, so the
 * thread CPU time between two hooks is the step's time.
 *
 *   double net_bench(const float *input, float *output, int runs, double *step_seconds, int steps)
 * runs the model `runs` times and returns the thread CPU seconds of all runs;
 * step_seconds[i] (if not NULL) accumulates the time of step i. */
#define _POSIX_C_SOURCE 199309L
#include <time.h>
#include "net.h"

extern void (*net_trace_hook)(int step, const void *data, unsigned long bytes);

static double *per_step;
static int n_steps;
static double last;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void lap(int step, const void *data, unsigned long bytes)
{
    const double t = now();
    (void)data;
    (void)bytes;
    if (step >= 0 && step < n_steps) per_step[step] += t - last;
    last = now();
}

double net_bench(const float *input, float *output, int runs, double *step_seconds, int steps)
{
    double start, total = 0.0;
    int r;
    per_step = step_seconds;
    n_steps = step_seconds ? steps : 0;
    net_trace_hook = step_seconds ? lap : 0;
    for (r = 0; r < runs; ++r) {
        start = now();
        last = start;
        net_run(input, output);
        total += now() - start;
    }
    net_trace_hook = 0;
    return total;
}
