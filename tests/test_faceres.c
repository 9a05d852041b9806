// test_faceres.c - the faceres network (nn/net_faceres.c) and its weights
// from tools/convert/convert_tfgraph.c, against TF.js.
//
// Checks:
// - the input function: BGR planes, float32 pixel - mean, row stride;
// - the value table: names, node names and shapes;
// - parity: on two face images against the reference values of
//   tests/data/faceres (written by tools/fixtures/faceres_fixtures.js with
//   TF.js 4.22, WASM backend, on the original graph model), every stored
//   node (early maps, a stride-2 depthwise stage, conv_pw_11, the last
//   map, the descriptor and the heads) for every ISA path, and the
//   descriptor's cosine similarity;
// - batch and threads: two images in one batch, and 1 or 2 threads, give
//   bit-identical results; kept outputs poisoned with NaN are rewritten;
// - validation: files with a changed layer line, a missing or misshapen
//   tensor, or another channel order are refused with a clear detail.
//
// The face images are research data and are not committed: the test reads
// the two PNGs named in meta.txt (aligned112/Barack_Obama/1.png and
// aligned112/Jennifer_Aniston/4303.png, 112x112) from $FACET_DATA (default
// ../shared/data, relative to the repository root), decodes them with
// stb_image as the generator did (through tools/fixtures/stb_decode) and
// doubles every pixel to 224x224, so its input is bit-identical to
// TF.js's. Without them the parity, batch and speed checks are skipped
// with a "skipped:" line; the others still run.
//
// Needs faceres.fct (`make weights`) in $FACET_WEIGHTS (default weights/,
// relative to the current folder); without it the weight checks fail,
// saying to run make weights. FACET_FACERES_BENCH=N also prints the
// median per-image time over N runs with 1 and 2 threads.
//
// Limitations:
// - Two faces, both frontal aligned crops: parity, not accuracy.
//
// This file holds the stb_image implementation (this test is its own
// executable).
#include "check.h"

#include "../nn/net_faceres.h"
#include "../weights/weights.h"

#include <unistd.h>

#include "stb_impl.h"

#define FIXTURES "tests/data/faceres/"
#define NIMG 2
#define MAX_TENSORS 16
#define SZ NN_FACERES_SIZE

// One stored TF.js tensor: every stride-th element of the NCHW value.
typedef struct ref_tensor {
    char key[64], node[96];
    int stride, c, h, w;
    size_t count;
    float *v[NIMG];
} ref_tensor;

static ref_tensor refs[MAX_TENSORS];
static int nrefs;

// The input images: file under FACET_DATA and pixel-doubling factor, from
// meta.txt "source" lines; pixels once loaded.
static char sources[NIMG][256];
static int scales[NIMG];
static uint8_t images[NIMG][SZ * SZ * 3];

// ---------------------------------------------------------------------------
// Fixtures

static float *read_f32(const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    float *v = malloc(count * sizeof(float));

    if (!f || !v || fread(v, sizeof(float), count, f) != count ||
        fgetc(f) != EOF) {
        if (f)
            fclose(f);
        free(v);
        return NULL;
    }
    fclose(f);
    return v;
}

// meta.txt and every tensor file.
static int load_fixtures(void)
{
    FILE *f = fopen(FIXTURES "meta.txt", "r");
    char line[512], path[256];
    int nsrc = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        ref_tensor *r = &refs[nrefs];
        int idx, k;

        if (sscanf(line, "source %d %255s %d", &idx, path, &k) == 3 &&
            idx >= 0 && idx < NIMG && k > 0 && !sources[idx][0]) {
            snprintf(sources[idx], sizeof sources[idx], "%s", path);
            scales[idx] = k;
            nsrc++;
            continue;
        }
        if (strncmp(line, "tensor ", 7) || nrefs == MAX_TENSORS)
            continue;
        if (sscanf(line, "tensor %63s %95s %d %d %d %d", r->key, r->node,
                   &r->stride, &r->c, &r->h, &r->w) != 6 || r->stride < 1)
            continue;
        r->count = ((size_t)r->c * r->h * r->w + r->stride - 1) / r->stride;
        for (int i = 0; i < NIMG; i++) {
            snprintf(path, sizeof path, FIXTURES "face%d.%s.f32", i, r->key);
            if (!(r->v[i] = read_f32(path, r->count))) {
                fclose(f);
                return 0;
            }
        }
        nrefs++;
    }
    fclose(f);
    return nrefs > 0 && nsrc == NIMG;
}

