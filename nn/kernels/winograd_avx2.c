// winograd_avx2.c - the Winograd F(4x4, 3x3) kernels with AVX2 + FMA: the
// 16 tiles of a group as two ymm vectors of 8 lanes.
//
// Input: each tile's 6x6 window is copied (zero outside the plane) into a
// lane-major buffer, then B^T d B runs on 8 lanes at a time. Product: a
// 4 x 16 outer-product kernel (8 ymm accumulators, 2 vector loads and 4
// broadcasts per input channel), run twice per block of 8 rows. Output:
// A^T m A, bias and activation on 8 lanes at a time into a buffer, then
// each tile's 4x4 pixels are copied out under the plane bounds.
// Filters: 8 x 8 transposes as in the AVX-512 file, then the double
// transform of nn__wino_filter1 on 4 output channels at a time (no FMA, so
// the scalar bits).
//
// Contracts and layouts: nn/winograd_internal.h.
//
// Limitations:
// - The window copy and the pixel copy are scalar; the AVX-512 kernels
//   split column phases with permutes instead. This path is for CPUs
//   without AVX-512 and was tuned less.
// - Planes must hold fewer than 2^31 elements (int indexing).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../winograd_internal.h"
#include "../layers_internal.h"

static inline __m256 fma8(float a, __m256 x, __m256 y)
{
    return _mm256_fmadd_ps(_mm256_set1_ps(a), x, y);
}

// t = B^T d on vectors, the operations of nn__wino_bt6.
static inline void bt6(__m256 t[6], const __m256 d[6])
{
    __m256 u = _mm256_sub_ps(d[4], d[2]), s = _mm256_sub_ps(d[3], d[1]);

    t[0] = fma8(1.5f, s, fma8(-2.0f, d[2], _mm256_add_ps(d[0], d[4])));
    t[1] = fma8(2.5f, d[3], fma8(0.5f, d[2], _mm256_sub_ps(d[4], d[1])));
    t[2] = fma8(0.5f, d[3], fma8(-2.5f, d[2], _mm256_add_ps(d[4], d[1])));
    t[3] = fma8(2.0f, s, u);
    t[4] = fma8(-0.5f, s, u);
    t[5] = fma8(1.5f, u, fma8(-2.0f, d[3], _mm256_add_ps(d[1], d[5])));
}

// y = A^T m on vectors, the operations of nn__wino_at4.
static inline void at4(__m256 y[4], const __m256 m[6])
{
    __m256 p = _mm256_add_ps(m[1], m[2]), q = _mm256_sub_ps(m[1], m[2]);

    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], p), _mm256_add_ps(m[3], m[4]));
    y[1] = fma8(-2.0f, m[4], fma8(0.5f, m[3], q));
    y[2] = fma8(4.0f, m[4], fma8(0.25f, m[3], p));
    y[3] = _mm256_add_ps(fma8(-8.0f, m[4], fma8(0.125f, m[3], q)), m[5]);
}

// Lane mask for lanes [lo, hi) of the 8 starting at `base`.
static inline __m256i lanes8(int base, int lo, int hi)
{
    __m256i l = _mm256_add_epi32(_mm256_set1_epi32(base),
                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i ge = _mm256_cmpgt_epi32(l, _mm256_set1_epi32(lo - 1));
    __m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), l);
    return _mm256_and_si256(ge, lt);
}

// v = B^T d B for the 16 windows in d ([6 rows][6 columns][16 lanes]),
// 8 lanes at a time, column transform first; stores the lanes in lo..hi-1.
static void input_tiles(float *v, size_t xs,
                        const float d[6][6][NN_WINO_LANES], int lo, int hi)
{
    for (int half = 0; half < 2; half++) {
        int l0 = 8 * half;
        __m256i store = lanes8(l0, lo, hi);
        __m256 t[6][6];

        if (_mm256_testz_si256(store, store))
            continue;
        for (int j = 0; j < 6; j++) {
            __m256 c[6], r[6];
            for (int i = 0; i < 6; i++)
                c[i] = _mm256_load_ps(&d[i][j][l0]);
            bt6(r, c);
            for (int i = 0; i < 6; i++)
                t[i][j] = r[i];
        }
        for (int i = 0; i < 6; i++) {
            __m256 r[6];
            bt6(r, t[i]);
            for (int j = 0; j < 6; j++)
                _mm256_maskstore_ps(v + (size_t)(6 * i + j) * xs + l0, store,
                                    r[j]);
        }
    }
}

