// test_layers.c - the nn/ layers other than convolution, plus the shape
// arithmetic and the arena: pooling (max with and without argmax, average
// with and without count_pad, floor and ceil mode, padding, global
// average), max unpooling, transposed convolution, fully connected,
// element-wise and channel ops, bilinear resize, softmax, sigmoid, the
// batch-norm fold, TF SAME padding and output-size tables.
//
// Layers with per-ISA kernels or GEMM inside run on every ISA path;
// references sum in double (nn.h's *__ref or loops written here). Outputs
// are NaN-filled and scratch junk-filled before each call.
#include "check.h"

#include "../nn/nn.h"

#include <float.h>

static facet_rng rng;
static facet_isa isas[FACET_ISA_COUNT];
static int isa_count;

// Unit roundoff of float.
static const double u = 0x1p-24;

static float *falloc(size_t n)
{
    float *p = facet_alloc((n ? n : 1) * sizeof *p);
    FACET_ASSERT(p);
    return p;
}

static float *frandom(size_t n, float lo, float hi)
{
    float *p = falloc(n);
    check_fill_random(p, n, &rng, lo, hi);
    return p;
}

static double act_ref(double x, la_act act, double slope)
{
    switch (act) {
    case LA_ACT_RELU:
        return x > 0 ? x : 0;
    case LA_ACT_RELU6:
        return x > 0 ? (x < 6 ? x : 6) : 0;
    case LA_ACT_PRELU:
        return x >= 0 ? x : slope * x;
    default:
        return x;
    }
}

static void *junk_scratch(size_t bytes)
{
    void *p = bytes ? facet_alloc(bytes) : NULL;
    if (p)
        check_fill_junk(p, bytes);
    return p;
}

// ---------------------------------------------------------------------------
// Shape arithmetic

static void test_shapes(void)
{
    // TF SAME: in, k, stride, dilation -> pad before, after.
    static const int same[][6] = {
        {224, 3, 2, 1, 0, 1}, {225, 3, 2, 1, 1, 1}, {7, 3, 1, 1, 1, 1},
        {8, 5, 2, 1, 1, 2},   {7, 5, 2, 1, 2, 2},   {6, 1, 2, 1, 0, 0},
        {10, 3, 1, 2, 2, 2},  {1, 7, 2, 1, 3, 3},   {112, 3, 2, 1, 0, 1},
        {14, 3, 2, 1, 0, 1},  {5, 4, 1, 1, 1, 2},   {9, 3, 3, 1, 0, 0},
    };
    // Pooling, floor and ceil: in, k, stride, pad (both sides) -> out.
    static const int pool[][6] = {
        {7, 3, 2, 0, 3, 3}, {8, 3, 2, 0, 3, 4}, {6, 2, 2, 0, 3, 3},
        {7, 2, 2, 0, 3, 4}, {5, 3, 2, 1, 3, 3}, {6, 3, 2, 1, 3, 4},
        // The last ceil window would start in the trailing padding.
        {5, 2, 2, 1, 3, 3}, {112, 3, 2, 0, 55, 56}, {1, 3, 2, 1, 1, 1},
        {2, 3, 1, 0, 0, 0},
    };

    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int a = -1, b = -1;
        nn_same_padding(&a, &b, same[i][0], same[i][1], same[i][2],
                        same[i][3]);
        CHECKF(a == same[i][4] && b == same[i][5],
               "SAME in %d k %d s %d d %d: pads %d %d, want %d %d",
               same[i][0], same[i][1], same[i][2], same[i][3], a, b,
               same[i][4], same[i][5]);
    }
    for (size_t i = 0; i < sizeof pool / sizeof pool[0]; i++)
        for (int cm = 0; cm < 2; cm++) {
            int p = pool[i][3], oh, ow;
            nn_pool_desc d = {pool[i][1], pool[i][1], pool[i][2], pool[i][2],
                              p, p, p, p, cm, 0};
            nn_pool_out_size(&oh, &ow, &d, pool[i][0], pool[i][0]);
            CHECKF(oh == pool[i][4 + cm] && ow == pool[i][4 + cm],
                   "pool in %d k %d s %d p %d ceil %d: %d, want %d",
                   pool[i][0], pool[i][1], pool[i][2], p, cm, oh,
                   pool[i][4 + cm]);
        }

    // Convolution: (h + pads - dil * (k - 1) - 1) / stride + 1; none left
    // when the kernel does not fit.
    {
        nn_conv_desc d = {.cin = 1, .cout = 1, .kh = 3, .kw = 5,
                          .stride_h = 2, .stride_w = 1, .dil_h = 1,
                          .dil_w = 2, .pad_top = 1, .pad_bottom = 0,
                          .pad_left = 0, .pad_right = 3, .groups = 1};
        int oh, ow;
        nn_conv_out_size(&oh, &ow, &d, 10, 12);
        CHECK(oh == 5 && ow == 7);
        nn_conv_out_size(&oh, &ow, &d, 1, 4);
        CHECK(oh == 0 && ow == 0);
    }

    // Transposed convolution: (h - 1) * s - pads + k.
    {
        nn_deconv_desc d = {.cin = 1, .cout = 1, .kh = 4, .kw = 3,
                            .stride_h = 2, .stride_w = 2, .pad_top = 1,
                            .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
        int oh, ow;
        nn_deconv_out_size(&oh, &ow, &d, 7, 5);
        CHECK(oh == 14 && ow == 9);
    }
}

// ---------------------------------------------------------------------------
// Arena and tensors

