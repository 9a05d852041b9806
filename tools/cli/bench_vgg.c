// bench_vgg.c - `facet bench vgg`: the VGG-16 network up to conv5_3
// (nn/nets.h) on 224 x 224 inputs with random He-uniform weights: ms per
// image at batch 1 and 8 with 1 and 2 threads (median of the repetitions),
// the direct-convolution-equivalent GFLOP/s, and the memory it took.
// tools/bench/peer_ort.sh runs ONNX Runtime on the same network beside it.
//
// Output lines for scripts start with "vgg16 " and hold the thread count,
// the batch, ms/image (median), ms/image (best) and GFLOP/s. A per-layer
// table (batch 1, median ms of each stage) follows.
//
// Memory (the first batch-1 run of the process): the resident set after
// the first forward call (VmRSS; nothing is freed between, so it is the
// network's peak), split into the float weights the caller holds, what
// creating the network added (the Winograd-transformed weights of the
// layers that keep them; the large layers transform theirs during the
// forward call), and what the forward pass added on top (the arena of
// feature maps and scratch). VmHWM, the process's peak, is printed too:
// it equals the network's peak only when nothing ran before in the
// process (`facet bench vgg`, not `facet bench`).
//
// Limitations:
// - Linux only for the memory figures (/proc/self/status); elsewhere they
//   read 0.
// - Weights are random: speed does not depend on their values.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../nn/nets.h"
#include "cli.h"

enum { SIDE = 224, STAGES = 17 };

static const int conv_cin[NN_VGG16_CONVS] = {3, 64, 64, 128, 128, 256, 256,
                                             256, 512, 512, 512, 512, 512};
static const int conv_cout[NN_VGG16_CONVS] = {64, 64, 128, 128, 256, 256,
                                              256, 512, 512, 512, 512, 512,
                                              512};
static const int conv_side[NN_VGG16_CONVS] = {224, 224, 112, 112, 56, 56,
                                              56, 28, 28, 28, 14, 14, 14};

// A "Vm...:" line of /proc/self/status in bytes; 0 if unreadable.
static double proc_status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t len = strlen(key);
    double kb = 0.0;

    if (!f)
        return 0.0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, len) && line[len] == ':') {
            kb = atof(line + len + 1);
            break;
        }
    fclose(f);
    return kb * 1024.0;
}

// Direct-convolution multiply-adds of conv1_1 .. conv5_3, times 2.
static double network_flops(void)
{
    double f = 0.0;

    for (int i = 0; i < NN_VGG16_CONVS; i++)
        f += 2.0 * conv_cin[i] * conv_cout[i] * 9.0 * conv_side[i] *
             conv_side[i];
    return f;
}

typedef struct memory {
    double weights;   // the float weights
    double base;      // resident before the network was created
    double created;   // ... after creation
    double peak;      // VmRSS after the first forward
    double hwm;       // VmHWM after the first forward
    double arena;     // arena bytes
} memory;

// One thread count and batch: ms/image, median and best, over `reps`
// timed forward calls after one warm-up; the median seconds of each stage
// into `stage` (may be NULL).
static int run(const float *const *params, int threads, int batch, int reps,
               memory *mem, double *stage)
{
    nn_vgg16 *v = NULL;
    size_t count = (size_t)batch * 3 * SIDE * SIDE;
    float *x = facet_alloc(count * sizeof(float));
    double *t = malloc((size_t)reps * sizeof(double));
    double *st_t = malloc((size_t)reps * STAGES * sizeof(double));
    nn_tensor in;
    facet_rng rng;
    facet_status st;
    double med, best, flops = network_flops();

    if (!x || !t || !st_t) {
        fprintf(stderr, "facet bench vgg: out of memory\n");
        facet_free(x);
        free(t);
        free(st_t);
        return 1;
    }
    facet_rng_seed(&rng, 7);
    for (size_t i = 0; i < count; i++)
        x[i] = 2.0f * facet_rng_float(&rng) - 1.0f;
    in = nn_tensor_4d(x, batch, 3, SIDE, SIDE);

    facet_set_threads(threads);
    if (mem)
        mem->base = proc_status_bytes("VmRSS");
    st = nn_vgg16_create(&v, params, batch, SIDE, SIDE);
    if (st == FACET_OK && mem)
        mem->created = proc_status_bytes("VmRSS");
    if (st == FACET_OK)
        st = nn_vgg16_forward(v, &in);
    if (st != FACET_OK) {
        fprintf(stderr, "facet bench vgg: %s: %s\n", facet_status_str(st),
                facet_error());
        nn_vgg16_free(v);
        facet_free(x);
        free(t);
        free(st_t);
        return 1;
    }
    if (mem) {
        mem->peak = proc_status_bytes("VmRSS");
        mem->hwm = proc_status_bytes("VmHWM");
        mem->arena = (double)nn_vgg16_arena_bytes(v);
    }

    for (int r = 0; r < reps; r++) {
        double t0 = facet_now();
        nn_vgg16_forward(v, &in);
        t[r] = (facet_now() - t0) / batch;
        for (int i = 0; i < STAGES; i++)
            st_t[i * reps + r] =
                nn_vgg16_stage_seconds(v, nn_vgg16_stage_name(i)) / batch;
    }
    if (stage)
        for (int i = 0; i < STAGES; i++)
            stage[i] = bench_median(st_t + i * reps, reps);
    best = t[0];
    for (int r = 1; r < reps; r++)
        best = t[r] < best ? t[r] : best;
    med = bench_median(t, reps);
    printf("vgg16 %7d %5d %12.1f %10.1f %13.1f\n", threads, batch, med * 1e3,
           best * 1e3, flops / med * 1e-9);
    fflush(stdout);

    nn_vgg16_free(v);
    facet_free(x);
    free(t);
    free(st_t);
    return 0;
}

