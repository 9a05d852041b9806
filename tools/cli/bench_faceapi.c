// bench_faceapi.c - `facet bench faceapi`: speed of the three face-api
// networks (nn/net_ssd.h, net_lm68.h, net_frec.h) with their converted
// weights: ms per image with 1 and 2 threads (median of the repetitions).
// tools/fixtures/faceapi_fixtures.js measures face-api itself (TF.js WASM)
// on the same sizes beside it.
//
//   detect      nn_ssd_detect on a 512x512 image: input building, network,
//               decoding and non-maximum suppression (face-api's
//               locateFaces on a 512x512 tensor)
//   ssd         nn_ssd_forward alone on a 1 x 3 x 512 x 512 input
//   lm68        nn_lm68_forward on one 112x112 crop
//   descriptor  nn_frec_forward on one 150x150 crop (face-api's
//               computeFaceDescriptor)
//
// Output lines for scripts start with "faceapi " and hold the part, the
// thread count, ms/image (median and best, wall clock) and the median
// process CPU time per image (all threads): on a shared machine the CPU
// time of a 1-thread run is the steadier measure of the work.
//
// With FACET_BENCH_LAYERS=1 in the environment it also prints, for the
// detector network and the descriptor at each thread count, every layer's
// median time over the repetitions (nn_ssd_set_profile,
// nn_frec_set_profile), its FLOPs (2 x multiply-adds) and GFLOP/s, and the
// sums per kind of layer (lines starting "layer " and "kind ").
//
// Limitations:
// - Inputs are random pixels: the networks' cost does not depend on them
//   (NMS sees few candidates above 0.5).
// - Needs weights/*.fct (make weights) under the current folder or
//   $FACET_WEIGHTS.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../nn/net_frec.h"
#include "../../nn/net_lm68.h"
#include "../../nn/net_ssd.h"
#include "cli.h"

// Declared here until cli.h lists it beside bench_gemm and bench_vgg.
int bench_faceapi(const bench_opts *o);

typedef struct nets {
    wt_file *w[3];
    nn_ssd *ssd;
    nn_lm68 *lm;
    nn_frec *frec;
    uint8_t *rgb;             // 512 x 512 x 3
    float *in_ssd, *in_lm, *in_frec;
} nets;

enum { PART_DETECT, PART_SSD, PART_LM68, PART_FREC, PARTS };

// Process CPU seconds (all threads).
static double cpu_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *const part_names[PARTS] = {"detect", "ssd", "lm68",
                                              "descriptor"};

// One call of a part.
static facet_status run_part(nets *n, int part)
{
    nn_ssd_det dets[100];
    nn_tensor t;
    int count;

    switch (part) {
    case PART_DETECT:
        return nn_ssd_detect(n->ssd, dets, 100, &count, n->rgb, NN_SSD_SIZE,
                             NN_SSD_SIZE, NN_SSD_SIZE * 3, 0.5);
    case PART_SSD:
        t = nn_tensor_4d(n->in_ssd, 1, 3, NN_SSD_SIZE, NN_SSD_SIZE);
        return nn_ssd_forward(n->ssd, &t);
    case PART_LM68:
        t = nn_tensor_4d(n->in_lm, 1, 3, NN_LM68_SIZE, NN_LM68_SIZE);
        return nn_lm68_forward(n->lm, NULL, &t);
    default:
        t = nn_tensor_4d(n->in_frec, 1, 3, NN_FREC_SIZE, NN_FREC_SIZE);
        return nn_frec_forward(n->frec, NULL, &t);
    }
}

static facet_status setup(nets *n)
{
    static const char *const files[3] = {"ssd_mobilenetv1",
                                         "face_landmark_68",
                                         "face_recognition"};
    const char *dir = getenv("FACET_WEIGHTS");
    facet_rng rng;
    facet_status st = FACET_OK;

    for (int i = 0; i < 3 && st == FACET_OK; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.fct",
                 dir && dir[0] ? dir : "weights", files[i]);
        st = wt_open(&n->w[i], path, 0);
    }
    if (st == FACET_OK)
        st = nn_ssd_create(&n->ssd, n->w[0], 1, NULL, 0);
    if (st == FACET_OK)
        st = nn_lm68_create(&n->lm, n->w[1], 1);
    if (st == FACET_OK)
        st = nn_frec_create(&n->frec, n->w[2], 1);
    if (st != FACET_OK)
        return st;

    // Random pixels, and the three network inputs built from them.
    n->rgb = malloc((size_t)NN_SSD_SIZE * NN_SSD_SIZE * 3);
    n->in_ssd = facet_alloc((size_t)3 * NN_SSD_SIZE * NN_SSD_SIZE * 4);
    n->in_lm = facet_alloc((size_t)3 * NN_LM68_SIZE * NN_LM68_SIZE * 4);
    n->in_frec = facet_alloc((size_t)3 * NN_FREC_SIZE * NN_FREC_SIZE * 4);
    if (!n->rgb || !n->in_ssd || !n->in_lm || !n->in_frec)
        return facet_fail(FACET_E_NOMEM, "bench faceapi: inputs");
    facet_rng_seed(&rng, 3);
    for (size_t i = 0; i < (size_t)NN_SSD_SIZE * NN_SSD_SIZE * 3; i++)
        n->rgb[i] = (uint8_t)facet_rng_below(&rng, 256);
    st = nn_ssd_input(n->in_ssd, n->rgb, NN_SSD_SIZE, NN_SSD_SIZE,
                      NN_SSD_SIZE * 3);
    if (st == FACET_OK)
        st = nn_lm68_input(n->in_lm, n->rgb, NN_SSD_SIZE, NN_SSD_SIZE,
                           NN_SSD_SIZE * 3, 100, 120, 200, 230);
    if (st == FACET_OK)
        st = nn_frec_input(n->in_frec, n->rgb, NN_SSD_SIZE, NN_SSD_SIZE,
                           NN_SSD_SIZE * 3, 90, 100, 220, 220);
    return st;
}