static void test_arena(void)
{
    nn_arena a;
    unsigned char *p, *q, *r;
    size_t mark;
    float x[24];
    nn_tensor t = nn_tensor_4d(x, 1, 2, 3, 4);

    CHECK(t.ndim == 4 && t.dim[1] == 2 && t.dim[3] == 4 && t.data == x);
    CHECK(nn_tensor_count(&t) == 24);
    t.ndim = 2;
    t.dim[0] = 6;
    t.dim[1] = 4;
    CHECK(nn_tensor_count(&t) == 24);

    CHECK(nn_arena_init(&a, 1000) == FACET_OK);
    CHECK(a.size >= 1000 && a.used == 0 && a.peak == 0);

    // Every block 64-byte aligned, however odd the sizes asked for.
    p = nn_arena_alloc(&a, 1);
    q = nn_arena_alloc(&a, 100);
    r = nn_arena_alloc(&a, 0);
    CHECK(p && q && r);
    CHECK((uintptr_t)p % 64 == 0 && (uintptr_t)q % 64 == 0 &&
          (uintptr_t)r % 64 == 0);
    CHECK(q >= p + 1 && r >= q + 100);
    CHECK(a.used == 192 && a.peak == 192);

    // Mark and reset: the space is handed out again; peak remembers.
    mark = nn_arena_mark(&a);
    CHECK(nn_arena_alloc(&a, 500) != NULL);
    CHECK(a.peak == 192 + 512);
    nn_arena_reset(&a, mark);
    CHECK(a.used == 192);
    CHECK(nn_arena_alloc(&a, 64) == q + 128);
    nn_arena_reset(&a, 0);
    CHECK(nn_arena_alloc(&a, 64) == p);

    // Exhaustion returns NULL and changes nothing; what fits still fits.
    nn_arena_reset(&a, 0);
    CHECK(nn_arena_alloc(&a, a.size + 1) == NULL);
    CHECK(nn_arena_alloc(&a, SIZE_MAX) == NULL);
    CHECK(nn_arena_alloc(&a, SIZE_MAX - 10) == NULL);
    CHECK(a.used == 0);
    CHECK(nn_arena_alloc(&a, a.size) == p);
    CHECK(nn_arena_alloc(&a, 1) == NULL);
    CHECK(a.peak == a.size);
    nn_arena_release_all(&a);
    CHECK(a.base == NULL && a.size == 0);
    CHECK(nn_arena_alloc(&a, 1) == NULL);
    nn_arena_release_all(&a);

    // A zero-byte arena still gives out zero-byte blocks.
    CHECK(nn_arena_init(&a, 0) == FACET_OK);
    CHECK(nn_arena_alloc(&a, 0) != NULL);
    CHECK(nn_arena_alloc(&a, 1) == NULL);
    nn_arena_release_all(&a);
    CHECK(nn_arena_init(&a, SIZE_MAX - 3) != FACET_OK);
}

// ---------------------------------------------------------------------------
// Pooling

// Max and average pooling of an n x c x h x w input with `d`, every ISA
// against the reference. Max pooling is exact (values and argmax); average
// pooling sums at most kh * kw inputs in [-1, 1] in float, error at most
// kh * kw * u before the division, so 2 kh kw u bounds it. All ISA paths
// must also agree bit for bit with the scalar one (same operations in the
// same order).
static void pool_case(const char *name, const nn_pool_desc *d, int n, int c,
                      int h, int w)
{
    int oh, ow;
    size_t in_n = (size_t)n * c * h * w, out_n;
    float *in = frandom(in_n, -1.0f, 1.0f), *ref, *out, *first_avg;
    int32_t *ref_at, *at;
    nn_tensor tin = nn_tensor_4d(in, n, c, h, w), tref, tout;
    double tol = 2.0 * d->kh * d->kw * u;

    nn_pool_out_size(&oh, &ow, d, h, w);
    out_n = (size_t)n * c * oh * ow;
    ref = falloc(out_n);
    out = falloc(out_n);
    first_avg = falloc(out_n);
    ref_at = malloc(sizeof *ref_at * (out_n ? out_n : 1));
    at = malloc(sizeof *at * (out_n ? out_n : 1));
    FACET_ASSERT(ref_at && at);
    tref = nn_tensor_4d(ref, n, c, oh, ow);
    tout = nn_tensor_4d(out, n, c, oh, ow);

    // Repeated values make ties: the first in window order must win.
    for (size_t i = 0; i < in_n; i += 3)
        in[i] = (float)(int)(in[i] * 4.0f) / 4.0f;

    check_fill_nan(ref, out_n);
    nn_maxpool2d__ref(&tref, ref_at, &tin, d);
    for (int i = 0; i < isa_count; i++) {
        int ok = 1, ok_at = 1;

        facet_isa_force(isas[i]);
        check_fill_nan(out, out_n);
        memset(at, 0x5a, sizeof *at * out_n);
        nn_maxpool_forward(&tout, at, &tin, d);
        for (size_t j = 0; j < out_n; j++) {
            ok &= out[j] == ref[j];
            ok_at &= at[j] == ref_at[j];
        }
        CHECKF(ok && ok_at, "%s max [%s]: values %s, argmax %s", name,
               facet_isa_name(isas[i]), ok ? "ok" : "differ",
               ok_at ? "ok" : "differ");

        // Without argmax.
        check_fill_nan(out, out_n);
        nn_maxpool_forward(&tout, NULL, &tin, d);
        ok = 1;
        for (size_t j = 0; j < out_n; j++)
            ok &= out[j] == ref[j];
        CHECKF(ok, "%s max no argmax [%s]", name, facet_isa_name(isas[i]));
    }

    check_fill_nan(ref, out_n);
    nn_avgpool2d__ref(&tref, &tin, d);
    for (int i = 0; i < isa_count; i++) {
        int ok = 1, same = 1;
        size_t bad = 0;

        facet_isa_force(isas[i]);
        check_fill_nan(out, out_n);
        nn_avgpool_forward(&tout, &tin, d);
        for (size_t j = 0; j < out_n; j++) {
            if (!(fabs((double)out[j] - ref[j]) <= tol)) {
                ok = 0;
                bad = j;
            }
            if (i == 0)
                first_avg[j] = out[j];
            else
                same &= memcmp(&first_avg[j], &out[j], sizeof(float)) == 0;
        }
        CHECKF(ok, "%s avg [%s]: out[%zu] = %.9g, want %.9g", name,
               facet_isa_name(isas[i]), bad, out[bad], ref[bad]);
        CHECKF(same, "%s avg [%s]: differs from the scalar path", name,
               facet_isa_name(isas[i]));
    }
    facet_isa_force(isas[isa_count - 1]);
    facet_free(in);
    facet_free(ref);
    facet_free(out);
    facet_free(first_avg);
    free(ref_at);
    free(at);
}

