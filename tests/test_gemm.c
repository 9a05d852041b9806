// test_gemm.c - la_sgemm against la_sgemm__ref on every ISA path: the four
// transpose combinations, alpha/beta variants (beta == 0 over a NaN C),
// every epilogue, edge shapes that are not multiples of any tile or block,
// padded leading dimensions whose padding must be neither read nor
// written, real VGG-16 im2col shapes, fully connected shapes, junk
// scratch, and bitwise equality between 1 and 2 threads.
//
// Tolerance (used by every comparison; see tol_scale):
//   |c - ref| <= (6 sqrt(k) + 8) u * mag,   u = 2^-24,
//   mag = |alpha| sum_p |a_ip b_pj| + |beta c_ij| + |bias|   (x |slope|
//   when PReLU scales a negative value).
// la_sgemm sums k products in float in an order set by its blocking, the
// reference in double. With rounding errors behaving as independent
// zero-mean variables (true for these random inputs), the error of a k-term
// float dot product stays below lambda sqrt(k) u sum|a b| with probability
// at least 1 - 2 exp(-lambda^2 / 2) (Higham & Mary, "A New Approach to
// Probabilistic Rounding Error Analysis", SIAM J. Sci. Comput. 41(5),
// 2019); lambda = 6 makes a false alarm about 3e-8 per element. The 8u
// cover the alpha scaling, the beta merge, the bias add and the final
// rounding of the reference. The worst-case bound k u would be too loose
// to notice one product missing from a long sum; this one is about ten
// times tighter than that at k = 4608.
#include <float.h>
#include <stdint.h>

#include "../linalg/gemm_internal.h"
#include "../linalg/linalg.h"
#include "check.h"

// A NaN with a payload no arithmetic produces: C padding is filled with
// it and must keep these exact bits.
static const uint32_t SENTINEL = 0x7fc0beefu;

typedef struct gemm_case {
    la_trans ta, tb;
    int m, n, k;
    int pad;         // extra elements at the end of each row of A, B, C
    float alpha, beta;
    la_epilogue ep;  // act NONE and no bias: no epilogue
    int use_ep;
} gemm_case;

// The largest error / tolerance seen over all comparisons (printed at the
// end, to show the margin).
static double worst_seen;

static float sentinel(void)
{
    float f;
    memcpy(&f, &SENTINEL, sizeof f);
    return f;
}

static int is_sentinel(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u == SENTINEL;
}

// Stored size of an operand: rows x ld, with the padding of each row.
static size_t stored(int rows, int cols, int pad)
{
    return (size_t)(rows > 0 ? rows : 1) * (size_t)(cols + pad);
}

// Fill rows x cols (leading dimension cols + pad) with uniform [-1, 1)
// values and the padding with NaN, so that reading it poisons the result.
static void fill_operand(float *p, int rows, int cols, int pad, facet_rng *r)
{
    int ld = cols + pad;

    check_fill_nan(p, stored(rows, cols, pad));
    for (int i = 0; i < rows; i++)
        check_fill_random(p + (size_t)i * ld, (size_t)cols, r, -1.0f, 1.0f);
}

