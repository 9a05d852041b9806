// net_lm68.c - face-api's 68-point landmark CNN (see net_lm68.h): four
// dense blocks of depthwise-separable convolutions, average pool, fully
// connected layer, and face-api's mapping of the outputs to image points.
//
// Every feature map has its own block in one arena (about 5 MB per crop),
// so all of them stay readable after a forward call.
//
// ref: @vladmandic/face-api 1.7.15 src/faceFeatureExtractor/denseBlock.ts,
//      src/common/depthwiseSeparableConv.ts, src/faceLandmarkNet/
//      FaceLandmark68NetBase.ts (postProcess), src/classes/FaceLandmarks.ts
//
// Limitations:
// - The sums of the dense connections follow TF.js's order
//   (out1 + (out2 + (out3 + out4))) but each is a separate pass over
//   memory; they are not fused into the convolutions.
#include "net_lm68.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NBLOCKS 4

typedef struct block {
    nn__fa_conv dw[4];      // depthwise halves (dw[0] unused in dense0)
    nn__fa_conv pw[4];      // pointwise halves, or dense0's full conv0
    nn_tensor out[4];       // out1 .. out4
    nn_tensor in3, in4, sum, dwt, y;
} block;

struct nn_lm68 {
    int batch, n;
    block b[NBLOCKS];
    nn_tensor input, pool, output;
    float *fc_w, *fc_b;     // 136 x 256, 136
    nn_arena arena;
    nn__fa_scratch scratch;
};

static const int block_c[NBLOCKS] = {32, 64, 128, 256};
static const float mean_rgb[3] = {122.782f, 117.001f, 104.298f};
static const float div_rgb[3] = {255.0f, 255.0f, 255.0f};

// ---------------------------------------------------------------------------
// Create

// Depthwise-separable convolution denseD/convK: 3x3 depthwise (no bias,
// stride s) then 1x1 pointwise with bias and activation.
static facet_status sep_create(nn__fa_conv *dw, nn__fa_conv *pw,
                               const wt_file *w, int d, int k, int cin,
                               int cout, int stride, int hw, la_act act)
{
    char nd[64], np[64], nb[64];
    nn__fa_conv_spec s;
    facet_status st;

    snprintf(nd, sizeof nd, "dense%d/conv%d/depthwise_filter", d, k);
    snprintf(np, sizeof np, "dense%d/conv%d/pointwise_filter", d, k);
    snprintf(nb, sizeof nb, "dense%d/conv%d/bias", d, k);
    memset(&s, 0, sizeof s);
    s.filters = nd;
    s.depthwise = 1;
    s.cin = s.cout = cin;
    s.k = 3;
    s.stride = stride;
    s.same = 1;
    s.in_h = s.in_w = hw;
    s.act = LA_ACT_NONE;
    st = nn__fa_conv_create(dw, w, &s);
    if (st != FACET_OK)
        return st;

    memset(&s, 0, sizeof s);
    s.filters = np;
    s.bias = nb;
    s.cin = cin;
    s.cout = cout;
    s.k = 1;
    s.stride = 1;
    s.in_h = s.in_w = dw->out_h;
    s.act = act;
    return nn__fa_conv_create(pw, w, &s);
}

