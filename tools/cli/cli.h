// cli.h - subcommands of the facet program. Each takes argc/argv starting
// at its own name and returns the process exit status.
#ifndef FACET_CLI_H
#define FACET_CLI_H

int cli_bench(int argc, char **argv);
int cli_models(int argc, char **argv);  // models.c

// Parts of `facet bench` (tools/cli/bench_*.c). threads 0: run 1 and 2
// threads in turn; reps 0: the part's default.
typedef struct bench_opts {
    int threads;
    int reps;
} bench_opts;
// Median of v[0..n-1], n >= 1 (sorts v in place).
double bench_median(double *v, int n);

int bench_gemm(const bench_opts *o);  // bench_gemm.c
int bench_vgg(const bench_opts *o);   // bench_vgg.c
int bench_faceapi(const bench_opts *o);  // bench_faceapi.c

#endif