static nn_pool_desc pool_desc(int k, int s, int p, int ceil_mode,
                              int count_pad)
{
    nn_pool_desc d = {k, k, s, s, p, p, p, p, ceil_mode, count_pad};
    return d;
}

static void test_pool(void)
{
    static const int sizes[][2] = {{1, 1}, {2, 2}, {5, 7}, {8, 8}, {9, 17},
                                   {16, 33}, {13, 40}};
    char name[128];

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int h = sizes[i][0], w = sizes[i][1];
        for (int cm = 0; cm < 2; cm++)
            for (int cp = 0; cp < 2; cp++) {
                nn_pool_desc d = pool_desc(2, 2, 0, cm, cp);
                if (h >= 2 && w >= 2) {
                    snprintf(name, sizeof name, "2x2 s2 %dx%d ceil %d pad 0",
                             h, w, cm);
                    pool_case(name, &d, 2, 3, h, w);
                }
                d = pool_desc(3, 2, 1, cm, cp);
                snprintf(name, sizeof name, "3x3 s2 p1 %dx%d ceil %d cp %d",
                         h, w, cm, cp);
                pool_case(name, &d, 1, 3, h, w);
                d = pool_desc(3, 1, 1, cm, cp);
                snprintf(name, sizeof name, "3x3 s1 p1 %dx%d ceil %d cp %d",
                         h, w, cm, cp);
                pool_case(name, &d, 1, 2, h, w);
                if (h >= 3 && w >= 3) {
                    d = pool_desc(3, 2, 0, cm, cp);
                    snprintf(name, sizeof name, "3x3 s2 %dx%d ceil %d", h, w,
                             cm);
                    pool_case(name, &d, 1, 2, h, w);
                    d = pool_desc(3, 3, 0, cm, cp);
                    snprintf(name, sizeof name, "3x3 s3 %dx%d ceil %d", h, w,
                             cm);
                    pool_case(name, &d, 1, 2, h, w);
                }
            }
    }

    // Asymmetric windows and padding (as TF SAME pooling produces), and
    // the real GoogLeNet/ResNet stem pool (3x3 s2 ceil on 112x112).
    {
        nn_pool_desc d = {2, 3, 2, 1, 0, 1, 1, 2, 0, 1};
        pool_case("2x3 s2x1 asym pad", &d, 1, 2, 11, 19);
        d = (nn_pool_desc){5, 5, 1, 1, 2, 2, 2, 2, 0, 0};
        pool_case("5x5 s1 p2", &d, 1, 2, 9, 21);
        d = pool_desc(3, 2, 0, 1, 0);
        pool_case("stem 3x3 s2 ceil 112", &d, 1, 16, 112, 112);

        // Padding as wide as the window: the corner windows hold only
        // padding (max gives 0 with index -1, average 0 or 0 / window).
        for (int cp = 0; cp < 2; cp++) {
            d = pool_desc(2, 1, 2, 0, cp);
            pool_case("2x2 s1 pad 2", &d, 1, 2, 4, 19);
        }
    }
}

static void test_global_avgpool(void)
{
    int n = 2, c = 5, h = 7, w = 9;
    float *in = frandom((size_t)n * c * h * w, -1.0f, 1.0f), out[10];
    nn_tensor tin = nn_tensor_4d(in, n, c, h, w);
    nn_tensor tout = nn_tensor_4d(out, n, c, 1, 1);
    int ok = 1;

    // Summed in double: only the final rounding to float, 1 u relative.
    check_fill_nan(out, 10);
    nn_global_avgpool_forward(&tout, &tin);
    for (int p = 0; p < n * c; p++) {
        double s = 0;
        for (int i = 0; i < h * w; i++)
            s += in[(size_t)p * h * w + i];
        s /= h * w;
        ok &= fabs(out[p] - s) <= u * fabs(s);
    }
    CHECK(ok);
    facet_free(in);
}

// Max pooling with indices, then unpooling back to the input size: every
// winner lands where it came from and everything else is zero.
static void test_maxunpool(void)
{
    int n = 2, c = 3, h = 9, w = 10, oh, ow;
    nn_pool_desc d = pool_desc(2, 2, 0, 1, 0);
    size_t in_n = (size_t)n * c * h * w, out_n;
    float *in = frandom(in_n, -1.0f, 1.0f), *pooled, *back, *want;
    int32_t *at;
    nn_tensor tin = nn_tensor_4d(in, n, c, h, w), tp, tb;
    int ok = 1;

    nn_pool_out_size(&oh, &ow, &d, h, w);
    out_n = (size_t)n * c * oh * ow;
    pooled = falloc(out_n);
    back = falloc(in_n);
    want = falloc(in_n);
    at = malloc(sizeof *at * out_n);
    FACET_ASSERT(at);
    tp = nn_tensor_4d(pooled, n, c, oh, ow);
    tb = nn_tensor_4d(back, n, c, h, w);
    nn_maxpool_forward(&tp, at, &tin, &d);
    check_fill_nan(back, in_n);
    nn_maxunpool_forward(&tb, &tp, at);

    memset(want, 0, sizeof(float) * in_n);
    for (size_t i = 0; i < out_n; i++) {
        size_t plane = i / ((size_t)oh * ow);
        want[plane * h * w + at[i]] = pooled[i];
        ok &= in[plane * h * w + at[i]] == pooled[i];
    }
    CHECK(ok);
    CHECK(memcmp(want, back, sizeof(float) * in_n) == 0);
    facet_free(in);
    facet_free(pooled);
    facet_free(back);
    facet_free(want);
    free(at);
}

