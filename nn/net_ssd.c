// net_ssd.c - face-api's SSD-MobileNet-v1 face detector (see net_ssd.h):
// loads and checks the weights, runs the 35 convolutions and the six box
// predictors, decodes the boxes and applies face-api's non-maximum
// suppression.
//
// Memory: the convolutions form a chain, and each box predictor runs as
// soon as its feature map exists, so a feature map not asked for in `keep`
// lives in one of two ping-pong slots (sized for the largest, conv1 at
// 64 x 256 x 256 per image). Kept maps get their own block. The outputs
// (box_enc, class_pred, boxes, scores) always have theirs.
//
// ref: @vladmandic/face-api 1.7.15 src/ssdMobilenetv1/ (mobileNetV1.ts,
//      predictionLayer.ts, boxPredictionLayer.ts, outputLayer.ts,
//      nonMaxSuppression.ts, SsdMobilenetv1.ts locateFaces)
// ref: W. Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016,
//      section 2.2 (box encoding against default boxes)
//
// Limitations:
// - Non-maximum suppression is face-api's quadratic greedy loop over the
//   candidates above the threshold; with a very low threshold (all 5118
//   anchors) it costs a few ms.
#include "net_ssd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NLAYERS 35       // conv0, 13 x (depthwise, pointwise), pred0..7
#define NVALUES (NLAYERS + 1)
#define NHEADS 6
#define MAX_NAME 16

// face-api's constants (mobileNetV1.ts, outputLayer.ts, locateFaces).
#define BN_EPS 0.0010000000474974513f
#define NMS_IOU 0.5

typedef struct value {
    char name[MAX_NAME];
    int c, h, w;         // batch-1 shape
    int keep;
    float *own;          // dedicated block when kept, else NULL
    int slot;            // ping-pong slot (0, 1) when not kept
    nn_tensor t;         // after forward
} value;

typedef struct head {
    int src;             // value the predictor reads
    int anchors;         // per cell: 3 or 6
    int base;            // index of its first anchor
    nn_conv *conv;       // box offsets (4A rows) then class logits (3A)
    float *weight, *bias;
} head;

typedef struct cand {
    float score;
    int index;
} cand;

struct nn_ssd {
    int batch;
    nn__fa_conv layer[NLAYERS];
    head heads[NHEADS];
    value v[NVALUES];
    float anchor[NN_SSD_ANCHORS][4];   // centre y, x, size y, x
    float *slot[2];
    float *head_out;                   // n x 7A x H x W of one head
    float *staging;                    // one image for nn_ssd_detect
    nn_tensor out[4];                  // box_enc, class_pred, boxes, scores
    void *nms_scratch;
    nn_arena arena;
    nn__fa_scratch scratch;
    nn_faceapi_profile prof;           // per-layer times, when on
    int n;                             // batch of the last forward
};

static const char *const out_names[4] = {"box_enc", "class_pred", "boxes",
                                         "scores"};

// ---------------------------------------------------------------------------
// Create

// Depthwise strides of the 13 MobileNet pairs, and channel counts.
static int pair_stride(int i)
{
    return i == 2 || i == 4 || i == 6 || i == 12 ? 2 : 1;
}
static const int pair_cout[14] = {32, 64, 128, 128, 256, 256, 512, 512, 512,
                                  512, 512, 512, 1024, 1024};
static const int pred_cout[8] = {256, 512, 128, 256, 128, 256, 64, 128};

