// winograd_internal.h - what the Winograd F(4x4, 3x3) driver (winograd.c)
// shares with its per-ISA kernels (nn/kernels/winograd_*.c): the data
// layouts, the kernel table indexed by facet_isa_active(), and the 1-D
// transforms written out once in scalar form.
//
// Layouts (floats; "lane" = one 4x4 output tile, 16 lanes = one group):
//   U  transformed weights  [36][cob][cin][8]   cob = ceil(cout / 8); row r
//      of a cob is output channel 8 * cob + r (zero past cout). Made once
//      for a whole layer, or per channel chunk during the forward call
//      (then [36][chunk_cob][cin][8]); the same filter kernel either way.
//   V  transformed input    [36][cin][lanes]    one block of tiles.
//   M  products             [36][co][lanes]     one chunk of channels.
// Index xi = 6 * i + j of the 6x6 transform domain: i runs down the tile
// (rows of the input window), j across it.
//
// The interpolation points are 0, 1, -1, 1/2, -2 and infinity. In a float
// test of single tiles (256 channels, ReLU'd inputs, He-initialised
// weights) they gave about half the worst error of the 0, +-1, +-2 of
// Lavin & Gray. The matrices below were derived with exact fractions
// (Toom-Cook with the Vandermonde output matrix, then B^T solved from the
// identity A^T [(G g) .* (B^T d)] = g * d) and are checked against direct
// convolution by tests/test_winograd.c.
//
//   B^T = [ 1  -3/2  -2   3/2   1   0 ]    G = [   1      0      0   ]
//         [ 0   -1   1/2  5/2   1   0 ]        [  1/3    1/3    1/3  ]
//         [ 0    1  -5/2  1/2   1   0 ]        [ -1/3    1/3   -1/3  ]
//         [ 0   -2   -1    2    1   0 ]        [-16/15  -8/15  -4/15 ]
//         [ 0   1/2  -1  -1/2   1   0 ]        [  1/15  -2/15   4/15 ]
//         [ 0    1  -3/2  -2   3/2  1 ]        [   0      0      1   ]
//
//   A^T = [ 1  1   1   1    1   0 ]
//         [ 0  1  -1  1/2  -2   0 ]
//         [ 0  1   1  1/4   4   0 ]
//         [ 0  1  -1  1/8  -8   1 ]
//
// ref: A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural
//      Networks", CVPR 2016 - F(4x4, 3x3) and its tile transforms.
// ref: B. Barabasz, A. Anderson, K. M. Soodhalter, D. Gregg, "Error
//      Analysis and Improving the Accuracy of Winograd Convolution for Deep
//      Neural Networks", ACM TOMS 2020 - the choice of points.
//
// Not part of nn.h; only winograd.c and its kernels include it.
#ifndef FACET_NN_WINOGRAD_INTERNAL_H
#define FACET_NN_WINOGRAD_INTERNAL_H

#include "internal.h"

#define NN_WINO_LANES 16   // tiles per group (one AVX-512 vector)
#define NN_WINO_ROWS 8     // output channels per weight row block (cob)

// Transform the 16 tiles whose 6x6 input windows start at row y0 and
// columns x0 + 4 l (l = 0..15) of one h x w input plane, reading zeros
// outside the plane, and store lanes lo..hi-1 of the 36 results:
// v[xi * xs + l]. Other lanes of v are left alone.
typedef void (*nn_wino_input_fn)(float *v, size_t xs, const float *src,
                                 int h, int w, int y0, int x0, int lo,
                                 int hi);

// Batched product for one xi and one cob:
//   m[r * ldm + l] = sum_ci u[8 * ci + r] * v[ci * ldv + l]
// r = 0..7, l = 0..lanes-1, the sum running over ci = 0..cin-1 in order,
// the same for every lane, so a lane gets the same bits whichever blocking
// of lanes (or thread) computes it. Lanes past `lanes` up to the next
// multiple of 16 may be computed too (rows of m and v must have room).
typedef void (*nn_wino_gemm_fn)(float *m, size_t ldm, const float *u,
                                const float *v, size_t ldv, int cin,
                                int lanes);