// ---------------------------------------------------------------------------
// Transposed convolution

static void deconv_case(const char *name, const nn_deconv_desc *d, int n,
                        int h, int w)
{
    int oh, ow, per = d->cin * d->kh * d->kw;
    size_t in_n = (size_t)n * d->cin * h * w, out_n;
    size_t w_n = (size_t)d->cin * d->cout * d->kh * d->kw;
    float s = 2.0f / sqrtf((float)per);
    float *in = frandom(in_n, -1.0f, 1.0f), *wt = frandom(w_n, -s, s);
    float *bias = frandom(d->cout, -0.5f, 0.5f);
    float *slope = frandom(d->cout, 0.05f, 0.5f), *ref, *out;
    double *tol = malloc(sizeof *tol * d->cout);
    nn_tensor tin = nn_tensor_4d(in, n, d->cin, h, w), tref, tout;

    nn_deconv_out_size(&oh, &ow, d, h, w);
    out_n = (size_t)n * d->cout * oh * ow;
    ref = falloc(out_n);
    out = falloc(out_n);
    FACET_ASSERT(tol);
    tref = nn_tensor_4d(ref, n, d->cout, oh, ow);
    tout = nn_tensor_4d(out, n, d->cout, oh, ow);
    check_fill_nan(ref, out_n);
    nn_deconv2d__ref(&tref, &tin, d, wt, bias, slope);

    // As for convolution (test_conv.c): 8 u sqrt(K) relative to a bound of
    // sum |w * x| + |b|, with K and the bound taken over all taps of the
    // output channel (an output sees a subset of them).
    for (int co = 0; co < d->cout; co++) {
        double mag = fabs(bias[co]);
        for (int ci = 0; ci < d->cin; ci++)
            for (int k = 0; k < d->kh * d->kw; k++)
                mag += fabs(wt[((size_t)ci * d->cout + co) * d->kh * d->kw +
                               k]);
        tol[co] = (8 * u * sqrt((double)per) + 4 * u) * mag;
    }
    for (int i = 0; i < isa_count; i++) {
        size_t bytes = nn_deconv_scratch_size(d, n, h, w), bad = 0;
        void *scratch;
        int ok = 1;

        facet_isa_force(isas[i]);
        scratch = junk_scratch(bytes);
        check_fill_nan(out, out_n);
        nn_deconv_forward(&tout, &tin, d, wt, bias, slope, scratch);
        facet_free(scratch);
        for (size_t j = 0; j < out_n; j++) {
            int co = (int)(j / ((size_t)oh * ow) % d->cout);
            if (!(fabs((double)out[j] - ref[j]) <= tol[co])) {
                ok = 0;
                bad = j;
            }
        }
        CHECKF(ok, "%s [%s]: out[%zu] = %.9g, want %.9g", name,
               facet_isa_name(isas[i]), bad, out[bad], ref[bad]);
    }
    facet_isa_force(isas[isa_count - 1]);
    facet_free(in);
    facet_free(wt);
    facet_free(bias);
    facet_free(slope);
    facet_free(ref);
    facet_free(out);
    free(tol);
}

// The transposed convolution is the adjoint of the convolution with the
// same weights: <conv(z), y> = <z, deconv(y)>. Checks the reference's
// index arithmetic against nn_conv2d__ref. Both sides are double sums of
// the same products rounded once to float per output, then dotted in
// double: 1e-5 relative to sum |terms| covers those roundings.
static void test_deconv_adjoint(void)
{
    nn_deconv_desc dd = {.cin = 3, .cout = 4, .kh = 4, .kw = 3,
                         .stride_h = 2, .stride_w = 3, .pad_top = 1,
                         .pad_bottom = 2, .pad_left = 0, .pad_right = 1};
    nn_conv_desc cd = {.cin = 4, .cout = 3, .kh = 4, .kw = 3, .stride_h = 2,
                       .stride_w = 3, .dil_h = 1, .dil_w = 1, .pad_top = 1,
                       .pad_bottom = 2, .pad_left = 0, .pad_right = 1,
                       .groups = 1};
    int h = 5, w = 6, oh, ow, ch, cw;
    float *wt, *y, *z, *dy, *cz;
    nn_tensor ty, tz, tdy, tcz;
    double lhs = 0, rhs = 0, mag = 0;

    nn_deconv_out_size(&oh, &ow, &dd, h, w);
    nn_conv_out_size(&ch, &cw, &cd, oh, ow);
    CHECK(ch == h && cw == w);
    wt = frandom((size_t)3 * 4 * 4 * 3, -1.0f, 1.0f);
    y = frandom((size_t)3 * h * w, -1.0f, 1.0f);
    z = frandom((size_t)4 * oh * ow, -1.0f, 1.0f);
    dy = falloc((size_t)4 * oh * ow);
    cz = falloc((size_t)3 * h * w);
    ty = nn_tensor_4d(y, 1, 3, h, w);
    tz = nn_tensor_4d(z, 1, 4, oh, ow);
    tdy = nn_tensor_4d(dy, 1, 4, oh, ow);
    tcz = nn_tensor_4d(cz, 1, 3, h, w);
    nn_deconv2d__ref(&tdy, &ty, &dd, wt, NULL, NULL);
    nn_conv2d__ref(&tcz, &tz, &cd, wt, NULL, NULL);
    for (int i = 0; i < 3 * h * w; i++) {
        lhs += (double)cz[i] * y[i];
        mag += fabs((double)cz[i] * y[i]);
    }
    for (int i = 0; i < 4 * oh * ow; i++) {
        rhs += (double)z[i] * dy[i];
        mag += fabs((double)z[i] * dy[i]);
    }
    CHECKF(fabs(lhs - rhs) <= 1e-5 * mag, "adjoint: %.9g vs %.9g", lhs, rhs);
    facet_free(wt);
    facet_free(y);
    facet_free(z);
    facet_free(dy);
    facet_free(cz);
}

