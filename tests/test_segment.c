// test_segment.c - face/segment.c, the Nieuwenhuis-Cremers segmentation:
// the distance transform, the simplex projection, the data term and the
// edge weight against plain double references; the solver against an
// independent double implementation, its invariants (theta in the
// simplex after every step, primal >= dual, the gap shrinking) and its
// limits (lambda = 0: the per-pixel argmin; lambda huge: one label); whole
// segmentations of synthetic images (a two-colour split, a layout that
// only a spatially varying colour model gets right, label renumbering,
// excluded pixels); bad arguments; the same bits for 1 and 2 threads.
//
// `test_segment --full` also times face_segment at 128 x 128 and
// 256 x 256 with 2 and 3 labels (median of 5 runs, one thread).
//
// Limitations:
// - Synthetic images only; the face-base use (parts.c) is tested there.
#include "check.h"

#include <float.h>

#include "../face/segment.h"

// ---------------------------------------------------------------------------
// Helpers

// An RGB8 test image with a padded stride (stride handling is tested
// everywhere that way).
typedef struct timg {
    int w, h;
    size_t stride;
    uint8_t *px;
} timg;

static timg timg_new(int w, int h)
{
    timg im = {w, h, (size_t)3 * w + 7, NULL};

    im.px = calloc(im.stride * h, 1);
    FACET_ASSERT(im.px);
    return im;
}

static uint8_t *timg_at(const timg *im, int x, int y)
{
    return im->px + (size_t)y * im->stride + 3 * (size_t)x;
}

static void timg_set(const timg *im, int x, int y, int r, int g, int b)
{
    uint8_t *p = timg_at(im, x, y);

    p[0] = (uint8_t)r;
    p[1] = (uint8_t)g;
    p[2] = (uint8_t)b;
}

static int clamp8(double v)
{
    return v < 0 ? 0 : v > 255 ? 255 : (int)(v + 0.5);
}

// A smooth random image: per channel a sum of two waves plus noise.
static timg smooth_image(int w, int h, uint64_t seed, double noise)
{
    timg im = timg_new(w, h);
    facet_rng r;
    double ph[3][4];

    facet_rng_seed(&r, seed);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 4; k++)
            ph[c][k] = 6.0 * facet_rng_float(&r);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int v[3];

            for (int c = 0; c < 3; c++)
                v[c] = clamp8(128 + 70 * sin(0.13 * x + ph[c][0]) *
                              cos(0.09 * y + ph[c][1]) +
                              40 * sin(0.05 * (x + y) + ph[c][2]) +
                              noise * (facet_rng_float(&r) - 0.5));
            timg_set(&im, x, y, v[0], v[1], v[2]);
        }
    }
    return im;
}

// A filled disc of seed value v (only over free pixels when !over).
static void disc(uint8_t *seeds, int w, int h, double cx, double cy,
                 double rad, int v)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= rad * rad)
                seeds[(size_t)y * w + x] = (uint8_t)v;
}

static float *fnan(size_t n)
{
    float *p = malloc(n * sizeof *p);

    FACET_ASSERT(p);
    check_fill_nan(p, n);
    return p;
}

// ---------------------------------------------------------------------------
// Distance transform

static void test_sqdist(void)
{
    static const int sizes[][2] = {{1, 1}, {1, 9}, {11, 1}, {7, 5},
                                   {33, 17}, {64, 48}};
    static const double density[] = {0.0, 0.002, 0.05, 0.5, 1.0};
    facet_rng r;
    int bad = 0;

    facet_rng_seed(&r, 11);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (size_t di = 0; di < sizeof density / sizeof *density; di++) {
            int w = sizes[si][0], h = sizes[si][1], any = 0;
            size_t np = (size_t)w * h;
            uint8_t *sites = calloc(np, 1);
            double *d2 = malloc(np * sizeof *d2);

            for (size_t p = 0; p < np; p++) {
                sites[p] = facet_rng_float(&r) < density[di] ? 7 : 0;
                any |= sites[p];
            }
            if (!any && density[di] > 0)
                sites[np / 2] = 1;  // at least one site
            any |= sites[np / 2];
            CHECK(face_seg_sqdist(d2, sites, w, h) == FACET_OK);

            // Brute force: exact integers (no tolerance).
            for (size_t p = 0; p < np; p++) {
                double best = HUGE_VAL;
                int px = (int)(p % w), py = (int)(p / w);

                for (size_t q = 0; q < np; q++) {
                    int dx = (int)(q % w) - px, dy = (int)(q / w) - py;

                    if (sites[q] && dx * dx + dy * dy < best)
                        best = dx * dx + dy * dy;
                }
                bad += d2[p] != best;
            }
            free(sites);
            free(d2);
        }
    }
    CHECKF(bad == 0, "sqdist: %d pixels differ from brute force", bad);

    // A single site far in a corner of a wide image (long parabolas).
    {
        int w = 300, h = 3;
        uint8_t *sites = calloc((size_t)w * h, 1);
        double *d2 = malloc((size_t)w * h * sizeof *d2);

        sites[(size_t)2 * w + 299] = 1;
        CHECK(face_seg_sqdist(d2, sites, w, h) == FACET_OK);
        CHECK(d2[0] == 299.0 * 299 + 4 && d2[(size_t)2 * w + 299] == 0.0);
        free(sites);
        free(d2);
    }
}

// ---------------------------------------------------------------------------
// Simplex projection