// ---------------------------------------------------------------------------
// Filter transform

// t = G' x on 4 doubles (the operations of nn__wino_g6).
static inline __attribute__((always_inline)) void
g6_pd(__m256d t[6], const __m256d x[3])
{
    __m256d p = _mm256_add_pd(x[0], x[2]);
    __m256d q = _mm256_mul_pd(x[1], _mm256_set1_pd(2.0));
    __m256d a = _mm256_mul_pd(x[0], _mm256_set1_pd(4.0));
    __m256d b = _mm256_mul_pd(x[2], _mm256_set1_pd(4.0));

    t[0] = x[0];
    t[1] = _mm256_add_pd(p, x[1]);
    t[2] = _mm256_sub_pd(x[1], p);
    a = _mm256_add_pd(a, x[2]);
    t[3] = _mm256_add_pd(a, q);
    b = _mm256_add_pd(b, x[0]);
    t[4] = _mm256_sub_pd(b, q);
    t[5] = x[2];
}

// pl[xi][off + r] = (G g G^T)[xi] of the 8 filters whose element k is
// t[k][r]: rows 0..3, then 4..7, one ymm of doubles per filter element.
static inline __attribute__((always_inline)) void
filter_rows(float *const pl[36], size_t off, const float t[9][8])
{
#pragma GCC unroll 8
    for (int h = 0; h < 8; h += 4) {
        __m256d x[3], c[6][3], y[6];
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++) {
#pragma GCC unroll 3
            for (int ky = 0; ky < 3; ky++)
                x[ky] = _mm256_cvtps_pd(_mm_loadu_ps(t[3 * ky + kx] + h));
            g6_pd(y, x);
#pragma GCC unroll 6
            for (int a = 0; a < 6; a++)
                c[a][kx] = y[a];
        }
#pragma GCC unroll 6
        for (int a = 0; a < 6; a++) {
            g6_pd(y, c[a]);
#pragma GCC unroll 6
            for (int b = 0; b < 6; b++) {
                __m256d s = _mm256_set1_pd(nn__wino_gs[a] * nn__wino_gs[b]);
                _mm_storeu_ps(pl[6 * a + b] + off + h,
                              _mm256_cvtpd_ps(_mm256_mul_pd(y[b], s)));
            }
        }
    }
}

// Transpose 8 x 8 floats in place: x[i] element j <- x[j] element i.
static inline __attribute__((always_inline)) void
transpose8(__m256 x[8])
{
    __m256 a[8], b[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        a[2 * i] = _mm256_unpacklo_ps(x[2 * i], x[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_ps(x[2 * i], x[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        b[4 * i] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0xee);
        b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        x[i] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x20);
        x[i + 4] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x31);
    }
}

// Filters of one cob: 8 input channels at a time, the 8 rows' 72
// consecutive floats (8 filters each) transposed 8 x 8 at a time into
// t[k][r]; the channels left over (and cobs of fewer than 8 rows) copied
// into t one float at a time.
void nn__wino_filter_8__avx2(float *u, size_t xs, const float *g,
                             int cin, int rows)
{
    float t[72][8], *pl[36];
    size_t ld = (size_t)cin * 9;
    int ci = 0;

    for (int xi = 0; xi < 36; xi++)
        pl[xi] = u + (size_t)xi * xs;

    if (rows == NN_WINO_ROWS)
        for (; ci + 8 <= cin; ci += 8) {
            const float *src = g + (size_t)ci * 9;
#pragma GCC unroll 9
            for (int j = 0; j < 9; j++) {
                __m256 x[8];
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++)
                    x[r] = _mm256_loadu_ps(src + r * ld + 8 * j);
                transpose8(x);
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++)
                    _mm256_storeu_ps(t[8 * j + k], x[k]);
            }
            for (int c = 0; c < 8; c++)
                filter_rows(pl, (size_t)NN_WINO_ROWS * (ci + c), t + 9 * c);
        }
    for (; ci < cin; ci++) {
        for (int k = 0; k < 9; k++)
            for (int r = 0; r < NN_WINO_ROWS; r++)
                t[k][r] = r < rows ? g[r * ld + (size_t)ci * 9 + k] : 0.0f;
        filter_rows(pl, (size_t)NN_WINO_ROWS * ci, t);
    }
}