static void test_deconv(void)
{
    nn_deconv_desc d = {.cin = 6, .cout = 5, .kh = 2, .kw = 2,
                        .stride_h = 2, .stride_w = 2, .act = LA_ACT_NONE};

    deconv_case("k2 s2", &d, 2, 7, 9);
    d = (nn_deconv_desc){.cin = 8, .cout = 4, .kh = 3, .kw = 3,
                         .stride_h = 2, .stride_w = 2, .pad_top = 1,
                         .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
                         .act = LA_ACT_RELU};
    deconv_case("k3 s2 p1", &d, 1, 8, 5);
    d.kh = d.kw = 4;
    d.act = LA_ACT_PRELU;
    deconv_case("k4 s2 p1", &d, 2, 6, 6);
    d.act = LA_ACT_RELU6;
    deconv_case("k4 s2 p1 relu6", &d, 1, 1, 1);
    d = (nn_deconv_desc){.cin = 3, .cout = 2, .kh = 5, .kw = 3,
                         .stride_h = 3, .stride_w = 1, .pad_top = 2,
                         .pad_bottom = 0, .pad_left = 0, .pad_right = 1};
    deconv_case("k5x3 s3x1 asym", &d, 1, 4, 11);

    // FCN-style 2x upsampling with many channels (several GEMM tiles).
    d = (nn_deconv_desc){.cin = 64, .cout = 21, .kh = 4, .kw = 4,
                         .stride_h = 2, .stride_w = 2, .pad_top = 1,
                         .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
    deconv_case("fcn up2", &d, 1, 16, 16);

    // Enough input pixels that the GEMM runs in several blocks, whose
    // edges fall inside input rows.
    d = (nn_deconv_desc){.cin = 4, .cout = 16, .kh = 4, .kw = 4,
                         .stride_h = 2, .stride_w = 2, .pad_top = 1,
                         .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
                         .act = LA_ACT_RELU};
    deconv_case("blocked", &d, 2, 70, 75);
}

// ---------------------------------------------------------------------------
// Fully connected

static void fc_case(int n, int c, int h, int w, int out_f, la_act act)
{
    int in_f = c * h * w;
    float s = 2.0f / sqrtf((float)in_f);
    float *in = frandom((size_t)n * in_f, -1.0f, 1.0f);
    float *wt = frandom((size_t)out_f * in_f, -s, s);
    float *bias = frandom(out_f, -0.5f, 0.5f);
    float *slope = frandom(out_f, 0.05f, 0.5f);
    float *out = falloc((size_t)n * out_f);
    nn_tensor tin = nn_tensor_4d(in, n, c, h, w);
    nn_tensor tout = nn_tensor_4d(out, n, out_f, 1, 1);

    for (int i = 0; i < isa_count; i++) {
        size_t bytes = nn_fc_scratch_size(n, in_f, out_f);
        void *scratch;
        int ok = 1;

        facet_isa_force(isas[i]);
        scratch = junk_scratch(bytes);
        check_fill_nan(out, (size_t)n * out_f);
        nn_fc_forward(&tout, &tin, wt, bias, out_f, act, slope, scratch);
        facet_free(scratch);

        // Tolerance: 8 u sqrt(K) relative to sum |w * x| + |b| (see
        // test_conv.c), computed exactly here.
        for (int b = 0; b < n; b++)
            for (int o = 0; o < out_f; o++) {
                double sum = bias[o], mag = fabs(bias[o]), want;
                for (int k = 0; k < in_f; k++) {
                    double t = (double)in[(size_t)b * in_f + k] *
                               wt[(size_t)o * in_f + k];
                    sum += t;
                    mag += fabs(t);
                }
                want = act_ref(sum, act, slope[o]);
                ok &= fabs(out[(size_t)b * out_f + o] - want) <=
                      (8 * u * sqrt((double)in_f) + 4 * u) * mag;
            }
        CHECKF(ok, "fc n %d in %d out %d act %d [%s]", n, in_f, out_f,
               (int)act, facet_isa_name(isas[i]));
    }
    facet_isa_force(isas[isa_count - 1]);
    facet_free(in);
    facet_free(wt);
    facet_free(bias);
    facet_free(slope);
    facet_free(out);
}

static void test_fc(void)
{
    for (int a = 0; a < 4; a++) {
        fc_case(1, 37, 1, 1, 19, (la_act)a);
        fc_case(8, 16, 3, 3, 70, (la_act)a);
    }
    fc_case(1, 512, 7, 7, 64, LA_ACT_RELU);   // VGG fc6 input, narrowed
    fc_case(8, 1, 1, 1, 3, LA_ACT_NONE);
}

// ---------------------------------------------------------------------------
// Element-wise and channel ops

static void test_eltwise(void)
{
    int n = 2, c = 5, h = 3, w = 7;
    size_t cnt = (size_t)n * c * h * w;
    float *a = frandom(cnt, -8.0f, 8.0f), *b = frandom(cnt, -8.0f, 8.0f);
    float *out = falloc(cnt), *copy = falloc(cnt);
    float *scale = frandom(c, -2.0f, 2.0f), *bias = frandom(c, -1.0f, 1.0f);
    float *slope = frandom(c, 0.05f, 0.5f);
    nn_tensor ta = nn_tensor_4d(a, n, c, h, w);
    nn_tensor tb = nn_tensor_4d(b, n, c, h, w);
    nn_tensor to = nn_tensor_4d(out, n, c, h, w);
    nn_tensor tc = nn_tensor_4d(copy, n, c, h, w);
    int ok;

    // Add (+ activation) and multiply: one float rounding each, so equal
    // to the double result rounded to float.
    for (int act = 0; act < 3; act++) {
        check_fill_nan(out, cnt);
        nn_add(&to, &ta, &tb, (la_act)act);
        ok = 1;
        for (size_t i = 0; i < cnt; i++)
            ok &= out[i] == (float)act_ref((double)a[i] + b[i], act, 0);
        CHECKF(ok, "add act %d", act);
    }
    check_fill_nan(out, cnt);
    nn_mul(&to, &ta, &tb);
    ok = 1;
    for (size_t i = 0; i < cnt; i++)
        ok &= out[i] == (float)((double)a[i] * b[i]);
    CHECK(ok);

    // Aliased output: out = a.
    memcpy(copy, a, sizeof(float) * cnt);
    nn_add(&tc, &tc, &tb, LA_ACT_NONE);
    ok = 1;
    for (size_t i = 0; i < cnt; i++)
        ok &= copy[i] == a[i] + b[i];
    CHECK(ok);

    // Scale and bias per channel: two roundings (product, then sum), 2 u
    // relative to |x s| + |b|.
    check_fill_nan(out, cnt);
    nn_scale_bias(&to, &ta, scale, bias);
    ok = 1;
    for (size_t i = 0; i < cnt; i++) {
        int ch = (int)(i / ((size_t)h * w) % c);
        double want = (double)a[i] * scale[ch] + bias[ch];
        ok &= fabs(out[i] - want) <=
              2 * u * (fabs((double)a[i] * scale[ch]) + fabs(bias[ch]));
    }
    CHECK(ok);
    check_fill_nan(out, cnt);
    nn_scale_bias(&to, &ta, NULL, bias);
    ok = 1;
    for (size_t i = 0; i < cnt; i++)
        ok &= out[i] == a[i] + bias[i / ((size_t)h * w) % c];
    CHECK(ok);

    // Activations in place, PReLU with per-channel slopes: exact.
    for (int act = 0; act < 4; act++) {
        memcpy(copy, a, sizeof(float) * cnt);
        nn_activate(&tc, (la_act)act, slope);
        ok = 1;
        for (size_t i = 0; i < cnt; i++) {
            int ch = (int)(i / ((size_t)h * w) % c);
            ok &= copy[i] == (float)act_ref(a[i], act, slope[ch]);
        }
        CHECKF(ok, "activate %d", act);
    }

    // PReLU on a 2-D (n x features) tensor: the channel is dim 1.
    {
        nn_tensor t2 = {copy, 2, {n * 3, c}};
        memcpy(copy, a, sizeof(float) * cnt);
        nn_activate(&t2, LA_ACT_PRELU, slope);
        ok = 1;
        for (int i = 0; i < n * 3 * c; i++)
            ok &= copy[i] == (float)act_ref(a[i], LA_ACT_PRELU,
                                             slope[i % c]);
        CHECK(ok);
    }

    facet_free(a);
    facet_free(b);
    facet_free(out);
    facet_free(copy);
    facet_free(scale);
    facet_free(bias);
    facet_free(slope);
}

static void test_channels(void)
{
    int n = 2, h = 3, w = 5, cs[3] = {2, 1, 4}, ct = 7;
    float *in[3], *out = falloc((size_t)n * ct * h * w);
    nn_tensor t[3], to = nn_tensor_4d(out, n, ct, h, w);
    const nn_tensor *tp[3] = {&t[0], &t[1], &t[2]};
    int ok = 1;

    // Concatenation: image b's channels from each input in turn.
    for (int i = 0; i < 3; i++) {
        in[i] = frandom((size_t)n * cs[i] * h * w, -1.0f, 1.0f);
        t[i] = nn_tensor_4d(in[i], n, cs[i], h, w);
    }
    check_fill_nan(out, (size_t)n * ct * h * w);
    nn_concat_channels(&to, tp, 3);
    for (int b = 0; b < n; b++) {
        int c0 = 0;
        for (int i = 0; i < 3; i++) {
            ok &= memcmp(out + ((size_t)b * ct + c0) * h * w,
                         in[i] + (size_t)b * cs[i] * h * w,
                         sizeof(float) * cs[i] * h * w) == 0;
            c0 += cs[i];
        }
    }
    CHECK(ok);

    // Channel padding: 2 zero channels before, 3 after a 2-channel input.
    {
        float *pad = falloc((size_t)n * 7 * h * w);
        nn_tensor tpad = nn_tensor_4d(pad, n, 7, h, w);

        check_fill_nan(pad, (size_t)n * 7 * h * w);
        nn_pad_channels(&tpad, &t[0], 2, 3);
        ok = 1;
        for (int b = 0; b < n; b++)
            for (int c = 0; c < 7; c++)
                for (int i = 0; i < h * w; i++) {
                    float v = pad[((size_t)b * 7 + c) * h * w + i];
                    float want = (c >= 2 && c < 4)
                                     ? in[0][((size_t)b * 2 + c - 2) * h * w
                                             + i]
                                     : 0.0f;
                    ok &= v == want;
                }
        CHECK(ok);
        facet_free(pad);
    }
    for (int i = 0; i < 3; i++)
        facet_free(in[i]);
    facet_free(out);
}

// Bilinear resize against a double evaluation of the same sampling rule.
// The float blend of four samples in [-1, 1] (three lerps, each a
// subtraction, a product and a sum, plus the float weights) stays within
// 32 u of the double value.
static void resize_case(int h, int w, int oh, int ow, nn_resize_mode mode)
{
    int n = 1, c = 3;
    float *in = frandom((size_t)n * c * h * w, -1.0f, 1.0f);
    float *out = falloc((size_t)n * c * oh * ow);
    nn_tensor tin = nn_tensor_4d(in, n, c, h, w);
    nn_tensor tout = nn_tensor_4d(out, n, c, oh, ow);
    int ok = 1;

    check_fill_nan(out, (size_t)n * c * oh * ow);
    nn_resize_bilinear(&tout, &tin, mode);
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double sy, sx, fy, fx, v;
                int y0, x0, y1, x1;
                const float *ip = in + (size_t)p * h * w;

                if (mode == NN_RESIZE_ALIGN_CORNERS) {
                    sy = oh > 1 ? oy * (h - 1.0) / (oh - 1) : 0;
                    sx = ow > 1 ? ox * (w - 1.0) / (ow - 1) : 0;
                } else {
                    sy = (oy + 0.5) * h / oh - 0.5;
                    sx = (ox + 0.5) * w / ow - 0.5;
                }
                sy = sy < 0 ? 0 : (sy > h - 1 ? h - 1 : sy);
                sx = sx < 0 ? 0 : (sx > w - 1 ? w - 1 : sx);
                y0 = (int)floor(sy);
                x0 = (int)floor(sx);
                y1 = y0 + 1 < h ? y0 + 1 : h - 1;
                x1 = x0 + 1 < w ? x0 + 1 : w - 1;
                fy = sy - y0;
                fx = sx - x0;
                v = (1 - fy) * ((1 - fx) * ip[y0 * w + x0] +
                                fx * ip[y0 * w + x1]) +
                    fy * ((1 - fx) * ip[y1 * w + x0] + fx * ip[y1 * w + x1]);
                ok &= fabs(out[((size_t)p * oh + oy) * ow + ox] - v) <=
                      32 * u;
            }
    CHECKF(ok, "resize %dx%d -> %dx%d mode %d", h, w, oh, ow, (int)mode);

    // Corners land exactly on the input's corners when aligned.
    if (mode == NN_RESIZE_ALIGN_CORNERS && oh > 1 && ow > 1)
        CHECK(out[0] == in[0] &&
              out[(size_t)oh * ow - 1] == in[(size_t)h * w - 1]);
    facet_free(in);
    facet_free(out);
}

