// winograd_avx512.c - the Winograd F(4x4, 3x3) kernels with AVX-512F, one
// zmm lane per 4x4 output tile (16 horizontally adjacent tiles a vector).
//
// Input: each of the 6 window rows is read as 5 masked vectors (66 of the
// 80 columns used; the mask also covers the zero padding), the column
// transform B^T runs on those whole vectors, and each transformed row is
// then split by column phase (x mod 4) with two rounds of two-source
// permutes so that vector P_j holds column 4 l + j of every tile l; the
// row transform works on P_0..P_5.
// Product: a register-blocked 8 x 48 outer-product kernel (24 zmm
// accumulators, 3 vector loads and 8 broadcasts per input channel), with
// 8 x 32 and 8 x 16 variants for the lane tail, up to 2 lanes past the
// last whole vector riding along in ymm accumulators, prefetching U and V
// ahead.
// Output: the inverse of the input scheme: A^T down the columns, A along
// the rows, bias and activation, then the four column phases of each
// output row are interleaved back into 64 consecutive pixels and stored
// under a mask.
// Groups of tiles that span several tile rows (narrow images) use the
// *_lanes kernels instead: one masked gather (scatter) per window element.
// Filters: the 72 consecutive floats of 8 input channels in each of a
// cob's 8 output channels are transposed 8 x 8 (so that a vector holds one
// filter element of 8 output channels), widened to double, transformed
// with the additions and multiplications of nn__wino_filter1 (no FMA, so
// the scalar bits), rounded and stored as one ymm per xi.
//
// Contracts and layouts: nn/winograd_internal.h.
//
// Limitations:
// - The product kernel runs near 80% of the FMA peak with V and U in
//   cache; at 512 input channels, with U streamed from memory, lower.
// - A call of the *_lanes kernels costs about 1.5 row-segment calls (the
//   gathers and scatters), so they pay only for groups of 2 or more
//   segments.
// - The filter transform runs in double (8 lanes): about 7 ns per filter,
//   bound by the double arithmetic and conversions; a float version would
//   be twice as fast but round several times.
// - Planes must hold fewer than 2^31 elements (int indexing).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../winograd_internal.h"

// Bits [a, b) of a 16-bit mask, clipped to 0..16.
static inline __mmask16 bits16(int a, int b)
{
    if (a < 0)
        a = 0;
    if (b > 16)
        b = 16;
    if (b <= a)
        return 0;
    return (__mmask16)(((1u << (b - a)) - 1) << a);
}

static inline __m512 fma16(float a, __m512 x, __m512 y)
{
    return _mm512_fmadd_ps(_mm512_set1_ps(a), x, y);
}

// t = B^T d on vectors, the operations of nn__wino_bt6.
static inline void bt6(__m512 t[6], const __m512 d[6])
{
    __m512 u = _mm512_sub_ps(d[4], d[2]), s = _mm512_sub_ps(d[3], d[1]);

    t[0] = fma16(1.5f, s, fma16(-2.0f, d[2], _mm512_add_ps(d[0], d[4])));
    t[1] = fma16(2.5f, d[3], fma16(0.5f, d[2], _mm512_sub_ps(d[4], d[1])));
    t[2] = fma16(0.5f, d[3], fma16(-2.5f, d[2], _mm512_add_ps(d[4], d[1])));
    t[3] = fma16(2.0f, s, u);
    t[4] = fma16(-0.5f, s, u);
    t[5] = fma16(1.5f, u, fma16(-2.0f, d[3], _mm512_add_ps(d[1], d[5])));
}

// y = A^T m on vectors, the operations of nn__wino_at4.
static inline void at4(__m512 y[4], const __m512 m[6])
{
    __m512 p = _mm512_add_ps(m[1], m[2]), q = _mm512_sub_ps(m[1], m[2]);

    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], p), _mm512_add_ps(m[3], m[4]));
    y[1] = fma16(-2.0f, m[4], fma16(0.5f, m[3], q));
    y[2] = fma16(4.0f, m[4], fma16(0.25f, m[3], p));
    y[3] = _mm512_add_ps(fma16(-8.0f, m[4], fma16(0.125f, m[3], q)), m[5]);
}