// mag (see the header) for every element of C, from the inputs before the
// call: c0 is C as it was, with the same leading dimension.
static void magnitudes(double *mag, const gemm_case *g, const float *a,
                       const float *b, const float *c0)
{
    int lda = (g->ta == LA_NOTRANS ? g->k : g->m) + g->pad;
    int ldb = (g->tb == LA_NOTRANS ? g->n : g->k) + g->pad;
    int ldc = g->n + g->pad;
    double *bt = malloc(sizeof(double) * (size_t)g->n * (size_t)g->k + 8);
    double *arow = malloc(sizeof(double) * (size_t)g->k + 8);

    // |op(B)| transposed (n x k), so each dot product runs contiguously.
    for (int p = 0; p < g->k; p++)
        for (int j = 0; j < g->n; j++)
            bt[(size_t)j * g->k + p] = fabs(
                g->tb == LA_NOTRANS ? b[(size_t)p * ldb + j]
                                    : b[(size_t)j * ldb + p]);
    for (int i = 0; i < g->m; i++) {
        for (int p = 0; p < g->k; p++)
            arow[p] = fabs(g->ta == LA_NOTRANS ? a[(size_t)i * lda + p]
                                               : a[(size_t)p * lda + i]);
        for (int j = 0; j < g->n; j++) {
            const double *bj = bt + (size_t)j * g->k;
            double s = 0.0, v;
            int ch = g->ep.axis == LA_BIAS_ROW ? i : j;

            for (int p = 0; p < g->k; p++)
                s += arow[p] * bj[p];
            v = fabs((double)g->alpha) * s;
            if (g->beta != 0.0f)
                v += fabs((double)g->beta * c0[(size_t)i * ldc + j]);
            if (g->use_ep && g->ep.bias)
                v += fabs((double)g->ep.bias[ch]);
            if (g->use_ep && g->ep.act == LA_ACT_PRELU &&
                fabs((double)g->ep.slope[ch]) > 1.0)
                v *= fabs((double)g->ep.slope[ch]);
            mag[(size_t)i * g->n + j] = v;
        }
    }
    free(bt);
    free(arow);
}

static double tol_scale(int k)
{
    return (6.0 * sqrt((double)k) + 8.0) * ldexp(1.0, -24);
}

// Count elements of got outside the tolerance around want, and padding
// elements of got that lost the sentinel.
static void compare(const gemm_case *g, const float *got, const float *want,
                    const double *mag, int *bad, int *bad_pad,
                    double *worst)
{
    int ldc = g->n + g->pad;
    double ts = tol_scale(g->k);

    *bad = *bad_pad = 0;
    *worst = 0.0;
    for (int i = 0; i < g->m; i++) {
        for (int j = 0; j < ldc; j++) {
            float x = got[(size_t)i * ldc + j], y = want[(size_t)i * ldc + j];
            double tol, err;

            if (j >= g->n) {
                *bad_pad += !is_sentinel(x);
                continue;
            }
            tol = ts * mag[(size_t)i * g->n + j] + 1e-30;
            err = fabs((double)x - (double)y);
            if (!(err <= tol))
                (*bad)++;
            if (err / tol > *worst || err != err)
                *worst = err / tol;
        }
    }
}

// The per-call setup: C's valid part from c0 (or NaN when beta == 0), its
// padding the sentinel; scratch junk.
static void prepare_c(float *c, const float *c0, const gemm_case *g)
{
    int ldc = g->n + g->pad;

    for (int i = 0; i < g->m; i++)
        for (int j = 0; j < ldc; j++)
            c[(size_t)i * ldc + j] =
                j >= g->n ? sentinel()
                          : g->beta == 0.0f ? NAN : c0[(size_t)i * ldc + j];
}

static void call_sgemm(const gemm_case *g, const float *a, const float *b,
                       float *c, void *scratch)
{
    int lda = (g->ta == LA_NOTRANS ? g->k : g->m) + g->pad;
    int ldb = (g->tb == LA_NOTRANS ? g->n : g->k) + g->pad;

    la_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb,
             g->beta, c, g->n + g->pad, g->use_ep ? &g->ep : NULL, scratch);
}