int bench_vgg(const bench_opts *o)
{
    const float *params[2 * NN_VGG16_CONVS];
    float *store[2 * NN_VGG16_CONVS];
    int saved = facet_threads(), status = 0;
    int threads[2] = {1, 2}, nthreads = 2;
    memory mem = {0};
    double stage[2][STAGES];
    facet_rng rng;

    if (o->threads > 0) {
        threads[0] = o->threads;
        nthreads = 1;
    }

    // He-uniform weights U(-a, a), a = sqrt(6 / fan_in); small biases.
    facet_rng_seed(&rng, 16);
    for (int i = 0; i < NN_VGG16_CONVS; i++) {
        size_t count = (size_t)conv_cout[i] * conv_cin[i] * 9;
        float a = (float)sqrt(6.0 / (9.0 * conv_cin[i]));

        store[2 * i] = facet_alloc(count * sizeof(float));
        store[2 * i + 1] = facet_alloc((size_t)conv_cout[i] * sizeof(float));
        if (!store[2 * i] || !store[2 * i + 1]) {
            fprintf(stderr, "facet bench vgg: out of memory\n");
            for (int j = 0; j <= 2 * i + 1; j++)
                facet_free(store[j]);
            return 1;
        }
        for (size_t k = 0; k < count; k++)
            store[2 * i][k] = a * (2.0f * facet_rng_float(&rng) - 1.0f);
        for (int k = 0; k < conv_cout[i]; k++)
            store[2 * i + 1][k] = 0.1f * (facet_rng_float(&rng) - 0.5f);
        mem.weights += (double)(count + conv_cout[i]) * sizeof(float);
        params[2 * i] = store[2 * i];
        params[2 * i + 1] = store[2 * i + 1];
    }

    printf("\nVGG-16 conv1_1..conv5_3, %dx%d, ms/image (%.1f GFLOP/image "
           "as direct convolution;\neff. GFLOP/s counts those, so Winograd "
           "can exceed the FMA peak)\n", SIDE, SIDE, network_flops() * 1e-9);
    printf("      %7s %5s %12s %10s %13s\n", "threads", "batch", "median ms",
           "best ms", "eff. GFLOP/s");
    for (int i = 0; i < nthreads && !status; i++) {
        status = run(params, threads[i], 1, o->reps > 0 ? o->reps : 10,
                     i == 0 ? &mem : NULL, stage[i]);
        if (!status)
            status = run(params, threads[i], 8, o->reps > 0 ? o->reps : 3,
                         NULL, NULL);
    }
    if (!status) {
        printf("\nper stage, batch 1, median ms:\n        ");
        for (int i = 0; i < nthreads; i++)
            printf(" %7d t", threads[i]);
        printf("\n");
        for (int s = 0; s < STAGES; s++) {
            printf("  %-7s", nn_vgg16_stage_name(s));
            for (int i = 0; i < nthreads; i++)
                printf(" %9.2f", stage[i][s] * 1e3);
            printf("\n");
        }
    }
    if (!status && mem.peak > 0.0) {
        double net = mem.created - mem.base;
        double fwd = mem.peak - mem.created;

        printf("\nmemory, batch 1, %d thread(s): resident after the first "
               "forward %.1f MB; float weights %.1f MB\n", threads[0],
               mem.peak / 1e6, mem.weights / 1e6);
        printf("  network created (transformed weights): %.1f MB\n",
               net / 1e6);
        printf("  forward pass on top (feature maps + scratch): %.1f MB "
               "(arena %.1f MB)\n", fwd / 1e6, mem.arena / 1e6);
        printf("  beyond all weights: %.1f MB; beyond the float weights: "
               "%.1f MB\n", (mem.peak - mem.weights - net) / 1e6,
               (mem.peak - mem.weights) / 1e6);
        printf("  process peak (VmHWM) %.1f MB, beyond the float weights "
               "%.1f MB\n", mem.hwm / 1e6, (mem.hwm - mem.weights) / 1e6);
    }

    facet_set_threads(saved);
    for (int i = 0; i < 2 * NN_VGG16_CONVS; i++)
        facet_free(store[i]);
    return status;
}