static facet_status build_layers(nn_lm68 *m, const wt_file *w)
{
    int cin = 3, hw = NN_LM68_SIZE;
    int dims_w[2] = {256, 136}, dims_b[1] = {136};
    const float *fw, *fb;
    facet_status st;

    for (int d = 0; d < NBLOCKS; d++) {
        block *b = &m->b[d];
        int c = block_c[d];

        // conv0: stride 2, ReLU; a full convolution in dense0.
        if (d == 0) {
            nn__fa_conv_spec s;
            memset(&s, 0, sizeof s);
            s.filters = "dense0/conv0/filters";
            s.bias = "dense0/conv0/bias";
            s.cin = cin;
            s.cout = c;
            s.k = 3;
            s.stride = 2;
            s.same = 1;
            s.in_h = s.in_w = hw;
            s.act = LA_ACT_RELU;
            st = nn__fa_conv_create(&b->pw[0], w, &s);
        } else {
            st = sep_create(&b->dw[0], &b->pw[0], w, d, 0, cin, c, 2, hw,
                            LA_ACT_RELU);
        }
        if (st != FACET_OK)
            return st;
        hw = b->pw[0].out_h;

        // conv1 .. conv3: stride 1, no activation (the sums carry it).
        for (int k = 1; k < 4; k++) {
            st = sep_create(&b->dw[k], &b->pw[k], w, d, k, c, c, 1, hw,
                            LA_ACT_NONE);
            if (st != FACET_OK)
                return st;
        }
        cin = c;
    }
    if (hw != 7)
        return facet_fail(FACET_E_FORMAT, "%s: landmark net ends at %dx%d, "
                          "expected 7x7", wt_path(w), hw, hw);

    // Fully connected 256 -> 136, stored [in, out].
    fw = nn__fa_tensor(w, "fc/weights", 2, dims_w);
    fb = fw ? nn__fa_tensor(w, "fc/bias", 1, dims_b) : NULL;
    if (!fw || !fb)
        return FACET_E_FORMAT;
    m->fc_w = facet_alloc((size_t)136 * 256 * sizeof(float));
    m->fc_b = facet_alloc(136 * sizeof(float));
    if (!m->fc_w || !m->fc_b)
        return facet_fail(FACET_E_NOMEM, "%s: fc weights", wt_path(w));
    nn__fa_io_to_oi(m->fc_w, fw, 256, 136);
    memcpy(m->fc_b, fb, 136 * sizeof(float));
    return FACET_OK;
}

// Carve a batch x c x h x w tensor out of the arena.
static nn_tensor carve(nn_arena *a, int batch, int c, int h, int w)
{
    float *p = nn_arena_alloc(a, (size_t)batch * c * h * w * sizeof(float));

    FACET_ASSERT(p);
    return nn_tensor_4d(p, batch, c, h, w);
}

static facet_status plan_memory(nn_lm68 *m)
{
    size_t floats = (size_t)3 * NN_LM68_SIZE * NN_LM68_SIZE + 256 + 136;
    int nb = m->batch;
    facet_status st;

    // Per block: out1..4, in3, in4, sum, block output, depthwise temp
    // (at most the block's input channels at its resolution).
    for (int d = 0; d < NBLOCKS; d++) {
        const nn__fa_conv *p = &m->b[d].pw[0];
        size_t plane = (size_t)p->out_h * p->out_w;
        int cin = d ? block_c[d - 1] : 3;
        floats += 8 * block_c[d] * plane +
                  (cin > block_c[d] ? cin : block_c[d]) * plane;
    }
    st = nn_arena_init(&m->arena, floats * nb * sizeof(float) +
                                  (NBLOCKS * 9 + 3) * FACET_ALIGN);
    if (st != FACET_OK)
        return st;
    m->input = carve(&m->arena, nb, 3, NN_LM68_SIZE, NN_LM68_SIZE);
    for (int d = 0; d < NBLOCKS; d++) {
        block *b = &m->b[d];
        int c = block_c[d], h = b->pw[0].out_h, w = b->pw[0].out_w;
        int cin = d ? block_c[d - 1] : 3;
        for (int k = 0; k < 4; k++)
            b->out[k] = carve(&m->arena, nb, c, h, w);
        b->in3 = carve(&m->arena, nb, c, h, w);
        b->in4 = carve(&m->arena, nb, c, h, w);
        b->sum = carve(&m->arena, nb, c, h, w);
        b->y = carve(&m->arena, nb, c, h, w);
        b->dwt = carve(&m->arena, nb, cin > c ? cin : c, h, w);
    }
    m->pool = carve(&m->arena, nb, 256, 1, 1);
    m->output = carve(&m->arena, nb, 136, 1, 1);
    m->output.ndim = 2;
    return FACET_OK;
}