// Reference: the threshold t with sum max(v - t, 0) = 1, by bisection in
// double.
static void ref_simplex(double *out, const float *v, int n)
{
    double lo = v[0], hi = v[0];

    for (int i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    lo -= 1.0;
    for (int it = 0; it < 200; it++) {
        double t = 0.5 * (lo + hi), s = 0.0;

        for (int i = 0; i < n; i++)
            s += v[i] > t ? v[i] - t : 0.0;
        if (s > 1.0)
            lo = t;
        else
            hi = t;
    }
    for (int i = 0; i < n; i++)
        out[i] = v[i] > hi ? v[i] - hi : 0.0;
}

static void test_simplex(void)
{
    static const float scales[] = {0.01f, 0.5f, 3.0f, 40.0f};
    facet_rng r;
    double worst = 0.0, worst_sum = 0.0;
    int neg = 0, perm_bad = 0;

    facet_rng_seed(&r, 5);
    for (int n = 1; n <= FACE_SEG_MAX_LABELS; n++) {
        for (int si = 0; si < 4; si++) {
            for (int trial = 0; trial < 300; trial++) {
                float v[FACE_SEG_MAX_LABELS], p[FACE_SEG_MAX_LABELS];
                float q[FACE_SEG_MAX_LABELS];
                double ref[FACE_SEG_MAX_LABELS], sum = 0.0;
                int perm[FACE_SEG_MAX_LABELS];

                for (int i = 0; i < n; i++) {
                    v[i] = scales[si] * (2 * facet_rng_float(&r) - 1);
                    if (trial % 7 == 0 && i > 0)
                        v[i] = v[0];  // ties
                }
                memcpy(p, v, sizeof v);
                face_seg_project_simplex(p, n);
                ref_simplex(ref, v, n);
                for (int i = 0; i < n; i++) {
                    double e = fabs(p[i] - ref[i]);

                    worst = e > worst ? e : worst;
                    neg += !(p[i] >= 0.0f);
                    sum += p[i];
                }
                worst_sum = fmax(worst_sum, fabs(sum - 1.0));

                // A permuted input gives the permuted output, bit for bit.
                for (int i = 0; i < n; i++)
                    perm[i] = i;
                for (int i = n - 1; i > 0; i--) {
                    int j = (int)facet_rng_below(&r, (uint32_t)i + 1), t;

                    t = perm[i];
                    perm[i] = perm[j];
                    perm[j] = t;
                }
                for (int i = 0; i < n; i++)
                    q[i] = v[perm[i]];
                face_seg_project_simplex(q, n);
                for (int i = 0; i < n; i++)
                    perm_bad += memcmp(&q[i], &p[perm[i]], sizeof q[i]) != 0;
            }
        }
    }
    // The projection shifts by the largest value, so its error is a few
    // float ulps of the values' scale (up to 40 here: ulp 4e-6).
    CHECKF(worst <= 2e-5, "simplex: max error %.3g vs double reference",
           worst);
    // The support lies within 1 of the top value, so the sum is exact to
    // a few ulps of 1 whatever the scale.
    CHECKF(worst_sum <= 1e-6, "simplex: sum off 1 by %.3g", worst_sum);
    CHECK(neg == 0);
    CHECKF(perm_bad == 0, "simplex: %d entries not permutation-equivariant",
           perm_bad);

    // Already on the simplex: unchanged (to rounding); a vertex stays one.
    {
        float v[3] = {0.2f, 0.3f, 0.5f}, e[3] = {0.0f, 1.0f, 0.0f};

        face_seg_project_simplex(v, 3);
        CHECK_NEAR(v[0], 0.2, 1e-7);  // float rounding of the shift
        CHECK_NEAR(v[2], 0.5, 1e-7);
        face_seg_project_simplex(e, 3);
        CHECK(e[0] == 0.0f && e[1] == 1.0f && e[2] == 0.0f);
    }
}

// ---------------------------------------------------------------------------
// Data term

// Reference: the model of segment.h evaluated literally in double, with
// every scribble pixel a sample and brute-force nearest distances.
static void ref_dataterm(double *f, const timg *im, const uint8_t *seeds,
                         int n, double sigma, double alpha)
{
    int w = im->w, h = im->h;
    size_t np = (size_t)w * h;

    alpha = alpha < 0.4 ? 0.4 : alpha;
    for (size_t p = 0; p < np; p++) {
        int sv = seeds[p], x = (int)(p % w), y = (int)(p / w);
        const uint8_t *c = timg_at(im, x, y);

        for (int i = 0; i < n; i++) {
            double d2 = HUGE_VAL, sum = 0.0, rho2, prob;
            int m = 0;

            if (sv == FACE_SEG_EXCLUDED) {
                f[i * np + p] = 0.0;
                continue;
            }
            if (sv != 0) {
                f[i * np + p] = i == sv - 1 ? 0.0 : FACE_SEG_COST_MAX;
                continue;
            }
            for (size_t q = 0; q < np; q++) {
                double dx = (double)(q % w) - x, dy = (double)(q / w) - y;

                if (seeds[q] == i + 1 && dx * dx + dy * dy < d2)
                    d2 = dx * dx + dy * dy;
            }
            rho2 = alpha * alpha * d2;
            for (size_t q = 0; q < np; q++) {
                double dx = (double)(q % w) - x, dy = (double)(q / w) - y;
                const uint8_t *s = timg_at(im, (int)(q % w), (int)(q / w));
                double dc = 0.0;

                if (seeds[q] != i + 1)
                    continue;
                for (int k = 0; k < 3; k++)
                    dc += ((double)c[k] - s[k]) * ((double)c[k] - s[k]);
                sum += exp(-(dx * dx + dy * dy) / (2 * rho2)) *
                       exp(-dc / (2 * sigma * sigma));
                m++;
            }
            prob = sum / (2 * 3.14159265358979323846 * rho2) / m;
            f[i * np + p] = -log(prob + 1e-30);
        }
    }
}

// Compare face_seg_dataterm with the reference; returns the largest
// difference; checks the scribble and excluded values exactly.
static double dataterm_vs_ref(const timg *im, const uint8_t *seeds, int n,
                              const face_seg_params *prm)
{
    size_t np = (size_t)im->w * im->h;
    float *cost = fnan((size_t)n * np);
    double *ref = malloc((size_t)n * np * sizeof *ref), worst = 0.0;
    int exact_bad = 0;

    CHECK(face_seg_dataterm(cost, im->px, im->w, im->h, im->stride, seeds,
                            n, prm) == FACET_OK);
    ref_dataterm(ref, im, seeds, n, prm->color_sigma, prm->alpha);
    for (size_t q = 0; q < (size_t)n * np; q++) {
        int sv = seeds[q % np];

        if (sv != 0) {
            // Scribbles: 0 / COST_MAX; excluded: 0 (exact).
            exact_bad += cost[q] != (float)ref[q];
            continue;
        }
        if (!(fabs(cost[q] - ref[q]) <= worst))
            worst = isnan(cost[q]) ? HUGE_VAL : fabs(cost[q] - ref[q]);
    }
    CHECKF(exact_bad == 0, "dataterm: %d scribble/excluded costs wrong",
           exact_bad);
    free(cost);
    free(ref);
    return worst;
}

static void test_dataterm(void)
{
    face_seg_params prm;
    double e;

    face_seg_defaults(&prm);

    // Tolerance for all comparisons below: the kernel sum runs in float
    // (exponents up to 87 with a relative error of a few 1e-7, so up to
    // 3e-5 absolute in a term's exponent; at most a few hundred terms per
    // lane), and f = -log P turns a relative error of P into an absolute
    // one; 2e-4 nats bounds both with a margin (typical: 1e-6).
    const double tol = 2e-4;

    // A small image, 3 labels of a few scribbles each, excluded pixels.
    {
        timg im = smooth_image(23, 19, 1, 30);
        uint8_t *seeds = calloc(23 * 19, 1);

        disc(seeds, 23, 19, 4, 4, 1.5, 1);
        disc(seeds, 23, 19, 18, 5, 1.0, 2);
        seeds[15 * 23 + 11] = 3;
        seeds[3 * 23 + 12] = 3;
        for (int y = 8; y < 12; y++)
            seeds[y * 23 + 20] = FACE_SEG_EXCLUDED;
        e = dataterm_vs_ref(&im, seeds, 3, &prm);
        CHECKF(e <= tol, "dataterm 23x19: max |f - ref| %.3g", e);

        // Other parameters: a narrow colour kernel (most terms vanish, the
        // epsilon floor shows), a wide one, alpha below the clamp.
        prm.color_sigma = 3;
        e = dataterm_vs_ref(&im, seeds, 3, &prm);
        CHECKF(e <= tol, "dataterm sigma 3: max |f - ref| %.3g", e);
        prm.color_sigma = 80;
        prm.alpha = 0.1;
        e = dataterm_vs_ref(&im, seeds, 3, &prm);
        CHECKF(e <= tol, "dataterm sigma 80, alpha 0.1: max |f - ref| %.3g",
               e);
        face_seg_defaults(&prm);
        free(seeds);
        free(im.px);
    }

    // A larger image with stroke-like scribbles, where whole blocks of
    // samples are skipped near them (the skip must change nothing).
    {
        int w = 72, h = 64;
        timg im = smooth_image(w, h, 2, 20);
        uint8_t *seeds = calloc((size_t)w * h, 1);

        for (int x = 3; x < 69; x++) {
            seeds[2 * w + x] = 1;
            seeds[3 * w + x] = 1;
        }
        for (int y = 20; y < 60; y++)
            seeds[y * w + 30 + (y % 5)] = 2;
        disc(seeds, w, h, 55, 45, 4, 2);
        prm.alpha = 0.6;
        e = dataterm_vs_ref(&im, seeds, 2, &prm);
        CHECKF(e <= tol, "dataterm 72x64 strokes: max |f - ref| %.3g", e);
        face_seg_defaults(&prm);
        free(seeds);
        free(im.px);
    }

    // Subsampling: a label with more scribbles than max_scribbles. Still
    // deterministic, scribble pixels still pinned, costs finite; with
    // max_scribbles at the count the result equals the full one.
    {
        int w = 60, h = 50;
        size_t np = (size_t)w * h;
        timg im = smooth_image(w, h, 3, 10);
        uint8_t *seeds = calloc(np, 1);
        float *a = fnan(2 * np), *b = fnan(2 * np), *c = fnan(2 * np);
        int bad = 0, count = 0;

        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (x < 4 || y < 4 || x >= w - 4 || y >= h - 4)
                    seeds[(size_t)y * w + x] = 1, count++;
        disc(seeds, w, h, 30, 25, 6, 2);
        prm.max_scribbles = 97;
        CHECK(face_seg_dataterm(a, im.px, w, h, im.stride, seeds, 2, &prm)
              == FACET_OK);
        CHECK(face_seg_dataterm(b, im.px, w, h, im.stride, seeds, 2, &prm)
              == FACET_OK);
        CHECK(memcmp(a, b, 2 * np * sizeof *a) == 0);
        for (size_t q = 0; q < 2 * np; q++) {
            int sv = seeds[q % np];

            bad += !isfinite(a[q]) || a[q] < -20.0f;
            if (sv)
                bad += a[q] != (q / np == (size_t)sv - 1
                                    ? 0.0f : (float)FACE_SEG_COST_MAX);
        }
        CHECK(bad == 0);
        prm.max_scribbles = count;
        CHECK(face_seg_dataterm(b, im.px, w, h, im.stride, seeds, 2, &prm)
              == FACET_OK);
        prm.max_scribbles = count + 1000;
        CHECK(face_seg_dataterm(c, im.px, w, h, im.stride, seeds, 2, &prm)
              == FACET_OK);
        CHECK(memcmp(b, c, 2 * np * sizeof *b) == 0);
        CHECK(memcmp(a, c, 2 * np * sizeof *a) != 0);
        face_seg_defaults(&prm);
        free(a);
        free(b);
        free(c);
        free(seeds);
        free(im.px);
    }
}

// ---------------------------------------------------------------------------
// Edge weight

static void test_edge_weight(void)
{
    int w = 31, h = 22;
    size_t np = (size_t)w * h;
    timg im = smooth_image(w, h, 4, 60);
    uint8_t *seeds = calloc(np, 1);
    float *g = fnan(np), *g2 = fnan(np);
    double mx = 0, my = 0, worst = 0;
    int bad = 0;

    for (int y = 5; y < 9; y++)
        for (int x = 10; x < 16; x++)
            seeds[(size_t)y * w + x] = FACE_SEG_EXCLUDED;
    seeds[0] = 1;  // scribbles are irrelevant here
    CHECK(face_seg_edge_weight(g, im.px, w, h, im.stride, seeds, 5.0) ==
          FACET_OK);

    // Reference: forward differences within the domain, each axis over its
    // largest magnitude, g = exp(-5 |.|).
    for (int pass = 0; pass < 2; pass++) {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                size_t p = (size_t)y * w + x;
                int in = seeds[p] != FACE_SEG_EXCLUDED;
                int right = in && x + 1 < w &&
                            seeds[p + 1] != FACE_SEG_EXCLUDED;
                int down = in && y + 1 < h &&
                           seeds[p + w] != FACE_SEG_EXCLUDED;
                double ss = 0;

                for (int k = 0; k < 3; k++) {
                    double dx = right ? (double)timg_at(&im, x + 1, y)[k] -
                                        timg_at(&im, x, y)[k] : 0.0;
                    double dy = down ? (double)timg_at(&im, x, y + 1)[k] -
                                       timg_at(&im, x, y)[k] : 0.0;

                    if (pass == 0) {
                        mx = fmax(mx, fabs(dx));
                        my = fmax(my, fabs(dy));
                    }
                    ss += (dx / mx) * (dx / mx) + (dy / my) * (dy / my);
                }
                if (pass == 1) {
                    double want = in ? exp(-5.0 * sqrt(ss)) : 1.0;

                    worst = fmax(worst, fabs(g[p] - want));
                }
            }
        }
    }
    // float output of a double computation: half an ulp of values <= 1.
    CHECKF(worst <= 1e-7, "edge weight: max error %.3g", worst);

    // The colours of excluded pixels do not matter.
    for (int y = 5; y < 9; y++)
        for (int x = 10; x < 16; x++)
            timg_set(&im, x, y, 255 * (x & 1), 0, 255 * (y & 1));
    CHECK(face_seg_edge_weight(g2, im.px, w, h, im.stride, seeds, 5.0) ==
          FACET_OK);
    CHECK(memcmp(g, g2, np * sizeof *g) == 0);

    // A flat image: g = 1 everywhere; gamma = 0: g = 1.
    memset(im.px, 77, im.stride * h);
    CHECK(face_seg_edge_weight(g, im.px, w, h, im.stride, NULL, 5.0) ==
          FACET_OK);
    for (size_t p = 0; p < np; p++)
        bad += g[p] != 1.0f;
    im = (free(im.px), smooth_image(w, h, 4, 60));
    CHECK(face_seg_edge_weight(g, im.px, w, h, im.stride, NULL, 0.0) ==
          FACET_OK);
    for (size_t p = 0; p < np; p++)
        bad += g[p] != 1.0f;
    CHECK(bad == 0);
    free(seeds);
    free(g);
    free(g2);
    free(im.px);
}

