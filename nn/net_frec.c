// net_frec.c - face-api's ResNet-29 face descriptor (see net_frec.h):
// conv units with dlib's affine layer folded into the weights, residual
// and residual-down stages with face-api's zero padding of the shortcut
// and of the short conv branch, global average, projection to 128-D.
//
// Every feature map has its own block in one arena (about 5 MB per crop),
// so all of them stay readable after a forward call.
//
// ref: @vladmandic/face-api 1.7.15 src/faceRecognitionNet/
//      (FaceRecognitionNet.ts, residualLayer.ts, convLayer.ts,
//      scaleLayer.ts)
//
// Limitations:
// - The shortcut add of the "down" stages is a scalar loop (it handles the
//   channel and border zero padding); it is a few thousand values.
#include "net_frec.h"
#include "layers_internal.h"

#include <stdio.h>
#include <string.h>

#define NSTAGES 14
#define MAX_NAME 40

typedef struct stage {
    const char *name;
    int down;
    int cout;
    nn__fa_conv c1, c2;
    nn_tensor t1, t2, pool, y;
} stage;

struct nn_frec {
    int batch, n;
    nn__fa_conv first;            // conv32_down
    stage st[NSTAGES];
    nn_tensor input, conv, mpool, gavg, desc;
    float *fc;                    // 128 x 256
    nn_arena arena;
    nn__fa_scratch scratch;
    nn_faceapi_profile prof;      // per-layer times, when on
};

static const struct {
    const char *name;
    int down, cout;
} stage_def[NSTAGES] = {
    {"conv32_1", 0, 32}, {"conv32_2", 0, 32}, {"conv32_3", 0, 32},
    {"conv64_down", 1, 64}, {"conv64_1", 0, 64}, {"conv64_2", 0, 64},
    {"conv64_3", 0, 64}, {"conv128_down", 1, 128}, {"conv128_1", 0, 128},
    {"conv128_2", 0, 128}, {"conv256_down", 1, 256}, {"conv256_1", 0, 256},
    {"conv256_2", 0, 256}, {"conv256_down_out", 1, 256},
};

static const float mean_rgb[3] = {122.782f, 117.001f, 104.298f};
static const float div_rgb[3] = {255.0f, 255.0f, 255.0f};
static const nn_pool_desc maxpool_desc = {.kh = 3, .kw = 3, .stride_h = 2,
                                          .stride_w = 2};
static const nn_pool_desc avgpool_desc = {.kh = 2, .kw = 2, .stride_h = 2,
                                          .stride_w = 2};

// ---------------------------------------------------------------------------
// Create

// One conv unit PREFIX/{conv/filters, conv/bias, scale/weights,
// scale/biases}.
static facet_status unit_create(nn__fa_conv *c, const wt_file *w,
                                const char *prefix, int k, int cin, int cout,
                                int stride, int same, int hw, la_act act)
{
    char nf[MAX_NAME + 16], nb[MAX_NAME + 16], ns[MAX_NAME + 16],
        nh[MAX_NAME + 16];
    nn__fa_conv_spec s;

    snprintf(nf, sizeof nf, "%s/conv/filters", prefix);
    snprintf(nb, sizeof nb, "%s/conv/bias", prefix);
    snprintf(ns, sizeof ns, "%s/scale/weights", prefix);
    snprintf(nh, sizeof nh, "%s/scale/biases", prefix);
    memset(&s, 0, sizeof s);
    s.filters = nf;
    s.bias = nb;
    s.scale = ns;
    s.shift = nh;
    s.cin = cin;
    s.cout = cout;
    s.k = k;
    s.stride = stride;
    s.same = same;
    s.in_h = s.in_w = hw;
    s.act = act;
    return nn__fa_conv_create(c, w, &s);
}

