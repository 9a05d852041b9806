// bench.c - `facet bench`: speed of facet's kernels and networks, printed
// as tables on stdout. Peers (OpenBLAS, ONNX Runtime) run beside it from
// tools/bench/peer_openblas.sh and peer_ort.sh; docs/PERFORMANCE.md
// records the results.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../linalg/linalg.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facet bench [gemm|vgg|faceapi|frontend|all]... [--threads N] [--reps N]\n"
            "\n"
            "  gemm        SGEMM GFLOP/s at VGG-16 im2col shapes and 1024^3,\n"
            "              and the machine's measured FMA peak\n"
            "  vgg         VGG-16 conv1_1..conv5_3 forward, ms/image at batch\n"
            "              1 and 8, and peak memory beyond the weights\n"
            "  faceapi     face-api detector (512x512), landmarks, descriptor:\n"
            "              ms/image (needs make weights)\n"
            "  frontend    face front end per stage on a real photo at\n"
            "              250x250 and 1024x1024 (needs make weights and\n"
            "              $FACET_DATA)\n"
            "  all         every part (default)\n"
            "  --threads N run with N threads, 1..64 (default: 1 and 2 in\n"
            "              turn)\n"
            "  --reps N    timed repetitions per figure, 1..64 (median\n"
            "              reported; default: each part's own)\n"
            "\nFACET_ISA=scalar|avx2|avx512 forces a kernel path.\n");
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A decimal count in [1, max], the whole string; 0 if it is not one.
static int parse_count(int *out, const char *s, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max)
        return 0;
    *out = (int)v;
    return 1;
}

int cli_bench(int argc, char **argv)
{
    bench_opts o = {.threads = 0, .reps = 0};
    int gemm = 1, vgg = 1, faceapi = 1, frontend = 1, named = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--threads") ||
                   !strcmp(argv[i], "--reps")) {
            int *dst = argv[i][2] == 't' ? &o.threads : &o.reps;
            if (i + 1 >= argc || !parse_count(dst, argv[i + 1], 64)) {
                fprintf(stderr, "facet bench: %s needs a whole number "
                        "from 1 to 64\n", argv[i]);
                return 2;
            }
            i++;
        } else if (!strcmp(argv[i], "gemm") || !strcmp(argv[i], "vgg") ||
                   !strcmp(argv[i], "faceapi") ||
                   !strcmp(argv[i], "frontend") || !strcmp(argv[i], "all")) {
            // The first part named clears the default of running all.
            if (!named)
                gemm = vgg = faceapi = frontend = 0;
            named = 1;
            gemm |= !strcmp(argv[i], "gemm") || !strcmp(argv[i], "all");
            vgg |= !strcmp(argv[i], "vgg") || !strcmp(argv[i], "all");
            faceapi |= !strcmp(argv[i], "faceapi") || !strcmp(argv[i], "all");
            frontend |= !strcmp(argv[i], "frontend") ||
                        !strcmp(argv[i], "all");
        } else {
            fprintf(stderr, "facet bench: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (o.threads)
        printf("facet bench: ISA %s, %d thread%s\n",
               facet_isa_name(facet_isa_active()), o.threads,
               o.threads == 1 ? "" : "s");
    else
        printf("facet bench: ISA %s, 1 and 2 threads\n",
               facet_isa_name(facet_isa_active()));
    if (gemm && bench_gemm(&o) != 0)
        return 1;
    if (vgg && bench_vgg(&o) != 0)
        return 1;
    if (faceapi && bench_faceapi(&o) != 0)
        return 1;
    if (frontend && bench_frontend(&o) != 0)
        return 1;
    return 0;
}