// ---------------------------------------------------------------------------
// Solver

// Random costs in [0, 1) plus a per-label offset.
static float *random_costs(int n, size_t np, uint64_t seed, const float *off)
{
    float *c = malloc((size_t)n * np * sizeof *c);
    facet_rng r;

    facet_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < np; p++)
            c[i * np + p] = facet_rng_float(&r) + (off ? off[i] : 0.0f);
    return c;
}

static float *random_g(size_t np, uint64_t seed)
{
    float *g = malloc(np * sizeof *g);
    facet_rng r;

    facet_rng_seed(&r, seed);
    for (size_t p = 0; p < np; p++)
        g[p] = 0.05f + 0.95f * facet_rng_float(&r);
    return g;
}

// An independent double implementation of the iteration, with explicit
// neighbour tests instead of masks and a bisection simplex projection.
static void ref_solve(double *theta, const float *cost, const float *g,
                      const uint8_t *seeds, int w, int h, int n,
                      double lambda, int iters)
{
    size_t np = (size_t)w * h;
    double *tbar = malloc((size_t)n * np * sizeof *tbar);
    double *xx = calloc((size_t)n * np, sizeof *xx);
    double *xy = calloc((size_t)n * np, sizeof *xy);
#define IN(x, y) ((x) >= 0 && (x) < w && (y) >= 0 && (y) < h &&           \
                  seeds[(size_t)(y) * w + (x)] != FACE_SEG_EXCLUDED)

    for (size_t p = 0; p < np; p++) {
        int k = 0, sv = seeds[p];

        for (int i = 1; i < n; i++)
            if (cost[i * np + p] < cost[k * np + p])
                k = i;
        k = sv == 0 ? k : sv == FACE_SEG_EXCLUDED ? -1 : sv - 1;
        for (int i = 0; i < n; i++)
            theta[i * np + p] = tbar[i * np + p] = i == k;
    }
    for (int it = 0; it < iters; it++) {
        for (int i = 0; i < n; i++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    size_t p = (size_t)y * w + x, q = i * np + p;
                    double gx, gy, vx, vy, nn, b;

                    if (!IN(x, y))
                        continue;
                    gx = IN(x + 1, y) ? tbar[q + 1] - tbar[q] : 0.0;
                    gy = IN(x, y + 1) ? tbar[q + w] - tbar[q] : 0.0;
                    vx = xx[q] + 0.5 * gx;
                    vy = xy[q] + 0.5 * gy;
                    nn = sqrt(vx * vx + vy * vy);
                    b = 0.5 * lambda * g[p];
                    if (nn > b) {
                        vx *= b / nn;
                        vy *= b / nn;
                    }
                    xx[q] = vx;
                    xy[q] = vy;
                }
            }
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                size_t p = (size_t)y * w + x;
                float u[FACE_SEG_MAX_LABELS];
                double t[FACE_SEG_MAX_LABELS] = {0};
                int sv = seeds[p];

                if (!IN(x, y))
                    continue;
                for (int i = 0; i < n; i++) {
                    size_t q = i * np + p;
                    double div = xx[q] + xy[q];

                    div -= IN(x - 1, y) ? xx[q - 1] : 0.0;
                    div -= IN(x, y - 1) ? xy[q - w] : 0.0;
                    u[i] = (float)(theta[q] + 0.25 * (div - cost[q]));
                    t[i] = theta[q] + 0.25 * (div - cost[q]);
                }
                if (sv == 0) {
                    // Bisection in double on the double values.
                    double lo = t[0], hi = t[0];

                    for (int i = 1; i < n; i++) {
                        lo = fmin(lo, t[i]);
                        hi = fmax(hi, t[i]);
                    }
                    lo -= 1.0;
                    for (int k = 0; k < 200; k++) {
                        double m = 0.5 * (lo + hi), s = 0.0;

                        for (int i = 0; i < n; i++)
                            s += t[i] > m ? t[i] - m : 0.0;
                        if (s > 1.0)
                            lo = m;
                        else
                            hi = m;
                    }
                    for (int i = 0; i < n; i++)
                        t[i] = t[i] > hi ? t[i] - hi : 0.0;
                } else {
                    for (int i = 0; i < n; i++)
                        t[i] = i == sv - 1;
                }
                (void)u;
                for (int i = 0; i < n; i++) {
                    size_t q = i * np + p;

                    tbar[q] = 2 * t[i] - theta[q];
                    theta[q] = t[i];
                }
            }
        }
    }