// Run one case on every ISA path (own scratch filled with junk, and once
// with scratch == NULL), comparing with the reference.
static void run_case(const gemm_case *g, facet_rng *r, const char *what)
{
    facet_isa isas[FACET_ISA_COUNT];
    int nisa = check_isas(isas);
    int arows = g->ta == LA_NOTRANS ? g->m : g->k;
    int acols = g->ta == LA_NOTRANS ? g->k : g->m;
    int brows = g->tb == LA_NOTRANS ? g->k : g->n;
    int bcols = g->tb == LA_NOTRANS ? g->n : g->k;
    size_t csize = stored(g->m, g->n, g->pad);
    float *a = malloc(sizeof(float) * stored(arows, acols, g->pad));
    float *b = malloc(sizeof(float) * stored(brows, bcols, g->pad));
    float *c0 = malloc(sizeof(float) * csize);
    float *want = malloc(sizeof(float) * csize);
    float *got = malloc(sizeof(float) * csize);
    double *mag = malloc(sizeof(double) * (size_t)g->m * g->n + 8);
    size_t sbytes = la_sgemm_scratch_size(g->m, g->n, g->k, facet_threads());
    void *scratch = facet_alloc(sbytes);

    // Inputs, and the reference result with its per-element magnitudes.
    fill_operand(a, arows, acols, g->pad, r);
    fill_operand(b, brows, bcols, g->pad, r);
    fill_operand(c0, g->m, g->n, g->pad, r);
    prepare_c(want, c0, g);
    la_sgemm__ref(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a,
                  (g->ta == LA_NOTRANS ? g->k : g->m) + g->pad, b,
                  (g->tb == LA_NOTRANS ? g->n : g->k) + g->pad, g->beta, want,
                  g->n + g->pad, g->use_ep ? &g->ep : NULL);
    magnitudes(mag, g, a, b, c0);

    for (int s = 0; s < nisa; s++) {
        for (int own = 0; own < 2; own++) {
            int bad, bad_pad;
            double worst;

            CHECK(facet_isa_force(isas[s]) == FACET_OK);
            prepare_c(got, c0, g);
            if (scratch)
                check_fill_junk(scratch, sbytes);
            call_sgemm(g, a, b, got, own ? NULL : scratch);
            compare(g, got, want, mag, &bad, &bad_pad, &worst);
            worst_seen = worst > worst_seen ? worst : worst_seen;
            CHECKF(bad == 0 && bad_pad == 0,
                   "%s %s: %s%s m=%d n=%d k=%d pad=%d alpha=%g beta=%g "
                   "ep=%d act=%d axis=%d%s: %d outside tolerance (worst "
                   "%.3g x tol), %d padding elements written",
                   what, facet_isa_name(isas[s]), g->ta ? "T" : "N",
                   g->tb ? "T" : "N", g->m, g->n, g->k, g->pad, g->alpha,
                   g->beta, g->use_ep, (int)g->ep.act, (int)g->ep.axis,
                   own ? " (own scratch)" : "", bad, worst, bad_pad);
        }
    }
    CHECK(facet_isa_force(isas[nisa - 1]) == FACET_OK);
    facet_free(scratch);
    free(a);
    free(b);
    free(c0);
    free(want);
    free(got);
    free(mag);
}

// Channel vectors for the epilogue, long enough for any axis here.
enum { MAXCH = 8192 };
static float bias_v[MAXCH], slope_v[MAXCH];

// The epilogue variants the cases cycle through.
static la_epilogue epilogue_variant(int v, int *use)
{
    static const la_epilogue eps[] = {
        {NULL, NULL, LA_ACT_NONE, LA_BIAS_ROW},
        {bias_v, NULL, LA_ACT_NONE, LA_BIAS_ROW},
        {bias_v, NULL, LA_ACT_RELU, LA_BIAS_COL},
        {NULL, NULL, LA_ACT_RELU, LA_BIAS_ROW},
        {bias_v, NULL, LA_ACT_RELU6, LA_BIAS_ROW},
        {bias_v, slope_v, LA_ACT_PRELU, LA_BIAS_COL},
        {NULL, slope_v, LA_ACT_PRELU, LA_BIAS_ROW},
        {bias_v, NULL, LA_ACT_NONE, LA_BIAS_COL},
    };
    int n = (int)(sizeof eps / sizeof eps[0]);

    *use = v % n != 0;
    return eps[v % n];
}

// (alpha, beta) variants: beta == 0 runs over a NaN-filled C.
static void scale_variant(int v, float *alpha, float *beta)
{
    static const float ab[][2] = {
        {1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 0.25f}, {2.0f, -1.0f},
        {0.75f, 0.0f},
    };
    int n = (int)(sizeof ab / sizeof ab[0]);

    *alpha = ab[v % n][0];
    *beta = ab[v % n][1];
}

