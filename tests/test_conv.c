// test_conv.c - nn_conv_create / nn_conv_forward: every algorithm that
// applies to a shape (GEMM, DEPTHWISE, WINOGRAD) on every ISA path,
// against nn_conv2d__ref (double sums). Winograd's own transforms are
// tested in depth by its own test file; here it runs as one of the
// convolution paths.
//
// Shapes: kernel sizes 1, 3, 5, 7, 1x3 and 3x1; strides 1, 2, 3; TF SAME
// padding on even and odd sizes at stride 2; asymmetric padding; dilation
// 2; groups 1, 2 and depthwise; 1x1 inputs and odd sizes; batch 2; every
// activation. Then the real layers of MobileNet-v1 at 224x224 (conv 3x3 s2
// to 32, thirteen depthwise 3x3 + pointwise 1x1 pairs) and two VGG-16
// layers (conv1_1, conv5_1). Outputs are NaN-filled and scratch junk-filled
// before every call. Also: the algorithm AUTO picks, errors for bad
// descriptors, and bitwise equality between 1 and 2 threads.
#include "check.h"

#include "../nn/nn.h"

static facet_rng rng;
static facet_isa isas[FACET_ISA_COUNT];
static int isa_count;

static const char *const algo_names[NN_CONV_ALGO_COUNT] = {
    "auto", "gemm", "depthwise", "winograd"};
static const char *const act_names[] = {"none", "relu", "relu6", "prelu"};

// Largest error seen per algorithm as a fraction of its tolerance, printed
// at the end to show how much margin the tolerances leave.
static double worst_ratio[NN_CONV_ALGO_COUNT];

static float *falloc(size_t n)
{
    float *p = facet_alloc((n ? n : 1) * sizeof *p);
    FACET_ASSERT(p);
    return p;
}

// A conv descriptor with symmetric padding p and dilation 1.
static nn_conv_desc desc(int cin, int cout, int kh, int kw, int s, int p,
                         int groups, la_act act)
{
    nn_conv_desc d = {
        .cin = cin, .cout = cout, .kh = kh, .kw = kw,
        .stride_h = s, .stride_w = s, .dil_h = 1, .dil_w = 1,
        .pad_top = p, .pad_bottom = p, .pad_left = p, .pad_right = p,
        .groups = groups, .act = act,
    };
    return d;
}

// TF SAME padding of d for an h x w input.
static void set_same(nn_conv_desc *d, int h, int w)
{
    nn_same_padding(&d->pad_top, &d->pad_bottom, h, d->kh, d->stride_h,
                    d->dil_h);
    nn_same_padding(&d->pad_left, &d->pad_right, w, d->kw, d->stride_w,
                    d->dil_w);
}

static int is_depthwise(const nn_conv_desc *d)
{
    return d->groups == d->cin && d->groups == d->cout;
}

static int winograd_fits(const nn_conv_desc *d)
{
    return d->kh == 3 && d->kw == 3 && d->stride_h == 1 &&
           d->stride_w == 1 && d->dil_h == 1 && d->dil_w == 1 &&
           d->groups == 1;
}

// Tolerance per output channel, relative to an upper bound of the
// accumulation magnitude sum |w * x| + |b| (inputs lie in [-1, 1], so the
// bound is sum |w| + |b|). A K-term float sum's rounding error behaves like
// a random walk of K steps of at most u = 2^-24 times the magnitude:
// 8 u sqrt(K) covers it with wide margin (plus a few u for the bias add and
// the activation), yet stays far below the effect of one wrong tap, about
// magnitude / K. Winograd F(4x4, 3x3) multiplies the rounding of its input
// and output transforms by their coefficients (up to 8 in the 6x6 tiles),
// so its bound is 8 times looser (measured: under half of the GEMM bound
// on these shapes).
static void tolerances(double *tol, const nn_conv_desc *d, const float *wt,
                       const float *bias, nn_conv_algo algo)
{
    int per = d->cin / d->groups * d->kh * d->kw;
    double u = 0x1p-24, rel = 8 * u * sqrt((double)per) + 4 * u;

    if (algo == NN_CONV_WINOGRAD)
        rel *= 8;
    for (int co = 0; co < d->cout; co++) {
        double mag = bias ? fabs(bias[co]) : 0.0;
        for (int i = 0; i < per; i++)
            mag += fabs(wt[(size_t)co * per + i]);
        tol[co] = rel * mag;
    }
}

