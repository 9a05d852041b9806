// net_faceres.c - the faceres network (see net_faceres.h): MobileNet-v1
// from a converted TF.js graph model, with its descriptor and heads.
//
// Create:
//   1. lay out the architecture as a table of layers (conv1, 13 depthwise
//      and pointwise pairs, mean, three dense heads) with their shapes;
//   2. check the file: its input description (3 x 224 x 224, BGR, the
//      means), and its layer list "tfgraph.graph" against the text this
//      table prints in the converter's grammar, line by line (so a file
//      with another stride, padding, activation or node name fails with
//      the line that differs);
//   3. take each weight and bias with its exact shape and build the
//      prepared convolutions (TF SAME padding via nn_same_padding, ReLU6
//      fused, depthwise as groups == channels);
//   4. plan memory: two ping-pong buffers for the maps nobody keeps, a
//      buffer of its own for each kept map and each head, all in one
//      arena; convolution and dense scratch is a separate block sized for
//      the thread count at create and regrown in forward if it went up.
// Forward: run the layers in order; mean over H x W (summed in double);
// dense layers with bias and ReLU in the GEMM epilogue; sigmoid and
// softmax in place.
//
// ref: TF "SAME" padding (tf.nn.convolution documentation): the extra
//      padding pixel goes at the end (bottom, right)
// ref: A. G. Howard et al., "MobileNets", arXiv 1704.04861, Table 1
//
// Limitations:
// - One fixed architecture (net_faceres.h); the graph text is compared,
//   not interpreted.
// - Ping-pong planning keeps the two largest unkept maps at once (2 x 64 x
//   112 x 112 floats per image, 6.4 MB), not the least memory possible.
#include "net_faceres.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBLOCKS 13
#define NLAYERS (1 + 2 * NBLOCKS + 4)   // conv1, blocks, mean, 3 dense
#define MAX_BATCH 64

typedef enum kind { K_CONV, K_DWCONV, K_MEAN, K_DENSE } kind;

// The head activations beyond la_act.
typedef enum head_act { H_NONE, H_SIGMOID, H_SOFTMAX } head_act;

typedef struct layer {
    kind kind;
    const char *name;        // weight prefix ("conv_pw_11")
    const char *value;       // short value name ("conv_pw_11_relu")
    const char *node;        // TF node name of the output
    int in;                  // input layer index, -1 for the graph input
    int k, stride;           // conv, dwconv: square kernel and stride
    int cin, c, h, w;        // input channels; output shape (batch 1)
    la_act act;              // conv, dwconv, dense
    head_act head;           // dense only
} layer;

// MobileNet-v1, alpha 1, 224x224 (Howard et al., Table 1). Block b
// (1..13) is a 3x3 depthwise convolution (layer 2b - 1) then a 1x1
// convolution (layer 2b); shapes follow TF SAME: out = ceil(in / stride).
#define DW(b, c, s, hw)                                                   \
    {K_DWCONV, "conv_dw_" #b, "conv_dw_" #b "_relu",                      \
     "conv_dw_" #b "_relu/clip_by_value", 2 * (b) - 2, 3, s, c, c, hw, hw, \
     LA_ACT_RELU6, H_NONE}
#define PW(b, cin, cout, hw)                                              \
    {K_CONV, "conv_pw_" #b, "conv_pw_" #b "_relu",                        \
     "conv_pw_" #b "_relu/clip_by_value", 2 * (b) - 1, 1, 1, cin, cout,   \
     hw, hw, LA_ACT_RELU6, H_NONE}