// The spec of layer l (0: conv0; 1 + 2(i-1): pair i depthwise, 2 + 2(i-1):
// pair i pointwise; 27 + j: prediction conv j) with input in_c x in_h x
// in_w. Names go into buffers owned by the caller.
static void layer_spec(nn__fa_conv_spec *s, char names[6][96], int l,
                       int in_c, int in_h, int in_w)
{
    memset(s, 0, sizeof *s);
    s->same = 1;
    s->in_h = in_h;
    s->in_w = in_w;
    s->cin = in_c;
    s->act = LA_ACT_RELU6;
    s->k = 1;
    s->stride = 1;
    if (l == 0) {
        snprintf(names[0], 96, "MobilenetV1/Conv2d_0_pointwise/weights");
        snprintf(names[1], 96, "MobilenetV1/Conv2d_0_pointwise/"
                 "convolution_bn_offset");
        s->k = 3;
        s->stride = 2;
        s->cout = 32;
    } else if (l <= 26 && l % 2 == 1) {
        int i = (l + 1) / 2;
        const char *p = "MobilenetV1/Conv2d_%d_depthwise/%s";
        snprintf(names[0], 96, p, i, "depthwise_weights");
        snprintf(names[2], 96, p, i, "BatchNorm/gamma");
        snprintf(names[3], 96, p, i, "BatchNorm/beta");
        snprintf(names[4], 96, p, i, "BatchNorm/moving_mean");
        snprintf(names[5], 96, p, i, "BatchNorm/moving_variance");
        s->depthwise = 1;
        s->k = 3;
        s->stride = pair_stride(i);
        s->cout = in_c;
        s->gamma = names[2];
        s->beta = names[3];
        s->mean = names[4];
        s->var = names[5];
        s->eps = BN_EPS;
    } else if (l <= 26) {
        int i = l / 2;
        snprintf(names[0], 96, "MobilenetV1/Conv2d_%d_pointwise/weights",
                 i);
        snprintf(names[1], 96, "MobilenetV1/Conv2d_%d_pointwise/"
                 "convolution_bn_offset", i);
        s->cout = pair_cout[i];
    } else {
        int j = l - 27;
        snprintf(names[0], 96, "Prediction/Conv2d_%d_pointwise/weights", j);
        snprintf(names[1], 96, "Prediction/Conv2d_%d_pointwise/"
                 "convolution_bn_offset", j);
        s->k = j % 2 ? 3 : 1;
        s->stride = j % 2 ? 2 : 1;
        s->cout = pred_cout[j];
    }
    s->filters = names[0];
    if (!s->depthwise)
        s->bias = names[1];
}

static void value_name(char *dst, int l)
{
    if (l == 0)
        snprintf(dst, MAX_NAME, "conv0");
    else if (l <= 26)
        snprintf(dst, MAX_NAME, l % 2 ? "conv%d_dw" : "conv%d",
                 (l + 1) / 2);
    else
        snprintf(dst, MAX_NAME, "pred%d", l - 27);
}

// A box predictor: its two 1x1 convolutions stacked into one.
static facet_status head_create(head *hd, const wt_file *w, int k, int cin)
{
    int a = hd->anchors, rows = 7 * a;
    char nb[96], nc[96], bb[96], bc[96];
    int db[4] = {1, 1, cin, 4 * a}, dc[4] = {1, 1, cin, 3 * a};
    int vb[1] = {4 * a}, vc[1] = {3 * a};
    const float *wb, *wc, *bib, *bic;
    nn_conv_desc d;

    snprintf(nb, sizeof nb, "Prediction/BoxPredictor_%d/BoxEncodingPredictor"
             "/weights", k);
    snprintf(bb, sizeof bb, "Prediction/BoxPredictor_%d/BoxEncodingPredictor"
             "/biases", k);
    snprintf(nc, sizeof nc, "Prediction/BoxPredictor_%d/ClassPredictor"
             "/weights", k);
    snprintf(bc, sizeof bc, "Prediction/BoxPredictor_%d/ClassPredictor"
             "/biases", k);
    if (!(wb = nn__fa_tensor(w, nb, 4, db)) ||
        !(bib = nn__fa_tensor(w, bb, 1, vb)) ||
        !(wc = nn__fa_tensor(w, nc, 4, dc)) ||
        !(bic = nn__fa_tensor(w, bc, 1, vc)))
        return FACET_E_FORMAT;

    // Rows 0 .. 4A-1: box offsets; 4A .. 7A-1: class logits.
    hd->weight = facet_alloc((size_t)rows * cin * sizeof(float));
    hd->bias = facet_alloc((size_t)rows * sizeof(float));
    if (!hd->weight || !hd->bias)
        return facet_fail(FACET_E_NOMEM, "%s: box predictor %d", wt_path(w),
                          k);
    nn__fa_io_to_oi(hd->weight, wb, cin, 4 * a);
    nn__fa_io_to_oi(hd->weight + (size_t)4 * a * cin, wc, cin, 3 * a);
    memcpy(hd->bias, bib, 4 * a * sizeof(float));
    memcpy(hd->bias + 4 * a, bic, 3 * a * sizeof(float));

    memset(&d, 0, sizeof d);
    d.cin = cin;
    d.cout = rows;
    d.kh = d.kw = 1;
    d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1;
    d.groups = 1;
    d.act = LA_ACT_NONE;
    return nn_conv_create(&hd->conv, &d, hd->weight, hd->bias, NULL,
                          NN_CONV_AUTO);
}