static void test_resize(void)
{
    for (int m = 0; m < 2; m++) {
        resize_case(4, 5, 8, 10, (nn_resize_mode)m);    // up 2x
        resize_case(7, 3, 16, 9, (nn_resize_mode)m);    // up, odd ratios
        resize_case(16, 20, 8, 10, (nn_resize_mode)m);  // down 2x
        resize_case(13, 11, 5, 4, (nn_resize_mode)m);   // down, odd
        resize_case(1, 1, 3, 4, (nn_resize_mode)m);
        resize_case(5, 6, 1, 1, (nn_resize_mode)m);
        resize_case(6, 6, 6, 6, (nn_resize_mode)m);     // identity
    }

    // Half-pixel 2x up of [0, 1]: samples at -0.25 (clamped to 0), 0.25,
    // 0.75, 1.25 (clamped to 1): 0, 0.25, 0.75, 1 (PyTorch
    // align_corners=False gives the same).
    {
        float in[2] = {0.0f, 1.0f}, out[4];
        nn_tensor ti = nn_tensor_4d(in, 1, 1, 1, 2);
        nn_tensor to = nn_tensor_4d(out, 1, 1, 1, 4);
        nn_resize_bilinear(&to, &ti, NN_RESIZE_HALF_PIXEL);
        CHECK(out[0] == 0.0f && out[1] == 0.25f && out[2] == 0.75f &&
              out[3] == 1.0f);
        nn_resize_bilinear(&to, &ti, NN_RESIZE_ALIGN_CORNERS);
        CHECK(fabs(out[1] - 1.0 / 3) <= u && fabs(out[2] - 2.0 / 3) <= u &&
              out[3] == 1.0f);
    }
}