// Small and odd shapes: every size below, all transposes, cycling through
// scales, epilogues and padding.
static void test_edges(facet_rng *r)
{
    static const int ms[] = {1, 2, 3, 7, 13, 17, 31, 33, 65};
    static const int ks[] = {1, 3, 17, 65};
    int nm = (int)(sizeof ms / sizeof ms[0]);
    int nk = (int)(sizeof ks / sizeof ks[0]);
    int v = 0;

    for (int im = 0; im < nm; im++)
        for (int in = 0; in < nm; in++)
            for (int ik = 0; ik < nk; ik++, v++) {
                gemm_case g = {
                    .ta = (la_trans)(v & 1),
                    .tb = (la_trans)((v >> 1) & 1),
                    .m = ms[im], .n = ms[in], .k = ks[ik],
                    .pad = (v % 3 == 0) ? 0 : 1 + v % 5,
                };

                scale_variant(v / 4, &g.alpha, &g.beta);
                g.ep = epilogue_variant(v / 3, &g.use_ep);
                run_case(&g, r, "edge");
            }
}

// Sizes that cross the K, NC and thread-split blocks of every kernel
// (kc <= 384, NC <= 1024), with every transpose combination.
static void test_blocks(facet_rng *r)
{
    static const int shapes[][3] = {
        {13, 1100, 400}, {37, 70, 1000}, {100, 33, 777}, {5, 2100, 257},
        {130, 530, 390}, {20, 100, 1024},
    };
    int v = 0;

    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        for (int t = 0; t < 4; t++, v++) {
            gemm_case g = {
                .ta = (la_trans)(t & 1), .tb = (la_trans)(t >> 1),
                .m = shapes[s][0], .n = shapes[s][1], .k = shapes[s][2],
                .pad = v % 2 ? 3 : 0,
            };

            scale_variant(v, &g.alpha, &g.beta);
            g.ep = epilogue_variant(v + 1, &g.use_ep);
            run_case(&g, r, "blocks");
        }
}

// Real layer shapes: VGG-16 im2col (C = W x col, bias per row and ReLU,
// as the convolution layers call it) and fully connected layers at small
// batch (weights n x k, used transposed).
static void test_layers(facet_rng *r)
{
    gemm_case conv[] = {
        {LA_NOTRANS, LA_NOTRANS, 64, 3136, 576, 0, 1.0f, 0.0f,
         {bias_v, NULL, LA_ACT_RELU, LA_BIAS_ROW}, 1},
        {LA_NOTRANS, LA_NOTRANS, 512, 196, 4608, 0, 1.0f, 0.0f,
         {bias_v, NULL, LA_ACT_RELU, LA_BIAS_ROW}, 1},
        {LA_NOTRANS, LA_NOTRANS, 64, 1000, 27, 0, 1.0f, 0.0f,
         {bias_v, NULL, LA_ACT_NONE, LA_BIAS_ROW}, 1},
        {LA_NOTRANS, LA_TRANS, 1, 1000, 2048, 0, 1.0f, 0.0f,
         {bias_v, NULL, LA_ACT_NONE, LA_BIAS_COL}, 1},
        {LA_NOTRANS, LA_TRANS, 8, 512, 4096, 0, 1.0f, 0.0f,
         {bias_v, NULL, LA_ACT_RELU, LA_BIAS_COL}, 1},
    };

    for (int i = 0; i < (int)(sizeof conv / sizeof conv[0]); i++)
        run_case(&conv[i], r, "layer");
}