// The anchor table `Output/extra_dim` [1, 5118, 4] as (ymin, xmin, ymax,
// xmax), turned into centres and sizes with face-api's float32 steps.
static facet_status load_anchors(nn_ssd *s, const wt_file *w)
{
    int dims[3] = {1, NN_SSD_ANCHORS, 4};
    const float *a = nn__fa_tensor(w, "Output/extra_dim", 3, dims);

    if (!a)
        return FACET_E_FORMAT;
    for (int i = 0; i < NN_SSD_ANCHORS; i++) {
        const float *p = a + 4 * i;
        float sy = p[2] - p[0], sx = p[3] - p[1];
        s->anchor[i][0] = p[0] + sy / 2.0f;
        s->anchor[i][1] = p[1] + sx / 2.0f;
        s->anchor[i][2] = sy;
        s->anchor[i][3] = sx;
    }
    return FACET_OK;
}

static facet_status build_layers(nn_ssd *s, const wt_file *w)
{
    static const int head_src[NHEADS] = {23, 27, 29, 31, 33, 35};
    int base = 0;
    facet_status st;

    // The input value, then one value per convolution.
    snprintf(s->v[0].name, MAX_NAME, "input");
    s->v[0].c = 3;
    s->v[0].h = s->v[0].w = NN_SSD_SIZE;
    for (int l = 0; l < NLAYERS; l++) {
        nn__fa_conv_spec spec;
        char names[6][96];

        // Layer l reads value l (pred0 reads conv13, the last pair).
        layer_spec(&spec, names, l, s->v[l].c, s->v[l].h, s->v[l].w);
        st = nn__fa_conv_create(&s->layer[l], w, &spec);
        if (st != FACET_OK)
            return st;
        value_name(s->v[l + 1].name, l);
        s->v[l + 1].c = s->layer[l].out_c;
        s->v[l + 1].h = s->layer[l].out_h;
        s->v[l + 1].w = s->layer[l].out_w;
    }

    // Box predictors on conv11, conv13, pred1, pred3, pred5, pred7.
    for (int k = 0; k < NHEADS; k++) {
        head *hd = &s->heads[k];
        const value *x = &s->v[head_src[k]];
        hd->src = head_src[k];
        hd->anchors = k == 0 ? 3 : 6;
        hd->base = base;
        base += x->h * x->w * hd->anchors;
        st = head_create(hd, w, k, x->c);
        if (st != FACET_OK)
            return st;
    }
    if (base != NN_SSD_ANCHORS)
        return facet_fail(FACET_E_FORMAT, "%s: the box predictors give %d "
                          "anchors, expected %d", wt_path(w), base,
                          NN_SSD_ANCHORS);
    return load_anchors(s, w);
}