#undef IN
    free(tbar);
    free(xx);
    free(xy);
}

// Seeds for the solver tests: a few pins per label, an excluded blob.
static uint8_t *solver_seeds(int w, int h, int n, int pins)
{
    uint8_t *s = calloc((size_t)w * h, 1);

    if (pins)
        for (int i = 0; i < n; i++)
            s[(size_t)((i * 5 + 2) % h) * w + (i * 7 + 1) % w] =
                (uint8_t)(i + 1);
    disc(s, w, h, w * 0.7, h * 0.6, 2.2, FACE_SEG_EXCLUDED);
    return s;
}

static void test_solver_ref(void)
{
    static const int ns[] = {2, 3, 5};

    for (int k = 0; k < 3; k++) {
        int w = 19, h = 14, n = ns[k], iters = 300;
        size_t np = (size_t)w * h;
        float *cost = random_costs(n, np, 20 + k, NULL);
        float *g = random_g(np, 30 + k);
        uint8_t *seeds = solver_seeds(w, h, n, 1);
        double *ref = malloc((size_t)n * np * sizeof *ref), worst = 0;
        face_seg_solver *s;
        const float *th;

        CHECK(face_seg_solver_create(&s, cost, g, seeds, w, h, n, 0.6) ==
              FACET_OK);
        face_seg_solver_step(s, iters);
        th = face_seg_solver_theta(s);
        ref_solve(ref, cost, g, seeds, w, h, n, 0.6, iters);
        for (size_t q = 0; q < (size_t)n * np; q++)
            worst = fmax(worst, isnan(th[q]) ? HUGE_VAL
                                             : fabs(th[q] - ref[q]));
        // The iteration is nonexpansive; float rounding (~1e-7 per step
        // on values of order 1) accumulates to 1e-5 at most over 300
        // steps in practice; 1e-4 leaves a margin.
        CHECKF(worst <= 1e-4, "solver vs double reference, %d labels: max "
               "|theta - ref| %.3g", n, worst);
        face_seg_solver_free(s);
        free(cost);
        free(g);
        free(seeds);
        free(ref);
    }
}

// theta stays in the simplex after every step (free pixels), fixed pixels
// stay one-hot, excluded ones 0.
static void test_solver_simplex(void)
{
    static const int ns[] = {2, 3, 5, 8};

    for (int k = 0; k < 4; k++) {
        int w = 21, h = 17, n = ns[k], bad = 0;
        size_t np = (size_t)w * h;
        float *cost = random_costs(n, np, 40 + k, NULL);
        float *g = random_g(np, 50 + k);
        uint8_t *seeds = solver_seeds(w, h, n, 1);
        double worst = 0;
        face_seg_solver *s;

        CHECK(face_seg_solver_create(&s, cost, g, seeds, w, h, n, 1.5) ==
              FACET_OK);
        for (int it = 0; it < 150; it++) {
            const float *th;

            face_seg_solver_step(s, 1);
            th = face_seg_solver_theta(s);
            for (size_t p = 0; p < np; p++) {
                int sv = seeds[p];
                double sum = 0;

                for (int i = 0; i < n; i++) {
                    float t = th[i * np + p];

                    bad += !(t >= 0.0f && t <= 1.0f);
                    sum += t;
                    if (sv == FACE_SEG_EXCLUDED)
                        bad += t != 0.0f;
                    else if (sv)
                        bad += t != (i == sv - 1 ? 1.0f : 0.0f);
                }
                if (sv != FACE_SEG_EXCLUDED)
                    worst = fmax(worst, fabs(sum - 1.0));
            }
        }
        CHECKF(bad == 0, "%d labels: %d theta entries outside the rules",
               n, bad);
        // Spec 2.6: the sum is 1 to 1e-6 (float rounding of the
        // projection, see test_simplex).
        CHECKF(worst <= 1e-6, "%d labels: sum theta off 1 by %.3g", n,
               worst);
        face_seg_solver_free(s);
        free(cost);
        free(g);
        free(seeds);
    }
}