// Run `d` on an n x cin x h x w input through every applicable algorithm
// and ISA; compare with the reference. Returns the number of algorithm x
// ISA runs made.
static int run_case(const char *name, const nn_conv_desc *d, int n, int h,
                    int w)
{
    int oh, ow, runs = 0;
    size_t in_n, w_n, out_n;
    float *in, *wt, *bias, *slope, *ref, *out;
    double *tol;
    nn_tensor tin, tref, tout;

    nn_conv_out_size(&oh, &ow, d, h, w);
    FACET_ASSERT(oh > 0 && ow > 0);
    in_n = (size_t)n * d->cin * h * w;
    w_n = (size_t)d->cout * (d->cin / d->groups) * d->kh * d->kw;
    out_n = (size_t)n * d->cout * oh * ow;
    in = falloc(in_n);
    wt = falloc(w_n);
    bias = falloc(d->cout);
    slope = falloc(d->cout);
    ref = falloc(out_n);
    out = falloc(out_n);
    tol = malloc(sizeof *tol * d->cout);
    FACET_ASSERT(tol);

    // Inputs in [-1, 1]; weights scaled so that outputs have a standard
    // deviation of about 3 and cross both activation thresholds, 0 and 6
    // (the ReLU6 clamp for a few percent of them).
    check_fill_random(in, in_n, &rng, -1.0f, 1.0f);
    {
        float s = 9.0f / sqrtf((float)(d->cin / d->groups * d->kh * d->kw));
        check_fill_random(wt, w_n, &rng, -s, s);
    }
    check_fill_random(bias, d->cout, &rng, -0.5f, 0.5f);
    check_fill_random(slope, d->cout, &rng, 0.05f, 0.5f);
    tin = nn_tensor_4d(in, n, d->cin, h, w);
    tref = nn_tensor_4d(ref, n, d->cout, oh, ow);
    tout = nn_tensor_4d(out, n, d->cout, oh, ow);
    check_fill_nan(ref, out_n);
    nn_conv2d__ref(&tref, &tin, d, wt, bias, slope);

    for (int a = NN_CONV_GEMM; a < NN_CONV_ALGO_COUNT; a++) {
        nn_conv *conv;
        facet_status st;

        if ((a == NN_CONV_DEPTHWISE && !is_depthwise(d)) ||
            (a == NN_CONV_WINOGRAD && !winograd_fits(d)))
            continue;
        st = nn_conv_create(&conv, d, wt, bias, slope, (nn_conv_algo)a);
        CHECKF(st == FACET_OK, "%s: create %s: %s", name, algo_names[a],
               facet_error());
        if (st != FACET_OK)
            continue;
        tolerances(tol, d, wt, bias, (nn_conv_algo)a);

        for (int i = 0; i < isa_count; i++) {
            size_t bytes, worst_at = 0;
            void *scratch;
            double worst = 0.0;
            int ok = 1;

            facet_isa_force(isas[i]);
            bytes = nn_conv_scratch_size(conv, n, h, w);
            scratch = bytes ? facet_alloc(bytes) : NULL;
            if (bytes)
                check_fill_junk(scratch, bytes);
            check_fill_nan(out, out_n);
            nn_conv_forward(conv, &tout, &tin, scratch);
            facet_free(scratch);

            // Worst error as a fraction of its tolerance (NaN fails).
            for (size_t j = 0; j < out_n; j++) {
                int co = (int)(j / ((size_t)oh * ow) % d->cout);
                double e = fabs((double)out[j] - ref[j]);
                if (tol[co] > 0 && e / tol[co] > worst_ratio[a])
                    worst_ratio[a] = e / tol[co];
                if (!(e <= tol[co])) {
                    if (ok || e > worst) {
                        worst = e;
                        worst_at = j;
                    }
                    ok = 0;
                }
            }
            CHECKF(ok, "%s [%s, %s, act %s]: out[%zu] = %.9g, want %.9g "
                   "(tol %.3g)", name, algo_names[a],
                   facet_isa_name(isas[i]), act_names[d->act], worst_at,
                   out[worst_at], ref[worst_at],
                   tol[worst_at / ((size_t)oh * ow) % d->cout]);
            runs++;
        }
        nn_conv_free(conv);
    }
    facet_isa_force(isas[isa_count - 1]);
    facet_free(in);
    facet_free(wt);
    facet_free(bias);
    facet_free(slope);
    facet_free(ref);
    facet_free(out);
    free(tol);
    return runs;
}