// Softmax over channels: exp of float-rounded terms and one division, 4 u
// relative per output. Sigmoid: expf (within 1 ulp), a sum and a
// division, 8 u relative; results below FLT_MIN may flush to 0 (e^-x
// overflows to inf first), hence the FLT_MIN floor.
static void test_softmax_sigmoid(void)
{
    int n = 2, c = 7, h = 9, w = 11;
    size_t cnt = (size_t)n * c * h * w, hw = (size_t)h * w;
    float *in = frandom(cnt, -10.0f, 10.0f), *out = falloc(cnt);
    float *copy = falloc(cnt);
    nn_tensor ti = nn_tensor_4d(in, n, c, h, w);
    nn_tensor to = nn_tensor_4d(out, n, c, h, w);
    nn_tensor tc = nn_tensor_4d(copy, n, c, h, w);
    int ok = 1;

    // Large logits must not overflow: the max is subtracted first.
    for (size_t i = 0; i < (size_t)c * hw; i++)
        in[i] += 500.0f;
    check_fill_nan(out, cnt);
    nn_softmax_channels(&to, &ti);
    for (int b = 0; b < n; b++)
        for (size_t i = 0; i < hw; i++) {
            double mx = -INFINITY, s = 0, total = 0;
            for (int ch = 0; ch < c; ch++)
                mx = fmax(mx, in[((size_t)b * c + ch) * hw + i]);
            for (int ch = 0; ch < c; ch++)
                s += exp(in[((size_t)b * c + ch) * hw + i] - mx);
            for (int ch = 0; ch < c; ch++) {
                size_t j = ((size_t)b * c + ch) * hw + i;
                double want = exp(in[j] - mx) / s;
                ok &= fabs(out[j] - want) <= 4 * u * want;
                total += out[j];
            }
            ok &= fabs(total - 1.0) <= 4 * u * c;
        }
    CHECK(ok);

    // In place gives the same bits.
    memcpy(copy, in, sizeof(float) * cnt);
    nn_softmax_channels(&tc, &tc);
    CHECK(memcmp(copy, out, sizeof(float) * cnt) == 0);

    // Sigmoid, including saturation far out.
    in[0] = -100.0f;
    in[1] = 100.0f;
    in[2] = 0.0f;
    check_fill_nan(out, cnt);
    nn_sigmoid(&to, &ti);
    ok = 1;
    for (size_t i = 0; i < cnt; i++) {
        double want = 1.0 / (1.0 + exp(-(double)in[i]));
        ok &= fabs(out[i] - want) <= 8 * u * want + FLT_MIN;
    }
    CHECK(ok);
    CHECK(out[1] == 1.0f && out[2] == 0.5f && out[0] >= 0.0f);
    facet_free(in);
    facet_free(out);
    facet_free(copy);
}