// Arena: the kept maps, two ping-pong slots, one head output, the four
// outputs, the staging image and the NMS lists.
static facet_status plan_memory(nn_ssd *s)
{
    size_t n = (size_t)s->batch, slot = 0, head_max = 0, bytes = 0;
    size_t outs[4] = {4, 3, 4, 1};
    facet_status st;

    for (int i = 0; i < NVALUES; i++) {
        size_t e = (size_t)s->v[i].c * s->v[i].h * s->v[i].w * n;
        if (s->v[i].keep)
            bytes += facet_align_up(e * sizeof(float), FACET_ALIGN);
        else if (e > slot)
            slot = e;
    }
    for (int k = 0; k < NHEADS; k++) {
        const value *x = &s->v[s->heads[k].src];
        size_t e = (size_t)7 * s->heads[k].anchors * x->h * x->w * n;
        if (e > head_max)
            head_max = e;
    }
    bytes += 2 * facet_align_up(slot * sizeof(float), FACET_ALIGN);
    bytes += facet_align_up(head_max * sizeof(float), FACET_ALIGN);
    for (int i = 0; i < 4; i++)
        bytes += facet_align_up(outs[i] * NN_SSD_ANCHORS * n * sizeof(float),
                                FACET_ALIGN);
    bytes += facet_align_up((size_t)3 * NN_SSD_SIZE * NN_SSD_SIZE *
                            sizeof(float), FACET_ALIGN);
    bytes += facet_align_up(nn_ssd_nms_scratch_size(NN_SSD_ANCHORS),
                            FACET_ALIGN);

    st = nn_arena_init(&s->arena, bytes);
    if (st != FACET_OK)
        return st;
    for (int i = 0; i < NVALUES; i++) {
        value *x = &s->v[i];
        if (x->keep)
            x->own = nn_arena_alloc(&s->arena, (size_t)x->c * x->h * x->w *
                                               n * sizeof(float));
    }
    for (int i = 0; i < 2; i++)
        s->slot[i] = nn_arena_alloc(&s->arena, slot * sizeof(float));
    s->head_out = nn_arena_alloc(&s->arena, head_max * sizeof(float));
    for (int i = 0; i < 4; i++) {
        nn_tensor *t = &s->out[i];
        t->data = nn_arena_alloc(&s->arena, outs[i] * NN_SSD_ANCHORS * n *
                                            sizeof(float));
        t->ndim = i == 3 ? 2 : 3;
        t->dim[0] = 0;
        t->dim[1] = NN_SSD_ANCHORS;
        t->dim[2] = i == 3 ? 1 : (int)outs[i];
        t->dim[3] = 1;
    }
    s->staging = nn_arena_alloc(&s->arena, (size_t)3 * NN_SSD_SIZE *
                                           NN_SSD_SIZE * sizeof(float));
    s->nms_scratch = nn_arena_alloc(&s->arena,
                                    nn_ssd_nms_scratch_size(NN_SSD_ANCHORS));
    FACET_ASSERT(s->nms_scratch && s->slot[1] && s->out[3].data);
    return FACET_OK;
}

facet_status nn_ssd_create(nn_ssd **out, const wt_file *w, int batch,
                           const char *const *keep, int nkeep)
{
    nn_ssd *s;
    facet_status st;

    *out = NULL;
    if (!w || batch < 1 || batch > 4096 || nkeep < 0 || (nkeep && !keep))
        return facet_fail(FACET_E_ARG, "ssd: bad arguments (batch %d, "
                          "nkeep %d)", batch, nkeep);
    s = facet_calloc(sizeof *s);
    if (!s)
        return facet_fail(FACET_E_NOMEM, "ssd: network object");
    s->batch = batch;

    // Layers, then the names asked for, then memory.
    st = build_layers(s, w);
    for (int i = 0; st == FACET_OK && i < nkeep; i++) {
        int found = 0;
        for (int j = 0; j < NVALUES; j++)
            if (keep[i] && !strcmp(keep[i], s->v[j].name))
                s->v[j].keep = found = 1;
        for (int j = 0; j < 4; j++)
            found |= keep[i] && !strcmp(keep[i], out_names[j]);
        if (!found)
            st = facet_fail(FACET_E_NOT_FOUND, "ssd: no feature map named "
                            "'%s'", keep[i] ? keep[i] : "(null)");
    }
    if (st == FACET_OK)
        st = plan_memory(s);
    if (st != FACET_OK) {
        nn_ssd_free(s);
        return st;
    }
    *out = s;
    return FACET_OK;
}

void nn_ssd_free(nn_ssd *s)
{
    if (!s)
        return;
    for (int l = 0; l < NLAYERS; l++)
        nn__fa_conv_free(&s->layer[l]);
    for (int k = 0; k < NHEADS; k++) {
        nn_conv_free(s->heads[k].conv);
        facet_free(s->heads[k].weight);
        facet_free(s->heads[k].bias);
    }
    nn_arena_release_all(&s->arena);
    nn__fa_scratch_free(&s->scratch);
    facet_free(s);
}

size_t nn_ssd_arena_bytes(const nn_ssd *s)
{
    return s->arena.size + s->scratch.bytes;
}

