// dwconv_scalar.c - depthwise convolution of one plane in portable C: the
// path every CPU has, and the one the SIMD kernels are checked against
// besides the double reference.
//
// Per output row: the border columns (taps that fall in the padding) one
// by one with bounds checks; the interior columns tap by tap with the
// output row as accumulator, so the inner loop is a plain strided
// multiply-add the compiler may vectorise.
//
// Limitations:
// - Planes must hold fewer than 2^31 elements (int indexing).
#include "../layers_internal.h"

void nn__dwconv__scalar(float *out, const float *in, const float *k,
                        float bias, la_act act, float slope,
                        const nn_window *g)
{
    // The geometry in locals: stores through `out` cannot change them.
    const int w = g->w, oh = g->oh, ow = g->ow, kw = g->kw, s = g->sw;
    const int sh = g->sh, dh = g->dh, dw = g->dw, pt = g->pt, pl = g->pl;
    int lo, hi;

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < oh; oy++) {
        float *o = out + (size_t)oy * ow;
        int ky0, ky1;

        nn__tap_range(&ky0, &ky1, oy, sh, pt, dh, g->kh, g->h);

        // Border columns.
        for (int ox = 0; ox < lo; ox++)
            o[ox] = nn__act1(nn__dwconv_point(in, k, g, oy, ox, ky0, ky1) +
                             bias, act, slope);
        for (int ox = hi; ox < ow; ox++)
            o[ox] = nn__act1(nn__dwconv_point(in, k, g, oy, ox, ky0, ky1) +
                             bias, act, slope);

        // Interior: o[ox] += k[ky, kx] * in[iy, ox * s - pl + kx * dw],
        // taps in row-major order.
        for (int ox = lo; ox < hi; ox++)
            o[ox] = 0.0f;
        for (int ky = ky0; ky < ky1 && lo < hi; ky++) {
            int iy = oy * sh - pt + ky * dh;
            for (int kx = 0; kx < kw; kx++) {
                const float *src = in + (size_t)iy * w + lo * s - pl +
                                   kx * dw;
                float wk = k[ky * kw + kx];
                if (s == 1)
                    for (int ox = lo; ox < hi; ox++)
                        o[ox] += wk * src[ox - lo];
                else
                    for (int ox = lo; ox < hi; ox++)
                        o[ox] += wk * src[(size_t)(ox - lo) * s];
            }
        }
        for (int ox = lo; ox < hi; ox++)
            o[ox] = nn__act1(o[ox] + bias, act, slope);
    }
}
