// conv_ref.c - reference convolution, transposed convolution and pooling:
// plain loops that implement the contracts in nn.h, summing in double.
// They are the yardstick the tests hold the fast paths to, and the
// readable statement of what each layer computes. The one concession to
// speed: the convolution sums a run of up to REF_COLS outputs of a row
// together, so that its inner loop walks an input row (the tests run it
// on whole MobileNet and VGG layers).
//
// The references use OpenMP over whole output planes only (each plane is
// summed by one thread in a fixed order), so they are deterministic too.
//
// Limitations:
// - Slow by design (no blocking, no SIMD): use only in tests and tools.
#include "layers_internal.h"

#include <math.h>

// Outputs of one row summed together by the convolution reference.
#define REF_COLS 64

static double act_double(double x, la_act act, const float *slope, int c)
{
    switch (act) {
    case LA_ACT_RELU:
        return x > 0.0 ? x : 0.0;
    case LA_ACT_RELU6:
        return x > 0.0 ? (x < 6.0 ? x : 6.0) : 0.0;
    case LA_ACT_PRELU:
        return x >= 0.0 ? x : (double)slope[c] * x;
    default:
        return x;
    }
}

void nn_conv2d__ref(nn_tensor *out, const nn_tensor *in,
                    const nn_conv_desc *d, const float *weight,
                    const float *bias, const float *slope)
{
    int n = in->dim[0], h = in->dim[2], w = in->dim[3];
    int oh, ow;
    int cin_g = d->cin / d->groups, cout_g = d->cout / d->groups;
    int planes = n * d->cout;

    nn_conv_out_size(&oh, &ow, d, h, w);
    FACET_ASSERT(in->ndim == 4 && out->ndim == 4 && in->dim[1] == d->cin);
    FACET_ASSERT(out->dim[0] == n && out->dim[1] == d->cout &&
                 out->dim[2] == oh && out->dim[3] == ow);
    FACET_ASSERT(d->act != LA_ACT_PRELU || slope);

    // out[b, co, oy, ox] = act(bias[co] + sum over the group's input
    // channels ci and taps (ky, kx) of w[co, ci, ky, kx] * in[b, g * cin_g
    // + ci, oy * sh - pt + ky * dh, ox * sw - pl + kx * dw]), taps outside
    // the input skipped. Summed for up to REF_COLS outputs of a row at once,
    // each in (ci, ky, kx) order.
    NN_OMP(parallel for schedule(dynamic, 1))
    for (int p = 0; p < planes; p++) {
        int b = p / d->cout, co = p % d->cout, g = co / cout_g;
        const float *wc = weight + (size_t)co * cin_g * d->kh * d->kw;
        const float *ib = in->data + ((size_t)b * d->cin + (size_t)g * cin_g)
                                         * h * w;
        float *o = out->data + (size_t)p * oh * ow;

        for (int oy = 0; oy < oh; oy++)
            for (int x0 = 0; x0 < ow; x0 += REF_COLS) {
                int x1 = x0 + REF_COLS < ow ? x0 + REF_COLS : ow;
                double s[REF_COLS];

                for (int ox = x0; ox < x1; ox++)
                    s[ox - x0] = bias ? bias[co] : 0.0;
                for (int ci = 0; ci < cin_g; ci++)
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->stride_h - d->pad_top + ky * d->dil_h;
                        const float *row;
                        if (iy < 0 || iy >= h)
                            continue;
                        row = ib + ((size_t)ci * h + iy) * w;
                        for (int kx = 0; kx < d->kw; kx++) {
                            double wv = wc[(ci * d->kh + ky) * d->kw + kx];
                            int off = kx * d->dil_w - d->pad_left, a, e;

                            // Outputs [a, e) whose input column ox * sw +
                            // off lies inside the row.
                            nn__tap_range(&a, &e, 0, 0, -off, d->stride_w,
                                          ow, w);
                            a = a > x0 ? a : x0;
                            e = e < x1 ? e : x1;
                            for (int ox = a; ox < e; ox++)
                                s[ox - x0] += wv * row[ox * d->stride_w + off];
                        }
                    }
                for (int ox = x0; ox < x1; ox++)
                    o[(size_t)oy * ow + ox] =
                        (float)act_double(s[ox - x0], d->act, slope, co);
            }
    }
}