// ---------------------------------------------------------------------------
// Forward

facet_status nn_ssd_input(float *dst, const uint8_t *rgb, int w, int h,
                          size_t stride)
{
    return nn_faceapi_input(dst, NN_SSD_SIZE, NN_FACEAPI_PAD_END, rgb, w, h,
                            stride, 0, 0, w, h);
}

// Scatter a head's output (n x 7A x H x W) into box_enc and class_pred:
// anchor base + (y * W + x) * A + a takes rows a*4 .. a*4+3 (offsets) and
// 4A + a*3 .. +2 (logits), TF's NHWC reshape order.
static void head_scatter(nn_ssd *s, const head *hd, int n, int hh, int ww)
{
    int a = hd->anchors, rows = 7 * a;
    size_t plane = (size_t)hh * ww;

    for (int b = 0; b < n; b++) {
        const float *o = s->head_out + (size_t)b * rows * plane;
        float *enc = s->out[0].data + (size_t)b * NN_SSD_ANCHORS * 4;
        float *cls = s->out[1].data + (size_t)b * NN_SSD_ANCHORS * 3;
        for (size_t p = 0; p < plane; p++)
            for (int k = 0; k < a; k++) {
                size_t idx = hd->base + p * a + k;
                for (int j = 0; j < 4; j++)
                    enc[idx * 4 + j] = o[(size_t)(k * 4 + j) * plane + p];
                for (int j = 0; j < 3; j++)
                    cls[idx * 3 + j] = o[(size_t)(4 * a + k * 3 + j) *
                                         plane + p];
            }
    }
}

// Boxes and scores from the raw outputs, in face-api's float32 steps.
static void decode(nn_ssd *s, int n)
{
    for (int b = 0; b < n; b++) {
        const float *enc = s->out[0].data + (size_t)b * NN_SSD_ANCHORS * 4;
        const float *cls = s->out[1].data + (size_t)b * NN_SSD_ANCHORS * 3;
        float *box = s->out[2].data + (size_t)b * NN_SSD_ANCHORS * 4;
        float *score = s->out[3].data + (size_t)b * NN_SSD_ANCHORS;

        for (int i = 0; i < NN_SSD_ANCHORS; i++) {
            const float *e = enc + 4 * i, *an = s->anchor[i];
            float half0 = expf(e[2] / 5.0f) * an[2] / 2.0f;
            float mid0 = e[0] / 10.0f * an[2] + an[0];
            float half1 = expf(e[3] / 5.0f) * an[3] / 2.0f;
            float mid1 = e[1] / 10.0f * an[3] + an[1];

            box[4 * i + 0] = mid0 - half0;
            box[4 * i + 1] = mid1 - half1;
            box[4 * i + 2] = mid0 + half0;
            box[4 * i + 3] = mid1 + half1;
            score[i] = 1.0f / (1.0f + expf(-cls[3 * i + 1]));
        }
    }
}

static size_t scratch_need(const nn_ssd *s, int n)
{
    size_t need = 0;

    for (int l = 0; l < NLAYERS; l++) {
        const nn__fa_conv *c = &s->layer[l];
        size_t b = nn_conv_scratch_size(c->conv, n, c->in_h, c->in_w);
        if (b > need)
            need = b;
    }
    for (int k = 0; k < NHEADS; k++) {
        const value *x = &s->v[s->heads[k].src];
        size_t b = nn_conv_scratch_size(s->heads[k].conv, n, x->h, x->w);
        if (b > need)
            need = b;
    }
    return need;
}