// Kernel sizes, strides, padding, dilation and groups on small odd and
// even sizes, each activation in turn.
static void test_shapes(void)
{
    static const int ks[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 3},
                                {3, 1}};
    char name[128];
    int act = 0;

    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        for (int s = 1; s <= 3; s++) {
            int kh = ks[i][0], kw = ks[i][1];
            nn_conv_desc d = desc(6, 10, kh, kw, s, 0, 1,
                                  (la_act)(act++ % 4));
            d.pad_top = d.pad_bottom = kh / 2;
            d.pad_left = d.pad_right = kw / 2;
            snprintf(name, sizeof name, "k%dx%d s%d", kh, kw, s);
            run_case(name, &d, 1, 13, 11);

            // Unpadded, batch 2, more channels than one GEMM tile.
            d = desc(9, 20, kh, kw, s, 0, 1, (la_act)(act++ % 4));
            snprintf(name, sizeof name, "k%dx%d s%d nopad n2", kh, kw, s);
            run_case(name, &d, 2, 17, 16);
        }

    // TF SAME padding, stride 2, on even and odd sizes (the extra pixel
    // goes after).
    for (int k = 1; k <= 5; k += 2)
        for (int sz = 6; sz <= 9; sz++) {
            nn_conv_desc d = desc(5, 7, k, k, 2, 0, 1, (la_act)(act++ % 4));
            set_same(&d, sz, sz + 1);
            snprintf(name, sizeof name, "SAME k%d s2 %dx%d", k, sz, sz + 1);
            run_case(name, &d, 1, sz, sz + 1);
        }

    // Asymmetric padding and dilation 2 (with and without padding).
    {
        nn_conv_desc d = desc(4, 8, 3, 3, 1, 0, 1, LA_ACT_RELU);
        d.pad_top = 2;
        d.pad_left = 1;
        run_case("asym pad", &d, 1, 9, 10);
        d = desc(4, 8, 3, 3, 1, 2, 1, LA_ACT_PRELU);
        d.dil_h = d.dil_w = 2;
        run_case("dil 2 pad 2", &d, 2, 12, 11);
        d = desc(4, 8, 3, 3, 2, 0, 1, LA_ACT_NONE);
        d.dil_h = 2;
        d.dil_w = 3;
        run_case("dil 2x3 s2", &d, 1, 15, 16);
    }

    // Groups: 2 groups, and a channel multiplier of 2 (groups == cin but
    // not depthwise).
    {
        nn_conv_desc d = desc(8, 12, 3, 3, 1, 1, 2, LA_ACT_RELU6);
        run_case("groups 2", &d, 2, 10, 9);
        d = desc(6, 12, 3, 3, 2, 1, 6, LA_ACT_PRELU);
        run_case("groups 6 x2", &d, 1, 11, 12);
    }

    // Tiny inputs: 1x1 with a padded 3x3 and 5x5 and 1x1, 2x3.
    {
        nn_conv_desc d = desc(3, 5, 3, 3, 1, 1, 1, LA_ACT_NONE);
        run_case("1x1 input k3", &d, 1, 1, 1);
        d = desc(3, 5, 5, 5, 2, 2, 1, LA_ACT_RELU);
        run_case("1x1 input k5 s2", &d, 2, 1, 1);
        d = desc(3, 5, 1, 1, 1, 0, 1, LA_ACT_PRELU);
        run_case("1x1 input k1", &d, 1, 1, 1);
        d = desc(2, 3, 3, 3, 1, 1, 1, LA_ACT_RELU6);
        run_case("2x3 input", &d, 1, 2, 3);
    }
}