// ---------------------------------------------------------------------------
// Filter transform

// t = G' x on 8 doubles (the operations of nn__wino_g6).
static inline __attribute__((always_inline)) void
g6_pd(__m512d t[6], const __m512d x[3])
{
    __m512d p = _mm512_add_pd(x[0], x[2]);
    __m512d q = _mm512_mul_pd(x[1], _mm512_set1_pd(2.0));
    __m512d a = _mm512_mul_pd(x[0], _mm512_set1_pd(4.0));
    __m512d b = _mm512_mul_pd(x[2], _mm512_set1_pd(4.0));

    t[0] = x[0];
    t[1] = _mm512_add_pd(p, x[1]);
    t[2] = _mm512_sub_pd(x[1], p);
    a = _mm512_add_pd(a, x[2]);
    t[3] = _mm512_add_pd(a, q);
    b = _mm512_add_pd(b, x[0]);
    t[4] = _mm512_sub_pd(b, q);
    t[5] = x[2];
}

// pl[xi][off + r] = (G g G^T)[xi] of the 8 filters whose element k is
// t[k][r], one zmm of doubles per filter element.
static inline __attribute__((always_inline)) void
filter_rows(float *const pl[36], size_t off, const float t[9][8])
{
    __m512d x[3], c[6][3], y[6];
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; kx++) {
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ky++)
            x[ky] = _mm512_cvtps_pd(_mm256_loadu_ps(t[3 * ky + kx]));
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
            __m512d s = _mm512_set1_pd(nn__wino_gs[a] * nn__wino_gs[b]);
            _mm256_storeu_ps(pl[6 * a + b] + off,
                             _mm512_cvtpd_ps(_mm512_mul_pd(y[b], s)));
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
void nn__wino_filter_8__avx512(float *u, size_t xs, const float *g,
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

void nn__wino_input_6x6__avx512(float *v, size_t xs, const float *src,
                                int h, int w, int y0, int x0, int lo, int hi)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19,
                                          21, 23, 25, 27, 29, 31);
    const __m512i next0 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                            11, 12, 13, 14, 15, 16);
    const __m512i next1 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                            11, 12, 13, 14, 15, 17);
    __mmask16 colm[5], store = bits16(lo, hi);
    __m512 t[6][5];

    // Columns x0 .. x0 + 65 in 5 vectors; a lane is loaded only when its
    // column lies inside the plane (the rest reads as zero padding).
    for (int k = 0; k < 5; k++)
        colm[k] = bits16(-x0 - 16 * k, (k == 4 ? 2 : 16)) &
                  bits16(0, w - x0 - 16 * k);

    // Column transform: t[.][k] = B^T (window rows) for vector column k.
    for (int k = 0; k < 5; k++) {
        __m512 d[6], r[6];
        for (int i = 0; i < 6; i++) {
            int y = y0 + i;
            d[i] = _mm512_setzero_ps();
            if (y >= 0 && y < h && colm[k])
                d[i] = _mm512_maskz_loadu_ps(
                    colm[k], src + (ptrdiff_t)y * w + x0 + 16 * k);
        }
        bt6(r, d);
        for (int i = 0; i < 6; i++)
            t[i][k] = r[i];
    }

    // Row transform of each row i of t: split into the column phases
    // P_j[l] = t[i][4 l + j], then r = B^T P, stored as xi = 6 i + j.
    for (int i = 0; i < 6; i++) {
        __m512 e01 = _mm512_permutex2var_ps(t[i][0], even, t[i][1]);
        __m512 o01 = _mm512_permutex2var_ps(t[i][0], odd, t[i][1]);
        __m512 e23 = _mm512_permutex2var_ps(t[i][2], even, t[i][3]);
        __m512 o23 = _mm512_permutex2var_ps(t[i][2], odd, t[i][3]);
        __m512 p[6], r[6];

        p[0] = _mm512_permutex2var_ps(e01, even, e23);
        p[1] = _mm512_permutex2var_ps(o01, even, o23);
        p[2] = _mm512_permutex2var_ps(e01, odd, e23);
        p[3] = _mm512_permutex2var_ps(o01, odd, o23);
        p[4] = _mm512_permutex2var_ps(p[0], next0, t[i][4]);
        p[5] = _mm512_permutex2var_ps(p[1], next1, t[i][4]);
        bt6(r, p);
        for (int j = 0; j < 6; j++)
            _mm512_mask_storeu_ps(v + (size_t)(6 * i + j) * xs, store, r[j]);
    }
}