facet_status nn_ssd_forward(nn_ssd *s, const nn_tensor *in)
{
    static const float sub[3] = {1.0f, 1.0f, 1.0f};
    static const float div[3] = {127.5f, 127.5f, 127.5f};
    int n;
    facet_status st;

    if (!s || !in || in->ndim != 4 || in->dim[0] < 1 ||
        in->dim[0] > s->batch || in->dim[1] != 3 ||
        in->dim[2] != NN_SSD_SIZE || in->dim[3] != NN_SSD_SIZE || !in->data)
        return facet_fail(FACET_E_ARG, "ssd: input must be n x 3 x %d x %d "
                          "with 1 <= n <= batch", NN_SSD_SIZE, NN_SSD_SIZE);
    n = in->dim[0];
    st = nn__fa_scratch_reserve(&s->scratch, scratch_need(s, n));
    if (st != FACET_OK)
        return st;

    // Value tensors for this batch: kept maps in their blocks, the others
    // alternating between the slots along the chain.
    for (int i = 0; i < NVALUES; i++) {
        value *x = &s->v[i];
        x->slot = i == 0 || s->v[i - 1].keep ? 0 : !s->v[i - 1].slot;
        x->t = nn_tensor_4d(x->keep ? x->own : s->slot[x->slot], n, x->c,
                            x->h, x->w);
    }
    for (int i = 0; i < 4; i++)
        s->out[i].dim[0] = n;

    // x / 127.5 - 1, the convolutions, each head as its map appears.
    s->prof.count = 0;
    nn__fa_prof_start(&s->prof);
    nn__fa_normalize(&s->v[0].t, in, sub, div, 1);
    nn__fa_prof_add(&s->prof, "normalize", NULL, NN_SSD_SIZE,
                    NN_SSD_SIZE);
    for (int l = 0; l < NLAYERS; l++) {
        nn__fa_prof_start(&s->prof);
        nn_conv_forward(s->layer[l].conv, &s->v[l + 1].t, &s->v[l].t,
                        s->scratch.p);
        nn__fa_prof_add(&s->prof, s->v[l + 1].name, s->layer[l].conv,
                        s->v[l].h, s->v[l].w);
        for (int k = 0; k < NHEADS; k++) {
            const head *hd = &s->heads[k];
            const value *x = &s->v[hd->src];
            nn_tensor o;
            char name[16];
            if (hd->src != l + 1)
                continue;
            nn__fa_prof_start(&s->prof);
            o = nn_tensor_4d(s->head_out, n, 7 * hd->anchors, x->h, x->w);
            nn_conv_forward(hd->conv, &o, &x->t, s->scratch.p);
            head_scatter(s, hd, n, x->h, x->w);
            if (s->prof.on) {
                snprintf(name, sizeof name, "box%d", k);
                nn__fa_prof_record(&s->prof, name, hd->conv, x->h, x->w);
            }
        }
    }
    nn__fa_prof_start(&s->prof);
    decode(s, n);
    nn__fa_prof_add(&s->prof, "decode", NULL, 0, 0);
    s->n = n;
    return FACET_OK;
}

const nn_tensor *nn_ssd_feature(const nn_ssd *s, const char *name)
{
    if (s && name) {
        for (int i = 0; i < 4; i++)
            if (!strcmp(name, out_names[i]))
                return s->n ? &s->out[i] : NULL;
        for (int i = 0; i < NVALUES; i++)
            if (!strcmp(name, s->v[i].name) && s->v[i].keep && s->n)
                return &s->v[i].t;
    }
    facet_fail(FACET_E_NOT_FOUND, "ssd: feature map '%s' unknown, not kept "
               "or not computed yet", name ? name : "(null)");
    return NULL;
}

void nn_ssd_set_profile(nn_ssd *s, int on)
{
    s->prof.on = on != 0;
    s->prof.count = 0;
}

const nn_faceapi_profile *nn_ssd_profile(const nn_ssd *s)
{
    return &s->prof;
}

// ---------------------------------------------------------------------------
// Selection

// face-api's IOU (nonMaxSuppression.ts): in double, corners sorted, 0 for
// an empty box.
static double iou(const float *a, const float *b)
{
    double ay0 = fmin(a[0], a[2]), ax0 = fmin(a[1], a[3]);
    double ay1 = fmax(a[0], a[2]), ax1 = fmax(a[1], a[3]);
    double by0 = fmin(b[0], b[2]), bx0 = fmin(b[1], b[3]);
    double by1 = fmax(b[0], b[2]), bx1 = fmax(b[1], b[3]);
    double area_a = (ay1 - ay0) * (ax1 - ax0);
    double area_b = (by1 - by0) * (bx1 - bx0);
    double ih, iw, inter;

    if (area_a <= 0 || area_b <= 0)
        return 0.0;
    ih = fmax(fmin(ay1, by1) - fmax(ay0, by0), 0.0);
    iw = fmax(fmin(ax1, bx1) - fmax(ax0, bx0), 0.0);
    inter = ih * iw;
    return inter / (area_a + area_b - inter);
}