// ---------------------------------------------------------------------------
// Input transform

void nn__wino_input_6x6__avx2(float *v, size_t xs, const float *src, int h,
                              int w, int y0, int x0, int lo, int hi)
{
    // d: [6 rows][6 columns][16 lanes], the windows side by side.
    float d[6][6][NN_WINO_LANES] __attribute__((aligned(32)));

    for (int i = 0; i < 6; i++) {
        int y = y0 + i;
        for (int j = 0; j < 6; j++)
            for (int l = 0; l < NN_WINO_LANES; l++) {
                int x = x0 + 4 * l + j;
                d[i][j][l] = (l >= lo && l < hi && y >= 0 && y < h &&
                              x >= 0 && x < w)
                                 ? src[(size_t)y * w + x]
                                 : 0.0f;
            }
    }
    input_tiles(v, xs, d, lo, hi);
}

void nn__wino_input_lanes_6x6__avx2(float *v, size_t xs, const float *base,
                                    int w, const int32_t off[16],
                                    const uint16_t rowm[6],
                                    const uint16_t colm[6])
{
    float d[6][6][NN_WINO_LANES] __attribute__((aligned(32)));

    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            unsigned m = rowm[i] & colm[j];
            for (int l = 0; l < NN_WINO_LANES; l++)
                d[i][j][l] = m >> l & 1
                                 ? base[off[l] + (ptrdiff_t)i * w + j]
                                 : 0.0f;
        }
    input_tiles(v, xs, d, 0, NN_WINO_LANES);
}

void nn__wino_gemm_4x16__avx2(float *m, size_t ldm, const float *u,
                              const float *v, size_t ldv, int cin,
                              int lanes)
{
    for (int l0 = 0; l0 < lanes; l0 += NN_WINO_LANES)
        for (int r0 = 0; r0 < NN_WINO_ROWS; r0 += 4) {
            __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
            __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
            __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps();
            __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
            const float *ur = u + r0, *vr = v + l0;
            float *mr = m + (size_t)r0 * ldm + l0;

            for (int ci = 0; ci < cin; ci++) {
                __m256 x0 = _mm256_loadu_ps(vr), x1 = _mm256_loadu_ps(vr + 8);
                __m256 b;

                b = _mm256_broadcast_ss(ur + 0);
                a00 = _mm256_fmadd_ps(b, x0, a00);
                a01 = _mm256_fmadd_ps(b, x1, a01);
                b = _mm256_broadcast_ss(ur + 1);
                a10 = _mm256_fmadd_ps(b, x0, a10);
                a11 = _mm256_fmadd_ps(b, x1, a11);
                b = _mm256_broadcast_ss(ur + 2);
                a20 = _mm256_fmadd_ps(b, x0, a20);
                a21 = _mm256_fmadd_ps(b, x1, a21);
                b = _mm256_broadcast_ss(ur + 3);
                a30 = _mm256_fmadd_ps(b, x0, a30);
                a31 = _mm256_fmadd_ps(b, x1, a31);
                ur += NN_WINO_ROWS;
                vr += ldv;
            }
            _mm256_storeu_ps(mr, a00);
            _mm256_storeu_ps(mr + 8, a01);
            _mm256_storeu_ps(mr + ldm, a10);
            _mm256_storeu_ps(mr + ldm + 8, a11);
            _mm256_storeu_ps(mr + 2 * ldm, a20);
            _mm256_storeu_ps(mr + 2 * ldm + 8, a21);
            _mm256_storeu_ps(mr + 3 * ldm, a30);
            _mm256_storeu_ps(mr + 3 * ldm + 8, a31);
        }
}