// The input images from FACET_DATA: decoded by stb_image, each pixel
// repeated k x k times (SZ = k x side). 0 without the files (a visible skip,
// no failure); a file that is there but does not decode to the expected
// size fails.
static int load_images(void)
{
    const char *data = check_data_dir();
    char path[1024];

    for (int i = 0; i < NIMG; i++) {
        int w, h, comp, k = scales[i];
        uint8_t *px;
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", data, sources[i]);
        if (!(f = fopen(path, "rb"))) {
            printf("skipped: FACET_DATA (%s) not found: no %s; the parity, "
                   "batch and speed checks need it\n", data, sources[i]);
            return 0;
        }
        fclose(f);

        // Decode to RGB8; the side times k must give SZ.
        px = stbi_load(path, &w, &h, &comp, 3);
        CHECKF(px && w == h && w * k == SZ, "%s: %s %dx%d, want %dx%d",
               path, px ? "decoded" : stbi_failure_reason(), px ? w : 0,
               px ? h : 0, SZ / k, SZ / k);
        if (!px || w != h || w * k != SZ) {
            stbi_image_free(px);
            return 0;
        }

        // Pixel doubling: dst (y, x) takes src (y / k, x / k).
        for (int y = 0; y < SZ; y++)
            for (int x = 0; x < SZ; x++)
                memcpy(images[i] + ((size_t)y * SZ + x) * 3,
                       px + ((size_t)(y / k) * w + x / k) * 3, 3);
        stbi_image_free(px);
    }
    return 1;
}

// ---------------------------------------------------------------------------
// Checks that need no weights

static void test_input(void)
{
    enum { STRIDE = SZ * 3 + 5 };
    static uint8_t rgb[SZ * STRIDE];
    static float dst[3 * SZ * SZ];
    const float mean[3] = {103.939f, 116.779f, 123.68f};   // B, G, R
    facet_rng r;
    int bad = 0;

    facet_rng_seed(&r, 11);
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)facet_rng_below(&r, 256);
    check_fill_nan(dst, 3 * SZ * SZ);
    nn_faceres_input_rgb8(dst, rgb, STRIDE);

    // Plane c holds byte 2 - c of each pixel (B, G, R), minus its mean,
    // exactly: the float32 subtraction TF.js's fixture makes too.
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < SZ; y++)
            for (int x = 0; x < SZ; x++) {
                float want = (float)rgb[y * STRIDE + 3 * x + 2 - c] - mean[c];
                bad += dst[((size_t)c * SZ + y) * SZ + x] != want;
            }
    CHECKF(bad == 0, "input: %d values differ from pixel - mean", bad);
}

static void test_table(void)
{
    int c, h, w, n = nn_faceres_value_count();
    int found = 0;

    CHECK(n == 31);
    for (int i = 0; i < n; i++) {
        const char *name = nn_faceres_value_name(i);

        nn_faceres_value_shape(i, &c, &h, &w);
        if (!strcmp(name, "conv_pw_11_relu")) {
            found++;
            CHECK(c == 512 && h == 14 && w == 14);
            CHECK(!strcmp(nn_faceres_value_node(i),
                          "conv_pw_11_relu/clip_by_value"));
        }
        if (!strcmp(name, "global_pooling")) {
            found++;
            CHECK(c == NN_FACERES_DESCRIPTOR && h == 1 && w == 1);
        }
        if (!strcmp(name, "conv1_relu"))
            CHECK(c == 32 && h == 112 && w == 112);
        if (!strcmp(name, "conv_pw_13_relu"))
            CHECK(c == 1024 && h == 7 && w == 7);
    }
    CHECK(found == 2);
}

// ---------------------------------------------------------------------------
// Parity with TF.js

static float *input_batch(void)
{
    float *in = facet_alloc((size_t)NIMG * 3 * SZ * SZ * sizeof(float));

    FACET_ASSERT(in);
    for (int i = 0; i < NIMG; i++)
        nn_faceres_input_rgb8(in + (size_t)i * 3 * SZ * SZ, images[i],
                              SZ * 3);
    return in;
}