facet_status nn_lm68_create(nn_lm68 **out, const wt_file *w, int batch)
{
    nn_lm68 *m;
    facet_status st;

    *out = NULL;
    if (!w || batch < 1 || batch > 4096)
        return facet_fail(FACET_E_ARG, "lm68: bad arguments (batch %d)",
                          batch);
    m = facet_calloc(sizeof *m);
    if (!m)
        return facet_fail(FACET_E_NOMEM, "lm68: network object");
    m->batch = batch;
    st = build_layers(m, w);
    if (st == FACET_OK)
        st = plan_memory(m);
    if (st != FACET_OK) {
        nn_lm68_free(m);
        return st;
    }
    *out = m;
    return FACET_OK;
}

void nn_lm68_free(nn_lm68 *m)
{
    if (!m)
        return;
    for (int d = 0; d < NBLOCKS; d++)
        for (int k = 0; k < 4; k++) {
            nn__fa_conv_free(&m->b[d].dw[k]);
            nn__fa_conv_free(&m->b[d].pw[k]);
        }
    facet_free(m->fc_w);
    facet_free(m->fc_b);
    nn_arena_release_all(&m->arena);
    nn__fa_scratch_free(&m->scratch);
    facet_free(m);
}

size_t nn_lm68_arena_bytes(const nn_lm68 *m)
{
    return m->arena.size + m->scratch.bytes;
}

// ---------------------------------------------------------------------------
// Forward

facet_status nn_lm68_input(float *dst, const uint8_t *rgb, int w, int h,
                           size_t stride, int cx, int cy, int cw, int ch)
{
    return nn_faceapi_input(dst, NN_LM68_SIZE, NN_FACEAPI_PAD_CENTRE, rgb, w,
                            h, stride, cx, cy, cw, ch);
}

static void set_batch(nn_tensor *t, int n)
{
    t->dim[0] = n;
}

static size_t scratch_need(const nn_lm68 *m, int n)
{
    size_t need = nn_fc_scratch_size(n, 256, 136);

    for (int d = 0; d < NBLOCKS; d++)
        for (int k = 0; k < 4; k++) {
            const nn__fa_conv *c[2] = {&m->b[d].dw[k], &m->b[d].pw[k]};
            for (int i = 0; i < 2; i++) {
                size_t b;
                if (!c[i]->conv)
                    continue;
                b = nn_conv_scratch_size(c[i]->conv, n, c[i]->in_h,
                                         c[i]->in_w);
                if (b > need)
                    need = b;
            }
        }
    return need;
}

// y = pw(dw(x)), through the block's depthwise temp.
static void sep_forward(nn_lm68 *m, block *b, int k, nn_tensor *y,
                        const nn_tensor *x)
{
    nn_tensor t = nn_tensor_4d(b->dwt.data, x->dim[0], x->dim[1],
                               b->dw[k].out_h, b->dw[k].out_w);

    nn_conv_forward(b->dw[k].conv, &t, x, m->scratch.p);
    nn_conv_forward(b->pw[k].conv, y, &t, m->scratch.p);
}