void nn_deconv2d__ref(nn_tensor *out, const nn_tensor *in,
                      const nn_deconv_desc *d, const float *weight,
                      const float *bias, const float *slope)
{
    int n = in->dim[0], h = in->dim[2], w = in->dim[3];
    int oh, ow, planes;

    nn_deconv_out_size(&oh, &ow, d, h, w);
    FACET_ASSERT(in->ndim == 4 && out->ndim == 4 && in->dim[1] == d->cin);
    FACET_ASSERT(out->dim[0] == n && out->dim[1] == d->cout &&
                 out->dim[2] == oh && out->dim[3] == ow);
    FACET_ASSERT(d->act != LA_ACT_PRELU || slope);
    planes = n * d->cout;

    // Input (iy, ix) through tap (ky, kx) lands on output (iy * sh - pt +
    // ky, ix * sw - pl + kx). Gathered per output: the taps with ky
    // congruent to oy + pt modulo sh, and likewise for x.
    NN_OMP(parallel for schedule(dynamic, 1))
    for (int p = 0; p < planes; p++) {
        int b = p / d->cout, co = p % d->cout;
        float *o = out->data + (size_t)p * oh * ow;

        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double s = bias ? bias[co] : 0.0;

                for (int ky = 0; ky < d->kh; ky++) {
                    int ty = oy + d->pad_top - ky, iy = ty / d->stride_h;
                    if (ty < 0 || ty % d->stride_h != 0 || iy >= h)
                        continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int tx = ox + d->pad_left - kx, ix = tx / d->stride_w;
                        if (tx < 0 || tx % d->stride_w != 0 || ix >= w)
                            continue;
                        for (int ci = 0; ci < d->cin; ci++)
                            s += (double)weight[(((size_t)ci * d->cout + co) *
                                                 d->kh + ky) * d->kw + kx] *
                                 in->data[(((size_t)b * d->cin + ci) * h +
                                           iy) * w + ix];
                    }
                }
                o[(size_t)oy * ow + ox] = (float)act_double(s, d->act, slope,
                                                            co);
            }
    }
}

void nn_maxpool2d__ref(nn_tensor *out, int32_t *argmax, const nn_tensor *in,
                       const nn_pool_desc *d)
{
    int h = in->dim[2], w = in->dim[3];
    int oh, ow, planes = in->dim[0] * in->dim[1];

    nn_pool_out_size(&oh, &ow, d, h, w);
    FACET_ASSERT(in->ndim == 4 && out->ndim == 4);
    FACET_ASSERT(out->dim[0] == in->dim[0] && out->dim[1] == in->dim[1] &&
                 out->dim[2] == oh && out->dim[3] == ow);

    // The first strict maximum in row-major window order; padding and the
    // ceil-mode overhang hold no candidates.
    NN_OMP(parallel for schedule(static))
    for (int p = 0; p < planes; p++) {
        const float *ip = in->data + (size_t)p * h * w;

        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                size_t o = ((size_t)p * oh + oy) * ow + ox;
                float best = 0.0f;
                int32_t at = -1;

                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->stride_h - d->pad_top + ky;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->stride_w - d->pad_left + kx;
                        if (ix < 0 || ix >= w)
                            continue;
                        if (at < 0 || ip[iy * w + ix] > best) {
                            best = ip[iy * w + ix];
                            at = iy * w + ix;
                        }
                    }
                }
                out->data[o] = best;
                if (argmax)
                    argmax[o] = at;
            }
    }
}

void nn_avgpool2d__ref(nn_tensor *out, const nn_tensor *in,
                       const nn_pool_desc *d)
{
    int h = in->dim[2], w = in->dim[3];
    int oh, ow, planes = in->dim[0] * in->dim[1];

    nn_pool_out_size(&oh, &ow, d, h, w);
    FACET_ASSERT(in->ndim == 4 && out->ndim == 4);
    FACET_ASSERT(out->dim[0] == in->dim[0] && out->dim[1] == in->dim[1] &&
                 out->dim[2] == oh && out->dim[3] == ow);

    // Divisor: the window clipped to the padded input with count_pad (as
    // Caffe and PyTorch), else the number of taps inside the input.
    NN_OMP(parallel for schedule(static))
    for (int p = 0; p < planes; p++) {
        const float *ip = in->data + (size_t)p * h * w;

        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int ys = oy * d->stride_h - d->pad_top;
                int xs = ox * d->stride_w - d->pad_left;
                int ye = ys + d->kh, xe = xs + d->kw, count;
                double s = 0.0;

                if (d->count_pad) {
                    ye = ye < h + d->pad_bottom ? ye : h + d->pad_bottom;
                    xe = xe < w + d->pad_right ? xe : w + d->pad_right;
                    count = (ye - ys) * (xe - xs);
                } else {
                    count = 0;
                }
                for (int iy = ys; iy < ys + d->kh; iy++)
                    for (int ix = xs; ix < xs + d->kw; ix++) {
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                            continue;
                        s += ip[iy * w + ix];
                        if (!d->count_pad)
                            count++;
                    }
                out->data[((size_t)p * oh + oy) * ow + ox] =
                    count > 0 ? (float)(s / count) : 0.0f;
            }
    }
}