// primal >= dual at every check, and the gap closes.
static void test_solver_gap(void)
{
    static const int ns[] = {2, 3};

    for (int k = 0; k < 2; k++) {
        int w = 40, h = 30, n = ns[k], below = 0;
        size_t np = (size_t)w * h;
        float *cost = random_costs(n, np, 60 + k, NULL);
        float *g = random_g(np, 70 + k);
        uint8_t *seeds = solver_seeds(w, h, n, 1);
        double pe, de, first = 0, last = 0, worst_neg = 0;
        face_seg_solver *s;

        // Smooth the costs a little, so that the solution has regions.
        for (size_t q = 0; q < (size_t)n * np; q++)
            cost[q] += 0.8f * (float)sin(0.3 * (q % w) + k + q / np) *
                       (float)cos(0.2 * ((q % np) / w));
        CHECK(face_seg_solver_create(&s, cost, g, seeds, w, h, n, 1.0) ==
              FACET_OK);
        for (int round = 0; round < 40; round++) {
            face_seg_solver_step(s, 25);
            face_seg_solver_energy(s, &pe, &de);
            // Weak duality; float theta and xi bend it by rounding only.
            if (pe - de < -1e-6 * fabs(pe))
                below++;
            worst_neg = fmin(worst_neg, (pe - de) / fabs(pe));
            if (round == 0)
                first = (pe - de) / fabs(pe);
            last = (pe - de) / fabs(pe);
        }
        CHECKF(below == 0, "%d labels: primal < dual at %d checks (worst "
               "%.3g)", n, below, worst_neg);
        CHECKF(first > 1e-3 && last < 0.05 * first && last < 1e-3,
               "%d labels: relative gap %.3g after 25 steps, %.3g after "
               "1000", n, first, last);
        face_seg_solver_free(s);
        free(cost);
        free(g);
        free(seeds);
    }
}

// lambda = 0: the argmin of the costs; lambda huge: one label everywhere,
// the one with the smallest summed cost.
static void test_solver_limits(void)
{
    // lambda = 0.
    for (int n = 2; n <= 4; n++) {
        int w = 25, h = 18;
        size_t np = (size_t)w * h;
        float *cost = random_costs(n, np, 80 + n, NULL);
        uint8_t *lab = malloc(np);
        int bad = 0;
        face_seg_stats st;

        CHECK(face_seg_solve(lab, cost, NULL, NULL, w, h, n, 0.0, 1000,
                             1e-3, &st) == FACET_OK);
        for (size_t p = 0; p < np; p++) {
            int k = 0;

            for (int i = 1; i < n; i++)
                k = cost[i * np + p] < cost[k * np + p] ? i : k;
            bad += lab[p] != k;
        }
        CHECKF(bad == 0, "lambda 0, %d labels: %d pixels not at the argmin",
               n, bad);
        CHECK(st.iterations == 0 && st.primal == st.dual);
        free(cost);
        free(lab);
    }

    // lambda huge: costs with per-label offsets so that the sums differ
    // by a few percent while most pixels prefer another label.
    for (int n = 2; n <= 3; n++) {
        int w = 14, h = 11, want = n - 1, bad = 0;
        size_t np = (size_t)w * h;
        float off[3] = {0.04f, 0.02f, 0.0f};
        float *cost = random_costs(n, np, 90 + n, off);
        uint8_t *lab = malloc(np);
        double sums[3] = {0};
        face_seg_stats st;

        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < np; p++)
                sums[i] += cost[i * np + p];
        for (int i = 0; i < n; i++)
            if (sums[i] < sums[want])
                want = i;
        CHECK(face_seg_solve(lab, cost, NULL, NULL, w, h, n, 1e4, 20000,
                             1e-7, &st) == FACET_OK);
        for (size_t p = 0; p < np; p++)
            bad += lab[p] != want;
        CHECKF(bad == 0, "lambda 1e4, %d labels: %d pixels not label %d "
               "(%d iterations, gap %.3g)", n, bad, want, st.iterations,
               st.gap);
        free(cost);
        free(lab);
    }
}

// Excluded pixels cut the problem: two regions separated by an excluded
// column evolve exactly as each does alone.
static void test_solver_cut(void)
{
    int w = 23, h = 13, wl = 11, wr = 11, n = 3;
    size_t np = (size_t)w * h;
    float *cost = random_costs(n, np, 100, NULL);
    float *g = random_g(np, 101);
    uint8_t *seeds = calloc(np, 1);
    face_seg_solver *s, *sl, *sr;
    float *cl = malloc((size_t)n * wl * h * sizeof *cl);
    float *cr = malloc((size_t)n * wr * h * sizeof *cr);
    float *gl = malloc((size_t)wl * h * sizeof *gl);
    float *gr = malloc((size_t)wr * h * sizeof *gr);
    int bad = 0;

    for (int y = 0; y < h; y++)
        seeds[(size_t)y * w + wl] = FACE_SEG_EXCLUDED;
    seeds[3 * w + 2] = 2;
    seeds[7 * w + 18] = 3;
    for (int i = 0; i < n; i++) {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < wl; x++)
                cl[(i * h + y) * wl + x] = cost[i * np + y * w + x];
            for (int x = 0; x < wr; x++)
                cr[(i * h + y) * wr + x] = cost[i * np + y * w + wl + 1 + x];
        }
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < wl; x++)
            gl[y * wl + x] = g[y * w + x];
        for (int x = 0; x < wr; x++)
            gr[y * wr + x] = g[y * w + wl + 1 + x];
    }
    {
        uint8_t *sdl = calloc((size_t)wl * h, 1);
        uint8_t *sdr = calloc((size_t)wr * h, 1);

        sdl[3 * wl + 2] = 2;
        sdr[7 * wr + 18 - wl - 1] = 3;
        CHECK(face_seg_solver_create(&s, cost, g, seeds, w, h, n, 2.0) ==
              FACET_OK);
        CHECK(face_seg_solver_create(&sl, cl, gl, sdl, wl, h, n, 2.0) ==
              FACET_OK);
        CHECK(face_seg_solver_create(&sr, cr, gr, sdr, wr, h, n, 2.0) ==
              FACET_OK);
        free(sdl);
        free(sdr);
    }
    face_seg_solver_step(s, 200);
    face_seg_solver_step(sl, 200);
    face_seg_solver_step(sr, 200);
    {
        const float *t = face_seg_solver_theta(s);
        const float *tl = face_seg_solver_theta(sl);
        const float *tr = face_seg_solver_theta(sr);

        for (int i = 0; i < n; i++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < wl; x++)
                    bad += t[i * np + y * w + x] !=
                           tl[(i * h + y) * wl + x];
                for (int x = 0; x < wr; x++)
                    bad += t[i * np + y * w + wl + 1 + x] !=
                           tr[(i * h + y) * wr + x];
                bad += t[i * np + y * w + wl] != 0.0f;
            }
        }
    }
    CHECKF(bad == 0, "cut: %d theta entries differ from the parts alone",
           bad);
    face_seg_solver_free(s);
    face_seg_solver_free(sl);
    face_seg_solver_free(sr);
    free(cost);
    free(g);
    free(seeds);
    free(cl);
    free(cr);
    free(gl);
    free(gr);
}