static facet_status build_layers(nn_frec *f, const wt_file *w)
{
    int dims_fc[2] = {256, NN_FREC_DIM};
    const float *fc;
    int c = 32, hw;
    facet_status st;

    // conv32_down and the max pool.
    st = unit_create(&f->first, w, "conv32_down", 7, 3, 32, 2, 0,
                     NN_FREC_SIZE, LA_ACT_RELU);
    if (st != FACET_OK)
        return st;
    nn_pool_out_size(&hw, &hw, &maxpool_desc, f->first.out_h,
                     f->first.out_w);

    // The residual stages.
    for (int i = 0; i < NSTAGES; i++) {
        stage *s = &f->st[i];
        char p[MAX_NAME];
        s->name = stage_def[i].name;
        s->down = stage_def[i].down;
        s->cout = stage_def[i].cout;
        snprintf(p, sizeof p, "%s/conv1", s->name);
        st = unit_create(&s->c1, w, p, 3, c, s->cout, s->down ? 2 : 1,
                         !s->down, hw, LA_ACT_RELU);
        if (st != FACET_OK)
            return st;
        snprintf(p, sizeof p, "%s/conv2", s->name);
        st = unit_create(&s->c2, w, p, 3, s->cout, s->cout, 1, 1,
                         s->c1.out_h, LA_ACT_NONE);
        if (st != FACET_OK)
            return st;
        if (s->down) {
            int ph, pw;
            nn_pool_out_size(&ph, &pw, &avgpool_desc, hw, hw);
            // The conv branch is the pool's size or one short of it.
            if (s->c2.out_h > ph || s->c2.out_h < ph - 1 ||
                s->cout < c || s->cout > 2 * c)
                return facet_fail(FACET_E_FORMAT, "%s: stage %s does not "
                                  "fit face-api's residual-down shape",
                                  wt_path(w), s->name);
            hw = ph;
        } else if (s->cout != c || s->c2.out_h != hw) {
            return facet_fail(FACET_E_FORMAT, "%s: stage %s changes the "
                              "shape of its residual input", wt_path(w),
                              s->name);
        }
        c = s->cout;
    }
    if (c != 256 || hw != 2)
        return facet_fail(FACET_E_FORMAT, "%s: descriptor net ends at "
                          "%dx%dx%d, expected 256x2x2", wt_path(w), c, hw,
                          hw);

    // The projection, stored [256, 128].
    fc = nn__fa_tensor(w, "fc", 2, dims_fc);
    if (!fc)
        return FACET_E_FORMAT;
    f->fc = facet_alloc((size_t)NN_FREC_DIM * 256 * sizeof(float));
    if (!f->fc)
        return facet_fail(FACET_E_NOMEM, "%s: fc weights", wt_path(w));
    nn__fa_io_to_oi(f->fc, fc, 256, NN_FREC_DIM);
    return FACET_OK;
}

static nn_tensor carve(nn_arena *a, int batch, int c, int h, int w)
{
    float *p = nn_arena_alloc(a, (size_t)batch * c * h * w * sizeof(float));

    FACET_ASSERT(p);
    return nn_tensor_4d(p, batch, c, h, w);
}

static size_t floats_of(int c, int h, int w)
{
    return (size_t)c * h * w;
}

static facet_status plan_memory(nn_frec *f)
{
    int nb = f->batch, hw;
    size_t floats, aligns = 5 + 4 * NSTAGES;
    facet_status st;

    // Count, then carve the same tensors.
    nn_pool_out_size(&hw, &hw, &maxpool_desc, f->first.out_h,
                     f->first.out_w);
    floats = floats_of(3, NN_FREC_SIZE, NN_FREC_SIZE) +
             floats_of(32, f->first.out_h, f->first.out_w) +
             floats_of(32, hw, hw) + 256 + NN_FREC_DIM;
    for (int i = 0; i < NSTAGES; i++) {
        const stage *s = &f->st[i];
        int c_in = i ? f->st[i - 1].cout : 32, oh = hw;
        floats += 2 * floats_of(s->cout, s->c1.out_h, s->c1.out_w);
        if (s->down) {
            nn_pool_out_size(&oh, &oh, &avgpool_desc, hw, hw);
            floats += floats_of(c_in, oh, oh);
        }
        floats += floats_of(s->cout, oh, oh);
        hw = oh;
    }
    st = nn_arena_init(&f->arena, floats * nb * sizeof(float) +
                                  aligns * FACET_ALIGN);
    if (st != FACET_OK)
        return st;

    f->input = carve(&f->arena, nb, 3, NN_FREC_SIZE, NN_FREC_SIZE);
    f->conv = carve(&f->arena, nb, 32, f->first.out_h, f->first.out_w);
    nn_pool_out_size(&hw, &hw, &maxpool_desc, f->first.out_h,
                     f->first.out_w);
    f->mpool = carve(&f->arena, nb, 32, hw, hw);
    for (int i = 0; i < NSTAGES; i++) {
        stage *s = &f->st[i];
        int c_in = i ? f->st[i - 1].cout : 32, oh = hw;
        s->t1 = carve(&f->arena, nb, s->cout, s->c1.out_h, s->c1.out_w);
        s->t2 = carve(&f->arena, nb, s->cout, s->c2.out_h, s->c2.out_w);
        if (s->down) {
            nn_pool_out_size(&oh, &oh, &avgpool_desc, hw, hw);
            s->pool = carve(&f->arena, nb, c_in, oh, oh);
        }
        s->y = carve(&f->arena, nb, s->cout, oh, oh);
        hw = oh;
    }
    f->gavg = carve(&f->arena, nb, 256, 1, 1);
    f->desc = carve(&f->arena, nb, NN_FREC_DIM, 1, 1);
    f->desc.ndim = 2;
    return FACET_OK;
}