static const layer arch[NLAYERS] = {
    {K_CONV, "conv1", "conv1_relu", "conv1_relu/clip_by_value", -1, 3, 2, 3,
     32, 112, 112, LA_ACT_RELU6, H_NONE},
    DW(1, 32, 1, 112),    PW(1, 32, 64, 112),
    DW(2, 64, 2, 56),     PW(2, 64, 128, 56),
    DW(3, 128, 1, 56),    PW(3, 128, 128, 56),
    DW(4, 128, 2, 28),    PW(4, 128, 256, 28),
    DW(5, 256, 1, 28),    PW(5, 256, 256, 28),
    DW(6, 256, 2, 14),    PW(6, 256, 512, 14),
    DW(7, 512, 1, 14),    PW(7, 512, 512, 14),
    DW(8, 512, 1, 14),    PW(8, 512, 512, 14),
    DW(9, 512, 1, 14),    PW(9, 512, 512, 14),
    DW(10, 512, 1, 14),   PW(10, 512, 512, 14),
    DW(11, 512, 1, 14),   PW(11, 512, 512, 14),
    DW(12, 512, 2, 7),    PW(12, 512, 1024, 7),
    DW(13, 1024, 1, 7),   PW(13, 1024, 1024, 7),

    // The descriptor, then the heads (age and gender both read feats).
    {K_MEAN, "global_pooling", "global_pooling", "global_pooling/Mean", 26,
     0, 0, 1024, 1024, 1, 1, LA_ACT_NONE, H_NONE},
    {K_DENSE, "feats", "feats", "feats/Relu", 27, 0, 0, 1024, 256, 1, 1,
     LA_ACT_RELU, H_NONE},
    {K_DENSE, "gender_pred", "gender_pred", "gender_pred/Sigmoid", 28, 0, 0,
     256, 1, 1, 1, LA_ACT_NONE, H_SIGMOID},
    {K_DENSE, "age_pred", "age_pred", "age_pred/Softmax", 28, 0, 0, 256,
     100, 1, 1, LA_ACT_NONE, H_SOFTMAX},
};

typedef struct slot {
    const float *weight, *bias;
    nn_conv *conv;           // conv, dwconv
    float *buf;              // own buffer (kept maps, heads) or NULL
    int keep;
    nn_tensor t;             // view after forward
} slot;

struct nn_faceres {
    const wt_file *wf;
    int batch;
    slot s[NLAYERS];
    float *ping[2];          // batch x largest unkept map
    nn_arena arena;
    void *scratch;
    size_t scratch_bytes;
    int ran;                 // a forward call completed
};

// ---------------------------------------------------------------------------
// The architecture as the converter prints it

// The converter's line for layer i (tools/convert/convert_tfgraph.c,
// "tfgraph.graph"), without the newline.
static void graph_line(char *buf, size_t cap, int i)
{
    const layer *l = &arch[i];
    const char *in = l->in < 0 ? "input_1" : arch[l->in].node;
    static const char *const acts[] = {"none", "relu", "relu6"};
    const char *act = l->head == H_SIGMOID ? "sigmoid" :
                      l->head == H_SOFTMAX ? "softmax" :
                      acts[l->act == LA_ACT_RELU6 ? 2 :
                           l->act == LA_ACT_RELU ? 1 : 0];

    switch (l->kind) {
    case K_CONV:
    case K_DWCONV:
        snprintf(buf, cap, "%s %s %s %s k=%d,%d stride=%d,%d dil=1,1%s "
                 "pad=same act=%s shape=%d,%d,%d",
                 l->kind == K_CONV ? "conv" : "dwconv", l->name, in, l->node,
                 l->k, l->k, l->stride, l->stride,
                 l->kind == K_DWCONV ? " mult=1" : "", act, l->c, l->h,
                 l->w);
        break;
    case K_MEAN:
        snprintf(buf, cap, "mean %s %s %s shape=%d,1,1", l->name, in,
                 l->node, l->c);
        break;
    case K_DENSE:
        snprintf(buf, cap, "dense %s %s %s act=%s shape=%d,1,1", l->name, in,
                 l->node, act, l->c);
        break;
    }
}

static int find_layer(const char *name)
{
    for (int i = 0; i < NLAYERS; i++)
        if (!strcmp(arch[i].value, name) || !strcmp(arch[i].node, name))
            return i;
    return -1;
}

// ---------------------------------------------------------------------------
// Checking the file

static facet_status check_input(const wt_file *w)
{
    static const float mean[3] = {103.939f, 116.779f, 123.68f};
    const wt_info *in = wt_file_info(w);
    const char *input = wt_meta_str(w, "tfgraph.input");

    if (!in->channel_order || strcmp(in->channel_order, "BGR") ||
        in->channels != 3 || in->height != NN_FACERES_SIZE ||
        in->width != NN_FACERES_SIZE || !in->mean || in->std ||
        memcmp(in->mean, mean, sizeof mean) || !input ||
        strcmp(input, "input_1"))
        return facet_fail(FACET_E_FORMAT, "%s: not a faceres file: the "
                          "input must be 3 x 224 x 224 BGR minus mean "
                          "(103.939, 116.779, 123.68), no std, named "
                          "input_1", wt_path(w));
    return FACET_OK;
}

