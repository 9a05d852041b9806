// openblas_sgemm.c - the OpenBLAS peer of `facet bench gemm`: cblas_sgemm
// GFLOP/s at the same shapes (the im2col products of the VGG-16
// convolution layers, and 1024^3) with 1 and 2 threads. With --compare it
// also runs la_sgemm in the same process, alternating the two libraries
// call by call on each shape, and prints them side by side with the speed
// ratio facet / OpenBLAS (per round, then the median), so that the drift
// of a shared machine hits both alike.
//
// Not part of facet: built and run by tools/bench/peer_openblas.sh against
// Debian's OpenMP build of OpenBLAS (libopenblas0-openmp); the script also
// decides which core (kernel set) OpenBLAS runs with.
//
// Limitations:
// - Row-major, no transposes, alpha 1, beta 0: the shape of a convolution.
// - Thread counts 1 and 2 only by default (the machine has 2 cores).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "../../linalg/gemm_internal.h"
#include "../../linalg/linalg.h"

static const struct {
    const char *name;
    int m, k, n;
} shapes[] = {
    {"conv1_1", 64, 27, 50176},    {"conv1_2", 64, 576, 50176},
    {"conv2_1", 128, 576, 12544},  {"conv2_2", 128, 1152, 12544},
    {"conv3_1", 256, 1152, 3136},  {"conv3_2/3", 256, 2304, 3136},
    {"conv4_1", 512, 2304, 784},   {"conv4_2/3", 512, 4608, 784},
    {"conv5_x", 512, 4608, 196},   {"1024^3", 1024, 1024, 1024},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0], MAXREPS = 64 };

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void set_threads(int t)
{
    omp_set_num_threads(t);
    openblas_set_num_threads(t);
}

// One timed call of either library; seconds.
static double time_call(int facet, int m, int n, int k, const float *a,
                        const float *b, float *c, void *scratch)
{
    double t0 = facet_now();

    if (facet)
        la_sgemm(LA_NOTRANS, LA_NOTRANS, m, n, k, 1.0f, a, k, b, n, 0.0f, c,
                 n, NULL, scratch);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,
                    a, k, b, n, 0.0f, c, n);
    return facet_now() - t0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: openblas_sgemm [--threads N] [--reps N] [--compare]\n"
            "  --threads N  run with N threads (default: 1 and 2 in turn)\n"
            "  --reps N     timed calls per figure, median reported "
            "(default 7)\n"
            "  --compare    also run facet's la_sgemm, alternating call by "
            "call,\n"
            "               and print the speed ratio facet / OpenBLAS\n"
            "  --corename   print the core OpenBLAS picked and exit\n");
}

