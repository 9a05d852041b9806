// vgg16.c - VGG-16 up to conv5_3 (see nets.h): 13 prepared convolutions
// (NN_CONV_AUTO: the 3-channel conv1_1 goes through im2col + GEMM, the
// others through Winograd F(4x4, 3x3)) and 4 max-pools, with every feature
// map and the scratch in one arena sized at create time. The Winograd
// layers up to conv4_1 keep transformed weights (47 MB); the 512 x 512
// ones (conv4_2 .. conv5_3) transform theirs in each forward call, so a
// batch-1 process peaks about 120 MB beyond the caller's 59 MB of float
// weights (`facet bench vgg` prints the split).
//
// ref: K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for
//      Large-Scale Image Recognition", ICLR 2015 - configuration D.
//
// Limitations:
// - One network per input size: h and w are fixed at create time.
// - The convolutions share one scratch block, sized for the largest.
// - The forward call redoes the filter transforms of the 512 x 512 layers
//   every time (once per block of 64 tiles at larger batches): about
//   2 ms of AVX-512 work per layer and block, some 8% of a batch-1
//   forward pass on one core, the price of not holding 190 MB of
//   transformed weights.
#include "nets.h"

#include <string.h>

// The 17 stages in order; pools have cout 0.
#define STAGES 17

static const struct stage {
    const char *name;
    int cin, cout;
} stages[STAGES] = {
    {"conv1_1", 3, 64},    {"conv1_2", 64, 64},   {"pool1", 0, 0},
    {"conv2_1", 64, 128},  {"conv2_2", 128, 128}, {"pool2", 0, 0},
    {"conv3_1", 128, 256}, {"conv3_2", 256, 256}, {"conv3_3", 256, 256},
    {"pool3", 0, 0},       {"conv4_1", 256, 512}, {"conv4_2", 512, 512},
    {"conv4_3", 512, 512}, {"pool4", 0, 0},       {"conv5_1", 512, 512},
    {"conv5_2", 512, 512}, {"conv5_3", 512, 512},
};

struct nn_vgg16 {
    int batch, h, w;
    int threads;                    // facet_threads() at create
    nn_conv *conv[NN_VGG16_CONVS];
    nn_tensor feat[STAGES];         // views into the arena
    double seconds[STAGES];         // wall-clock time of the last forward
    void *scratch;                  // shared by the convolutions
    nn_arena arena;
};

static const nn_pool_desc pool2x2 = {
    .kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2, .ceil_mode = 0,
};

void nn_vgg16_free(nn_vgg16 *v)
{
    if (!v)
        return;
    for (int i = 0; i < NN_VGG16_CONVS; i++)
        nn_conv_free(v->conv[i]);
    nn_arena_release_all(&v->arena);
    facet_free(v);
}

// Shapes of every stage (channels, height, width) for an h x w input.
static void stage_shapes(int c[STAGES], int hh[STAGES], int ww[STAGES],
                         int h, int w)
{
    int ch = 3;

    for (int s = 0; s < STAGES; s++) {
        if (stages[s].cout) {
            ch = stages[s].cout;
        } else {
            h /= 2;
            w /= 2;
        }
        c[s] = ch;
        hh[s] = h;
        ww[s] = w;
    }
}

