// layers_internal.h - what the layer drivers in nn/ (conv.c, deconv.c,
// pool.c, eltwise.c) share with each other and with their per-ISA kernels
// in nn/kernels/: the geometry of a sliding-window op on one plane, the
// tap-range arithmetic every window kernel needs, and the kernel tables
// indexed by facet_isa_active().
//
// Not part of nn.h; nothing outside nn/ includes it.
//
// Limitations:
// - The SIMD kernels exist for x86-64 only; elsewhere every table entry is
//   the scalar kernel.
#ifndef FACET_NN_LAYERS_INTERNAL_H
#define FACET_NN_LAYERS_INTERNAL_H

#include "nn.h"

// An OpenMP pragma that disappears, without an unknown-pragma warning, from
// single-threaded (OPENMP=0) builds: NN_OMP(parallel for schedule(static)).
#ifdef _OPENMP
#define NN_OMP(...) _Pragma(NN_OMP_STR(omp __VA_ARGS__))
#define NN_OMP_STR(...) #__VA_ARGS__
#else
#define NN_OMP(...)
#endif

// One sliding-window op from an h x w input plane to an oh x ow output
// plane. Input row of tap ky for output row oy: oy * sh - pt + ky * dh
// (likewise for columns). pb, pr matter only to average pooling with
// count_pad, whose divisor stops at the padded input's end.
typedef struct nn_window {
    int h, w;        // input plane
    int oh, ow;      // output plane
    int kh, kw;      // window
    int sh, sw;      // stride, >= 1
    int dh, dw;      // dilation, >= 1 (1 for pooling)
    int pt, pb, pl, pr;  // padding
} nn_window;

// Floor division for any sign of a, b > 0.
static inline int nn__floor_div(int a, int b)
{
    int q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Taps t in [*t0, *t1) whose input index o * s - pad + t * d lies in
// [0, n). Empty ranges come back with *t0 == *t1.
static inline void nn__tap_range(int *t0, int *t1, int o, int s, int pad,
                                 int d, int k, int n)
{
    int start = o * s - pad, lo, hi;

    // Undilated windows (the common case) need no division.
    if (d == 1) {
        lo = start >= 0 ? 0 : -start;
        hi = n - start;
    } else {
        lo = start >= 0 ? 0 : (-start + d - 1) / d;
        hi = nn__floor_div(n - 1 - start, d) + 1;
    }

    if (hi > k)
        hi = k;
    if (lo > hi)
        lo = hi;
    *t0 = lo;
    *t1 = hi;
}

// Output columns [*lo, *hi) whose every tap lies inside the input row: the
// part a kernel runs without bounds checks. The columns outside it need
// them (the point code below, or masked loads).
static inline void nn__interior_cols(int *lo, int *hi, const nn_window *g)
{
    int a = g->pl > 0 ? (g->pl + g->sw - 1) / g->sw : 0;
    int b = nn__floor_div(g->w - 1 + g->pl - (g->kw - 1) * g->dw, g->sw) + 1;

    if (a > g->ow)
        a = g->ow;
    if (b > g->ow)
        b = g->ow;
    if (b < a)
        b = a;
    *lo = a;
    *hi = b;
}

// Bias and activation on one value, as the la_epilogue defines them.
static inline float nn__act1(float x, la_act act, float slope)
{
    switch (act) {
    case LA_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case LA_ACT_RELU6:
        return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
    case LA_ACT_PRELU:
        return x >= 0.0f ? x : slope * x;
    default:
        return x;
    }
}

// Average pooling divisor for the window starting at (ys, xs) (possibly in
// the padding): with count_pad the window clipped to the padded input (as
// Caffe and PyTorch), otherwise the taps inside the input.
static inline int nn__pool_count(const nn_window *g, int ys, int xs,
                                 int count_pad)
{
    int ye = ys + g->kh, xe = xs + g->kw;

    if (count_pad) {
        if (ye > g->h + g->pb)
            ye = g->h + g->pb;
        if (xe > g->w + g->pr)
            xe = g->w + g->pr;
    } else {
        if (ys < 0)
            ys = 0;
        if (xs < 0)
            xs = 0;
        if (ye > g->h)
            ye = g->h;
        if (xe > g->w)
            xe = g->w;
    }
    return (ye > ys && xe > xs) ? (ye - ys) * (xe - xs) : 0;
}

// One output of each window op with every tap bounds-checked: the border
// columns of the vector kernels and the scalar kernels share these. ky0,
// ky1: the row's valid taps (nn__tap_range). Indices stay ints (never a
// pointer before the plane).

// Depthwise: the raw sum, before bias and activation.
static inline float nn__dwconv_point(const float *in, const float *k,
                                     const nn_window *g, int oy, int ox,
                                     int ky0, int ky1)
{
    int kx0, kx1;
    float s = 0.0f;

    nn__tap_range(&kx0, &kx1, ox, g->sw, g->pl, g->dw, g->kw, g->w);
    for (int ky = ky0; ky < ky1; ky++) {
        int row = (oy * g->sh - g->pt + ky * g->dh) * g->w;
        for (int kx = kx0; kx < kx1; kx++)
            s += k[ky * g->kw + kx] *
                 in[row + ox * g->sw - g->pl + kx * g->dw];
    }
    return s;
}

static inline float nn__maxpool_point(int32_t *at, const float *in,
                                      const nn_window *g, int oy, int ox,
                                      int ky0, int ky1)
{
    int kx0, kx1;
    float best = 0.0f;

    *at = -1;
    nn__tap_range(&kx0, &kx1, ox, g->sw, g->pl, 1, g->kw, g->w);
    for (int ky = ky0; ky < ky1; ky++) {
        int row = (oy * g->sh - g->pt + ky) * g->w;
        for (int kx = kx0; kx < kx1; kx++) {
            int i = row + ox * g->sw - g->pl + kx;
            if (*at < 0 || in[i] > best) {
                best = in[i];
                *at = i;
            }
        }
    }
    return best;
}

static inline float nn__avgpool_point(const float *in, const nn_window *g,
                                      int oy, int ox, int ky0, int ky1,
                                      int count_pad)
{
    int kx0, kx1, ys = oy * g->sh - g->pt, xs = ox * g->sw - g->pl;
    int count = nn__pool_count(g, ys, xs, count_pad);
    float s = 0.0f;

    nn__tap_range(&kx0, &kx1, ox, g->sw, g->pl, 1, g->kw, g->w);
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++)
            s += in[(ys + ky) * g->w + xs + kx];
    return count > 0 ? s / (float)count : 0.0f;
}