static inline __m256 act8(__m256 x, la_act act, __m256 slope)
{
    __m256 zero = _mm256_setzero_ps();

    switch (act) {
    case LA_ACT_RELU:
        return _mm256_max_ps(x, zero);
    case LA_ACT_RELU6:
        return _mm256_min_ps(_mm256_max_ps(x, zero), _mm256_set1_ps(6.0f));
    case LA_ACT_PRELU: {
        __m256 neg = _mm256_cmp_ps(x, zero, _CMP_LT_OQ);
        return _mm256_blendv_ps(x, _mm256_mul_ps(x, slope), neg);
    }
    default:
        return x;
    }
}

// y ([4 rows][4 columns][16 lanes]) = act(A^T m A + bias) for the 16
// lanes of m (xi planes xs apart), 8 lanes at a time.
static void output_tiles(float y[4][4][NN_WINO_LANES], const float *m,
                         size_t xs, float bias, la_act act, float slope)
{
    __m256 vb = _mm256_set1_ps(bias), vs = _mm256_set1_ps(slope);

    for (int half = 0; half < 2; half++) {
        int l0 = 8 * half;
        __m256 s[4][6];

        for (int j = 0; j < 6; j++) {
            __m256 c[6], r[4];
            for (int i = 0; i < 6; i++)
                c[i] = _mm256_loadu_ps(m + (size_t)(6 * i + j) * xs + l0);
            at4(r, c);
            for (int i = 0; i < 4; i++)
                s[i][j] = r[i];
        }
        for (int i = 0; i < 4; i++) {
            __m256 r[4];
            at4(r, s[i]);
            for (int j = 0; j < 4; j++)
                _mm256_store_ps(&y[i][j][l0],
                                act8(_mm256_add_ps(r[j], vb), act, vs));
        }
    }
}

void nn__wino_output_4x4__avx2(float *dst, int oh, int ow, int oy0, int ox0,
                               int lo, int hi, const float *m, size_t xs,
                               float bias, la_act act, float slope)
{
    float y[4][4][NN_WINO_LANES] __attribute__((aligned(32)));

    output_tiles(y, m, xs, bias, act, slope);

    // Out to the plane, pixel by pixel inside its bounds.
    for (int i = 0; i < 4; i++) {
        int oy = oy0 + i;
        if (oy < 0 || oy >= oh)
            continue;
        for (int l = lo; l < hi; l++)
            for (int j = 0; j < 4; j++) {
                int ox = ox0 + 4 * l + j;
                if (ox >= 0 && ox < ow)
                    dst[(size_t)oy * ow + ox] = y[i][j][l];
            }
    }
}

void nn__wino_output_lanes_4x4__avx2(float *base, int ow,
                                     const int32_t off[16],
                                     const uint16_t rowm[4],
                                     const uint16_t colm[4], const float *m,
                                     size_t xs, float bias, la_act act,
                                     float slope)
{
    float y[4][4][NN_WINO_LANES] __attribute__((aligned(32)));

    output_tiles(y, m, xs, bias, act, slope);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            unsigned msk = rowm[i] & colm[j];
            for (int l = 0; l < NN_WINO_LANES; l++)
                if (msk >> l & 1)
                    base[off[l] + (ptrdiff_t)i * ow + j] = y[i][j][l];
        }
}

#endif