// Depthwise on widths around the vector sizes (8, 16) so that every tail
// length shows up, at strides 1, 2, 3, kernels 3, 5 and 7, dilation 2, and
// padding larger than the kernel reach.
static void test_depthwise(void)
{
    static const int widths[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 40};
    char name[128];
    int act = 0;

    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
        for (int s = 1; s <= 3; s++) {
            int w = widths[i];
            nn_conv_desc d = desc(5, 5, 3, 3, s, 1, 5, (la_act)(act++ % 4));
            snprintf(name, sizeof name, "dw k3 s%d w%d", s, w);
            run_case(name, &d, 2, 6, w);
            d = desc(3, 3, 5, 5, s, 0, 3, (la_act)(act++ % 4));
            set_same(&d, 7, w);
            snprintf(name, sizeof name, "dw k5 SAME s%d w%d", s, w);
            run_case(name, &d, 1, 7, w);
        }
    {
        nn_conv_desc d = desc(4, 4, 7, 7, 1, 3, 4, LA_ACT_RELU);
        run_case("dw k7", &d, 1, 12, 37);
        d = desc(4, 4, 3, 3, 2, 2, 4, LA_ACT_PRELU);
        d.dil_h = d.dil_w = 2;
        run_case("dw k3 dil 2 s2", &d, 1, 19, 41);
        d = desc(3, 3, 3, 3, 1, 4, 3, LA_ACT_NONE);
        run_case("dw pad 4", &d, 1, 5, 6);
        d = desc(3, 3, 1, 3, 1, 0, 3, LA_ACT_RELU6);
        d.pad_left = 2;
        run_case("dw 1x3 asym", &d, 1, 5, 21);

        // Kernels wider than the SIMD kernels' cached edge masks (8 taps).
        d = desc(2, 2, 3, 9, 1, 0, 2, LA_ACT_PRELU);
        d.pad_top = d.pad_bottom = 1;
        d.pad_left = d.pad_right = 4;
        run_case("dw 3x9", &d, 1, 6, 23);
        d.stride_w = 2;
        d.kw = 11;
        d.pad_left = 5;
        d.pad_right = 3;
        run_case("dw 3x11 s1x2", &d, 1, 6, 41);
    }

    // Rows wide enough for the 64- and 32-column interior blocks at
    // strides 1, 2 and 3.
    for (int s = 1; s <= 3; s++) {
        nn_conv_desc d = desc(2, 2, 3, 3, s, 1, 2, (la_act)(s % 4));
        snprintf(name, sizeof name, "dw wide s%d", s);
        run_case(name, &d, 1, 4, 211);
    }

    // Planes tall enough for the AVX-512 fast path to split into bands of
    // rows (its stack buffer holds 51 rows of a 60-column plane at stride
    // 1, 64 of a 31-column plane at stride 2).
    for (int s = 1; s <= 2; s++) {
        nn_conv_desc d = desc(2, 2, 3, 3, s, 1, 2, LA_ACT_RELU6);
        snprintf(name, sizeof name, "dw bands s%d", s);
        run_case(name, &d, 1, 97, s == 1 ? 60 : 31);
    }
}

// MobileNet-v1 at 224x224: conv 3x3 s2 3 -> 32, then 13 depthwise 3x3 +
// pointwise 1x1 pairs (TF SAME padding, ReLU6).
static void test_mobilenet(void)
{
    static const int stride[13] = {1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};
    static const int chans[13] = {64,  128, 128, 256, 256, 512, 512,
                                  512, 512, 512, 512, 1024, 1024};
    char name[128];
    int c = 32, sz = 112, runs = 0;
    nn_conv_desc d = desc(3, 32, 3, 3, 2, 0, 1, LA_ACT_RELU6);

    set_same(&d, 224, 224);
    runs += run_case("mobilenet conv0", &d, 1, 224, 224);
    for (int i = 0; i < 13; i++) {
        d = desc(c, c, 3, 3, stride[i], 0, c, LA_ACT_RELU6);
        set_same(&d, sz, sz);
        snprintf(name, sizeof name, "mobilenet dw%d", i + 1);
        runs += run_case(name, &d, 1, sz, sz);
        sz = (sz + stride[i] - 1) / stride[i];
        d = desc(c, chans[i], 1, 1, 1, 0, 1, LA_ACT_RELU6);
        snprintf(name, sizeof name, "mobilenet pw%d", i + 1);
        runs += run_case(name, &d, 1, sz, sz);
        c = chans[i];
    }
    CHECK(runs > 0);
}