facet_status nn_frec_create(nn_frec **out, const wt_file *w, int batch)
{
    nn_frec *f;
    facet_status st;

    *out = NULL;
    if (!w || batch < 1 || batch > 4096)
        return facet_fail(FACET_E_ARG, "frec: bad arguments (batch %d)",
                          batch);
    f = facet_calloc(sizeof *f);
    if (!f)
        return facet_fail(FACET_E_NOMEM, "frec: network object");
    f->batch = batch;
    st = build_layers(f, w);
    if (st == FACET_OK)
        st = plan_memory(f);
    if (st != FACET_OK) {
        nn_frec_free(f);
        return st;
    }
    *out = f;
    return FACET_OK;
}

void nn_frec_free(nn_frec *f)
{
    if (!f)
        return;
    nn__fa_conv_free(&f->first);
    for (int i = 0; i < NSTAGES; i++) {
        nn__fa_conv_free(&f->st[i].c1);
        nn__fa_conv_free(&f->st[i].c2);
    }
    facet_free(f->fc);
    nn_arena_release_all(&f->arena);
    nn__fa_scratch_free(&f->scratch);
    facet_free(f);
}

size_t nn_frec_arena_bytes(const nn_frec *f)
{
    return f->arena.size + f->scratch.bytes;
}

// ---------------------------------------------------------------------------
// Forward

facet_status nn_frec_input(float *dst, const uint8_t *rgb, int w, int h,
                           size_t stride, int cx, int cy, int cw, int ch)
{
    return nn_faceapi_input(dst, NN_FREC_SIZE, NN_FACEAPI_PAD_CENTRE, rgb, w,
                            h, stride, cx, cy, cw, ch);
}

static size_t scratch_need(const nn_frec *f, int n)
{
    size_t need = nn_fc_scratch_size(n, 256, NN_FREC_DIM);
    size_t b = nn_conv_scratch_size(f->first.conv, n, f->first.in_h,
                                    f->first.in_w);

    if (b > need)
        need = b;
    for (int i = 0; i < NSTAGES; i++) {
        const nn__fa_conv *c[2] = {&f->st[i].c1, &f->st[i].c2};
        for (int k = 0; k < 2; k++) {
            b = nn_conv_scratch_size(c[k]->conv, n, c[k]->in_h, c[k]->in_w);
            if (b > need)
                need = b;
        }
    }
    return need;
}

// y = ReLU(shortcut + branch) of a residual-down stage: the shortcut is
// the pooled input (cin channels, zero above), the branch t2 is zero
// beyond its last row and column.
static void down_add(nn_tensor *y, const nn_tensor *pool, const nn_tensor *t2)
{
    int n = y->dim[0], c = y->dim[1], h = y->dim[2], w = y->dim[3];
    int cin = pool->dim[1], th = t2->dim[2], tw = t2->dim[3];

    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            float *o = y->data + ((size_t)b * c + ch) * h * w;
            const float *p = ch < cin
                                 ? pool->data + ((size_t)b * cin + ch) * h * w
                                 : NULL;
            const float *t = t2->data + ((size_t)b * c + ch) * th * tw;
            // The shortcut (or zeros), plus the branch on its rows and
            // columns, then the ReLU in a loop the compiler vectorises (a
            // branch per value on its sign mispredicts).
            if (p)
                memcpy(o, p, (size_t)h * w * sizeof(float));
            else
                memset(o, 0, (size_t)h * w * sizeof(float));
            for (int yy = 0; yy < th && yy < h; yy++)
                for (int xx = 0; xx < tw && xx < w; xx++)
                    o[yy * w + xx] += t[yy * tw + xx];
            NN_OMP(simd)
            for (int i = 0; i < h * w; i++)
                o[i] = o[i] > 0.0f ? o[i] : 0.0f;
        }
}

// The profile record of a stage's step (nothing when the profile is off).
static void prof_stage(nn_frec *f, const stage *s, const char *what,
                       const nn_conv *conv, int h, int w)
{
    char name[MAX_NAME + 8];

    if (!f->prof.on)
        return;
    snprintf(name, sizeof name, "%s/%s", s->name, what);
    nn__fa_prof_record(&f->prof, name, conv, h, w);
}