// ---------------------------------------------------------------------------
// Whole segmentations

// Two flat colours, one scribble pixel on each side: the split is exact.
static void test_two_colours(void)
{
    int w = 48, h = 36, bad = 0;
    size_t np = (size_t)w * h;
    timg im = timg_new(w, h);
    uint8_t *seeds = calloc(np, 1), *lab = malloc(np);
    face_seg_stats st;

    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (x < 17 + y / 4)
                timg_set(&im, x, y, 200, 60, 50);
            else
                timg_set(&im, x, y, 40, 90, 200);
    seeds[5 * w + 3] = 1;
    seeds[30 * w + 44] = 2;
    memset(lab, 0xAA, np);
    CHECK(face_segment(lab, im.px, w, h, im.stride, seeds, 2, NULL, &st) ==
          FACET_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            bad += lab[(size_t)y * w + x] != (x < 17 + y / 4 ? 0 : 1);
    CHECKF(bad == 0, "two colours: %d pixels wrong", bad);
    CHECK(st.gap < 1e-3 && st.iterations <= 1500);
    free(seeds);
    free(lab);
    free(im.px);
}

// The face_segment costs, shifted as it does, for lambda = 0 checks.
static void test_lambda0_segment(void)
{
    int w = 40, h = 32, bad = 0;
    size_t np = (size_t)w * h;
    timg im = smooth_image(w, h, 7, 40);
    uint8_t *seeds = calloc(np, 1), *lab = malloc(np);
    float *cost = fnan(3 * np);
    face_seg_params prm;

    face_seg_defaults(&prm);
    disc(seeds, w, h, 6, 6, 3, 1);
    disc(seeds, w, h, 30, 8, 3, 2);
    disc(seeds, w, h, 20, 26, 3, 3);
    prm.lambda = 0;
    CHECK(face_segment(lab, im.px, w, h, im.stride, seeds, 3, &prm, NULL) ==
          FACET_OK);
    CHECK(face_seg_dataterm(cost, im.px, w, h, im.stride, seeds, 3, &prm) ==
          FACET_OK);
    for (size_t p = 0; p < np; p++) {
        int k = 0;

        for (int i = 1; i < 3; i++)
            k = cost[i * np + p] < cost[k * np + p] ? i : k;
        bad += lab[p] != k;
    }
    CHECKF(bad == 0, "face_segment lambda 0: %d pixels not at the argmin",
           bad);
    free(seeds);
    free(lab);
    free(cost);
    free(im.px);
}

// Same colours, different labels by position: quadrants TL red = A,
// TR red = B, BL blue = B, BR blue = A. Every label has red and blue
// scribbles (a global colour model cannot tell them apart), and the blue
// scribbles sit just below the middle, so that the red pixels just above
// them are nearer to the other label's scribble (a nearest-scribble rule
// gets them wrong). The spatially varying model gets them right.
static void test_spatially_varying(void)
{
    int w = 64, h = 64, bad = 0, far_bad = 0, voronoi_bad = 0;
    size_t np = (size_t)w * h;
    timg im = timg_new(w, h);
    uint8_t *seeds = calloc(np, 1), *lab = malloc(np);
    facet_rng r;
    struct { double x, y; int v; } blobs[4] = {
        {8, 8, 1}, {56, 8, 2}, {16, 36, 2}, {48, 36, 1}};

    facet_rng_seed(&r, 9);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int nr = (int)(20 * facet_rng_float(&r)) - 10;

            if (y < 32)
                timg_set(&im, x, y, 200 + nr, 40 + nr, 40);
            else
                timg_set(&im, x, y, 40, 50 + nr, 200 + nr);
        }
    }
    for (int b = 0; b < 4; b++)
        disc(seeds, w, h, blobs[b].x, blobs[b].y, 1.5, blobs[b].v);
    CHECK(face_segment(lab, im.px, w, h, im.stride, seeds, 2, NULL, NULL) ==
          FACET_OK);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int want = (x < 32) == (y < 32) ? 0 : 1;
            int got = lab[(size_t)y * w + x], vor = 0;
            double best = HUGE_VAL;

            // The nearest-scribble label, for the record.
            for (int b = 0; b < 4; b++) {
                double d = hypot(x - blobs[b].x, y - blobs[b].y);

                if (d < best) {
                    best = d;
                    vor = blobs[b].v - 1;
                }
            }
            voronoi_bad += vor != want;
            bad += got != want;
            // Away from the red|red and blue|blue borders at x = 32 the
            // answer must be exact. On one colour the border lies where
            // the two labels' spatial kernels balance, and each kernel's
            // width follows the distance to that label's nearest scribble,
            // which may be one of the other colour: the border may move a
            // few pixels (measured: at most 6, near y = 26).
            if (abs(2 * x - 63) > 16)
                far_bad += got != want;
        }
    }
    CHECKF(voronoi_bad > 200, "the layout is too easy: the nearest "
           "scribble is wrong at only %d pixels", voronoi_bad);
    CHECKF(far_bad == 0, "spatially varying: %d pixels wrong away from "
           "x = 32", far_bad);
    CHECKF(bad <= 128, "spatially varying: %d pixels wrong in all (the "
           "nearest scribble: %d)", bad, voronoi_bad);
    free(seeds);
    free(lab);
    free(im.px);
}