// ---------------------------------------------------------------------------
// Kernels (nn/kernels/*_{scalar,avx2,avx512}.c). Each computes one plane.

// Depthwise convolution: out (oh x ow) = act(sum_taps k[ky, kx] *
// in[...] + bias). k: kh x kw.
typedef void (*nn_dwconv_fn)(float *out, const float *in, const float *k,
                             float bias, la_act act, float slope,
                             const nn_window *g);
void nn__dwconv__scalar(float *out, const float *in, const float *k,
                        float bias, la_act act, float slope,
                        const nn_window *g);
void nn__dwconv__avx2(float *out, const float *in, const float *k,
                      float bias, la_act act, float slope,
                      const nn_window *g);
void nn__dwconv__avx512(float *out, const float *in, const float *k,
                        float bias, la_act act, float slope,
                        const nn_window *g);

// Max pooling over the valid taps (dilation 1); the first maximum in
// row-major window order wins. argmax (may be NULL) gets y * w + x. An
// output whose window holds no input gets 0 and index -1.
typedef void (*nn_maxpool_fn)(float *out, int32_t *argmax, const float *in,
                              const nn_window *g);
void nn__maxpool__scalar(float *out, int32_t *argmax, const float *in,
                         const nn_window *g);
void nn__maxpool__avx2(float *out, int32_t *argmax, const float *in,
                       const nn_window *g);
void nn__maxpool__avx512(float *out, int32_t *argmax, const float *in,
                         const nn_window *g);

// Average pooling: float sum in row-major window order, divided by
// nn__pool_count (0 when that is 0).
typedef void (*nn_avgpool_fn)(float *out, const float *in,
                              const nn_window *g, int count_pad);
void nn__avgpool__scalar(float *out, const float *in, const nn_window *g,
                         int count_pad);
void nn__avgpool__avx2(float *out, const float *in, const nn_window *g,
                       int count_pad);
void nn__avgpool__avx512(float *out, const float *in, const nn_window *g,
                         int count_pad);

// The tables, indexed by facet_isa_active() (defined in conv.c / pool.c).
extern const nn_dwconv_fn nn__dwconv_kernels[FACET_ISA_COUNT];
extern const nn_maxpool_fn nn__maxpool_kernels[FACET_ISA_COUNT];
extern const nn_avgpool_fn nn__avgpool_kernels[FACET_ISA_COUNT];

// ---------------------------------------------------------------------------
// Shared driver helpers (eltwise.c).

// x: outer x channels x inner, in place: x = act(x + bias[c]) with the
// PReLU slope[c]. bias may be NULL. OpenMP over outer x channels.
void nn__bias_act(float *x, int outer, int channels, size_t inner,
                  const float *bias, la_act act, const float *slope);

// The split of a tensor around its channel axis: dim 1 for ndim >= 2 (outer
// is dim 0, inner the product of the rest), dim 0 for ndim 1.
void nn__channel_split(const nn_tensor *t, int *outer, int *channels,
                       size_t *inner);

#endif