facet_status nn_frec_forward(nn_frec *f, float *desc, const nn_tensor *in)
{
    const nn_tensor *x;
    int n;
    facet_status st;

    if (!f || !in || in->ndim != 4 || in->dim[0] < 1 ||
        in->dim[0] > f->batch || in->dim[1] != 3 ||
        in->dim[2] != NN_FREC_SIZE || in->dim[3] != NN_FREC_SIZE ||
        !in->data)
        return facet_fail(FACET_E_ARG, "frec: input must be n x 3 x %d x %d "
                          "with 1 <= n <= batch", NN_FREC_SIZE,
                          NN_FREC_SIZE);
    n = in->dim[0];
    st = nn__fa_scratch_reserve(&f->scratch, scratch_need(f, n));
    if (st != FACET_OK)
        return st;
    f->input.dim[0] = f->conv.dim[0] = f->mpool.dim[0] = n;
    f->gavg.dim[0] = f->desc.dim[0] = n;

    // (x - mean) / 255, conv32_down, max pool.
    f->prof.count = 0;
    nn__fa_prof_start(&f->prof);
    nn__fa_normalize(&f->input, in, mean_rgb, div_rgb, 0);
    nn__fa_prof_add(&f->prof, "normalize", NULL, NN_FREC_SIZE,
                    NN_FREC_SIZE);
    nn__fa_prof_start(&f->prof);
    nn_conv_forward(f->first.conv, &f->conv, &f->input, f->scratch.p);
    nn__fa_prof_add(&f->prof, "conv32_down", f->first.conv, NN_FREC_SIZE,
                    NN_FREC_SIZE);
    nn__fa_prof_start(&f->prof);
    nn_maxpool_forward(&f->mpool, NULL, &f->conv, &maxpool_desc);
    nn__fa_prof_add(&f->prof, "maxpool", NULL, f->conv.dim[2],
                    f->conv.dim[3]);
    x = &f->mpool;

    // Residual stages.
    for (int i = 0; i < NSTAGES; i++) {
        stage *s = &f->st[i];
        s->t1.dim[0] = s->t2.dim[0] = s->pool.dim[0] = s->y.dim[0] = n;
        nn__fa_prof_start(&f->prof);
        nn_conv_forward(s->c1.conv, &s->t1, x, f->scratch.p);
        prof_stage(f, s, "conv1", s->c1.conv, x->dim[2], x->dim[3]);
        nn__fa_prof_start(&f->prof);
        nn_conv_forward(s->c2.conv, &s->t2, &s->t1, f->scratch.p);
        prof_stage(f, s, "conv2", s->c2.conv, s->t1.dim[2], s->t1.dim[3]);
        nn__fa_prof_start(&f->prof);
        if (s->down) {
            nn_avgpool_forward(&s->pool, x, &avgpool_desc);
            down_add(&s->y, &s->pool, &s->t2);
        } else {
            nn_add(&s->y, &s->t2, x, LA_ACT_RELU);
        }
        prof_stage(f, s, "add", NULL, s->y.dim[2], s->y.dim[3]);
        x = &s->y;
    }

    // Mean over the 2x2 map, then the projection.
    nn__fa_prof_start(&f->prof);
    nn_global_avgpool_forward(&f->gavg, x);
    nn_fc_forward(&f->desc, &f->gavg, f->fc, NULL, NN_FREC_DIM, LA_ACT_NONE,
                  NULL, f->scratch.p);
    nn__fa_prof_add(&f->prof, "avg+fc", NULL, 2, 2);
    if (desc)
        memcpy(desc, f->desc.data, (size_t)n * NN_FREC_DIM * sizeof(float));
    f->n = n;
    return FACET_OK;
}

void nn_frec_set_profile(nn_frec *f, int on)
{
    f->prof.on = on != 0;
    f->prof.count = 0;
}

const nn_faceapi_profile *nn_frec_profile(const nn_frec *f)
{
    return &f->prof;
}

const nn_tensor *nn_frec_feature(const nn_frec *f, const char *name)
{
    if (f && name && f->n) {
        if (!strcmp(name, "input"))
            return &f->input;
        if (!strcmp(name, "conv32_down"))
            return &f->conv;
        if (!strcmp(name, "maxpool"))
            return &f->mpool;
        if (!strcmp(name, "global_avg"))
            return &f->gavg;
        if (!strcmp(name, "descriptor"))
            return &f->desc;
        for (int i = 0; i < NSTAGES; i++) {
            const stage *s = &f->st[i];
            size_t k = strlen(s->name);
            if (strncmp(name, s->name, k))
                continue;
            if (!name[k])
                return &s->y;
            if (!strcmp(name + k, "/conv1"))
                return &s->t1;
            if (!strcmp(name + k, "/conv2"))
                return &s->t2;
            if (s->down && !strcmp(name + k, "/pool"))
                return &s->pool;
        }
    }
    facet_fail(FACET_E_NOT_FOUND, "frec: feature map '%s' unknown or not "
               "computed yet", name ? name : "(null)");
    return NULL;
}