// ---------------------------------------------------------------------------
// Batch-norm folding: conv then BN (both in double through the reference,
// BN applied here in double) equals the folded conv. The fold rounds each
// scaled weight and the new bias to float once, a relative change of u per
// term: 4 u relative to sum |w' x| + |b'| covers it plus the reference's
// final rounding.
static void test_fold_batchnorm(void)
{
    int cin = 4, cout = 6, h = 7, w = 8, per = cin * 9;
    nn_conv_desc d = {.cin = cin, .cout = cout, .kh = 3, .kw = 3,
                      .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1,
                      .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
                      .pad_right = 1, .groups = 1};
    float *in = frandom((size_t)cin * h * w, -1.0f, 1.0f);
    float *wt = frandom((size_t)cout * per, -0.5f, 0.5f);
    float *bias = frandom(cout, -0.5f, 0.5f);
    float *gamma = frandom(cout, 0.5f, 2.0f), *beta = frandom(cout, -1, 1);
    float *mean = frandom(cout, -0.5f, 0.5f), *var = frandom(cout, 0.1f, 3);
    float *plain = falloc((size_t)cout * h * w);
    float *folded = falloc((size_t)cout * h * w);
    nn_tensor ti = nn_tensor_4d(in, 1, cin, h, w);
    nn_tensor tp = nn_tensor_4d(plain, 1, cout, h, w);
    nn_tensor tf = nn_tensor_4d(folded, 1, cout, h, w);
    float eps = 1e-3f;
    int ok = 1;

    nn_conv2d__ref(&tp, &ti, &d, wt, bias, NULL);
    nn_fold_batchnorm(wt, bias, cout, (size_t)per, gamma, beta, mean, var,
                      eps);
    nn_conv2d__ref(&tf, &ti, &d, wt, bias, NULL);
    for (int co = 0; co < cout; co++) {
        double s = gamma[co] / sqrt((double)var[co] + eps);
        double mag = fabs(bias[co]);
        for (int i = 0; i < per; i++)
            mag += fabs(wt[(size_t)co * per + i]);
        for (int i = 0; i < h * w; i++) {
            size_t j = (size_t)co * h * w + i;
            double want = (plain[j] - mean[co]) * s + beta[co];
            // plain[] was itself rounded to float once: add u |plain s|.
            ok &= fabs(folded[j] - want) <=
                  4 * u * mag + 2 * u * fabs(plain[j] * s);
        }
    }
    CHECK(ok);
    facet_free(in);
    facet_free(wt);
    facet_free(bias);
    facet_free(gamma);
    facet_free(beta);
    facet_free(mean);
    facet_free(var);
    facet_free(plain);
    facet_free(folded);
}

// ---------------------------------------------------------------------------
// Thread-count independence of pooling and transposed convolution.

static void test_threads(void)
{
    int saved = facet_threads(), n = 2, c = 16, h = 57, w = 61, oh, ow;
    nn_pool_desc pd = pool_desc(3, 2, 1, 1, 0);
    nn_deconv_desc dd = {.cin = 16, .cout = 8, .kh = 4, .kw = 4,
                         .stride_h = 2, .stride_w = 2, .pad_top = 1,
                         .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
                         .act = LA_ACT_RELU};
    size_t in_n = (size_t)n * c * h * w;
    float *in = frandom(in_n, -1.0f, 1.0f);
    float *wt = frandom((size_t)16 * 8 * 16, -0.2f, 0.2f);
    float *res[2][3];
    int32_t *at[2];
    nn_tensor ti = nn_tensor_4d(in, n, c, h, w);
    size_t pn, dn;

    nn_pool_out_size(&oh, &ow, &pd, h, w);
    pn = (size_t)n * c * oh * ow;
    for (int t = 0; t < 2; t++) {
        nn_tensor to;
        int doh, dow;
        void *scratch;

        facet_set_threads(t + 1);
        res[t][0] = falloc(pn);
        res[t][1] = falloc(pn);
        at[t] = malloc(sizeof(int32_t) * pn);
        FACET_ASSERT(at[t]);
        to = nn_tensor_4d(res[t][0], n, c, oh, ow);
        nn_maxpool_forward(&to, at[t], &ti, &pd);
        to = nn_tensor_4d(res[t][1], n, c, oh, ow);
        nn_avgpool_forward(&to, &ti, &pd);

        nn_deconv_out_size(&doh, &dow, &dd, h, w);
        dn = (size_t)n * 8 * doh * dow;
        res[t][2] = falloc(dn);
        to = nn_tensor_4d(res[t][2], n, 8, doh, dow);
        scratch = junk_scratch(nn_deconv_scratch_size(&dd, n, h, w));
        nn_deconv_forward(&to, &ti, &dd, wt, NULL, NULL, scratch);
        facet_free(scratch);
    }
    CHECK(memcmp(res[0][0], res[1][0], sizeof(float) * pn) == 0);
    CHECK(memcmp(at[0], at[1], sizeof(int32_t) * pn) == 0);
    CHECK(memcmp(res[0][1], res[1][1], sizeof(float) * pn) == 0);
    CHECK(memcmp(res[0][2], res[1][2], sizeof(float) * dn) == 0);
    for (int t = 0; t < 2; t++) {
        for (int k = 0; k < 3; k++)
            facet_free(res[t][k]);
        free(at[t]);
    }
    facet_free(in);
    facet_free(wt);
    facet_set_threads(saved);
}

int main(void)
{
    double t0 = facet_now();

    facet_rng_seed(&rng, 777);
    isa_count = check_isas(isas);
    test_shapes();
    test_arena();
    test_pool();
    test_global_avgpool();
    test_maxunpool();
    test_deconv_adjoint();
    test_deconv();
    test_fc();
    test_eltwise();
    test_channels();
    test_resize();
    test_softmax_sigmoid();
    test_fold_batchnorm();
    test_threads();
    printf("test_layers: %d ISA paths, %.1f s\n", isa_count,
           facet_now() - t0);
    return check_report();
}