// VGG-16 conv1_1 and conv5_1 (3x3, pad 1, ReLU).
static void test_vgg(void)
{
    nn_conv_desc d = desc(3, 64, 3, 3, 1, 1, 1, LA_ACT_RELU);
    run_case("vgg conv1_1", &d, 1, 224, 224);
    d = desc(512, 512, 3, 3, 1, 1, 1, LA_ACT_RELU);
    run_case("vgg conv5_1", &d, 1, 14, 14);
}

// What AUTO picks, and errors for descriptors that do not make sense.
static void test_create(void)
{
    float wt[8 * 8 * 9] = {0}, slope[8] = {0};
    nn_conv *c = NULL;
    nn_conv_desc d = desc(8, 8, 3, 3, 1, 1, 1, LA_ACT_NONE);
    nn_conv_desc dw = desc(8, 8, 3, 3, 1, 1, 8, LA_ACT_NONE);
    nn_conv_desc pw = desc(8, 8, 1, 1, 1, 0, 1, LA_ACT_NONE);
    nn_conv_desc bad;

    CHECK(nn_conv_create(&c, &dw, wt, NULL, NULL, NN_CONV_AUTO) == FACET_OK);
    CHECK(c && nn_conv_algorithm(c) == NN_CONV_DEPTHWISE);
    CHECK(c && nn_conv_descriptor(c)->groups == 8);
    nn_conv_free(c);
    CHECK(nn_conv_create(&c, &pw, wt, NULL, NULL, NN_CONV_AUTO) == FACET_OK);
    CHECK(c && nn_conv_algorithm(c) == NN_CONV_GEMM);
    nn_conv_free(c);
    CHECK(nn_conv_create(&c, &d, wt, NULL, NULL, NN_CONV_AUTO) == FACET_OK);
    CHECK(c && nn_conv_algorithm(c) == NN_CONV_WINOGRAD);
    nn_conv_free(c);
    d.cin = 4;
    CHECK(nn_conv_create(&c, &d, wt, NULL, NULL, NN_CONV_AUTO) == FACET_OK);
    CHECK(c && nn_conv_algorithm(c) == NN_CONV_GEMM);
    nn_conv_free(c);
    d.cin = 8;

    // Forced algorithms that do not fit the shape.
    CHECK(nn_conv_create(&c, &d, wt, NULL, NULL, NN_CONV_DEPTHWISE) ==
          FACET_E_UNSUPPORTED && c == NULL);
    CHECK(nn_conv_create(&c, &pw, wt, NULL, NULL, NN_CONV_WINOGRAD) ==
          FACET_E_UNSUPPORTED && c == NULL);
    CHECK(nn_conv_create(&c, &d, wt, NULL, NULL, (nn_conv_algo)99) ==
          FACET_E_ARG);

    // Bad descriptors.
    bad = d;
    bad.groups = 3;
    CHECK(nn_conv_create(&c, &bad, wt, NULL, NULL, NN_CONV_AUTO) ==
          FACET_E_ARG);
    bad = d;
    bad.stride_w = 0;
    CHECK(nn_conv_create(&c, &bad, wt, NULL, NULL, NN_CONV_AUTO) ==
          FACET_E_ARG);
    bad = d;
    bad.pad_left = -1;
    CHECK(nn_conv_create(&c, &bad, wt, NULL, NULL, NN_CONV_AUTO) ==
          FACET_E_ARG);
    bad = d;
    bad.kh = 0;
    CHECK(nn_conv_create(&c, &bad, wt, NULL, NULL, NN_CONV_AUTO) ==
          FACET_E_ARG);
    bad = d;
    bad.act = LA_ACT_PRELU;
    CHECK(nn_conv_create(&c, &bad, wt, NULL, NULL, NN_CONV_AUTO) ==
          FACET_E_ARG);
    CHECK(nn_conv_create(&c, &bad, wt, NULL, slope, NN_CONV_AUTO) ==
          FACET_OK);
    nn_conv_free(c);
    CHECK(nn_conv_create(&c, &d, NULL, NULL, NULL, NN_CONV_AUTO) ==
          FACET_E_ARG);
    nn_conv_free(NULL);
}