// Renumbering the labels permutes the result, bit for bit.
static void test_relabel(void)
{
    static const int perm3[3] = {2, 0, 1};  // old label i -> perm3[i]
    int w = 50, h = 40;
    size_t np = (size_t)w * h;
    timg im = smooth_image(w, h, 8, 30);
    uint8_t *s3 = calloc(np, 1), *t3 = calloc(np, 1);
    uint8_t *a = malloc(np), *b = malloc(np);
    face_seg_stats sa, sb;
    int bad = 0;

    disc(s3, w, h, 8, 8, 4, 1);
    disc(s3, w, h, 40, 10, 3, 2);
    disc(s3, w, h, 25, 30, 5, 3);
    disc(s3, w, h, 45, 35, 3, FACE_SEG_EXCLUDED);
    for (int y = 0; y < h; y++)
        s3[(size_t)y * w] = 1;
    for (size_t p = 0; p < np; p++)
        t3[p] = s3[p] == 0 || s3[p] == FACE_SEG_EXCLUDED
                    ? s3[p] : (uint8_t)(perm3[s3[p] - 1] + 1);

    // Three labels.
    CHECK(face_segment(a, im.px, w, h, im.stride, s3, 3, NULL, &sa) ==
          FACET_OK);
    CHECK(face_segment(b, im.px, w, h, im.stride, t3, 3, NULL, &sb) ==
          FACET_OK);
    for (size_t p = 0; p < np; p++)
        bad += a[p] == FACE_SEG_EXCLUDED ? b[p] != a[p]
                                         : b[p] != perm3[a[p]];
    CHECKF(bad == 0, "relabel 3: %d pixels", bad);
    CHECK(sa.iterations == sb.iterations && sa.primal == sb.primal &&
          sa.dual == sb.dual);

    // Two labels: swap 1 and 2.
    for (size_t p = 0; p < np; p++) {
        s3[p] = s3[p] == 3 ? 2 : s3[p];
        t3[p] = s3[p] == 1 ? 2 : s3[p] == 2 ? 1 : s3[p];
    }
    CHECK(face_segment(a, im.px, w, h, im.stride, s3, 2, NULL, &sa) ==
          FACET_OK);
    CHECK(face_segment(b, im.px, w, h, im.stride, t3, 2, NULL, &sb) ==
          FACET_OK);
    bad = 0;
    for (size_t p = 0; p < np; p++)
        bad += a[p] == FACE_SEG_EXCLUDED ? b[p] != a[p] : b[p] != 1 - a[p];
    CHECKF(bad == 0, "relabel 2: %d pixels", bad);
    free(s3);
    free(t3);
    free(a);
    free(b);
    free(im.px);
}

// Excluded pixels keep 255, and their colours change nothing.
static void test_excluded(void)
{
    int w = 44, h = 30, bad = 0;
    size_t np = (size_t)w * h;
    timg im = smooth_image(w, h, 12, 20);
    uint8_t *seeds = calloc(np, 1), *a = malloc(np), *b = malloc(np);
    face_seg_stats sa, sb;

    disc(seeds, w, h, 5, 5, 3, 1);
    disc(seeds, w, h, 38, 24, 3, 2);
    for (int y = 0; y < h; y++)
        for (int x = 18; x < 24; x++)
            if (y > 4)
                seeds[(size_t)y * w + x] = FACE_SEG_EXCLUDED;
    CHECK(face_segment(a, im.px, w, h, im.stride, seeds, 2, NULL, &sa) ==
          FACET_OK);
    for (size_t p = 0; p < np; p++)
        bad += (seeds[p] == FACE_SEG_EXCLUDED) !=
               (a[p] == FACE_SEG_EXCLUDED);
    CHECK(bad == 0);

    // Paint the excluded pixels in both scribble colours, in stripes.
    for (int y = 0; y < h; y++)
        for (int x = 18; x < 24; x++)
            if (y > 4) {
                const uint8_t *c = timg_at(&im, (y & 1) ? 5 : 38,
                                           (y & 1) ? 5 : 24);

                timg_set(&im, x, y, c[0], c[1], c[2]);
            }
    CHECK(face_segment(b, im.px, w, h, im.stride, seeds, 2, NULL, &sb) ==
          FACET_OK);
    CHECK(memcmp(a, b, np) == 0);
    CHECK(sa.iterations == sb.iterations && sa.primal == sb.primal);

    // All pixels excluded or scribbles: nothing to solve.
    memset(seeds, FACE_SEG_EXCLUDED, np);
    seeds[0] = 1;
    seeds[np - 1] = 2;
    CHECK(face_segment(a, im.px, w, h, im.stride, seeds, 2, NULL, &sa) ==
          FACET_OK);
    CHECK(a[0] == 0 && a[np - 1] == 1 && a[1] == FACE_SEG_EXCLUDED);
    CHECK(sa.iterations == 0);
    free(seeds);
    free(a);
    free(b);
    free(im.px);
}

// ---------------------------------------------------------------------------
// Bad arguments

static void test_bad_args(void)
{
    int w = 10, h = 8;
    size_t np = (size_t)w * h;
    timg im = smooth_image(w, h, 13, 10);
    uint8_t *seeds = calloc(np, 1), *lab = malloc(np);
    float *cost = fnan(3 * np), g1[4] = {1, 1, 1, 1};
    double *d2 = malloc(np * sizeof *d2);
    face_seg_params p, q;
    face_seg_solver *s = (face_seg_solver *)&p;

    face_seg_defaults(&p);
    seeds[0] = 1;
    seeds[np - 1] = 2;
    seeds[5] = 3;
#define SEG(n, prm) face_segment(lab, im.px, w, h, im.stride, seeds, n, prm, \
                                 NULL)
    CHECK(SEG(3, &p) == FACET_OK);
    CHECK(SEG(1, &p) == FACET_E_ARG);
    CHECK(SEG(9, &p) == FACET_E_ARG);
    CHECK(SEG(2, &p) == FACET_E_ARG);  // seed 3 > nlabels
    CHECK(strstr(facet_error(), "seed 3") != NULL);
    CHECK(SEG(4, &p) == FACET_E_ARG);  // label 3 has no scribble
    CHECK(strstr(facet_error(), "no scribble") != NULL);
    CHECK(face_segment(NULL, im.px, w, h, im.stride, seeds, 3, &p, NULL) ==
          FACET_E_ARG);
    CHECK(face_segment(lab, NULL, w, h, im.stride, seeds, 3, &p, NULL) ==
          FACET_E_ARG);
    CHECK(face_segment(lab, im.px, w, h, im.stride, NULL, 3, &p, NULL) ==
          FACET_E_ARG);
    CHECK(face_segment(lab, im.px, 0, h, im.stride, seeds, 3, &p, NULL) ==
          FACET_E_ARG);
    CHECK(face_segment(lab, im.px, w, -1, im.stride, seeds, 3, &p, NULL) ==
          FACET_E_ARG);
    CHECK(face_segment(lab, im.px, w, h, 3 * w - 1, seeds, 3, &p, NULL) ==
          FACET_E_ARG);
    CHECK(face_segment(lab, im.px, 40000, 2, 120000, seeds, 3, &p, NULL) ==
          FACET_E_ARG);
    CHECK(face_segment(lab, im.px, 20000, 20000, 60000, seeds, 3, &p, NULL)
          == FACET_E_TOO_LARGE);
    seeds[7] = 200;
    CHECK(SEG(3, &p) == FACET_E_ARG);
    seeds[7] = FACE_SEG_EXCLUDED;
    CHECK(SEG(3, &p) == FACET_OK);

    // Parameters out of range.
    q = p, q.color_sigma = 0;
    CHECK(SEG(3, &q) == FACET_E_ARG);
    q = p, q.alpha = NAN;
    CHECK(SEG(3, &q) == FACET_E_ARG);
    q = p, q.alpha = 0;
    CHECK(SEG(3, &q) == FACET_E_ARG);
    q = p, q.lambda = -1;
    CHECK(SEG(3, &q) == FACET_E_ARG);
    q = p, q.gamma = INFINITY;
    CHECK(SEG(3, &q) == FACET_E_ARG);
    q = p, q.max_iter = -1;
    CHECK(SEG(3, &q) == FACET_E_ARG);
    q = p, q.gap_tol = NAN;
    CHECK(SEG(3, &q) == FACET_E_ARG);
    q = p, q.max_scribbles = 0;
    CHECK(SEG(3, &q) == FACET_E_ARG);