facet_status nn_lm68_forward(nn_lm68 *m, float *out, const nn_tensor *in)
{
    static const nn_pool_desc pool = {.kh = 7, .kw = 7, .stride_h = 2,
                                      .stride_w = 2};
    const nn_tensor *x;
    int n;
    facet_status st;

    if (!m || !in || in->ndim != 4 || in->dim[0] < 1 ||
        in->dim[0] > m->batch || in->dim[1] != 3 ||
        in->dim[2] != NN_LM68_SIZE || in->dim[3] != NN_LM68_SIZE ||
        !in->data)
        return facet_fail(FACET_E_ARG, "lm68: input must be n x 3 x %d x %d "
                          "with 1 <= n <= batch", NN_LM68_SIZE,
                          NN_LM68_SIZE);
    n = in->dim[0];
    st = nn__fa_scratch_reserve(&m->scratch, scratch_need(m, n));
    if (st != FACET_OK)
        return st;
    set_batch(&m->input, n);
    set_batch(&m->pool, n);
    set_batch(&m->output, n);

    // (x - mean) / 255, then the dense blocks.
    nn__fa_normalize(&m->input, in, mean_rgb, div_rgb, 0);
    x = &m->input;
    for (int d = 0; d < NBLOCKS; d++) {
        block *b = &m->b[d];
        for (int k = 0; k < 4; k++)
            set_batch(&b->out[k], n);
        set_batch(&b->in3, n);
        set_batch(&b->in4, n);
        set_batch(&b->sum, n);
        set_batch(&b->y, n);

        // out1 = ReLU(conv0(x)); out2 = sep(out1).
        if (d == 0)
            nn_conv_forward(b->pw[0].conv, &b->out[0], x, m->scratch.p);
        else
            sep_forward(m, b, 0, &b->out[0], x);
        sep_forward(m, b, 1, &b->out[1], &b->out[0]);

        // out3 = sep(ReLU(out1 + out2)).
        nn_add(&b->in3, &b->out[0], &b->out[1], LA_ACT_RELU);
        sep_forward(m, b, 2, &b->out[2], &b->in3);

        // out4 = sep(ReLU(out1 + (out2 + out3))).
        nn_add(&b->sum, &b->out[1], &b->out[2], LA_ACT_NONE);
        nn_add(&b->in4, &b->out[0], &b->sum, LA_ACT_RELU);
        sep_forward(m, b, 3, &b->out[3], &b->in4);

        // y = ReLU(out1 + (out2 + (out3 + out4))).
        nn_add(&b->sum, &b->out[2], &b->out[3], LA_ACT_NONE);
        nn_add(&b->sum, &b->out[1], &b->sum, LA_ACT_NONE);
        nn_add(&b->y, &b->out[0], &b->sum, LA_ACT_RELU);
        x = &b->y;
    }

    // 7x7 average pool, fully connected.
    nn_avgpool_forward(&m->pool, x, &pool);
    nn_fc_forward(&m->output, &m->pool, m->fc_w, m->fc_b, 136, LA_ACT_NONE,
                  NULL, m->scratch.p);
    if (out)
        memcpy(out, m->output.data, (size_t)n * 136 * sizeof(float));
    m->n = n;
    return FACET_OK;
}

const nn_tensor *nn_lm68_feature(const nn_lm68 *m, const char *name)
{
    static const char *const parts[] = {"out1", "out2", "out3", "out4",
                                        "in3", "in4"};

    if (m && name && m->n) {
        if (!strcmp(name, "input"))
            return &m->input;
        if (!strcmp(name, "pool"))
            return &m->pool;
        if (!strcmp(name, "output"))
            return &m->output;
        for (int d = 0; d < NBLOCKS; d++) {
            const block *b = &m->b[d];
            const nn_tensor *t[6] = {&b->out[0], &b->out[1], &b->out[2],
                                     &b->out[3], &b->in3, &b->in4};
            char full[32];
            snprintf(full, sizeof full, "dense%d", d);
            if (!strcmp(name, full))
                return &b->y;
            for (int k = 0; k < 6; k++) {
                snprintf(full, sizeof full, "dense%d/%s", d, parts[k]);
                if (!strcmp(name, full))
                    return t[k];
            }
        }
    }
    facet_fail(FACET_E_NOT_FOUND, "lm68: feature map '%s' unknown or not "
               "computed yet", name ? name : "(null)");
    return NULL;
}

// ---------------------------------------------------------------------------
// Points

void nn_lm68_points(double *xy, const float *raw, int cw, int ch, double bx,
                    double by)
{
    double scale = (double)NN_LM68_SIZE / (cw > ch ? cw : ch);
    double sw = cw * scale, sh = ch * scale;
    float pad_x = (float)(sw < sh ? fabs(sw - sh) / 2 : 0);
    float pad_y = (float)(sh < sw ? fabs(sw - sh) / 2 : 0);
    float fw = (float)sw, fh = (float)sh;

    for (int i = 0; i < NN_LM68_POINTS; i++) {
        // Relative to the crop, in float32 (postProcess's tensor ops).
        float rx = (raw[2 * i] * (float)NN_LM68_SIZE - pad_x) / fw;
        float ry = (raw[2 * i + 1] * (float)NN_LM68_SIZE - pad_y) / fh;

        // FaceLandmarks: scaled by the crop, then re-derived relative
        // positions scaled again and shifted by the box (shiftBy).
        double px = (double)rx * cw, py = (double)ry * ch;
        xy[2 * i] = px / cw * cw + bx;
        xy[2 * i + 1] = py / ch * ch + by;
    }
}