// Descending score; equal scores keep anchor order (JS sort is stable).
static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;

    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return (a->index > b->index) - (a->index < b->index);
}

size_t nn_ssd_nms_scratch_size(int count)
{
    return count > 0 ? (size_t)count * (sizeof(cand) + sizeof(int)) : 0;
}

int nn_ssd_nms(nn_ssd_det *dets, int max_dets, const float *boxes,
               const float *scores, int count, int w, int h,
               double min_score, void *scratch)
{
    cand *cands = scratch;
    int *selected;
    double scale, pad_x, pad_y;
    int nc = 0, ns = 0;

    if (!dets || !boxes || !scores || !scratch || count < 1 || w < 1 ||
        h < 1 || max_dets < 1)
        return 0;
    selected = (int *)(cands + count);

    // Candidates above the threshold, best first.
    for (int i = 0; i < count; i++)
        if ((double)scores[i] > min_score) {
            cands[nc].score = scores[i];
            cands[nc].index = i;
            nc++;
        }
    qsort(cands, (size_t)nc, sizeof *cands, cand_cmp);

    // Greedy suppression: a candidate survives unless a kept box overlaps
    // it by IoU > 0.5 (face-api checks the latest kept boxes first; the
    // outcome does not depend on the order).
    for (int i = 0; i < nc && ns < max_dets; i++) {
        const float *bi = boxes + 4 * (size_t)cands[i].index;
        int keep = 1;
        for (int j = ns - 1; j >= 0 && keep; j--)
            if (iou(bi, boxes + 4 * (size_t)selected[j]) > NMS_IOU)
                keep = 0;
        if (keep)
            selected[ns++] = cands[i].index;
    }

    // Back to image pixels: clip to the padded square [0, 1], undo the
    // padding with face-api's rounded resize factors, scale by the image.
    scale = (double)NN_SSD_SIZE / (w > h ? w : h);
    pad_x = NN_SSD_SIZE / floor(w * scale + 0.5);
    pad_y = NN_SSD_SIZE / floor(h * scale + 0.5);
    for (int i = 0; i < ns; i++) {
        const float *p = boxes + 4 * (size_t)selected[i];
        double top = fmax(0.0, p[0]) * pad_y;
        double bottom = fmin(1.0, p[2]) * pad_y;
        double left = fmax(0.0, p[1]) * pad_x;
        double right = fmin(1.0, p[3]) * pad_x;

        dets[i].x = left * w;
        dets[i].y = top * h;
        dets[i].w = (right - left) * w;
        dets[i].h = (bottom - top) * h;
        dets[i].score = scores[selected[i]];
        dets[i].anchor = selected[i];
    }
    return ns;
}

int nn_ssd_select(nn_ssd *s, nn_ssd_det *dets, int max_dets, int b, int w,
                  int h, double min_score)
{
    if (!s || b < 0 || b >= s->n)
        return 0;
    return nn_ssd_nms(dets, max_dets,
                      s->out[2].data + (size_t)b * NN_SSD_ANCHORS * 4,
                      s->out[3].data + (size_t)b * NN_SSD_ANCHORS,
                      NN_SSD_ANCHORS, w, h, min_score, s->nms_scratch);
}

facet_status nn_ssd_detect(nn_ssd *s, nn_ssd_det *dets, int max_dets,
                           int *count, const uint8_t *rgb, int w, int h,
                           size_t stride, double min_score)
{
    nn_tensor in;
    facet_status st;

    if (count)
        *count = 0;
    if (!s || !dets || !count || max_dets < 1)
        return facet_fail(FACET_E_ARG, "ssd: bad detect arguments");
    st = nn_ssd_input(s->staging, rgb, w, h, stride);
    if (st != FACET_OK)
        return st;
    in = nn_tensor_4d(s->staging, 1, 3, NN_SSD_SIZE, NN_SSD_SIZE);
    st = nn_ssd_forward(s, &in);
    if (st != FACET_OK)
        return st;
    *count = nn_ssd_select(s, dets, max_dets, 0, w, h, min_score);
    return FACET_OK;
}