// Compare value `t` (image b of its batch) with reference r.
static void compare(const nn_tensor *t, int b, const ref_tensor *r, int img,
                    const char *isa)
{
    size_t per = (size_t)r->c * r->h * r->w;
    const float *got = t->data + (size_t)b * per;
    double maxref = 0, maxdiff = 0;

    CHECKF(t->dim[1] == r->c && nn_tensor_count(t) == (size_t)t->dim[0] *
           per, "%s: shape differs", r->key);
    for (size_t i = 0; i < r->count; i++) {
        double ref = r->v[img][i], d = fabs(got[i * r->stride] - ref);
        if (fabs(ref) > maxref)
            maxref = fabs(ref);
        if (!(d <= maxdiff))
            maxdiff = d;   // NaN sticks
    }

    // Tolerance, per element: |diff| <= 1e-4 * max|ref| of the tensor (the
    // issue's relative bound). TF.js (XNNPACK, float32 sums in its own
    // order, batch-norm multiply after the depthwise convolution) and facet
    // (float32 GEMM / direct kernels, the multiply folded into the weights)
    // round differently; measured 2e-7 .. 9.5e-6 of max|ref| (largest at
    // conv_pw_1, whose pre-activations are large before ReLU6 clips them).
    // A wrong layer moves values by O(1) of the scale.
    CHECKF(maxdiff <= 1e-4 * maxref, "%s face%d %s: max|diff| %.3g, "
           "max|ref| %.3g, ratio %.3g > 1e-4", isa, img, r->key, maxdiff,
           maxref, maxdiff / maxref);
    printf("  %-7s face%d %-15s max|diff| %.3g  max|ref| %.4g  ratio %.2e\n",
           isa, img, r->key, maxdiff, maxref, maxdiff / maxref);
}

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;

    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static const char *keep_names[MAX_TENSORS];

static void test_parity(const wt_file *wf)
{
    static const char *const isa_names[] = {"scalar", "avx2", "avx512"};
    facet_isa isas[FACET_ISA_COUNT];
    int nisa = check_isas(isas);
    float *in = input_batch();
    nn_faceres *net;
    facet_status s;

    for (int i = 0; i < nrefs; i++)
        keep_names[i] = refs[i].node;   // TF node names, as aliases
    s = nn_faceres_create(&net, wf, 1, keep_names, nrefs);
    CHECKF(s == FACET_OK, "create: %s", facet_error());
    if (s != FACET_OK) {
        facet_free(in);
        return;
    }

    for (int k = 0; k < nisa; k++) {
        facet_isa_force(isas[k]);
        for (int img = 0; img < NIMG; img++) {
            nn_tensor x = nn_tensor_4d(in + (size_t)img * 3 * SZ * SZ, 1, 3,
                                       SZ, SZ);
            const nn_tensor *d;

            CHECK(nn_faceres_forward(net, &x) == FACET_OK);
            for (int i = 0; i < nrefs; i++) {
                const nn_tensor *t = nn_faceres_feature(net, refs[i].node);
                CHECKF(t != NULL, "%s: %s", refs[i].node, facet_error());
                if (t)
                    compare(t, 0, &refs[i], img, isa_names[isas[k]]);
            }

            // The descriptor's direction: cosine with TF.js's.
            d = nn_faceres_feature(net, "global_pooling");
            for (int i = 0; d && i < nrefs; i++)
                if (!strcmp(refs[i].key, "global_pooling")) {
                    double cs = cosine(d->data, refs[i].v[img],
                                       NN_FACERES_DESCRIPTOR);
                    // 0.99999: the bound; measured 1 - ~1e-12.
                    CHECKF(cs > 0.99999, "descriptor cosine %.9f", cs);
                    printf("  %-7s face%d descriptor cosine 1 - %.2e\n",
                           isa_names[isas[k]], img, 1 - cs);
                }
        }
    }
    facet_isa_force(isas[nisa - 1]);
    nn_faceres_free(net);
    facet_free(in);
}