// k == 0 and alpha == 0: C = beta C, then the epilogue; A and B (NaN
// here) are not read.
static void test_degenerate(void)
{
    float a[4] = {NAN, NAN, NAN, NAN}, b[4] = {NAN, NAN, NAN, NAN};
    float c[6] = {1, -2, 3, -4, 5, -6};
    la_epilogue relu = {NULL, NULL, LA_ACT_RELU, LA_BIAS_ROW};

    la_sgemm(LA_NOTRANS, LA_NOTRANS, 2, 3, 0, 1.0f, a, 1, b, 3, 2.0f, c, 3,
             NULL, NULL);
    CHECK(c[0] == 2 && c[1] == -4 && c[5] == -12);
    la_sgemm(LA_NOTRANS, LA_NOTRANS, 2, 2, 2, 0.0f, a, 2, b, 2, 0.5f, c, 3,
             &relu, NULL);
    CHECK(c[0] == 1 && c[1] == 0 && c[2] == 6 && c[3] == 0 && c[4] == 5);
    check_fill_nan(c, 6);
    la_sgemm(LA_NOTRANS, LA_NOTRANS, 2, 3, 0, 1.0f, a, 1, b, 3, 0.0f, c, 3,
             NULL, NULL);
    CHECK(c[0] == 0 && c[5] == 0);

    // m == 0 or n == 0 touches nothing.
    c[0] = 7;
    la_sgemm(LA_NOTRANS, LA_NOTRANS, 0, 3, 2, 1.0f, a, 2, b, 3, 0.0f, c, 3,
             NULL, NULL);
    la_sgemm(LA_NOTRANS, LA_NOTRANS, 2, 0, 2, 1.0f, a, 2, b, 1, 0.0f, c, 1,
             NULL, NULL);
    CHECK(c[0] == 7);
    CHECK(la_sgemm_scratch_size(0, 5, 5, 2) == 0);
    CHECK(la_sgemm_scratch_size(5, 5, 5, 2) >=
          la_sgemm_scratch_size(5, 5, 5, 1));
}

// The epilogue's exact values, including -0 and NaN through the
// activations (a SIMD max/min with the constant first gives these).
static void test_epilogue_values(void)
{
    float c[2][4] = {{-1.0f, 2.0f, 7.0f, -0.0f}, {NAN, -3.0f, 0.5f, 6.5f}};
    float bias[2] = {0.5f, -0.5f}, slope[2] = {0.25f, 2.0f};
    float x[2][4];
    la_epilogue ep = {bias, NULL, LA_ACT_RELU6, LA_BIAS_ROW};

    memcpy(x, c, sizeof x);
    la_epilogue_apply(&x[0][0], 4, 2, 4, 0, 0, &ep);
    CHECK(x[0][0] == 0.0f && x[0][1] == 2.5f && x[0][2] == 6.0f);
    CHECK(x[0][3] == 0.5f && isnan(x[1][0]) && x[1][1] == 0.0f);
    CHECK(x[1][2] == 0.0f && x[1][3] == 6.0f);

    ep = (la_epilogue){NULL, slope, LA_ACT_PRELU, LA_BIAS_COL};
    memcpy(x, c, sizeof x);
    la_epilogue_apply(&x[0][0], 4, 2, 2, 0, 0, &ep);
    CHECK(x[0][0] == -0.25f && x[0][1] == 2.0f && x[1][1] == -6.0f);
    CHECK(x[0][2] == 7.0f && x[0][3] == -0.0f && signbit(x[0][3]));

    // The block's position selects the channel: row0 = 1 is bias[1].
    ep = (la_epilogue){bias, NULL, LA_ACT_RELU, LA_BIAS_ROW};
    memcpy(x, c, sizeof x);
    la_epilogue_apply(&x[0][0], 4, 1, 4, 1, 0, &ep);
    CHECK(x[0][0] == 0.0f && x[0][1] == 1.5f && x[0][2] == 6.5f);
    CHECK(x[0][3] == 0.0f && !signbit(x[0][3]));
    la_epilogue_apply(&x[0][0], 4, 1, 4, 0, 0, NULL);
    CHECK(x[0][1] == 1.5f);
}