static void teardown(nets *n)
{
    nn_ssd_free(n->ssd);
    nn_lm68_free(n->lm);
    nn_frec_free(n->frec);
    for (int i = 0; i < 3; i++)
        wt_close(n->w[i]);
    free(n->rgb);
    facet_free(n->in_ssd);
    facet_free(n->in_lm);
    facet_free(n->in_frec);
}

// The kind of a profiled step, for the per-kind sums.
enum { K_PW, K_DW, K_WINO, K_C3, K_CONV, K_OTHER, KINDS };
static const char *const kind_names[KINDS] = {
    "1x1 conv (GEMM)", "depthwise 3x3", "3x3 conv (Winograd)",
    "3x3 conv (im2col GEMM)", "other conv (im2col GEMM)", "not a conv"};

static int step_kind(const nn_faceapi_step *st)
{
    const nn_conv_desc *d;

    if (!st->conv)
        return K_OTHER;
    d = nn_conv_descriptor(st->conv);
    if (nn_conv_algorithm(st->conv) == NN_CONV_DEPTHWISE)
        return K_DW;
    if (nn_conv_algorithm(st->conv) == NN_CONV_WINOGRAD)
        return K_WINO;
    if (d->kh == 1 && d->kw == 1)
        return K_PW;
    if (d->kh == 3 && d->kw == 3 && d->stride_h == 1)
        return K_C3;
    return K_CONV;
}

// Per-layer medians of `reps` profiled calls of a part (PART_SSD or
// PART_FREC), printed with FLOPs and GFLOP/s, then sums per kind.
static facet_status profile_part(nets *n, int part, int threads, int reps)
{
    nn_faceapi_profile *acc = NULL;
    const nn_faceapi_profile *p;
    double *t = NULL, *c, total = 0, total_c = 0, total_fl = 0;
    double ksec[KINDS] = {0}, kcpu[KINDS] = {0}, kfl[KINDS] = {0};
    int count = 0;
    facet_status st = FACET_OK;

    if (part == PART_SSD)
        nn_ssd_set_profile(n->ssd, 1);
    else
        nn_frec_set_profile(n->frec, 1);
    p = part == PART_SSD ? nn_ssd_profile(n->ssd) : nn_frec_profile(n->frec);
    acc = malloc(sizeof *acc);
    t = malloc(2 * (size_t)reps * NN_FACEAPI_MAX_STEPS * sizeof(double));
    c = t ? t + (size_t)reps * NN_FACEAPI_MAX_STEPS : NULL;
    if (!acc || !t)
        st = facet_fail(FACET_E_NOMEM, "bench faceapi: profile");
    for (int r = 0; r < reps && st == FACET_OK; r++) {
        st = run_part(n, part);
        if (st != FACET_OK)
            break;
        if (r == 0) {
            *acc = *p;
            count = p->count;
        }
        if (p->count != count) {
            st = facet_fail(FACET_E_UNSUPPORTED, "bench faceapi: the "
                            "profile changed its steps between calls");
            break;
        }
        for (int i = 0; i < count; i++) {
            t[(size_t)i * reps + r] = p->step[i].seconds;
            c[(size_t)i * reps + r] = p->step[i].cpu_seconds;
        }
    }
    if (part == PART_SSD)
        nn_ssd_set_profile(n->ssd, 0);
    else
        nn_frec_set_profile(n->frec, 0);
    if (st != FACET_OK) {
        free(acc);
        free(t);
        return st;
    }

    printf("\n%s, %d thread%s, per layer (median of %d profiled calls)\n",
           part == PART_SSD ? "ssd network" : "descriptor network", threads,
           threads > 1 ? "s" : "", reps);
    printf("layer %-3s %-22s %-9s %-11s %-5s %8s %8s %8s %8s\n", "thr",
           "step", "input", "cin>cout", "k/s", "MFLOP", "ms", "CPU ms",
           "GFLOP/s");
    for (int i = 0; i < count; i++) {
        const nn_faceapi_step *sp = &acc->step[i];
        double sec = bench_median(t + (size_t)i * reps, reps);
        double cpu = bench_median(c + (size_t)i * reps, reps);
        int k = step_kind(sp);
        char io[24] = "-", ks[8] = "-", in[16];

        if (sp->conv) {
            const nn_conv_desc *d = nn_conv_descriptor(sp->conv);
            snprintf(io, sizeof io, "%d>%d", d->cin, d->cout);
            snprintf(ks, sizeof ks, "%d/%d", d->kh, d->stride_h);
        }
        snprintf(in, sizeof in, "%dx%d", sp->in_h, sp->in_w);
        printf("layer %-3d %-22s %-9s %-11s %-5s %8.1f %8.3f %8.3f %8.1f\n",
               threads, sp->name, in, io, ks, sp->flops * 1e-6, sec * 1e3,
               cpu * 1e3,
               sec > 0 && sp->flops > 0 ? sp->flops / sec * 1e-9 : 0.0);
        ksec[k] += sec;
        kcpu[k] += cpu;
        total_c += cpu;
        kfl[k] += sp->flops;
        total += sec;
        total_fl += sp->flops;
    }
    for (int k = 0; k < KINDS; k++)
        if (ksec[k] > 0)
            printf("kind  %-3d %-26s %7.1f MFLOP %7.2f ms (CPU %7.2f) "
                   "%6.1f GFLOP/s %5.1f%% of time\n", threads, kind_names[k],
                   kfl[k] * 1e-6, ksec[k] * 1e3, kcpu[k] * 1e3,
                   kfl[k] > 0 ? kfl[k] / ksec[k] * 1e-9 : 0.0,
                   100.0 * ksec[k] / total);
    printf("kind  %-3d %-26s %7.1f MFLOP %7.2f ms (CPU %7.2f) %6.1f GFLOP/s"
           "\n", threads, "all layers", total_fl * 1e-6, total * 1e3,
           total_c * 1e3, total_fl / total * 1e-9);
    free(acc);
    free(t);
    return FACET_OK;
}

