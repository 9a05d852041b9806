// test_vgg16.c - the VGG-16 network (nn/vgg16.c) with fixed-seed
// He-initialised weights against a reference forward pass built from
// nn_conv2d__ref and nn_maxpool2d__ref (sums in double, float between
// layers).
//
// Cost: the double reference for one 224 x 224 image is about 15 GMAC and
// takes most of this test's run time, so it is computed once and the
// fastest ISA path is compared with it in full; the other ISA paths are
// compared on a 64 x 64 input (conv4_2 .. conv5_3 transform their
// filters during the forward call, the other Winograd layers keep them,
// so both ways run on every ISA). Also: 1 and 2 threads bitwise equal, an
// image's result the same bits alone and in a batch of 2, feature lookup
// by name, and the argument checks.
#include "check.h"
#include "../nn/nets.h"

// conv5_3 error bound: max |err| <= VGG_TOL * max |ref|. Each Winograd
// layer adds a relative error of a few 1e-6 (tests/test_winograd.c) and
// the 13 layers pass it on with about unit gain under He initialisation;
// measured 3e-6 at 224 x 224 (printed below), so 1e-4 leaves a margin of
// 30 for other compilers and CPUs.
#define VGG_TOL 1e-4

static const int vgg_cin[NN_VGG16_CONVS] = {3, 64, 64, 128, 128, 256, 256,
                                            256, 512, 512, 512, 512, 512};
static const int vgg_cout[NN_VGG16_CONVS] = {64, 64, 128, 128, 256, 256,
                                             256, 512, 512, 512, 512, 512,
                                             512};
// After which convolution a 2x2 max-pool follows.
static const int pool_after[NN_VGG16_CONVS] = {0, 1, 0, 1, 0, 0, 1, 0, 0,
                                               1, 0, 0, 0};

static float *params_store[2 * NN_VGG16_CONVS];

static void make_weights(void)
{
    facet_rng rng;

    facet_rng_seed(&rng, 16);
    for (int i = 0; i < NN_VGG16_CONVS; i++) {
        size_t count = (size_t)vgg_cout[i] * vgg_cin[i] * 9;
        double he = sqrt(2.0 / (9.0 * vgg_cin[i]));
        float *w = facet_alloc(count * sizeof(float));
        float *b = facet_alloc((size_t)vgg_cout[i] * sizeof(float));

        FACET_ASSERT(w && b);
        for (size_t k = 0; k < count; k++)
            w[k] = (float)(he * facet_rng_normal(&rng));
        check_fill_random(b, (size_t)vgg_cout[i], &rng, -0.05f, 0.05f);
        params_store[2 * i] = w;
        params_store[2 * i + 1] = b;
    }
}

static float *make_input(int n, int h, int w, uint64_t seed)
{
    size_t count = (size_t)n * 3 * h * w;
    float *x = facet_alloc(count * sizeof(float));
    facet_rng rng;

    FACET_ASSERT(x);
    facet_rng_seed(&rng, seed);
    check_fill_random(x, count, &rng, -1.0f, 1.0f);
    return x;
}

// The reference forward of one image; returns conv5_3 (512 x h/16 x w/16,
// caller frees).
static float *reference(const float *input, int h, int w)
{
    float *x = facet_alloc((size_t)3 * h * w * sizeof(float));
    int c = 3;

    FACET_ASSERT(x);
    memcpy(x, input, (size_t)3 * h * w * sizeof(float));
    for (int i = 0; i < NN_VGG16_CONVS; i++) {
        nn_conv_desc d = {0};
        nn_tensor tin = nn_tensor_4d(x, 1, c, h, w), tout;
        float *y = facet_alloc((size_t)vgg_cout[i] * h * w * sizeof(float));

        FACET_ASSERT(y);
        d.cin = c;
        d.cout = vgg_cout[i];
        d.kh = d.kw = 3;
        d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1;
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
        d.groups = 1;
        d.act = LA_ACT_RELU;
        tout = nn_tensor_4d(y, 1, vgg_cout[i], h, w);
        nn_conv2d__ref(&tout, &tin, &d, params_store[2 * i],
                       params_store[2 * i + 1], NULL);
        facet_free(x);
        x = y;
        c = vgg_cout[i];
        if (pool_after[i]) {
            nn_pool_desc p = {.kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2};
            float *z = facet_alloc((size_t)c * (h / 2) * (w / 2) *
                                   sizeof(float));
            nn_tensor tp;

            FACET_ASSERT(z);
            tin = nn_tensor_4d(x, 1, c, h, w);
            tp = nn_tensor_4d(z, 1, c, h / 2, w / 2);
            nn_maxpool2d__ref(&tp, NULL, &tin, &p);
            facet_free(x);
            x = z;
            h /= 2;
            w /= 2;
        }
    }
    return x;
}

// max |got - ref| / max |ref| over `count` values (infinite on NaN).
static double rel_error(const float *got, const float *ref, size_t count)
{
    double err = 0.0, scale = 0.0;

    for (size_t i = 0; i < count; i++) {
        double e = fabs((double)got[i] - ref[i]);
        err = isnan(got[i]) ? INFINITY : fmax(err, e);
        if (isinf(err))
            break;
        scale = fmax(scale, fabs(ref[i]));
    }
    return err / scale;
}