// The in-register epilogue of each kernel equals la_sgemm without an
// epilogue followed by la_epilogue_apply, bit for bit.
static void test_epilogue_fused(facet_rng *r)
{
    facet_isa isas[FACET_ISA_COUNT];
    int nisa = check_isas(isas);
    int m = 29, n = 75, k = 40;
    float *a = malloc(sizeof(float) * m * k);
    float *b = malloc(sizeof(float) * k * n);
    float *x = malloc(sizeof(float) * m * n);
    float *y = malloc(sizeof(float) * m * n);

    check_fill_random(a, (size_t)m * k, r, -1.0f, 1.0f);
    check_fill_random(b, (size_t)k * n, r, -1.0f, 1.0f);
    for (int s = 0; s < nisa; s++) {
        CHECK(facet_isa_force(isas[s]) == FACET_OK);
        for (int v = 1; v < 8; v++) {
            int use;
            la_epilogue ep = epilogue_variant(v, &use);

            check_fill_random(x, (size_t)m * n, r, -1.0f, 1.0f);
            memcpy(y, x, sizeof(float) * m * n);
            la_sgemm(LA_NOTRANS, LA_NOTRANS, m, n, k, 1.0f, a, k, b, n, 0.5f,
                     x, n, &ep, NULL);
            la_sgemm(LA_NOTRANS, LA_NOTRANS, m, n, k, 1.0f, a, k, b, n, 0.5f,
                     y, n, NULL, NULL);
            la_epilogue_apply(y, n, m, n, 0, 0, &ep);
            CHECKF(memcmp(x, y, sizeof(float) * m * n) == 0,
                   "%s: fused epilogue %d differs from la_epilogue_apply",
                   facet_isa_name(isas[s]), v);
        }
    }
    CHECK(facet_isa_force(isas[nisa - 1]) == FACET_OK);
    free(a);
    free(b);
    free(x);
    free(y);
}

// The same bits with 1 and 2 threads, on shapes whose thread grid splits
// columns (wide C), columns into more cells than threads (very wide C) and
// rows (tall C: each thread packs all of B), with several K blocks.
static void test_threads(facet_rng *r)
{
    static const int shapes[][3] = {
        {100, 1500, 900}, {20, 4000, 100}, {300, 40, 800}, {600, 20, 500}};
    facet_isa isas[FACET_ISA_COUNT];
    int nisa = check_isas(isas);
    int saved = facet_threads();

    for (int sh = 0; sh < 4; sh++) {
        int m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        float *a = malloc(sizeof(float) * m * k);
        float *b = malloc(sizeof(float) * k * n);
        float *c1 = malloc(sizeof(float) * m * n);
        float *c2 = malloc(sizeof(float) * m * n);
        la_epilogue ep = {bias_v, NULL, LA_ACT_RELU, LA_BIAS_ROW};

        check_fill_random(a, (size_t)m * k, r, -1.0f, 1.0f);
        check_fill_random(b, (size_t)k * n, r, -1.0f, 1.0f);
        for (int s = 0; s < nisa; s++) {
            CHECK(facet_isa_force(isas[s]) == FACET_OK);
            facet_set_threads(1);
            check_fill_nan(c1, (size_t)m * n);
            la_sgemm(LA_NOTRANS, LA_TRANS, m, n, k, 1.0f, a, k, b, k, 0.0f,
                     c1, n, &ep, NULL);
            facet_set_threads(2);
            check_fill_nan(c2, (size_t)m * n);
            la_sgemm(LA_NOTRANS, LA_TRANS, m, n, k, 1.0f, a, k, b, k, 0.0f,
                     c2, n, &ep, NULL);
            CHECKF(memcmp(c1, c2, sizeof(float) * m * n) == 0,
                   "%s %dx%dx%d: 1 and 2 threads differ",
                   facet_isa_name(isas[s]), m, n, k);
        }
        free(a);
        free(b);
        free(c1);
        free(c2);
    }
    facet_set_threads(saved);
    CHECK(facet_isa_force(isas[nisa - 1]) == FACET_OK);
}

int main(void)
{
    facet_rng r;

    facet_rng_seed(&r, 20240611);
    check_fill_random(bias_v, MAXCH, &r, -1.0f, 1.0f);
    check_fill_random(slope_v, MAXCH, &r, -0.5f, 1.5f);

    test_epilogue_values();
    test_degenerate();
    test_epilogue_fused(&r);
    test_edges(&r);
    test_blocks(&r);
    test_threads(&r);
    test_layers(&r);
    printf("largest error seen: %.3g of the tolerance\n", worst_seen);
    return check_report();
}