int bench_faceapi(const bench_opts *o)
{
    int threads[2] = {1, 2}, nthreads = 2, saved = facet_threads();
    int reps = o->reps > 0 ? o->reps : 10;
    const char *env = getenv("FACET_BENCH_LAYERS");
    int layers = env && env[0] == '1';
    double *t = malloc(2 * (size_t)reps * sizeof(double)), *c = t + reps;
    nets n;
    facet_status st;

    memset(&n, 0, sizeof n);
    if (o->threads > 0) {
        threads[0] = o->threads;
        nthreads = 1;
    }
    st = t ? setup(&n) : facet_fail(FACET_E_NOMEM, "bench faceapi");
    if (st != FACET_OK) {
        fprintf(stderr, "facet bench faceapi: %s: %s\n",
                facet_status_str(st), facet_error());
        teardown(&n);
        free(t);
        return 1;
    }

    printf("\nface-api networks, ms/image (face-api 1.7.15 on TF.js WASM: "
           "see tools/fixtures/faceapi_fixtures.js)\n");
    printf("        %-10s %7s %10s %10s %10s\n", "part", "threads",
           "median ms", "best ms", "CPU ms");
    for (int i = 0; i < nthreads && st == FACET_OK; i++) {
        facet_set_threads(threads[i]);
        for (int p = 0; p < PARTS && st == FACET_OK; p++) {
            double med, cpu;

            // One warm-up call (scratch sized, caches filled), then reps.
            st = run_part(&n, p);
            for (int r = 0; r < reps && st == FACET_OK; r++) {
                double t0 = facet_now(), c0 = cpu_now();
                st = run_part(&n, p);
                t[r] = facet_now() - t0;
                c[r] = cpu_now() - c0;
            }
            if (st != FACET_OK)
                break;
            med = bench_median(t, reps);
            cpu = bench_median(c, reps);
            printf("faceapi %-10s %7d %10.2f %10.2f %10.2f\n",
                   part_names[p], threads[i], 1e3 * med, 1e3 * t[0],
                   1e3 * cpu);
            fflush(stdout);
        }
    }
    for (int i = 0; i < nthreads && st == FACET_OK && layers; i++) {
        facet_set_threads(threads[i]);
        st = profile_part(&n, PART_SSD, threads[i], reps);
        if (st == FACET_OK)
            st = profile_part(&n, PART_FREC, threads[i], reps);
        fflush(stdout);
    }
    facet_set_threads(saved);
    if (st != FACET_OK)
        fprintf(stderr, "facet bench faceapi: %s: %s\n",
                facet_status_str(st), facet_error());
    teardown(&n);
    free(t);
    return st == FACET_OK ? 0 : 1;
}
