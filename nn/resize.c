// resize.c - bilinear resizing of NCHW planes, in the two sampling
// conventions networks are trained with.
//
//   NN_RESIZE_ALIGN_CORNERS  src = dst * (in - 1) / (out - 1)  (0 if out 1)
//   NN_RESIZE_HALF_PIXEL     src = (dst + 0.5) * in / out - 0.5
// src is clamped to [0, in - 1]; the value interpolates between floor(src)
// and the next sample (the last sample repeats at the edge).
//
// ref: PyTorch F.interpolate(mode="bilinear", align_corners=True/False);
//      TF2 tf.image.resize(method="bilinear") (half-pixel centres).
//
// Limitations:
// - Bilinear only (no nearest or bicubic here).
// - Sample positions in double, blending in float: results may differ
//   from a double computation by a few float ulps.
#include "layers_internal.h"

// Source position of destination index `dst`: the lower sample, the
// upper one and the weight of the upper.
static void sample(int *lo, int *hi, float *frac, int dst, int in, int out,
                   nn_resize_mode mode)
{
    double src;

    if (mode == NN_RESIZE_ALIGN_CORNERS)
        src = out > 1 ? (double)dst * (in - 1) / (out - 1) : 0.0;
    else
        src = ((double)dst + 0.5) * in / out - 0.5;
    if (src < 0.0)
        src = 0.0;
    if (src > in - 1)
        src = in - 1;
    *lo = (int)src;
    *hi = *lo + 1 < in ? *lo + 1 : in - 1;
    *frac = (float)(src - *lo);
}

void nn_resize_bilinear(nn_tensor *out, const nn_tensor *in,
                        nn_resize_mode mode)
{
    int h = in->dim[2], w = in->dim[3], oh = out->dim[2], ow = out->dim[3];
    int planes = in->dim[0] * in->dim[1];

    FACET_ASSERT(in->ndim == 4 && out->ndim == 4);
    FACET_ASSERT(out->dim[0] == in->dim[0] && out->dim[1] == in->dim[1]);
    FACET_ASSERT(mode == NN_RESIZE_ALIGN_CORNERS ||
                 mode == NN_RESIZE_HALF_PIXEL);
    FACET_ASSERT((h > 0 && w > 0) || oh * ow == 0);

    // One plane per iteration; the column samples are recomputed per row,
    // which costs little next to the loads and keeps the loop free of
    // scratch.
    NN_OMP(parallel for schedule(static)
           if ((size_t)planes * oh * ow > 16384))
    for (int p = 0; p < planes; p++) {
        const float *ip = in->data + (size_t)p * h * w;
        float *op = out->data + (size_t)p * oh * ow;

        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            float fy;
            const float *r0, *r1;

            sample(&y0, &y1, &fy, oy, h, oh, mode);
            r0 = ip + (size_t)y0 * w;
            r1 = ip + (size_t)y1 * w;
            for (int ox = 0; ox < ow; ox++) {
                int x0, x1;
                float fx, top, bot;

                sample(&x0, &x1, &fx, ox, w, ow, mode);
                top = r0[x0] + fx * (r0[x1] - r0[x0]);
                bot = r1[x0] + fx * (r1[x1] - r1[x0]);
                op[(size_t)oy * ow + ox] = top + fy * (bot - top);
            }
        }
    }
}
