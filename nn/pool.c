// pool.c - max, average, global average pooling and max unpooling: the
// drivers around the per-plane kernels in nn/kernels/pool_*.c.
//
// Output size per axis (Caffe/PyTorch): floor mode
//   out = (in + pad_before + pad_after - k) / stride + 1,
// ceil mode rounds that division up, then drops the last window if it would
// start at or past in + pad_before (it must start inside the input or the
// leading padding).
//
// ref: PyTorch aten/src/ATen/native/Pool.h pooling_output_shape (ceil
//      mode rule); Caffe PoolingLayer (count_pad divisor).
//
// Limitations:
// - No dilated pooling.
// - NaN inputs never win a max unless they come first in their window.
#include "layers_internal.h"

const nn_maxpool_fn nn__maxpool_kernels[FACET_ISA_COUNT] = {
    [FACET_ISA_SCALAR] = nn__maxpool__scalar,
#if defined(__x86_64__) || defined(__i386__)
    [FACET_ISA_AVX2] = nn__maxpool__avx2,
    [FACET_ISA_AVX512] = nn__maxpool__avx512,
#else
    [FACET_ISA_AVX2] = nn__maxpool__scalar,
    [FACET_ISA_AVX512] = nn__maxpool__scalar,
#endif
};

const nn_avgpool_fn nn__avgpool_kernels[FACET_ISA_COUNT] = {
    [FACET_ISA_SCALAR] = nn__avgpool__scalar,
#if defined(__x86_64__) || defined(__i386__)
    [FACET_ISA_AVX2] = nn__avgpool__avx2,
    [FACET_ISA_AVX512] = nn__avgpool__avx512,
#else
    [FACET_ISA_AVX2] = nn__avgpool__scalar,
    [FACET_ISA_AVX512] = nn__avgpool__scalar,
#endif
};

static int pool_extent(int in, int before, int after, int k, int stride,
                       int ceil_mode)
{
    int span = in + before + after - k, out;

    if (span < 0)
        return 0;
    out = (ceil_mode ? span + stride - 1 : span) / stride + 1;
    if (ceil_mode && (out - 1) * stride >= in + before)
        out--;
    return out;
}

void nn_pool_out_size(int *oh, int *ow, const nn_pool_desc *d, int h, int w)
{
    *oh = pool_extent(h, d->pad_top, d->pad_bottom, d->kh, d->stride_h,
                      d->ceil_mode);
    *ow = pool_extent(w, d->pad_left, d->pad_right, d->kw, d->stride_w,
                      d->ceil_mode);
}

// The plane geometry of a pooling layer, after checking the tensors.
static nn_window pool_window(nn_tensor *out, const nn_tensor *in,
                             const nn_pool_desc *d)
{
    nn_window g = {
        .h = in->dim[2], .w = in->dim[3], .kh = d->kh, .kw = d->kw,
        .sh = d->stride_h, .sw = d->stride_w, .dh = 1, .dw = 1,
        .pt = d->pad_top, .pb = d->pad_bottom, .pl = d->pad_left,
        .pr = d->pad_right,
    };

    FACET_ASSERT(d->kh >= 1 && d->kw >= 1 && d->stride_h >= 1 &&
                 d->stride_w >= 1);
    FACET_ASSERT(d->pad_top >= 0 && d->pad_bottom >= 0 &&
                 d->pad_left >= 0 && d->pad_right >= 0);
    FACET_ASSERT(in->ndim == 4 && out->ndim == 4);
    FACET_ASSERT((size_t)g.h * g.w <= INT32_MAX);
    nn_pool_out_size(&g.oh, &g.ow, d, g.h, g.w);
    FACET_ASSERT(out->dim[0] == in->dim[0] && out->dim[1] == in->dim[1] &&
                 out->dim[2] == g.oh && out->dim[3] == g.ow);
    return g;
}

void nn_maxpool_forward(nn_tensor *out, int32_t *argmax, const nn_tensor *in,
                        const nn_pool_desc *d)
{
    nn_window g = pool_window(out, in, d);
    nn_maxpool_fn kernel = nn__maxpool_kernels[facet_isa_active()];
    int planes = in->dim[0] * in->dim[1];
    size_t isz = (size_t)g.h * g.w, osz = (size_t)g.oh * g.ow;

    // One (n, c) plane per iteration.
    NN_OMP(parallel for schedule(static))
    for (int p = 0; p < planes; p++)
        kernel(out->data + p * osz, argmax ? argmax + p * osz : NULL,
               in->data + p * isz, &g);
}

void nn_avgpool_forward(nn_tensor *out, const nn_tensor *in,
                        const nn_pool_desc *d)
{
    nn_window g = pool_window(out, in, d);
    nn_avgpool_fn kernel = nn__avgpool_kernels[facet_isa_active()];
    int planes = in->dim[0] * in->dim[1];
    size_t isz = (size_t)g.h * g.w, osz = (size_t)g.oh * g.ow;

    NN_OMP(parallel for schedule(static))
    for (int p = 0; p < planes; p++)
        kernel(out->data + p * osz, in->data + p * isz, &g, d->count_pad);
}

void nn_maxunpool_forward(nn_tensor *out, const nn_tensor *in,
                          const int32_t *argmax)
{
    int planes;
    size_t isz, osz;

    FACET_ASSERT(in->ndim == 4 && out->ndim == 4);
    FACET_ASSERT(out->dim[0] == in->dim[0] && out->dim[1] == in->dim[1]);
    planes = in->dim[0] * in->dim[1];
    isz = (size_t)in->dim[2] * in->dim[3];
    osz = (size_t)out->dim[2] * out->dim[3];

    // Zero each output plane, then scatter. Overlapping windows may name
    // the same input twice; both carry the same value, so the result does
    // not depend on the order. Index -1 (an empty window) is skipped.
    NN_OMP(parallel for schedule(static))
    for (int p = 0; p < planes; p++) {
        float *o = out->data + p * osz;
        const float *v = in->data + p * isz;
        const int32_t *at = argmax + p * isz;

        for (size_t i = 0; i < osz; i++)
            o[i] = 0.0f;
        for (size_t i = 0; i < isz; i++) {
            if (at[i] < 0)
                continue;
            FACET_ASSERT((size_t)at[i] < osz);
            o[at[i]] = v[i];
        }
    }
}

void nn_global_avgpool_forward(nn_tensor *out, const nn_tensor *in)
{
    int planes;
    size_t isz;

    FACET_ASSERT(in->ndim == 4 && out->ndim == 4);
    FACET_ASSERT(out->dim[0] == in->dim[0] && out->dim[1] == in->dim[1] &&
                 out->dim[2] == 1 && out->dim[3] == 1);
    planes = in->dim[0] * in->dim[1];
    isz = (size_t)in->dim[2] * in->dim[3];

    // Mean of each plane, summed in double.
    NN_OMP(parallel for schedule(static))
    for (int p = 0; p < planes; p++) {
        const float *v = in->data + p * isz;
        double s = 0.0;

        for (size_t i = 0; i < isz; i++)
            s += v[i];
        out->data[p] = isz ? (float)(s / (double)isz) : 0.0f;
    }
}
