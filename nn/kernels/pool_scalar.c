// pool_scalar.c - max and average pooling of one plane in portable C.
//
// Per output row: the border columns (windows reaching into the padding or
// the ceil-mode overhang) one by one with bounds checks, the interior
// columns without. Max pooling keeps the first strict maximum in row-major
// window order; average pooling sums in float in that same order and
// divides once, which the SIMD kernels repeat exactly, so all paths give
// bitwise equal results.
//
// Limitations:
// - Planes must hold fewer than 2^31 elements (int indexing).
#include "../layers_internal.h"

void nn__maxpool__scalar(float *out, int32_t *argmax, const float *in,
                         const nn_window *g)
{
    int lo, hi;

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < g->oh; oy++) {
        float *o = out + (size_t)oy * g->ow;
        int32_t *a = argmax ? argmax + (size_t)oy * g->ow : NULL;
        int ky0, ky1, at;

        nn__tap_range(&ky0, &ky1, oy, g->sh, g->pt, 1, g->kh, g->h);
        for (int ox = 0; ox < g->ow; ox++) {
            float best;

            // Border columns, and every column of a row with no input.
            if (ox < lo || ox >= hi || ky0 == ky1) {
                best = nn__maxpool_point(&at, in, g, oy, ox, ky0, ky1);
            } else {
                int x0 = ox * g->sw - g->pl;
                at = (oy * g->sh - g->pt + ky0) * g->w + x0;
                best = in[at];
                for (int ky = ky0; ky < ky1; ky++) {
                    int row = (oy * g->sh - g->pt + ky) * g->w + x0;
                    for (int kx = 0; kx < g->kw; kx++)
                        if (in[row + kx] > best) {
                            best = in[row + kx];
                            at = row + kx;
                        }
                }
            }
            o[ox] = best;
            if (a)
                a[ox] = at;
        }
    }
}

void nn__avgpool__scalar(float *out, const float *in, const nn_window *g,
                         int count_pad)
{
    int lo, hi;

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < g->oh; oy++) {
        float *o = out + (size_t)oy * g->ow;
        int ky0, ky1, ys = oy * g->sh - g->pt;

        nn__tap_range(&ky0, &ky1, oy, g->sh, g->pt, 1, g->kh, g->h);
        for (int ox = 0; ox < g->ow; ox++) {
            int xs = ox * g->sw - g->pl, count;
            float s = 0.0f;

            if (ox < lo || ox >= hi) {
                o[ox] = nn__avgpool_point(in, g, oy, ox, ky0, ky1,
                                          count_pad);
                continue;
            }
            count = nn__pool_count(g, ys, xs, count_pad);
            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = in + (size_t)(ys + ky) * g->w + xs;
                for (int kx = 0; kx < g->kw; kx++)
                    s += row[kx];
            }
            o[ox] = count > 0 ? s / (float)count : 0.0f;
        }
    }
}