void nn__wino_input_lanes_6x6__avx512(float *v, size_t xs, const float *base,
                                      int w, const int32_t off[16],
                                      const uint16_t rowm[6],
                                      const uint16_t colm[6])
{
    __m512i o = _mm512_loadu_si512(off);
    __m512 t[6][6];

    // Column transform of gathered window columns: element (i, j) of every
    // lane's window in one masked gather (zero where the mask is clear).
    for (int j = 0; j < 6; j++) {
        __m512 d[6], r[6];
        for (int i = 0; i < 6; i++) {
            __m512i at = _mm512_add_epi32(o, _mm512_set1_epi32(i * w + j));
            d[i] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(),
                                            rowm[i] & colm[j], at, base, 4);
        }
        bt6(r, d);
        for (int i = 0; i < 6; i++)
            t[i][j] = r[i];
    }

    // Row transform, all 16 lanes stored.
    for (int i = 0; i < 6; i++) {
        __m512 r[6];
        bt6(r, t[i]);
        for (int j = 0; j < 6; j++)
            _mm512_storeu_ps(v + (size_t)(6 * i + j) * xs, r[j]);
    }
}

// Software prefetch distances of the product: V rows come from L2 a few
// channels ahead; U streams from memory (it is read once per block of
// tiles) and the hardware prefetcher stops at each 4 KiB page, so it is
// fetched 8 KiB ahead, across the next row block's start.
#define PF_V_ROWS 8
#define PF_U_FLOATS 2048