// The same layer with 1 and 2 threads gives the same bits.
static void thread_pair(const char *name, const nn_conv_desc *d,
                        nn_conv_algo algo, int n, int h, int w)
{
    int oh, ow;
    size_t in_n = (size_t)n * d->cin * h * w, out_n;
    size_t w_n = (size_t)d->cout * (d->cin / d->groups) * d->kh * d->kw;
    float *in = falloc(in_n), *wt = falloc(w_n), *bias = falloc(d->cout);
    float *out[2];
    nn_tensor tin = nn_tensor_4d(in, n, d->cin, h, w);
    nn_conv *c;

    nn_conv_out_size(&oh, &ow, d, h, w);
    out_n = (size_t)n * d->cout * oh * ow;
    check_fill_random(in, in_n, &rng, -1.0f, 1.0f);
    check_fill_random(wt, w_n, &rng, -0.3f, 0.3f);
    check_fill_random(bias, d->cout, &rng, -0.5f, 0.5f);
    CHECK(nn_conv_create(&c, d, wt, bias, NULL, algo) == FACET_OK);
    for (int t = 0; t < 2; t++) {
        nn_tensor tout;
        size_t bytes;
        void *scratch;

        facet_set_threads(t + 1);
        bytes = nn_conv_scratch_size(c, n, h, w);
        scratch = bytes ? facet_alloc(bytes) : NULL;
        if (bytes)
            check_fill_junk(scratch, bytes);
        out[t] = falloc(out_n);
        check_fill_nan(out[t], out_n);
        tout = nn_tensor_4d(out[t], n, d->cout, oh, ow);
        nn_conv_forward(c, &tout, &tin, scratch);
        facet_free(scratch);
    }
    CHECKF(memcmp(out[0], out[1], out_n * sizeof(float)) == 0,
           "%s: 1 and 2 threads differ", name);
    nn_conv_free(c);
    facet_free(in);
    facet_free(wt);
    facet_free(bias);
    facet_free(out[0]);
    facet_free(out[1]);
}

static void test_threads(void)
{
    int saved = facet_threads();
    nn_conv_desc d = desc(24, 40, 3, 3, 1, 1, 1, LA_ACT_RELU);
    nn_conv_desc dw = desc(32, 32, 3, 3, 2, 1, 32, LA_ACT_RELU6);

    thread_pair("gemm 3x3", &d, NN_CONV_GEMM, 2, 30, 29);
    d = desc(64, 48, 1, 1, 1, 0, 1, LA_ACT_NONE);
    thread_pair("gemm 1x1", &d, NN_CONV_GEMM, 1, 28, 28);
    thread_pair("depthwise", &dw, NN_CONV_DEPTHWISE, 2, 33, 31);
    facet_set_threads(saved);
}

int main(void)
{
    double t0 = facet_now();

    facet_rng_seed(&rng, 20240601);
    isa_count = check_isas(isas);
    test_create();
    test_shapes();
    test_depthwise();
    test_threads();
    test_mobilenet();
    test_vgg();
    printf("test_conv: worst error / tolerance: gemm %.3f, depthwise %.3f, "
           "winograd %.3f\n", worst_ratio[NN_CONV_GEMM],
           worst_ratio[NN_CONV_DEPTHWISE], worst_ratio[NN_CONV_WINOGRAD]);
    printf("test_conv: %d ISA paths, %.1f s\n", isa_count, facet_now() - t0);
    return check_report();
}