// Both images in one batch, 1 and 2 threads: bit-identical to one image at
// a time; every kept output is rewritten (poisoned with NaN in between).
static void test_batch_threads(const wt_file *wf)
{
    static const char *const keep[] = {"conv1_relu", "conv_pw_11_relu"};
    const char *names[] = {"conv1_relu", "conv_pw_11_relu", "global_pooling",
                           "feats", "gender_pred", "age_pred"};
    enum { NNAMES = 6 };
    float *in = input_batch(), *single[NNAMES][NIMG];
    int threads0 = facet_threads();
    nn_faceres *net;
    facet_status s;

    s = nn_faceres_create(&net, wf, NIMG, keep, 2);
    CHECKF(s == FACET_OK, "create: %s", facet_error());
    if (s != FACET_OK) {
        facet_free(in);
        return;
    }

    // One image at a time, one thread.
    facet_set_threads(1);
    for (int img = 0; img < NIMG; img++) {
        nn_tensor x = nn_tensor_4d(in + (size_t)img * 3 * SZ * SZ, 1, 3, SZ,
                                   SZ);
        CHECK(nn_faceres_forward(net, &x) == FACET_OK);
        for (int j = 0; j < NNAMES; j++) {
            const nn_tensor *t = nn_faceres_feature(net, names[j]);
            size_t n = nn_tensor_count(t);
            single[j][img] = malloc(n * sizeof(float));
            memcpy(single[j][img], t->data, n * sizeof(float));
            check_fill_nan(t->data, n);
        }
    }

    // The batch, with 1 and then 2 threads.
    for (int th = 1; th <= 2; th++) {
        nn_tensor x = nn_tensor_4d(in, NIMG, 3, SZ, SZ);
        int bad = 0;

        facet_set_threads(th);
        CHECK(nn_faceres_forward(net, &x) == FACET_OK);
        for (int j = 0; j < NNAMES; j++) {
            const nn_tensor *t = nn_faceres_feature(net, names[j]);
            size_t per = nn_tensor_count(t) / NIMG;
            CHECK(t->dim[0] == NIMG);
            for (int img = 0; img < NIMG; img++)
                bad += memcmp(t->data + img * per, single[j][img],
                              per * sizeof(float)) != 0;
            check_fill_nan(t->data, nn_tensor_count(t));
        }
        CHECKF(bad == 0, "batch of %d with %d threads: %d values differ "
               "from single images", NIMG, th, bad);
    }
    facet_set_threads(threads0);

    // Unknown and unkept names.
    CHECK(nn_faceres_feature(net, "conv_pw_10_relu") == NULL);
    CHECK(nn_faceres_feature(net, "no_such_layer") == NULL);
    {
        const char *bad_keep[] = {"conv_pw_99_relu"};
        nn_faceres *other;
        CHECK(nn_faceres_create(&other, wf, 1, bad_keep, 1) ==
              FACET_E_NOT_FOUND && other == NULL);
    }

    for (int j = 0; j < NNAMES; j++)
        for (int img = 0; img < NIMG; img++)
            free(single[j][img]);
    nn_faceres_free(net);
    facet_free(in);
}

// ---------------------------------------------------------------------------
// Validation: copies of the real file with one thing changed

typedef enum change {
    CH_GRAPH_STRIDE,    // a depthwise stride 2 written as 1
    CH_DROP_BIAS,       // conv_pw_11.bias missing
    CH_SHAPE,           // feats.weight stored transposed (1024 x 256)
    CH_RGB              // channel_order RGB
} change;

static facet_status write_copy(const wt_file *wf, const char *path,
                               change ch)
{
    wt_writer *wr;
    facet_status s;

    if ((s = wt_writer_create(&wr, path)) != FACET_OK)
        return s;
    for (size_t i = 0; i < wt_meta_count(wf); i++) {
        const wt_meta *m = wt_meta_at(wf, i);
        if (ch == CH_RGB && !strcmp(m->key, "channel_order")) {
            wt_writer_meta_str(wr, m->key, "RGB");
        } else if (ch == CH_GRAPH_STRIDE && !strcmp(m->key,
                                                    "tfgraph.graph")) {
            char *t = strdup(m->value), *p = strstr(t, "conv_dw_2 ");
            p = p ? strstr(p, "stride=2,2") : NULL;
            FACET_ASSERT(p);
            p[7] = '1';
            p[9] = '1';
            wt_writer_meta_str(wr, m->key, t);
            free(t);
        } else {
            wt_writer_meta(wr, m->key, m->type, m->count, m->value);
        }
    }
    for (size_t i = 0; i < wt_tensor_count(wf); i++) {
        const wt_tensor_info *t = wt_tensor_at(wf, i);
        int64_t dims[WT_MAX_DIMS];

        memcpy(dims, t->dims, sizeof dims);
        if (ch == CH_DROP_BIAS && !strcmp(t->name, "conv_pw_11.bias"))
            continue;
        if (ch == CH_SHAPE && !strcmp(t->name, "feats.weight")) {
            dims[0] = t->dims[1];
            dims[1] = t->dims[0];
        }
        wt_writer_tensor(wr, t->name, WT_F32, t->ndim, dims, t->data);
    }
    return wt_writer_finish(wr);
}