// Inverse-transform the 16 lanes m[xi * xs + l], add bias, apply the
// activation and write the 4x4 tile of lane l to rows oy0..oy0+3 and
// columns ox0 + 4 l .. ox0 + 4 l + 3 of one oh x ow output plane, for
// lanes lo..hi-1 and only where the pixel lies inside the plane.
typedef void (*nn_wino_output_fn)(float *dst, int oh, int ow, int oy0,
                                  int ox0, int lo, int hi, const float *m,
                                  size_t xs, float bias, la_act act,
                                  float slope);

// The same two transforms for 16 tiles anywhere (a group that spans
// several tile rows or images): lane l's window starts at base + off[l];
// its element (i, j) is read (written) when bit l of rowm[i] & colm[j] is
// set, and reads as zero otherwise. The input transform stores all 16
// lanes of v; the output transform writes only the pixels whose bits are
// set.
typedef void (*nn_wino_input_lanes_fn)(float *v, size_t xs,
                                       const float *base, int w,
                                       const int32_t off[16],
                                       const uint16_t rowm[6],
                                       const uint16_t colm[6]);
typedef void (*nn_wino_output_lanes_fn)(float *base, int ow,
                                        const int32_t off[16],
                                        const uint16_t rowm[4],
                                        const uint16_t colm[4],
                                        const float *m, size_t xs,
                                        float bias, la_act act, float slope);

// Transform the filters of one cob: g holds output channels 8 cob ..
// 8 cob + rows - 1 (OIHW, cin x 3 x 3 each, rows = 1..8), and
//   u[xi * xs + 8 * ci + r] = (G g G^T)[xi] of filter (r, ci)
// for ci = 0..cin-1 and r = 0..7 (zero for r >= rows). Every ISA computes
// each value by the operations of nn__wino_filter1 in double, so every
// ISA (and thread) gives the same bits.
typedef void (*nn_wino_filter_fn)(float *u, size_t xs, const float *g,
                                  int cin, int rows);

typedef struct nn_wino_kernels {
    nn_wino_filter_fn filter;
    nn_wino_input_fn input;
    nn_wino_input_lanes_fn input_lanes;
    nn_wino_gemm_fn gemm;
    nn_wino_output_fn output;
    nn_wino_output_lanes_fn output_lanes;
} nn_wino_kernels;

// The kernels of each ISA (winograd.c); index with facet_isa_active().
extern const nn_wino_kernels nn__wino_kernels[FACET_ISA_COUNT];

void nn__wino_filter_8__scalar(float *u, size_t xs, const float *g,
    int cin, int rows);
void nn__wino_input_6x6__scalar(float *v, size_t xs, const float *src,
    int h, int w, int y0, int x0, int lo, int hi);
void nn__wino_input_lanes_6x6__scalar(float *v, size_t xs,
    const float *base, int w, const int32_t off[16], const uint16_t rowm[6],
    const uint16_t colm[6]);
void nn__wino_gemm_8x16__scalar(float *m, size_t ldm, const float *u,
    const float *v, size_t ldv, int cin, int lanes);
void nn__wino_output_4x4__scalar(float *dst, int oh, int ow, int oy0,
    int ox0, int lo, int hi, const float *m, size_t xs, float bias,
    la_act act, float slope);
void nn__wino_output_lanes_4x4__scalar(float *base, int ow,
    const int32_t off[16], const uint16_t rowm[4], const uint16_t colm[4],
    const float *m, size_t xs, float bias, la_act act, float slope);

void nn__wino_filter_8__avx2(float *u, size_t xs, const float *g,
    int cin, int rows);
void nn__wino_input_6x6__avx2(float *v, size_t xs, const float *src,
    int h, int w, int y0, int x0, int lo, int hi);
void nn__wino_input_lanes_6x6__avx2(float *v, size_t xs,
    const float *base, int w, const int32_t off[16], const uint16_t rowm[6],
    const uint16_t colm[6]);
void nn__wino_gemm_4x16__avx2(float *m, size_t ldm, const float *u,
    const float *v, size_t ldv, int cin, int lanes);
void nn__wino_output_4x4__avx2(float *dst, int oh, int ow, int oy0,
    int ox0, int lo, int hi, const float *m, size_t xs, float bias,
    la_act act, float slope);
void nn__wino_output_lanes_4x4__avx2(float *base, int ow,
    const int32_t off[16], const uint16_t rowm[4], const uint16_t colm[4],
    const float *m, size_t xs, float bias, la_act act, float slope);

void nn__wino_filter_8__avx512(float *u, size_t xs, const float *g,
    int cin, int rows);
