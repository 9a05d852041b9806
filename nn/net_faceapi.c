// net_faceapi.c - shared parts of the face-api networks (see
// net_faceapi.h): face-api's crop -> pad -> resize input builder,
// reproduced bit for bit, and the helpers that load TF.js-layout weights
// into prepared convolutions.
//
// ref: @vladmandic/face-api 1.7.15 src/dom/NetInput.ts, src/ops/
//      padToSquare.ts, src/classes/Box.ts (clipAtImageBorders, floor)
// ref: XNNPACK src/indirection.c (resize-bilinear indirection, TensorFlow
//      legacy mode) and its f32 ibilinear micro-kernels: the sample
//      position is out * ((float)in / (float)out), the weights are its
//      fractional parts, and the blend is t + (b - t) * ay with t, b the
//      horizontal blends, each operation rounded to float32
//
// Limitations:
// - The resize is plain C (the compiler may vectorise the inner loop); it
//   runs once per network input, split over the threads by blocks of COLS
//   output columns (4 blocks at 512x512: at most 4 threads have work).
#include "net_faceapi.h"
#include "layers_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

// Output columns per block of precomputed horizontal taps.
#define COLS 128
// Fewer values per plane than this: one thread (waking a team costs more).
#define PAR_MIN 65536

// ---------------------------------------------------------------------------
// Input

void nn_faceapi_clip_box(int crop[4], double x, double y, double bw,
                         double bh, int w, int h)
{
    double x0 = x > 0 ? x : 0, y0 = y > 0 ? y : 0;
    double cw = (x + bw) - x0, ch = (y + bh) - y0;

    // Box.clipAtImageBorders: the clipped origin, the width up to the
    // box's right edge or the image's, whichever is nearer; Box.floor then
    // floors all four numbers. An empty result is 0 wide or high.
    if (cw > w - x0)
        cw = w - x0;
    if (ch > h - y0)
        ch = h - y0;
    crop[0] = x0 < w ? (int)floor(x0) : w;
    crop[1] = y0 < h ? (int)floor(y0) : h;
    crop[2] = cw > 0 ? (int)floor(cw) : 0;
    crop[3] = ch > 0 ? (int)floor(ch) : 0;
}

