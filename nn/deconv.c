// deconv.c - transposed convolution (deconvolution), groups 1: the
// adjoint of a strided convolution, as used for learned upsampling.
//
// Per image and block of input pixels:
//   col (cout*kh*kw x q) = W^T (cout*kh*kw x cin) * in (cin x q)   la_sgemm
// then col2im scatters each column row (co, ky, kx) onto the output plane
// co at (iy * sh - pt + ky, ix * sw - pl + kx), dropping what lands in the
// cropped border. Bias and activation follow on the finished planes.
//
// Output size: oh = (h - 1) * sh - pt - pb + kh (likewise ow).
//
// ref: V. Dumoulin, F. Visin, "A guide to convolution arithmetic for deep
//      learning" (2016), section 4 (transposed convolution).
//
// Limitations:
// - No groups, dilation or output padding.
// - col2im threads over output channels only; a layer with fewer output
//   channels than threads leaves threads idle there.
#include "layers_internal.h"

#include <string.h>

// GEMM column block: at most this many floats of col at a time.
#define COL_BLOCK_FLOATS ((size_t)1 << 20)
#define MIN_BLOCK_COLS 64

void nn_deconv_out_size(int *oh, int *ow, const nn_deconv_desc *d, int h,
                        int w)
{
    *oh = (h - 1) * d->stride_h - d->pad_top - d->pad_bottom + d->kh;
    *ow = (w - 1) * d->stride_w - d->pad_left - d->pad_right + d->kw;
}

// Input pixels per GEMM block for R = cout*kh*kw rows and q pixels: all
// of them when the block fits COL_BLOCK_FLOATS, else q split into equal
// blocks that fit (a multiple of 16, at least MIN_BLOCK_COLS).
static int pixel_block(size_t r, int q)
{
    size_t cols = COL_BLOCK_FLOATS / r, blocks;

    if (cols >= (size_t)q)
        return q;
    if (cols < MIN_BLOCK_COLS)
        cols = MIN_BLOCK_COLS;
    blocks = ((size_t)q + cols - 1) / cols;
    cols = ((size_t)q + blocks - 1) / blocks;
    cols = (cols + 15) & ~(size_t)15;
    return cols < (size_t)q ? (int)cols : q;
}

size_t nn_deconv_scratch_size(const nn_deconv_desc *d, int n, int h, int w)
{
    size_t r = (size_t)d->cout * d->kh * d->kw, col, g1, g2;
    int q = h * w, qb;

    if (n == 0 || q == 0)
        return 0;
    qb = pixel_block(r, q);
    col = facet_align_up(r * qb * sizeof(float), FACET_ALIGN);
    g1 = la_sgemm_scratch_size((int)r, qb, d->cin, facet_threads());
    g2 = q % qb ? la_sgemm_scratch_size((int)r, q % qb, d->cin,
                                        facet_threads())
                : 0;
    return col + (g1 > g2 ? g1 : g2);
}

// out (cout x oh x ow) += the block's columns col (R x qb) for input
// pixels [q0, q0 + qb). Each thread owns whole output planes and adds in
// a fixed (ky, kx, pixel) order.
static void col2im(float *out, const float *col, const nn_deconv_desc *d,
                   int w, int oh, int ow, int q0, int qb)
{
    NN_OMP(parallel for schedule(static))
    for (int co = 0; co < d->cout; co++) {
        float *o = out + (size_t)co * oh * ow;

        for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
                const float *src = col + ((size_t)(co * d->kh + ky) * d->kw +
                                          kx) * qb;
                int a, b, off = kx - d->pad_left;

                // Input columns [a, b) land inside the output row.
                nn__tap_range(&a, &b, 0, 0, -off, d->stride_w, w, ow);

                // One input row (or the block's part of it) at a time.
                for (int q = q0; q < q0 + qb;) {
                    int iy = q / w, ix0 = q % w;
                    int ix1 = ix0 + (q0 + qb - q);
                    int oy = iy * d->stride_h - d->pad_top + ky;

                    ix1 = ix1 < w ? ix1 : w;
                    if (oy >= 0 && oy < oh) {
                        float *orow = o + (size_t)oy * ow;
                        const float *srow = src + (q - q0);
                        int x0 = ix0 > a ? ix0 : a, x1 = ix1 < b ? ix1 : b;
                        for (int ix = x0; ix < x1; ix++)
                            orow[ix * d->stride_w + off] += srow[ix - ix0];
                    }
                    q += ix1 - ix0;
                }
            }
    }
}

void nn_deconv_forward(nn_tensor *out, const nn_tensor *in,
                       const nn_deconv_desc *d, const float *weight,
                       const float *bias, const float *slope, void *scratch)
{
    int n = in->dim[0], h = in->dim[2], w = in->dim[3], oh, ow, q, qb;
    size_t r = (size_t)d->cout * d->kh * d->kw, plane;
    float *col = scratch;
    unsigned char *gemm_ws;

    FACET_ASSERT(d->cin >= 1 && d->cout >= 1 && d->kh >= 1 && d->kw >= 1 &&
                 d->stride_h >= 1 && d->stride_w >= 1);
    FACET_ASSERT(d->pad_top >= 0 && d->pad_bottom >= 0 &&
                 d->pad_left >= 0 && d->pad_right >= 0);
    FACET_ASSERT(d->act != LA_ACT_PRELU || slope);
    nn_deconv_out_size(&oh, &ow, d, h, w);
    FACET_ASSERT(in->ndim == 4 && out->ndim == 4 && in->dim[1] == d->cin);
    FACET_ASSERT(out->dim[0] == n && out->dim[1] == d->cout &&
                 out->dim[2] == oh && out->dim[3] == ow);
    q = h * w;
    plane = (size_t)oh * ow;
    if (n == 0 || plane == 0)
        return;
    memset(out->data, 0, sizeof(float) * n * d->cout * plane);
    if (q == 0) {
        nn__bias_act(out->data, n, d->cout, plane, bias, d->act, slope);
        return;
    }
    FACET_ASSERT(scratch);
    qb = pixel_block(r, q);
    gemm_ws = (unsigned char *)scratch +
              facet_align_up(r * qb * sizeof(float), FACET_ALIGN);

    // weight: cin x R is W^T's transpose, so col = weight^T * in_block.
    for (int b = 0; b < n; b++) {
        const float *ib = in->data + (size_t)b * d->cin * q;
        float *ob = out->data + (size_t)b * d->cout * plane;

        for (int q0 = 0; q0 < q; q0 += qb) {
            int cols = q - q0 < qb ? q - q0 : qb;

            la_sgemm(LA_TRANS, LA_NOTRANS, (int)r, cols, d->cin, 1.0f,
                     weight, (int)r, ib + q0, q, 0.0f, col, cols, NULL,
                     gemm_ws);
            col2im(ob, col, d, w, oh, ow, q0, cols);
        }
    }
    nn__bias_act(out->data, n, d->cout, plane, bias, d->act, slope);
}