// A network for n images of h x w and its conv5_3 on `input`; the feature
// maps start as NaN so that a layer that skips outputs shows.
static nn_vgg16 *run_net(int n, int h, int w, const float *input)
{
    nn_vgg16 *v = NULL;
    nn_tensor in = nn_tensor_4d((float *)input, n, 3, h, w);
    static const char *const names[] = {"conv1_1", "pool1", "conv3_3",
                                        "conv5_3"};

    CHECK(nn_vgg16_create(&v, (const float *const *)params_store, n, h,
                          w) == FACET_OK);
    if (!v)
        return NULL;
    for (int i = 0; i < 4; i++) {
        const nn_tensor *f = nn_vgg16_feature(v, names[i]);
        check_fill_nan(f->data, nn_tensor_count(f));
    }
    CHECK(nn_vgg16_forward(v, &in) == FACET_OK);
    return v;
}

static void compare(const char *what, int h, int w, const float *ref,
                    const nn_vgg16 *v)
{
    const nn_tensor *f = nn_vgg16_feature(v, "conv5_3");
    size_t count = (size_t)512 * (h / 16) * (w / 16);
    double rel;

    CHECK(f && f->dim[1] == 512 && f->dim[2] == h / 16 &&
          f->dim[3] == w / 16);
    rel = rel_error(f->data, ref, count);
    printf("  conv5_3 %-14s %3dx%-3d max|err|/max|ref| = %.2e\n", what, h,
           w, rel);
    CHECKF(rel <= VGG_TOL, "%s %dx%d: conv5_3 relative error %.3g", what, h,
           w, rel);
}

// 224 x 224 on the fastest path against the reference; 1 and 2 threads.
static void test_full(facet_isa top)
{
    const int h = 224, w = 224;
    float *input = make_input(1, h, w, 224);
    float *ref = reference(input, h, w);
    size_t count = (size_t)512 * 14 * 14;
    float *one = facet_alloc(count * sizeof(float));
    int saved = facet_threads();
    nn_vgg16 *v;

    FACET_ASSERT(one);
    CHECK(facet_isa_force(top) == FACET_OK);
    facet_set_threads(1);
    v = run_net(1, h, w, input);
    if (v) {
        memcpy(one, nn_vgg16_feature(v, "conv5_3")->data,
               count * sizeof(float));
        nn_vgg16_free(v);
    }
    facet_set_threads(2);
    v = run_net(1, h, w, input);
    if (v) {
        compare(facet_isa_name(top), h, w, ref, v);
        CHECKF(memcmp(one, nn_vgg16_feature(v, "conv5_3")->data,
                      count * sizeof(float)) == 0,
               "1 and 2 threads differ");
        nn_vgg16_free(v);
    }
    facet_set_threads(saved);
    facet_free(one);
    facet_free(ref);
    facet_free(input);
}

// 64 x 64 on every path; image 1 of a batch of 2 equals it run alone.
static void test_small(const facet_isa *isas, int count)
{
    const int h = 64, w = 64;
    size_t img = (size_t)3 * h * w, out = (size_t)512 * 4 * 4;
    float *pair = make_input(2, h, w, 64);
    float *ref = reference(pair + img, h, w);

    for (int i = 0; i < count; i++) {
        nn_vgg16 *v1, *v2;

        CHECK(facet_isa_force(isas[i]) == FACET_OK);
        v1 = run_net(1, h, w, pair + img);
        v2 = run_net(2, h, w, pair);
        if (v1)
            compare(facet_isa_name(isas[i]), h, w, ref, v1);
        if (v1 && v2)
            CHECKF(memcmp(nn_vgg16_feature(v1, "conv5_3")->data,
                          nn_vgg16_feature(v2, "conv5_3")->data + out,
                          out * sizeof(float)) == 0,
                   "%s: image 1 differs alone and in a batch of 2",
                   facet_isa_name(isas[i]));
        nn_vgg16_free(v1);
        nn_vgg16_free(v2);
    }
    facet_free(ref);
    facet_free(pair);
}

static void test_api(void)
{
    nn_vgg16 *v = NULL;
    const float *params[2 * NN_VGG16_CONVS];
    float x[3 * 16 * 15];
    nn_tensor bad = nn_tensor_4d(x, 1, 3, 16, 15);
    const nn_tensor *f;

    memcpy(params, params_store, sizeof params);
    CHECK(nn_vgg16_create(&v, params, 1, 15, 16) == FACET_E_ARG && !v);
    CHECK(nn_vgg16_create(&v, params, 0, 16, 16) == FACET_E_ARG && !v);
    params[5] = NULL;
    CHECK(nn_vgg16_create(&v, params, 1, 16, 16) == FACET_E_ARG && !v);
    params[5] = params_store[5];

    CHECK(nn_vgg16_create(&v, params, 1, 16, 16) == FACET_OK && v);
    if (!v)
        return;
    CHECK(nn_vgg16_forward(v, &bad) == FACET_E_ARG);
    CHECK(nn_vgg16_feature(v, "conv6_1") == NULL);
    f = nn_vgg16_feature(v, "pool4");
    CHECK(f && f->dim[1] == 512 && f->dim[2] == 1 && f->dim[3] == 1);
    f = nn_vgg16_feature(v, "conv2_2");
    CHECK(f && f->dim[1] == 128 && f->dim[2] == 8 && f->dim[3] == 8);
    CHECK(nn_vgg16_arena_bytes(v) > 0);
    nn_vgg16_free(v);
    nn_vgg16_free(NULL);
}

int main(void)
{
    facet_isa isas[FACET_ISA_COUNT];
    int count = check_isas(isas);
    double t0 = facet_now();

    make_weights();
    test_api();
    test_full(isas[count - 1]);
    test_small(isas, count);
    printf("  (%.1f s)\n", facet_now() - t0);
    for (int i = 0; i < 2 * NN_VGG16_CONVS; i++)
        facet_free(params_store[i]);
    return check_report();
}