// The product for nv vectors of lanes (nv = 1..3) and ne single lanes
// after them (ne = 0..2): 8 x 16 nv zmm accumulators, and per single lane
// one ymm holding its 8 rows (the rows of u are contiguous) fed with the
// lane's V value broadcast; the same products in the same order as the
// vector lanes, so the same bits. Always inlined, so that each caller's
// constant nv and ne unroll the loops and keep the accumulators in
// registers.
static inline __attribute__((always_inline)) void
gemm_8xn(float *m, size_t ldm, const float *u, const float *v, size_t ldv,
         int cin, int nv, int ne)
{
    __m512 acc[NN_WINO_ROWS][3];
    __m256 one[2];

#pragma GCC unroll 8
    for (int r = 0; r < NN_WINO_ROWS; r++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            acc[r][j] = _mm512_setzero_ps();
    one[0] = one[1] = _mm256_setzero_ps();

    for (int ci = 0; ci < cin; ci++) {
        __m512 x[3];
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            if (j < nv) {
                x[j] = _mm512_loadu_ps(v + 16 * j);
                _mm_prefetch((const char *)(v + PF_V_ROWS * ldv + 16 * j),
                             _MM_HINT_T0);
            }
        _mm_prefetch((const char *)(u + PF_U_FLOATS), _MM_HINT_T0);
#pragma GCC unroll 8
        for (int r = 0; r < NN_WINO_ROWS; r++) {
            __m512 b = _mm512_set1_ps(u[r]);
#pragma GCC unroll 3
            for (int j = 0; j < 3; j++)
                if (j < nv)
                    acc[r][j] = _mm512_fmadd_ps(b, x[j], acc[r][j]);
        }
        if (ne) {
            __m256 ur = _mm256_loadu_ps(u);
#pragma GCC unroll 2
            for (int j = 0; j < 2; j++)
                if (j < ne)
                    one[j] = _mm256_fmadd_ps(
                        ur, _mm256_broadcast_ss(v + 16 * nv + j), one[j]);
        }
        u += NN_WINO_ROWS;
        v += ldv;
    }

#pragma GCC unroll 8
    for (int r = 0; r < NN_WINO_ROWS; r++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            if (j < nv)
                _mm512_storeu_ps(m + (size_t)r * ldm + 16 * j, acc[r][j]);
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++)
        if (j < ne) {
            float t[8];
            _mm256_storeu_ps(t, one[j]);
            for (int r = 0; r < NN_WINO_ROWS; r++)
                m[(size_t)r * ldm + 16 * nv + j] = t[r];
        }
}

// One run of 1..3 vectors plus 0..2 single lanes, each combination its own
// unrolled instance of gemm_8xn.
static void gemm_run(float *m, size_t ldm, const float *u, const float *v,
                     size_t ldv, int cin, int nv, int ne)
{
    switch (3 * nv + ne) {
    case 3: gemm_8xn(m, ldm, u, v, ldv, cin, 1, 0); break;
    case 4: gemm_8xn(m, ldm, u, v, ldv, cin, 1, 1); break;
    case 5: gemm_8xn(m, ldm, u, v, ldv, cin, 1, 2); break;
    case 6: gemm_8xn(m, ldm, u, v, ldv, cin, 2, 0); break;
    case 7: gemm_8xn(m, ldm, u, v, ldv, cin, 2, 1); break;
    case 8: gemm_8xn(m, ldm, u, v, ldv, cin, 2, 2); break;
    case 9: gemm_8xn(m, ldm, u, v, ldv, cin, 3, 0); break;
    case 10: gemm_8xn(m, ldm, u, v, ldv, cin, 3, 1); break;
    case 11: gemm_8xn(m, ldm, u, v, ldv, cin, 3, 2); break;
    default: FACET_ASSERT(0);
    }
}

void nn__wino_gemm_8x48__avx512(float *m, size_t ldm, const float *u,
                                const float *v, size_t ldv, int cin,
                                int lanes)
{
    int nv = lanes / 16, e = lanes % 16;

    // More than 2 lanes past the whole vectors (or no whole vector): one
    // more vector.
    if (e > 2 || nv == 0) {
        nv += e > 0;
        e = 0;
    }

    // Vectors of lanes in runs of 3, except that 4 and 2 go as 2 + 2 and
    // 2 (16 accumulators each beat a 24 + 8 split); the single lanes ride
    // with the last run.
    while (nv > 0) {
        int run = nv == 1 ? 1 : nv == 2 || nv == 4 ? 2 : 3;
        int ne = run == nv ? e : 0;

        gemm_run(m, ldm, u, v, ldv, cin, run, ne);
        nv -= run;
        m += 16 * run;
        v += 16 * run;
    }
}

static inline __m512 act16(__m512 x, la_act act, __m512 slope)
{
    __m512 zero = _mm512_setzero_ps();

    switch (act) {
    case LA_ACT_RELU:
        return _mm512_max_ps(x, zero);
    case LA_ACT_RELU6:
        return _mm512_min_ps(_mm512_max_ps(x, zero), _mm512_set1_ps(6.0f));
    case LA_ACT_PRELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, neg, x, slope);
    }
    default:
        return x;
    }
}