facet_status nn_faceapi_input(float *dst, int side, nn_faceapi_pad pad,
                              const uint8_t *rgb, int w, int h,
                              size_t stride, int cx, int cy, int cw, int ch)
{
    int sq, before_x = 0, before_y = 0;
    float scale;
    size_t plane = (size_t)side * side;

    if (!dst || !rgb || side < 1 || side > 65536 || w < 1 || h < 1 ||
        stride < (size_t)w * 3)
        return facet_fail(FACET_E_ARG, "faceapi input: bad image %dx%d "
                          "stride %zu or side %d", w, h, stride, side);
    if (cw < 1 || ch < 1 || cx < 0 || cy < 0 || cx > w - cw ||
        cy > h - ch)
        return facet_fail(FACET_E_ARG, "faceapi input: crop %d,%d %dx%d "
                          "not inside the %dx%d image", cx, cy, cw, ch, w,
                          h);

    // The padded square: padToSquare appends round(d / 2) (or all of d)
    // after the crop and prepends the rest.
    sq = cw > ch ? cw : ch;
    if (pad == NN_FACEAPI_PAD_CENTRE) {
        int d = sq - (cw < ch ? cw : ch);
        int before = d - (d + 1) / 2;
        if (cw < ch)
            before_x = before;
        else
            before_y = before;
    }

    // Bilinear resize sq -> side, TF legacy sampling, float32 throughout,
    // COLS output columns at a time with their taps precomputed: the byte
    // offsets of the left and right source pixels in a row and whether each
    // lies in the crop (0 or 1: padding reads as zero).
    scale = (float)sq / (float)side;
    NN_OMP(parallel for schedule(static) if (plane > PAR_MIN))
    for (int ox0 = 0; ox0 < side; ox0 += COLS) {
        int n = side - ox0 < COLS ? side - ox0 : COLS;
        int off0[COLS], off1[COLS];
        float ok0[COLS], ok1[COLS], ax[COLS];

        for (int i = 0; i < n; i++) {
            float fx = (float)(ox0 + i) * scale;
            int x0 = (int)fx, x1 = x0 + 1 < sq ? x0 + 1 : sq - 1;
            int r0 = x0 - before_x, r1 = x1 - before_x;
            ax[i] = fx - (float)x0;
            ok0[i] = r0 >= 0 && r0 < cw;
            ok1[i] = r1 >= 0 && r1 < cw;
            off0[i] = (cx + (ok0[i] ? r0 : 0)) * 3;
            off1[i] = (cx + (ok1[i] ? r1 : 0)) * 3;
        }
        for (int oy = 0; oy < side; oy++) {
            float fy = (float)oy * scale;
            int y0 = (int)fy, y1 = y0 + 1 < sq ? y0 + 1 : sq - 1;
            float ay = fy - (float)y0;
            int ry0 = y0 - before_y, ry1 = y1 - before_y;
            float in0 = ry0 >= 0 && ry0 < ch, in1 = ry1 >= 0 && ry1 < ch;
            const uint8_t *row0 = rgb + (size_t)(cy + (in0 ? ry0 : 0)) *
                                            stride;
            const uint8_t *row1 = rgb + (size_t)(cy + (in1 ? ry1 : 0)) *
                                            stride;
            float *o = dst + (size_t)oy * side + ox0;

            // A tap outside the crop is weighted 0: the same bits as a
            // zero pixel, since every pixel is finite.
            for (int c = 0; c < 3; c++, o += plane)
                for (int i = 0; i < n; i++) {
                    float tl = in0 * ok0[i] * row0[off0[i] + c];
                    float tr = in0 * ok1[i] * row0[off1[i] + c];
                    float bl = in1 * ok0[i] * row1[off0[i] + c];
                    float br = in1 * ok1[i] * row1[off1[i] + c];
                    float t = tl + (tr - tl) * ax[i];
                    float b = bl + (br - bl) * ax[i];
                    o[i] = t + (b - t) * ay;
                }
        }
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Weights

const float *nn__fa_tensor(const wt_file *w, const char *name, int ndim,
                           const int *dims)
{
    int64_t d[WT_MAX_DIMS];

    FACET_ASSERT(ndim >= 0 && ndim <= WT_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        d[i] = dims[i];
    return wt_tensor(w, name, ndim, d);
}

void nn__fa_hwio_to_oihw(float *dst, const float *src, int kh, int kw,
                         int cin, int cout)
{
    for (int y = 0; y < kh; y++)
        for (int x = 0; x < kw; x++)
            for (int i = 0; i < cin; i++)
                for (int o = 0; o < cout; o++)
                    dst[(((size_t)o * cin + i) * kh + y) * kw + x] =
                        src[(((size_t)y * kw + x) * cin + i) * cout + o];
}

void nn__fa_io_to_oi(float *dst, const float *src, int in, int out)
{
    for (int i = 0; i < in; i++)
        for (int o = 0; o < out; o++)
            dst[(size_t)o * in + i] = src[(size_t)i * out + o];
}

// The algorithm for a layer: NN_CONV_AUTO, except that 3x3 stride-1
// layers on planes under 16x16 (the descriptor's 8x8 .. 1x1 stages) take
// im2col + GEMM: there Winograd F(4x4, 3x3) has one to four tiles per plane
// and ran 2-6x slower (measured on 256 channels at 4x4, 2x2, 1x1).
static nn_conv_algo conv_algo(const nn__fa_conv_spec *s)
{
    if (!s->depthwise && s->k == 3 && s->stride == 1 &&
        s->in_h * s->in_w < 16 * 16)
        return NN_CONV_GEMM;
    return NN_CONV_AUTO;
}

void nn__fa_conv_free(nn__fa_conv *c)
{
    if (!c)
        return;
    nn_conv_free(c->conv);
    facet_free(c->weight);
    facet_free(c->bias);
    memset(c, 0, sizeof *c);
}

facet_status nn__fa_conv_create(nn__fa_conv *c, const wt_file *w,
                                const nn__fa_conv_spec *s)
{
    int k = s->k, per_in = s->depthwise ? 1 : s->cin;
    int fd[4] = {k, k, s->cin, s->depthwise ? 1 : s->cout};
    int vd[1] = {s->cout};
    size_t per_out = (size_t)per_in * k * k;
    const float *f, *b = NULL, *sc = NULL, *sh = NULL;
    const float *g = NULL, *be = NULL, *mu = NULL, *var = NULL;
    nn_conv_desc d;
    facet_status st;

    memset(c, 0, sizeof *c);
    FACET_ASSERT(!s->depthwise || s->cin == s->cout);

    // The tensors, shape-checked.
    f = nn__fa_tensor(w, s->filters, 4, fd);
    if (!f)
        return FACET_E_FORMAT;
    if (s->bias && !(b = nn__fa_tensor(w, s->bias, 1, vd)))
        return FACET_E_FORMAT;
    if (s->scale && (!(sc = nn__fa_tensor(w, s->scale, 1, vd)) ||
                     !(sh = nn__fa_tensor(w, s->shift, 1, vd))))
        return FACET_E_FORMAT;
    if (s->gamma && (!(g = nn__fa_tensor(w, s->gamma, 1, vd)) ||
                     !(be = nn__fa_tensor(w, s->beta, 1, vd)) ||
                     !(mu = nn__fa_tensor(w, s->mean, 1, vd)) ||
                     !(var = nn__fa_tensor(w, s->var, 1, vd))))
        return FACET_E_FORMAT;

    // Weights in facet's layout: OIHW, or C x 1 x kh x kw for depthwise.
    c->weight = facet_alloc(per_out * s->cout * sizeof(float));
    c->bias = facet_calloc(s->cout * sizeof(float));
    if (!c->weight || !c->bias) {
        nn__fa_conv_free(c);
        return facet_fail(FACET_E_NOMEM, "%s: weights of %s", wt_path(w),
                          s->filters);
    }
    if (s->depthwise)
        nn__fa_hwio_to_oihw(c->weight, f, k, k, 1, s->cout);
    else
        nn__fa_hwio_to_oihw(c->weight, f, k, k, s->cin, s->cout);
    if (b)
        memcpy(c->bias, b, s->cout * sizeof(float));

    // Fold the per-channel affine parts, in double.
    if (sc) {
        for (int o = 0; o < s->cout; o++) {
            float *wo = c->weight + (size_t)o * per_out;
            for (size_t i = 0; i < per_out; i++)
                wo[i] = (float)((double)wo[i] * sc[o]);
            c->bias[o] = (float)((double)c->bias[o] * sc[o] + sh[o]);
        }
    }
    if (g)
        nn_fold_batchnorm(c->weight, c->bias, s->cout, per_out, g, be, mu,
                          var, s->eps);

    // The prepared convolution.
    memset(&d, 0, sizeof d);
    d.cin = s->cin;
    d.cout = s->cout;
    d.kh = d.kw = k;
    d.stride_h = d.stride_w = s->stride;
    d.dil_h = d.dil_w = 1;
    d.groups = s->depthwise ? s->cin : 1;
    d.act = s->act;
    if (s->same) {
        nn_same_padding(&d.pad_top, &d.pad_bottom, s->in_h, k, s->stride, 1);
        nn_same_padding(&d.pad_left, &d.pad_right, s->in_w, k, s->stride,
                        1);
    }
    st = nn_conv_create(&c->conv, &d, c->weight, c->bias, NULL,
                        conv_algo(s));
    if (st != FACET_OK) {
        nn__fa_conv_free(c);
        return st;
    }
    c->in_c = s->cin;
    c->in_h = s->in_h;
    c->in_w = s->in_w;
    c->out_c = s->cout;
    nn_conv_out_size(&c->out_h, &c->out_w, &d, s->in_h, s->in_w);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Scratch and normalisation

facet_status nn__fa_scratch_reserve(nn__fa_scratch *s, size_t bytes)
{
    if (bytes <= s->bytes)
        return FACET_OK;
    facet_free(s->p);
    s->p = facet_alloc(bytes);
    s->bytes = s->p ? bytes : 0;
    if (!s->p)
        return facet_fail(FACET_E_NOMEM, "convolution scratch of %zu bytes",
                          bytes);
    return FACET_OK;
}

void nn__fa_scratch_free(nn__fa_scratch *s)
{
    facet_free(s->p);
    s->p = NULL;
    s->bytes = 0;
}

void nn__fa_normalize(nn_tensor *out, const nn_tensor *in, const float *sub,
                      const float *div, int div_first)
{
    int n = in->dim[0], ch = in->dim[1];
    size_t plane = (size_t)in->dim[2] * in->dim[3];

    FACET_ASSERT(in->ndim == 4 && out->ndim == 4);
    FACET_ASSERT(nn_tensor_count(out) == nn_tensor_count(in));
    for (int p = 0; p < n * ch; p++) {
        const float *x = in->data + p * plane;
        float *y = out->data + p * plane;
        float a = sub[p % ch], b = div[p % ch];

        // `simd`: vectorised, the same float operations (a scalar divide
        // per value took the detector's 786k values 0.65 ms); large planes
        // are split over the threads too (each value computed the same).
        if (div_first) {
            NN_OMP(parallel for simd schedule(static)
                   if (parallel: plane > PAR_MIN))
            for (size_t i = 0; i < plane; i++)
                y[i] = x[i] / b - a;
        } else {
            NN_OMP(parallel for simd schedule(static)
                   if (parallel: plane > PAR_MIN))
            for (size_t i = 0; i < plane; i++)
                y[i] = (x[i] - a) / b;
        }
    }
}

// ---------------------------------------------------------------------------
// Profile

double nn_faceapi_conv_flops(const nn_conv *c, int h, int w)
{
    const nn_conv_desc *d = nn_conv_descriptor(c);
    int oh, ow;

    nn_conv_out_size(&oh, &ow, d, h, w);
    return 2.0 * d->cout * (double)oh * ow * (d->cin / d->groups) * d->kh *
           d->kw;
}

static double cpu_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void nn__fa_prof_mark(nn_faceapi_profile *p)
{
    p->t0 = facet_now();
    p->c0 = cpu_now();
}

void nn__fa_prof_record(nn_faceapi_profile *p, const char *name,
                        const nn_conv *conv, int h, int w)
{
    nn_faceapi_step *st;
    double t1, c1;

    if (!p->on || p->count >= NN_FACEAPI_MAX_STEPS)
        return;
    t1 = facet_now();
    c1 = cpu_now();
    st = &p->step[p->count++];
    snprintf(st->name, sizeof st->name, "%s", name);
    st->conv = conv;
    st->in_h = h;
    st->in_w = w;
    st->flops = conv ? nn_faceapi_conv_flops(conv, h, w) : 0.0;
    st->seconds = t1 - p->t0;
    st->cpu_seconds = c1 - p->c0;
}
