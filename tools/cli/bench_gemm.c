// bench_gemm.c - `facet bench gemm`: la_sgemm GFLOP/s at the im2col shapes
// of every VGG-16 convolution layer and at 1024^3, with 1 and 2 threads,
// beside the machine's measured single-precision FMA peak, so that each
// figure also reads as an efficiency. tools/bench/peer_openblas.sh runs
// OpenBLAS on the same shapes for comparison.
//
// A convolution layer with Cout filters of Cin x 3 x 3 over an H x W map
// is C[Cout x HW] = W[Cout x 9 Cin] * col[9 Cin x HW] (stride 1, pad 1).
//
// Limitations:
// - Inputs stay in memory between repetitions, so the larger shapes see
//   their B operand partly in the last-level cache, as a network does not.
// - The peak is the best of a few short runs of a register-only FMA loop:
//   an upper bound no GEMM reaches (it has no loads or stores).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../linalg/gemm_internal.h"
#include "../../linalg/linalg.h"
#include "cli.h"
#ifdef _OPENMP
#include <omp.h>
#endif

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
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

// One run of the FMA loop on `threads` threads; GFLOP/s over all of them.
static double peak_once(facet_isa isa, int threads, long iters)
{
    double flops = 0.0, t0;
    float sink = 0.0f;

    t0 = facet_now();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : flops, sink)
#endif
    {
        float s = 0.0f;

        flops += isa == FACET_ISA_AVX512
                     ? la_fma_peak__avx512(iters, 1.0f, &s)
                     : la_fma_peak__avx2(iters, 1.0f, &s);
        sink += s;
    }
    t0 = facet_now() - t0;
    if (sink == 12345.0f)  // keeps the loops alive; never true
        fprintf(stderr, "%g\n", (double)sink);
    return flops / t0 * 1e-9;
}

// The machine's FMA peak with the widest ISA it has: best of 5 runs of
// about 0.1 s. 0 on CPUs without AVX2.
static double fma_peak(int threads)
{
    facet_isa isa = facet_isa_detect();
    double best = 0.0;

    if (isa == FACET_ISA_SCALAR)
        return 0.0;
    for (int r = 0; r < 5; r++) {
        double g = peak_once(isa, threads, 30000000L);
        best = g > best ? g : best;
    }
    return best;
}

int bench_gemm(const bench_opts *o)
{
    int reps = o->reps > 0 ? o->reps : 7;
    int tlist[2] = {1, 2}, nt = 2, saved = facet_threads();
    size_t amax = 0, bmax = 0, cmax = 0;
    float *a, *b, *c;
    double peak[2], gf[NSHAPES][2];
    facet_rng r;

    if (o->threads > 0) {
        tlist[0] = o->threads;
        nt = 1;
    }

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
        fprintf(stderr, "facet bench gemm: out of memory\n");
        facet_free(a);
        facet_free(b);
        facet_free(c);
        return 1;
    }
    facet_rng_seed(&r, 1);
    for (size_t i = 0; i < amax; i++)
        a[i] = 2.0f * facet_rng_float(&r) - 1.0f;
    for (size_t i = 0; i < bmax; i++)
        b[i] = 2.0f * facet_rng_float(&r) - 1.0f;
    memset(c, 0, cmax * sizeof(float));

    for (int t = 0; t < nt; t++)
        peak[t] = fma_peak(tlist[t]);

    // Each shape and thread count: one warm-up call, then `reps` timed.
    for (int s = 0; s < NSHAPES; s++) {
        int m = shapes[s].m, k = shapes[s].k, n = shapes[s].n;

        for (int t = 0; t < nt; t++) {
            double times[64];
            void *scratch;
            int nr = reps < 64 ? reps : 64;

            facet_set_threads(tlist[t]);
            scratch = facet_alloc(la_sgemm_scratch_size(m, n, k, tlist[t]));
            for (int i = -1; i < nr; i++) {
                double t0 = facet_now();

                la_sgemm(LA_NOTRANS, LA_NOTRANS, m, n, k, 1.0f, a, k, b, n,
                         0.0f, c, n, NULL, scratch);
                if (i >= 0)
                    times[i] = facet_now() - t0;
            }
            gf[s][t] = 2.0 * m * n * (double)k /
                       bench_median(times, nr) * 1e-9;
            facet_free(scratch);
        }
    }

    printf("\nSGEMM C = A B (row-major, no transpose), kernel %s\n",
           la_sgemm_kernel_active()->name);
    printf("GFLOP/s, median of %d calls; eff = GFLOP/s / measured FMA "
           "peak\n\n", reps);
    printf("%-10s %5s %5s %6s", "shape", "M", "K", "N");
    for (int t = 0; t < nt; t++)
        printf("  %2d thr GF/s   eff", tlist[t]);
    printf("\n");
    for (int s = 0; s < NSHAPES; s++) {
        printf("%-10s %5d %5d %6d", shapes[s].name, shapes[s].m,
               shapes[s].k, shapes[s].n);
        for (int t = 0; t < nt; t++)
            printf("  %11.1f %4.0f%%", gf[s][t],
                   peak[t] > 0 ? 100.0 * gf[s][t] / peak[t] : 0.0);
        printf("\n");
    }
    printf("%-30s", "FMA peak (register-only)");
    for (int t = 0; t < nt; t++)
        printf("  %11.1f      ", peak[t]);
    printf("\n");

    facet_set_threads(saved);
    facet_free(a);
    facet_free(b);
    facet_free(c);
    return 0;
}