int main(int argc, char **argv)
{
    int reps = 7, compare = 0, tlist[2] = {1, 2}, nt = 2;
    size_t amax = 0, bmax = 0, cmax = 0;
    double gf[NSHAPES][2][2];  // [shape][thread count][facet?]
    double ratio[NSHAPES][2];  // median over rounds of t_OpenBLAS / t_facet
    float *a, *b, *c;
    facet_rng r;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            tlist[0] = atoi(argv[++i]);
            nt = 1;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--compare")) {
            compare = 1;
        } else if (!strcmp(argv[i], "--corename")) {
            printf("%s\n", openblas_get_corename());
            return 0;
        } else {
            usage(!strcmp(argv[i], "--help") ? stdout : stderr);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (reps < 1 || reps > MAXREPS || tlist[0] < 1) {
        usage(stderr);
        return 2;
    }

    printf("OpenBLAS %s\ncore: %s\n", openblas_get_config(),
           openblas_get_corename());
    if (compare)
        printf("facet: kernel %s\n", la_sgemm_kernel_active()->name);

    // Operands big enough for every shape, random in [-1, 1).
    for (int s = 0; s < NSHAPES; s++) {
        size_t m = (size_t)shapes[s].m, k = (size_t)shapes[s].k;
        size_t n = (size_t)shapes[s].n;
        amax = m * k > amax ? m * k : amax;
        bmax = k * n > bmax ? k * n : bmax;
        cmax = m * n > cmax ? m * n : cmax;
    }
    a = facet_alloc(amax * sizeof(float));
    b = facet_alloc(bmax * sizeof(float));
    c = facet_alloc(cmax * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "openblas_sgemm: out of memory\n");
        return 1;
    }
    facet_rng_seed(&r, 1);
    for (size_t i = 0; i < amax; i++)
        a[i] = 2.0f * facet_rng_float(&r) - 1.0f;
    for (size_t i = 0; i < bmax; i++)
        b[i] = 2.0f * facet_rng_float(&r) - 1.0f;
    memset(c, 0, cmax * sizeof(float));

    // Per shape and thread count: a warm-up call of each library, then
    // `reps` rounds, each timing both libraries, alternating which goes
    // first.
    for (int s = 0; s < NSHAPES; s++) {
        int m = shapes[s].m, k = shapes[s].k, n = shapes[s].n;
        double flops = 2.0 * m * n * (double)k;

        for (int t = 0; t < nt; t++) {
            double tf[MAXREPS], tb[MAXREPS];
            void *scratch = NULL;

            set_threads(tlist[t]);
            if (compare) {
                scratch = facet_alloc(la_sgemm_scratch_size(m, n, k,
                                                            tlist[t]));
                time_call(1, m, n, k, a, b, c, scratch);
            }
            time_call(0, m, n, k, a, b, c, NULL);
            for (int i = 0; i < reps; i++) {
                if (compare && i % 2 == 0)
                    tf[i] = time_call(1, m, n, k, a, b, c, scratch);
                tb[i] = time_call(0, m, n, k, a, b, c, NULL);
                if (compare && i % 2 == 1)
                    tf[i] = time_call(1, m, n, k, a, b, c, scratch);
            }
            if (compare) {
                double rr[MAXREPS];

                for (int i = 0; i < reps; i++)
                    rr[i] = tb[i] / tf[i];
                ratio[s][t] = median(rr, reps);
            }
            gf[s][t][0] = flops / median(tb, reps) * 1e-9;
            gf[s][t][1] = compare ? flops / median(tf, reps) * 1e-9 : 0.0;
            facet_free(scratch);
        }
    }

    // The table: OpenBLAS alone, or facet | OpenBLAS | ratio.
    printf("\nSGEMM C = A B (row-major, no transpose), GFLOP/s, median of "
           "%d calls%s\n", reps,
           compare ? ", facet and OpenBLAS alternating" : "");
    if (compare)
        printf("ratio: median over rounds of the OpenBLAS time / the facet "
               "time of the same round\n(> 1: facet faster)\n");
    printf("\n");
    printf("%-10s %5s %5s %6s", "shape", "M", "K", "N");
    for (int t = 0; t < nt; t++) {
        if (compare)
            printf("  | %d thr: facet OpenBLAS ratio", tlist[t]);
        else
            printf("  %2d thr GF/s", tlist[t]);
    }
    printf("\n");
    for (int s = 0; s < NSHAPES; s++) {
        printf("%-10s %5d %5d %6d", shapes[s].name, shapes[s].m,
               shapes[s].k, shapes[s].n);
        for (int t = 0; t < nt; t++) {
            if (compare)
                printf("  |     %7.1f %8.1f %5.2f", gf[s][t][1],
                       gf[s][t][0], ratio[s][t]);
            else
                printf("  %11.1f", gf[s][t][0]);
        }
        printf("\n");
    }

    // Geometric mean of the ratios over the VGG-16 layers (not 1024^3).
    if (compare) {
        printf("%-30s", "geomean, VGG-16 layers");
        for (int t = 0; t < nt; t++) {
            double lg = 0.0;

            for (int s = 0; s < NSHAPES - 1; s++)
                lg += log(ratio[s][t]);
            printf("  | %26.2f", exp(lg / (NSHAPES - 1)));
        }
        printf("\n");
    }
    facet_free(a);
    facet_free(b);
    facet_free(c);
    return 0;
}