void nn__wino_output_4x4__avx512(float *dst, int oh, int ow, int oy0,
                                 int ox0, int lo, int hi, const float *m,
                                 size_t xs, float bias, la_act act,
                                 float slope)
{
    // Interleave tables: (a, b) -> a0 b0 a1 b1 ... over the low or high
    // 8 lanes of each.
    const __m512i zlo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20,
                                          5, 21, 6, 22, 7, 23);
    const __m512i zhi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12,
                                          28, 13, 29, 14, 30, 15, 31);
    __m512 vb = _mm512_set1_ps(bias), vs = _mm512_set1_ps(slope);
    __m512 s[4][6];
    __mmask16 pix[4];

    // Pixels ox0 + 16 k + e (e = 0..15) belong to lane (16 k + e) / 4; a
    // pixel is stored when its lane is in lo..hi-1 and it is in the plane.
    for (int k = 0; k < 4; k++) {
        __mmask16 lanes = bits16(4 * lo - 16 * k, 4 * hi - 16 * k);
        pix[k] = lanes & bits16(-ox0 - 16 * k, ow - ox0 - 16 * k);
    }

    // Column pass: s[.][j] = A^T m[.][j].
    for (int j = 0; j < 6; j++) {
        __m512 c[6], r[4];
        for (int i = 0; i < 6; i++)
            c[i] = _mm512_loadu_ps(m + (size_t)(6 * i + j) * xs);
        at4(r, c);
        for (int i = 0; i < 4; i++)
            s[i][j] = r[i];
    }

    // Row pass, bias, activation, then back to pixel order and out.
    for (int i = 0; i < 4; i++) {
        __m512 y[4], z02l, z02h, z13l, z13h, q[4];
        int oy = oy0 + i;
        float *row;

        if (oy < 0 || oy >= oh)
            continue;
        at4(y, s[i]);
        for (int c = 0; c < 4; c++)
            y[c] = act16(_mm512_add_ps(y[c], vb), act, vs);
        z02l = _mm512_permutex2var_ps(y[0], zlo, y[2]);
        z02h = _mm512_permutex2var_ps(y[0], zhi, y[2]);
        z13l = _mm512_permutex2var_ps(y[1], zlo, y[3]);
        z13h = _mm512_permutex2var_ps(y[1], zhi, y[3]);
        q[0] = _mm512_permutex2var_ps(z02l, zlo, z13l);
        q[1] = _mm512_permutex2var_ps(z02l, zhi, z13l);
        q[2] = _mm512_permutex2var_ps(z02h, zlo, z13h);
        q[3] = _mm512_permutex2var_ps(z02h, zhi, z13h);
        row = dst + (ptrdiff_t)oy * ow + ox0;
        for (int k = 0; k < 4; k++)
            if (pix[k])
                _mm512_mask_storeu_ps(row + 16 * k, pix[k], q[k]);
    }
}

void nn__wino_output_lanes_4x4__avx512(float *base, int ow,
                                       const int32_t off[16],
                                       const uint16_t rowm[4],
                                       const uint16_t colm[4], const float *m,
                                       size_t xs, float bias, la_act act,
                                       float slope)
{
    __m512i o = _mm512_loadu_si512(off);
    __m512 vb = _mm512_set1_ps(bias), vs = _mm512_set1_ps(slope);
    __m512 s[4][6];

    for (int j = 0; j < 6; j++) {
        __m512 c[6], r[4];
        for (int i = 0; i < 6; i++)
            c[i] = _mm512_loadu_ps(m + (size_t)(6 * i + j) * xs);
        at4(r, c);
        for (int i = 0; i < 4; i++)
            s[i][j] = r[i];
    }

    // Each output pixel (i, j) of every lane's tile in one masked scatter.
    for (int i = 0; i < 4; i++) {
        __m512 y[4];
        at4(y, s[i]);
        for (int j = 0; j < 4; j++) {
            __mmask16 msk = rowm[i] & colm[j];
            __m512i at = _mm512_add_epi32(o, _mm512_set1_epi32(i * ow + j));
            if (msk)
                _mm512_mask_i32scatter_ps(
                    base, msk, at, act16(_mm512_add_ps(y[j], vb), act, vs), 4);
        }
    }
}

#endif