#undef SEG

    // The lower-level entry points.
    CHECK(face_seg_dataterm(cost, im.px, w, h, im.stride, seeds, 4, &p) ==
          FACET_E_ARG);
    CHECK(face_seg_dataterm(cost, im.px, w, h, im.stride, seeds, 3, NULL) ==
          FACET_E_ARG);
    CHECK(face_seg_edge_weight(cost, im.px, w, h, 2, NULL, 5) ==
          FACET_E_ARG);
    CHECK(face_seg_edge_weight(cost, im.px, w, h, im.stride, NULL, -1) ==
          FACET_E_ARG);
    CHECK(face_seg_sqdist(d2, NULL, w, h) == FACET_E_ARG);
    CHECK(face_seg_sqdist(d2, seeds, 0, h) == FACET_E_ARG);
    for (size_t i = 0; i < 3 * np; i++)
        cost[i] = 0.5f;
    CHECK(face_seg_solver_create(&s, cost, NULL, seeds, w, h, 1, 1.0) ==
          FACET_E_ARG && s == NULL);
    CHECK(face_seg_solver_create(&s, cost, NULL, NULL, w, h, 3, -1.0) ==
          FACET_E_ARG);
    cost[17] = INFINITY;
    CHECK(face_seg_solver_create(&s, cost, NULL, NULL, w, h, 3, 1.0) ==
          FACET_E_ARG);
    cost[17] = 0.5f;
    g1[2] = 1.5f;
    CHECK(face_seg_solver_create(&s, cost, g1, NULL, 2, 2, 3, 1.0) ==
          FACET_E_ARG);
    CHECK(face_seg_solve(lab, cost, NULL, NULL, w, h, 3, 1.0, -5, 1e-3,
                         NULL) == FACET_E_ARG);
    seeds[3] = 9;
    CHECK(face_seg_solve(lab, cost, NULL, seeds, w, h, 3, 1.0, 10, 1e-3,
                         NULL) == FACET_E_ARG);
    free(seeds);
    free(lab);
    free(cost);
    free(d2);
    free(im.px);
}

// ---------------------------------------------------------------------------
// Threads

// Seeds in the manner of the face base: a border band (label 0), a
// central blob (label 1), and for 3 labels a third blob.
static uint8_t *bench_seeds(int w, int h, int n)
{
    size_t np = (size_t)w * h;
    uint8_t *s = calloc(np, 1);
    int band = w / 40 + 2;

    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (x < band || y < band || x >= w - band || y >= h - band)
                s[(size_t)y * w + x] = 1;
    disc(s, w, h, w * 0.5, h * 0.45, w * 0.12, 2);
    if (n > 2)
        disc(s, w, h, w * 0.5, h * 0.82, w * 0.07, 3);
    return s;
}

static void test_threads(void)
{
    int w = 96, h = 80, saved = facet_threads();
    size_t np = (size_t)w * h;
    timg im = smooth_image(w, h, 14, 30);
    uint8_t *seeds = bench_seeds(w, h, 3);
    uint8_t *a = malloc(np), *b = malloc(np);
    float *ca = fnan(3 * np), *cb = fnan(3 * np);
    face_seg_stats sa, sb;
    face_seg_params p;

    face_seg_defaults(&p);
    p.max_iter = 300;  // a fixed count: the check is about bits
    p.gap_tol = 0;
    facet_set_threads(1);
    CHECK(face_seg_dataterm(ca, im.px, w, h, im.stride, seeds, 3, &p) ==
          FACET_OK);
    CHECK(face_segment(a, im.px, w, h, im.stride, seeds, 3, &p, &sa) ==
          FACET_OK);
    facet_set_threads(2);
    CHECK(face_seg_dataterm(cb, im.px, w, h, im.stride, seeds, 3, &p) ==
          FACET_OK);
    CHECK(face_segment(b, im.px, w, h, im.stride, seeds, 3, &p, &sb) ==
          FACET_OK);
    facet_set_threads(saved);
    CHECK(memcmp(ca, cb, 3 * np * sizeof *ca) == 0);
    CHECK(memcmp(a, b, np) == 0);
    CHECK(sa.iterations == 300 && sb.iterations == 300);
    // Field by field: the struct's padding bytes are not part of it.
    CHECK(sa.primal == sb.primal && sa.dual == sb.dual && sa.gap == sb.gap);
    free(seeds);
    free(a);
    free(b);
    free(ca);
    free(cb);
    free(im.px);
}

// ---------------------------------------------------------------------------
// Timing

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

// Time face_seg_dataterm and face_segment on a synthetic image with the
// bench seeds; one thread; the median of `reps` runs.
static void time_one(int side, int n, int reps)
{
    size_t np = (size_t)side * side;
    timg im = smooth_image(side, side, 15, 30);
    uint8_t *seeds = bench_seeds(side, side, n), *lab = malloc(np);
    float *cost = fnan((size_t)n * np);
    double td[9], ts[9];
    face_seg_stats st = {0};
    face_seg_params prm;
    int saved = facet_threads(), counts[FACE_SEG_MAX_LABELS] = {0};

    for (size_t p = 0; p < np; p++)
        if (seeds[p] >= 1 && seeds[p] <= n)
            counts[seeds[p] - 1]++;
    face_seg_defaults(&prm);
    facet_set_threads(1);
    for (int r = 0; r < reps; r++) {
        double t0 = facet_now();

        CHECK(face_seg_dataterm(cost, im.px, side, side, im.stride, seeds,
                                n, &prm) == FACET_OK);
        td[r] = facet_now() - t0;
        t0 = facet_now();
        CHECK(face_segment(lab, im.px, side, side, im.stride, seeds, n,
                           &prm, &st) == FACET_OK);
        ts[r] = facet_now() - t0;
    }
    facet_set_threads(saved);
    qsort(td, reps, sizeof *td, cmp_double);
    qsort(ts, reps, sizeof *ts, cmp_double);
    printf("time %dx%d, %d labels, scribbles", side, side, n);
    for (int i = 0; i < n; i++)
        printf(" %d", counts[i]);
    printf(" (at most %d used): data term %.1f ms, face_segment %.1f ms "
           "(%d iterations, gap %.2g)\n", prm.max_scribbles,
           1e3 * td[reps / 2], 1e3 * ts[reps / 2], st.iterations, st.gap);
    free(seeds);
    free(lab);
    free(cost);
    free(im.px);
}

int main(int argc, char **argv)
{
    int full = argc > 1 && strcmp(argv[1], "--full") == 0;

    test_sqdist();
    test_simplex();
    test_dataterm();
    test_edge_weight();
    test_solver_ref();
    test_solver_simplex();
    test_solver_gap();
    test_solver_limits();
    test_solver_cut();
    test_two_colours();
    test_lambda0_segment();
    test_spatially_varying();
    test_relabel();
    test_excluded();
    test_bad_args();
    test_threads();
    if (full) {
        time_one(128, 2, 5);
        time_one(128, 3, 5);
        time_one(256, 2, 5);
        time_one(256, 3, 5);
    } else {
        time_one(128, 2, 1);
    }
    return check_report();
}
