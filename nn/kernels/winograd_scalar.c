// winograd_scalar.c - the Winograd F(4x4, 3x3) kernels in portable C: the
// filter transform, the input tile transform, the batched product and the
// output transform with bias and activation. Always built; the reference
// the SIMD kernels are read against, and the path on CPUs without AVX2.
//
// Contracts and layouts: nn/winograd_internal.h.
//
// Limitations:
// - Written for clarity over speed: one tile (one filter) at a time in the
//   transforms.
// - Planes must hold fewer than 2^31 elements (int indexing).
#include "../winograd_internal.h"
#include "../layers_internal.h"

void nn__wino_filter_8__scalar(float *u, size_t xs, const float *g,
                               int cin, int rows)
{
    static const float zero[9];

    for (int ci = 0; ci < cin; ci++)
        for (int r = 0; r < NN_WINO_ROWS; r++)
            nn__wino_filter1(u + (size_t)NN_WINO_ROWS * ci + r, xs,
                             r < rows ? g + ((size_t)r * cin + ci) * 9
                                      : zero);
}

// v[xi * xs] = (B^T d B)[xi] for one window d: down the columns, then
// along the rows.
static void input_tile(float *v, size_t xs, float d[6][6])
{
    float t[6][6], col[6], r[6];

    for (int j = 0; j < 6; j++) {
        for (int i = 0; i < 6; i++)
            col[i] = d[i][j];
        nn__wino_bt6(r, col);
        for (int i = 0; i < 6; i++)
            t[i][j] = r[i];
    }
    for (int i = 0; i < 6; i++) {
        nn__wino_bt6(r, t[i]);
        for (int j = 0; j < 6; j++)
            v[(size_t)(6 * i + j) * xs] = r[j];
    }
}

void nn__wino_input_6x6__scalar(float *v, size_t xs, const float *src,
                                int h, int w, int y0, int x0, int lo, int hi)
{
    for (int l = lo; l < hi; l++) {
        float d[6][6];
        int xl = x0 + 4 * l;

        // d: the 6x6 window, zero outside the plane.
        for (int i = 0; i < 6; i++) {
            int y = y0 + i;
            for (int j = 0; j < 6; j++) {
                int x = xl + j;
                d[i][j] = (y >= 0 && y < h && x >= 0 && x < w)
                              ? src[(size_t)y * w + x]
                              : 0.0f;
            }
        }
        input_tile(v + l, xs, d);
    }
}

void nn__wino_input_lanes_6x6__scalar(float *v, size_t xs, const float *base,
                                      int w, const int32_t off[16],
                                      const uint16_t rowm[6],
                                      const uint16_t colm[6])
{
    for (int l = 0; l < NN_WINO_LANES; l++) {
        float d[6][6];

        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                d[i][j] = (rowm[i] & colm[j]) >> l & 1
                              ? base[off[l] + (ptrdiff_t)i * w + j]
                              : 0.0f;
        input_tile(v + l, xs, d);
    }
}

void nn__wino_gemm_8x16__scalar(float *m, size_t ldm, const float *u,
                                const float *v, size_t ldv, int cin,
                                int lanes)
{
    // One group of 16 lanes at a time; acc: 8 rows x 16 lanes.
    for (int l0 = 0; l0 < lanes; l0 += NN_WINO_LANES) {
        float acc[NN_WINO_ROWS][NN_WINO_LANES] = {{0}};

        for (int ci = 0; ci < cin; ci++) {
            const float *vr = v + (size_t)ci * ldv + l0;
            const float *ur = u + (size_t)ci * NN_WINO_ROWS;
            for (int r = 0; r < NN_WINO_ROWS; r++)
                for (int l = 0; l < NN_WINO_LANES; l++)
                    acc[r][l] += ur[r] * vr[l];
        }
        for (int r = 0; r < NN_WINO_ROWS; r++)
            for (int l = 0; l < NN_WINO_LANES; l++)
                m[(size_t)r * ldm + l0 + l] = acc[r][l];
    }
}

// y = A^T m A for lane l of m (xi planes xs apart): down the columns,
// then along the rows.
static void output_tile(float y[4][4], const float *m, size_t xs)
{
    float s[4][6], col[6], r[4];

    for (int j = 0; j < 6; j++) {
        for (int i = 0; i < 6; i++)
            col[i] = m[(size_t)(6 * i + j) * xs];
        nn__wino_at4(r, col);
        for (int i = 0; i < 4; i++)
            s[i][j] = r[i];
    }
    for (int i = 0; i < 4; i++)
        nn__wino_at4(y[i], s[i]);
}

void nn__wino_output_4x4__scalar(float *dst, int oh, int ow, int oy0,
                                 int ox0, int lo, int hi, const float *m,
                                 size_t xs, float bias, la_act act,
                                 float slope)
{
    for (int l = lo; l < hi; l++) {
        float y[4][4];
        int xl = ox0 + 4 * l;

        output_tile(y, m + l, xs);
        for (int i = 0; i < 4; i++) {
            int oy = oy0 + i;
            if (oy < 0 || oy >= oh)
                continue;
            for (int j = 0; j < 4; j++) {
                int ox = xl + j;
                if (ox >= 0 && ox < ow)
                    dst[(size_t)oy * ow + ox] =
                        nn__act1(y[i][j] + bias, act, slope);
            }
        }
    }
}

void nn__wino_output_lanes_4x4__scalar(float *base, int ow,
                                       const int32_t off[16],
                                       const uint16_t rowm[4],
                                       const uint16_t colm[4], const float *m,
                                       size_t xs, float bias, la_act act,
                                       float slope)
{
    for (int l = 0; l < NN_WINO_LANES; l++) {
        float y[4][4];

        output_tile(y, m + l, xs);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                if ((rowm[i] & colm[j]) >> l & 1)
                    base[off[l] + (ptrdiff_t)i * ow + j] =
                        nn__act1(y[i][j] + bias, act, slope);
    }
}