static void test_validation(const wt_file *wf)
{
    static const struct {
        change ch;
        const char *expect;   // in the error detail
    } cases[] = {
        {CH_GRAPH_STRIDE, "line 4"},
        {CH_DROP_BIAS, "conv_pw_11.bias"},
        {CH_SHAPE, "feats.weight"},
        {CH_RGB, "BGR"},
    };
    char path[256];
    const char *tmp = getenv("TMPDIR");

    snprintf(path, sizeof path, "%s/test_faceres_%ld.fct",
             tmp && tmp[0] ? tmp : "/tmp", (long)getpid());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wt_file *bad = NULL;
        nn_faceres *net = NULL;
        facet_status s = write_copy(wf, path, cases[i].ch);

        CHECKF(s == FACET_OK, "writing a test copy: %s", facet_error());
        if (s != FACET_OK || wt_open(&bad, path, 0) != FACET_OK) {
            CHECKF(0, "opening the test copy: %s", facet_error());
            continue;
        }
        s = nn_faceres_create(&net, bad, 1, NULL, 0);
        CHECKF(s != FACET_OK && net == NULL &&
               strstr(facet_error(), cases[i].expect),
               "case %zu: status %s, detail \"%s\" should name %s", i,
               facet_status_str(s), facet_error(), cases[i].expect);
        nn_faceres_free(net);
        wt_close(bad);
    }
    remove(path);
}

// ---------------------------------------------------------------------------
// Speed (FACET_FACERES_BENCH=N)

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench(const wt_file *wf, int runs)
{
    float *in = input_batch();
    nn_tensor x = nn_tensor_4d(in, 1, 3, SZ, SZ);
    double *t = malloc((size_t)runs * sizeof(double));
    int threads0 = facet_threads();
    nn_faceres *net;

    if (nn_faceres_create(&net, wf, 1, (const char *const[]){
                              "conv_pw_11_relu"}, 1) != FACET_OK) {
        free(t);
        facet_free(in);
        return;
    }
    for (int th = 1; th <= 2; th++) {
        facet_set_threads(th);
        nn_faceres_forward(net, &x);   // warm-up, scratch growth
        for (int r = 0; r < runs; r++) {
            double t0 = facet_now();
            nn_faceres_forward(net, &x);
            t[r] = facet_now() - t0;
        }
        qsort(t, (size_t)runs, sizeof(double), cmp_double);
        printf("faceres bench: %d thread%s: median %.2f ms per image "
               "(min %.2f, %d runs)\n", th, th > 1 ? "s" : "",
               1e3 * t[runs / 2], 1e3 * t[0], runs);
    }
    facet_set_threads(threads0);
    nn_faceres_free(net);
    free(t);
    facet_free(in);
}

int main(void)
{
    wt_file *wf = NULL;
    const char *b = getenv("FACET_FACERES_BENCH");
    const char *wdir = check_weights_dir();
    char fct_path[1024];

    test_input();
    test_table();

    snprintf(fct_path, sizeof fct_path, "%s/faceres.fct", wdir);
    if (wt_open(&wf, fct_path, 0) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        return check_report();
    }
    if (!load_fixtures()) {
        CHECKF(0, "fixtures in " FIXTURES " are missing or incomplete "
               "(tools/fixtures/faceres_fixtures.js writes them)");
    } else if (load_images()) {
        test_parity(wf);
        test_batch_threads(wf);
        if (b && atoi(b) > 0)
            bench(wf, atoi(b));
    }
    test_validation(wf);

    for (int i = 0; i < nrefs; i++)
        for (int k = 0; k < NIMG; k++)
            free(refs[i].v[k]);
    wt_close(wf);
    return check_report();
}