// The file's "tfgraph.graph" against the table, line by line.
static facet_status check_graph(const wt_file *w)
{
    const char *text = wt_meta_str(w, "tfgraph.graph"), *p;
    char want[256];

    if (!text)
        return facet_fail(FACET_E_FORMAT, "%s: no tfgraph.graph metadata "
                          "(not written by convert_tfgraph?)", wt_path(w));
    p = text;
    for (int i = 0; i < NLAYERS; i++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);

        graph_line(want, sizeof want, i);
        if (!eol || len != strlen(want) || memcmp(p, want, len))
            return facet_fail(FACET_E_FORMAT, "%s: tfgraph.graph line %d is "
                              "\"%.*s\", faceres needs \"%s\"", wt_path(w),
                              i + 1, (int)(len > 200 ? 200 : len), p, want);
        p = eol + 1;
    }
    if (*p)
        return facet_fail(FACET_E_FORMAT, "%s: tfgraph.graph has more than "
                          "the %d layers of faceres", wt_path(w), NLAYERS);
    return FACET_OK;
}

// Weights and biases with their exact shapes.
static facet_status take_weights(nn_faceres *f)
{
    for (int i = 0; i < NLAYERS; i++) {
        const layer *l = &arch[i];
        slot *s = &f->s[i];
        char name[64];
        int64_t dims[4] = {l->c, l->kind == K_DWCONV ? 1 : l->cin, l->k,
                           l->k};
        int64_t dense[2] = {l->c, l->cin}, bias = l->c;

        if (l->kind == K_MEAN)
            continue;
        snprintf(name, sizeof name, "%s.weight", l->name);
        s->weight = l->kind == K_DENSE ? wt_tensor(f->wf, name, 2, dense)
                                       : wt_tensor(f->wf, name, 4, dims);
        if (!s->weight)
            return FACET_E_FORMAT;
        snprintf(name, sizeof name, "%s.bias", l->name);
        if (!(s->bias = wt_tensor(f->wf, name, 1, &bias)))
            return FACET_E_FORMAT;
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Memory

static size_t scratch_need(const nn_faceres *f, int n)
{
    size_t need = 0, b;

    for (int i = 0; i < NLAYERS; i++) {
        const layer *l = &arch[i];
        int h = l->in < 0 ? NN_FACERES_SIZE : arch[l->in].h;

        if (f->s[i].conv)
            b = nn_conv_scratch_size(f->s[i].conv, n, h, h);
        else if (l->kind == K_DENSE)
            b = nn_fc_scratch_size(n, l->cin, l->c);
        else
            b = 0;
        if (b > need)
            need = b;
    }
    return need;
}

static facet_status grow_scratch(nn_faceres *f, int n)
{
    size_t need = scratch_need(f, n);

    if (need <= f->scratch_bytes)
        return FACET_OK;
    facet_free(f->scratch);
    f->scratch = facet_alloc(need);
    f->scratch_bytes = f->scratch ? need : 0;
    if (!f->scratch)
        return facet_fail(FACET_E_NOMEM, "faceres: %zu bytes of scratch",
                          need);
    return FACET_OK;
}

// Floats of layer i's output for the whole batch.
static size_t out_floats(const nn_faceres *f, int i)
{
    return (size_t)f->batch * arch[i].c * arch[i].h * arch[i].w;
}

static facet_status plan(nn_faceres *f)
{
    size_t ping = 0, bytes = 0;
    facet_status s;

    // Sizes: heads and kept maps own a buffer; the rest share ping-pong.
    for (int i = 0; i < NLAYERS; i++) {
        size_t b = out_floats(f, i) * sizeof(float);

        if (arch[i].kind == K_MEAN || arch[i].kind == K_DENSE)
            f->s[i].keep = 1;
        if (f->s[i].keep)
            bytes += facet_align_up(b, FACET_ALIGN);
        else if (b > ping)
            ping = b;
    }
    ping = facet_align_up(ping, FACET_ALIGN);
    bytes += 2 * ping;
    if ((s = nn_arena_init(&f->arena, bytes)) != FACET_OK)
        return s;

    // Hand out the buffers.
    for (int k = 0; k < 2; k++)
        f->ping[k] = ping ? nn_arena_alloc(&f->arena, ping) : NULL;
    for (int i = 0; i < NLAYERS; i++)
        if (f->s[i].keep) {
            f->s[i].buf = nn_arena_alloc(&f->arena,
                                         out_floats(f, i) * sizeof(float));
            FACET_ASSERT(f->s[i].buf);
        }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Create / free

void nn_faceres_free(nn_faceres *f)
{
    if (!f)
        return;
    for (int i = 0; i < NLAYERS; i++)
        nn_conv_free(f->s[i].conv);
    nn_arena_release_all(&f->arena);
    facet_free(f->scratch);
    free(f);
}

facet_status nn_faceres_create(nn_faceres **out, const wt_file *w, int batch,
                               const char *const *keep, int nkeep)
{
    nn_faceres *f;
    facet_status s;

    *out = NULL;
    if (!w || batch < 1 || batch > MAX_BATCH || nkeep < 0 ||
        (nkeep && !keep))
        return facet_fail(FACET_E_ARG, "nn_faceres_create: bad arguments "
                          "(batch %d, %d kept names)", batch, nkeep);
    if ((s = check_input(w)) != FACET_OK || (s = check_graph(w)) != FACET_OK)
        return s;
    if (!(f = calloc(1, sizeof(*f))))
        return facet_fail(FACET_E_NOMEM, "out of memory");
    f->wf = w;
    f->batch = batch;
    if ((s = take_weights(f)) != FACET_OK)
        goto fail;

    // Kept maps.
    for (int i = 0; i < nkeep; i++) {
        int id = keep[i] ? find_layer(keep[i]) : -1;

        if (id < 0) {
            s = facet_fail(FACET_E_NOT_FOUND, "%s: faceres has no value "
                           "\"%s\"", wt_path(w),
                           keep[i] ? keep[i] : "(null)");
            goto fail;
        }
        f->s[id].keep = 1;
    }

    // Prepared convolutions: TF SAME padding, ReLU6 fused.
    for (int i = 0; i < NLAYERS; i++) {
        const layer *l = &arch[i];
        int h = l->in < 0 ? NN_FACERES_SIZE : arch[l->in].h;
        nn_conv_desc d = {.cin = l->cin, .cout = l->c, .kh = l->k,
                          .kw = l->k, .stride_h = l->stride,
                          .stride_w = l->stride, .dil_h = 1, .dil_w = 1,
                          .groups = l->kind == K_DWCONV ? l->cin : 1,
                          .act = l->act};

        FACET_ASSERT(l->cin == (l->in < 0 ? 3 : arch[l->in].c));
        if (l->kind != K_CONV && l->kind != K_DWCONV)
            continue;
        nn_same_padding(&d.pad_top, &d.pad_bottom, h, l->k, l->stride, 1);
        nn_same_padding(&d.pad_left, &d.pad_right, h, l->k, l->stride, 1);
        s = nn_conv_create(&f->s[i].conv, &d, f->s[i].weight, f->s[i].bias,
                           NULL, NN_CONV_AUTO);
        if (s != FACET_OK)
            goto fail;
    }

    if ((s = plan(f)) != FACET_OK || (s = grow_scratch(f, batch)) != FACET_OK)
        goto fail;
    *out = f;
    return FACET_OK;

fail:
    nn_faceres_free(f);
    return s;
}

// ---------------------------------------------------------------------------
// Forward

facet_status nn_faceres_forward(nn_faceres *f, const nn_tensor *in)
{
    const nn_tensor *x;
    int n, pp = 0;
    facet_status s;

    if (!f || !in || !in->data || in->ndim != 4 || in->dim[0] < 1 ||
        in->dim[0] > f->batch || in->dim[1] != 3 ||
        in->dim[2] != NN_FACERES_SIZE || in->dim[3] != NN_FACERES_SIZE)
        return facet_fail(FACET_E_ARG, "nn_faceres_forward: input must be "
                          "n x 3 x 224 x 224 with 1 <= n <= %d",
                          f ? f->batch : 0);
    n = in->dim[0];
    if ((s = grow_scratch(f, n)) != FACET_OK)
        return s;
    f->ran = 0;

    for (int i = 0; i < NLAYERS; i++) {
        const layer *l = &arch[i];
        slot *sl = &f->s[i];
        float *dst;

        // Output buffer: its own, or the ping-pong half not being read.
        x = l->in < 0 ? in : &f->s[l->in].t;
        if (sl->buf) {
            dst = sl->buf;
        } else {
            if (f->ping[pp] == x->data)
                pp ^= 1;
            dst = f->ping[pp];
            pp ^= 1;
        }

        // out: n x c x h x w (4-D maps) or n x c (heads).
        switch (l->kind) {
        case K_CONV:
        case K_DWCONV:
            sl->t = nn_tensor_4d(dst, n, l->c, l->h, l->w);
            nn_conv_forward(sl->conv, &sl->t, x, f->scratch);
            break;
        case K_MEAN: {
            nn_tensor t4 = nn_tensor_4d(dst, n, l->c, 1, 1);

            nn_global_avgpool_forward(&t4, x);
            break;
        }
        case K_DENSE:
            nn_fc_forward(&(nn_tensor){.data = dst, .ndim = 2,
                                       .dim = {n, l->c, 1, 1}},
                          x, sl->weight, sl->bias, l->c, l->act, NULL,
                          f->scratch);
            break;
        }
        if (l->kind == K_MEAN || l->kind == K_DENSE)
            sl->t = (nn_tensor){.data = dst, .ndim = 2,
                                .dim = {n, l->c, 1, 1}};

        // Head activations in place.
        if (l->head == H_SIGMOID)
            nn_sigmoid(&sl->t, &sl->t);
        else if (l->head == H_SOFTMAX)
            nn_softmax_channels(&sl->t, &sl->t);
    }
    f->ran = 1;
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Access

const nn_tensor *nn_faceres_feature(const nn_faceres *f, const char *name)
{
    int id = name ? find_layer(name) : -1;

    if (!f || id < 0 || !f->s[id].keep || !f->ran) {
        facet_fail(FACET_E_NOT_FOUND, "faceres: value \"%s\" is unknown, "
                   "was not kept, or no forward call ran yet",
                   name ? name : "(null)");
        return NULL;
    }
    return &f->s[id].t;
}

int nn_faceres_value_count(void)
{
    return NLAYERS;
}

const char *nn_faceres_value_name(int i)
{
    FACET_ASSERT(i >= 0 && i < NLAYERS);
    return arch[i].value;
}

const char *nn_faceres_value_node(int i)
{
    FACET_ASSERT(i >= 0 && i < NLAYERS);
    return arch[i].node;
}

void nn_faceres_value_shape(int i, int *c, int *h, int *w)
{
    FACET_ASSERT(i >= 0 && i < NLAYERS);
    *c = arch[i].c;
    *h = arch[i].h;
    *w = arch[i].w;
}

size_t nn_faceres_arena_bytes(const nn_faceres *f)
{
    return f->arena.size + f->scratch_bytes;
}

void nn_faceres_input_rgb8(float *dst, const uint8_t *rgb, size_t stride)
{
    const size_t plane = (size_t)NN_FACERES_SIZE * NN_FACERES_SIZE;
    const float mean_b = 103.939f, mean_g = 116.779f, mean_r = 123.68f;

    // dst: 3 x 224 x 224 planes B, G, R; rgb: 224 rows of R, G, B bytes.
    for (int y = 0; y < NN_FACERES_SIZE; y++) {
        const uint8_t *row = rgb + (size_t)y * stride;
        size_t o = (size_t)y * NN_FACERES_SIZE;

        for (int x = 0; x < NN_FACERES_SIZE; x++) {
            dst[o + x] = (float)row[3 * x + 2] - mean_b;
            dst[plane + o + x] = (float)row[3 * x + 1] - mean_g;
            dst[2 * plane + o + x] = (float)row[3 * x] - mean_r;
        }
    }
}