facet_status nn_vgg16_create(nn_vgg16 **out, const float *const *params,
                             int batch, int h, int w)
{
    int c[STAGES], hh[STAGES], ww[STAGES];
    size_t feat_bytes[STAGES], total = 0, scratch = 0;
    nn_vgg16 *v;
    facet_status st;

    *out = NULL;
    if (batch < 1 || h < 16 || w < 16)
        return facet_fail(FACET_E_ARG, "vgg16: batch %d of %dx%d (need "
                          "batch >= 1, sides >= 16)", batch, h, w);
    if (h > (1 << 14) || w > (1 << 14) || batch > (1 << 12))
        return facet_fail(FACET_E_TOO_LARGE, "vgg16: batch %d of %dx%d",
                          batch, h, w);
    if (!params)
        return facet_fail(FACET_E_ARG, "vgg16: no weights");
    for (int i = 0; i < 2 * NN_VGG16_CONVS; i++)
        if (!params[i])
            return facet_fail(FACET_E_ARG, "vgg16: %s of layer %d missing",
                              i % 2 ? "bias" : "weight", i / 2);

    v = facet_calloc(sizeof *v);
    if (!v)
        return facet_fail(FACET_E_NOMEM, "vgg16: network");
    v->batch = batch;
    v->h = h;
    v->w = w;
    v->threads = facet_threads();
    stage_shapes(c, hh, ww, h, w);

    // The convolutions, weights transformed here; the scratch they need.
    for (int s = 0, i = 0; s < STAGES; s++) {
        nn_conv_desc d = {0};
        size_t need;

        if (!stages[s].cout)
            continue;
        d.cin = stages[s].cin;
        d.cout = stages[s].cout;
        d.kh = d.kw = 3;
        d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1;
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
        d.groups = 1;
        d.act = LA_ACT_RELU;
        st = nn_conv_create(&v->conv[i], &d, params[2 * i],
                            params[2 * i + 1], NULL, NN_CONV_AUTO);
        if (st != FACET_OK) {
            nn_vgg16_free(v);
            return st;
        }
        need = nn_conv_scratch_size(v->conv[i], batch, hh[s], ww[s]);
        if (need > scratch)
            scratch = need;
        i++;
    }

    // Arena: every feature map, then the scratch.
    for (int s = 0; s < STAGES; s++) {
        feat_bytes[s] = (size_t)batch * c[s] * hh[s] * ww[s] * sizeof(float);
        total += facet_align_up(feat_bytes[s], FACET_ALIGN);
    }
    total += facet_align_up(scratch, FACET_ALIGN);
    st = nn_arena_init(&v->arena, total);
    if (st != FACET_OK) {
        nn_vgg16_free(v);
        return st;
    }
    for (int s = 0; s < STAGES; s++) {
        float *p = nn_arena_alloc(&v->arena, feat_bytes[s]);
        FACET_ASSERT(p);
        v->feat[s] = nn_tensor_4d(p, batch, c[s], hh[s], ww[s]);
    }
    v->scratch = nn_arena_alloc(&v->arena, scratch);
    FACET_ASSERT(v->scratch);
    *out = v;
    return FACET_OK;
}

facet_status nn_vgg16_forward(nn_vgg16 *v, const nn_tensor *in)
{
    const nn_tensor *x = in;
    int n;

    if (in->ndim != 4 || in->dim[1] != 3 || in->dim[2] != v->h ||
        in->dim[3] != v->w || in->dim[0] < 1 || in->dim[0] > v->batch)
        return facet_fail(FACET_E_ARG, "vgg16: input %dx%dx%dx%d, network "
                          "takes up to %dx3x%dx%d", in->dim[0], in->dim[1],
                          in->dim[2], in->dim[3], v->batch, v->h, v->w);
    if (facet_threads() > v->threads)
        return facet_fail(FACET_E_ARG, "vgg16: %d threads, scratch sized "
                          "for %d at create", facet_threads(), v->threads);

    // This call's batch: views over the front of each feature map.
    n = in->dim[0];
    for (int s = 0; s < STAGES; s++)
        v->feat[s].dim[0] = n;

    // conv/pool stages in order, each reading the previous feature map.
    for (int s = 0, i = 0; s < STAGES; s++) {
        double t0 = facet_now();

        if (stages[s].cout)
            nn_conv_forward(v->conv[i++], &v->feat[s], x, v->scratch);
        else
            nn_maxpool_forward(&v->feat[s], NULL, x, &pool2x2);
        x = &v->feat[s];
        v->seconds[s] = facet_now() - t0;
    }
    return FACET_OK;
}

const nn_tensor *nn_vgg16_feature(const nn_vgg16 *v, const char *name)
{
    for (int s = 0; s < STAGES; s++)
        if (!strcmp(stages[s].name, name))
            return &v->feat[s];
    return NULL;
}

double nn_vgg16_stage_seconds(const nn_vgg16 *v, const char *name)
{
    for (int s = 0; s < STAGES; s++)
        if (!strcmp(stages[s].name, name))
            return v->seconds[s];
    return -1.0;
}

const char *nn_vgg16_stage_name(int i)
{
    return i >= 0 && i < STAGES ? stages[i].name : NULL;
}

size_t nn_vgg16_arena_bytes(const nn_vgg16 *v)
{
    return v->arena.size;
}