void nn__wino_input_6x6__avx512(float *v, size_t xs, const float *src,
    int h, int w, int y0, int x0, int lo, int hi);
void nn__wino_input_lanes_6x6__avx512(float *v, size_t xs,
    const float *base, int w, const int32_t off[16], const uint16_t rowm[6],
    const uint16_t colm[6]);
void nn__wino_gemm_8x48__avx512(float *m, size_t ldm, const float *u,
    const float *v, size_t ldv, int cin, int lanes);
void nn__wino_output_4x4__avx512(float *dst, int oh, int ow, int oy0,
    int ox0, int lo, int hi, const float *m, size_t xs, float bias,
    la_act act, float slope);
void nn__wino_output_lanes_4x4__avx512(float *base, int ow,
    const int32_t off[16], const uint16_t rowm[4], const uint16_t colm[4],
    const float *m, size_t xs, float bias, la_act act, float slope);

// ---------------------------------------------------------------------------
// The 1-D transforms in scalar form (the SIMD kernels spell out the same
// operations in the same order with fused multiply-adds).

// The filter transform G g G^T in double. G = diag(s) G' with G' of small
// integers (rows [1 0 0], [1 1 1], [-1 1 -1], [4 2 1], [1 -2 4], [0 0 1],
// s = 1, 1/3, 1/3, -4/15, 1/15, 1), so T = G' g G'^T is exact or nearly so
// in double and U[a][b] = (float)(T[a][b] * (s[a] s[b])) is rounded once,
// almost always to the nearest float. Products and sums are separate
// statements, so that no compiler fuses them: the SIMD kernels do the
// same operations without FMA and get the same bits.
static const double nn__wino_gs[6] = {
    1.0, 1.0 / 3.0, 1.0 / 3.0, -4.0 / 15.0, 1.0 / 15.0, 1.0,
};

// t = G' x (3 -> 6).
static inline void nn__wino_g6(double t[6], const double x[3])
{
    double p = x[0] + x[2], q = x[1] * 2.0, a = x[0] * 4.0, b = x[2] * 4.0;

    t[0] = x[0];
    t[1] = p + x[1];
    t[2] = x[1] - p;
    a = a + x[2];
    t[3] = a + q;
    b = b + x[0];
    t[4] = b - q;
    t[5] = x[2];
}

// u[xi * xs] = (G g G^T)[xi] for one 3x3 filter g (row-major).
static inline void nn__wino_filter1(float *u, size_t xs, const float g[9])
{
    double t[6][3], x[3], r[6];

    for (int kx = 0; kx < 3; kx++) {
        for (int ky = 0; ky < 3; ky++)
            x[ky] = (double)g[3 * ky + kx];
        nn__wino_g6(r, x);
        for (int a = 0; a < 6; a++)
            t[a][kx] = r[a];
    }
    for (int a = 0; a < 6; a++) {
        nn__wino_g6(r, t[a]);
        for (int b = 0; b < 6; b++) {
            double s = nn__wino_gs[a] * nn__wino_gs[b];
            u[(size_t)(6 * a + b) * xs] = (float)(r[b] * s);
        }
    }
}

// t = B^T d (6 -> 6).
static inline void nn__wino_bt6(float t[6], const float d[6])
{
    float u = d[4] - d[2], s = d[3] - d[1];

    t[0] = 1.5f * s + (-2.0f * d[2] + (d[0] + d[4]));
    t[1] = 2.5f * d[3] + (0.5f * d[2] + (d[4] - d[1]));
    t[2] = 0.5f * d[3] + (-2.5f * d[2] + (d[4] + d[1]));
    t[3] = 2.0f * s + u;
    t[4] = -0.5f * s + u;
    t[5] = 1.5f * u + (-2.0f * d[3] + (d[1] + d[5]));
}

// y = A^T m (6 -> 4).
static inline void nn__wino_at4(float y[4], const float m[6])
{
    float p = m[1] + m[2], q = m[1] - m[2];

    y[0] = (m[0] + p) + (m[3] + m[4]);
    y[1] = -2.0f * m[4] + (0.5f * m[3] + q);
    y[2] = 4.0f * m[4] + (0.25f * m[3] + p);
    y[3] = (-8.0f * m[4] + (0.125f * m[3] + q)) + m[5];
}

#endif
