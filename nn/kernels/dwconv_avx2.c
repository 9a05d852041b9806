// dwconv_avx2.c - depthwise convolution of one plane with AVX2 + FMA: 8
// output columns per vector.
//
// Each output row runs in chunks of 8 columns from the left. Chunks whose
// taps all read inside the input row go 32 columns at a time (four
// independent accumulators, one broadcast weight per tap) or 8 at a time
// with plain loads: stride 1 is one load, stride 2 loads the 15 columns
// the lanes span as two vectors and keeps the even ones (shuffle and
// cross-lane permute), other strides gather. The chunks at the row's ends
// (reaching into the padding, or a partial last chunk) mask every load to
// the input columns that exist (vmaskmov, masked gather), so padding reads
// as zero and nothing outside the plane is touched.
//
// Limitations:
// - Each input row is loaded once per output row that uses it (kh times
//   at stride 1); no register blocking over output rows.
// - Planes must hold fewer than 2^31 elements (int indexing).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../layers_internal.h"

// Kernels up to this wide keep their edge-chunk masks in registers (or on
// the stack) for the whole chunk.
#define EDGE_TAPS 8

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                       0,  0,  0,  0,  0,  0,  0,  0};

// Lanes 0..n-1 set (n clamped to 0..8), read from a sliding window over
// mask_table.
static inline __m256i prefix_mask(int n)
{
    n = n < 0 ? 0 : (n > 8 ? 8 : n);
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n));
}

static inline __m256i lanes8(void)
{
    return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
}

// The even columns of a (0..7) and b (8..15): [a0 a2 a4 a6 b0 b2 b4 b6].
static inline __m256 evens(__m256 a, __m256 b)
{
    // [a0 a2 b0 b2 | a4 a6 b4 b6], then swap the middle 64-bit pairs.
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                  _MM_SHUFFLE(3, 1, 2, 0)));
}

// 8 input columns p[0], p[s], ..., p[7 s], all inside the row.
static inline __m256 load8(const float *p, int s)
{
    if (s == 1)
        return _mm256_loadu_ps(p);
    if (s == 2)
        // Columns 0..14: the 16th may lie past the plane's end.
        return evens(_mm256_loadu_ps(p),
                     _mm256_maskload_ps(p + 8, prefix_mask(7)));
    return _mm256_i32gather_ps(
        p, _mm256_mullo_epi32(lanes8(), _mm256_set1_epi32(s)), 4);
}

// The address of row[i] for an i that may fall outside the row. Used only
// with masked loads whose active lanes lie inside the row (masked-off
// lanes are never read and cannot fault), and computed as an integer so
// that no out-of-range C pointer is formed.
static inline const float *row_at(const float *row, int i)
{
    return (const float *)((uintptr_t)row + (intptr_t)i * sizeof(float));
}

// What an edge chunk reads for one tap whose first lane reads input
// column `start`. Stride 1 and 2: masks of the columns start .. start + 7
// (a) and start + 8 .. start + 15 (b) that lie inside [0, w) and inside the
// span of the chunk's lanes. Other strides: the mask of the lanes whose
// column start + j * s lies inside [0, w) (a) and the column indices (b).
typedef struct edge {
    __m256i a, b;
} edge;

static inline edge edge_masks(int start, int s, int lanes, int w)
{
    __m256i l = lanes8(), vw = _mm256_set1_epi32(w);
    __m256i none = _mm256_set1_epi32(-1);
    edge e;

    if (s <= 2) {
        __m256i span = _mm256_set1_epi32((lanes - 1) * s + 1);
        __m256i ia = _mm256_add_epi32(_mm256_set1_epi32(start), l);
        __m256i ib = _mm256_add_epi32(ia, _mm256_set1_epi32(8));
        __m256i lb = _mm256_add_epi32(l, _mm256_set1_epi32(8));

        e.a = _mm256_and_si256(
            _mm256_and_si256(_mm256_cmpgt_epi32(ia, none),
                             _mm256_cmpgt_epi32(vw, ia)),
            _mm256_cmpgt_epi32(span, l));
        e.b = _mm256_and_si256(
            _mm256_and_si256(_mm256_cmpgt_epi32(ib, none),
                             _mm256_cmpgt_epi32(vw, ib)),
            _mm256_cmpgt_epi32(span, lb));
    } else {
        e.b = _mm256_add_epi32(_mm256_set1_epi32(start),
                               _mm256_mullo_epi32(l, _mm256_set1_epi32(s)));
        e.a = _mm256_and_si256(
            _mm256_and_si256(_mm256_cmpgt_epi32(e.b, none),
                             _mm256_cmpgt_epi32(vw, e.b)),
            _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), l));
    }
    return e;
}

// Input columns start + j * s of `row` for an edge chunk's lanes, zero
// where the column falls outside the row (the padding).
static inline __m256 load8_edge(const float *row, int start, int s, edge e)
{
    if (s == 1)
        return _mm256_maskload_ps(row_at(row, start), e.a);
    if (s == 2)
        return evens(_mm256_maskload_ps(row_at(row, start), e.a),
                     _mm256_maskload_ps(row_at(row, start + 8), e.b));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, e.b,
                                    _mm256_castsi256_ps(e.a), 4);
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

void nn__dwconv__avx2(float *out, const float *in, const float *k,
                      float bias, la_act act, float slope,
                      const nn_window *g)
{
    // The geometry in locals: stores through `out` cannot change them.
    const int w = g->w, oh = g->oh, ow = g->ow, kw = g->kw, s = g->sw;
    const int sh = g->sh, dh = g->dh, dw = g->dw, pt = g->pt, pl = g->pl;
    __m256 vbias = _mm256_set1_ps(bias), vslope = _mm256_set1_ps(slope);
    int lo, hi;

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < oh; oy++) {
        float *o = out + (size_t)oy * ow;
        int ky0, ky1, ox = 0;

        nn__tap_range(&ky0, &ky1, oy, sh, pt, dh, g->kh, g->h);
        while (ox < ow) {
            // Interior, 32 columns: acc += k[ky, kx] * in[iy, ox * s - pl +
            // kx * dw], taps in row-major order.
            if (ox >= lo && ox + 32 <= hi) {
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;

                for (int ky = ky0; ky < ky1; ky++) {
                    int iy = oy * sh - pt + ky * dh;
                    const float *src = in + (size_t)iy * w + ox * s - pl;
                    const float *kr = k + ky * kw;
                    for (int kx = 0; kx < kw; kx++) {
                        __m256 wk = _mm256_set1_ps(kr[kx]);
                        const float *p = src + kx * dw;
                        a0 = _mm256_fmadd_ps(wk, load8(p, s), a0);
                        a1 = _mm256_fmadd_ps(wk, load8(p + 8 * s, s), a1);
                        a2 = _mm256_fmadd_ps(wk, load8(p + 16 * s, s), a2);
                        a3 = _mm256_fmadd_ps(wk, load8(p + 24 * s, s), a3);
                    }
                }
                a0 = act8(_mm256_add_ps(a0, vbias), act, vslope);
                a1 = act8(_mm256_add_ps(a1, vbias), act, vslope);
                a2 = act8(_mm256_add_ps(a2, vbias), act, vslope);
                a3 = act8(_mm256_add_ps(a3, vbias), act, vslope);
                _mm256_storeu_ps(o + ox, a0);
                _mm256_storeu_ps(o + ox + 8, a1);
                _mm256_storeu_ps(o + ox + 16, a2);
                _mm256_storeu_ps(o + ox + 24, a3);
                ox += 32;
                continue;
            }

            // Interior, 8 columns.
            if (ox >= lo && ox + 8 <= hi) {
                __m256 acc = _mm256_setzero_ps();

                for (int ky = ky0; ky < ky1; ky++) {
                    int iy = oy * sh - pt + ky * dh;
                    const float *src = in + (size_t)iy * w + ox * s - pl;
                    const float *kr = k + ky * kw;
                    for (int kx = 0; kx < kw; kx++)
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(kr[kx]),
                                              load8(src + kx * dw, s), acc);
                }
                acc = act8(_mm256_add_ps(acc, vbias), act, vslope);
                _mm256_storeu_ps(o + ox, acc);
                ox += 8;
                continue;
            }

            // Any other chunk of up to 8 columns, every load masked to the
            // input columns that exist (padding contributes zero). The
            // masks depend on kx only: worked out once for kernels up to
            // EDGE_TAPS wide.
            {
                int lanes = ow - ox < 8 ? ow - ox : 8;
                int pre = kw <= EDGE_TAPS;
                __m256 acc = _mm256_setzero_ps();
                edge e[EDGE_TAPS];

                for (int kx = 0; pre && kx < kw; kx++)
                    e[kx] = edge_masks(ox * s - pl + kx * dw, s, lanes, w);
                for (int ky = ky0; ky < ky1; ky++) {
                    int iy = oy * sh - pt + ky * dh;
                    const float *row = in + (size_t)iy * w;
                    const float *kr = k + ky * kw;
                    for (int kx = 0; kx < kw; kx++) {
                        int start = ox * s - pl + kx * dw;
                        edge ek = pre ? e[kx]
                                      : edge_masks(start, s, lanes, w);
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(kr[kx]),
                                              load8_edge(row, start, s, ek),
                                              acc);
                    }
                }
                acc = act8(_mm256_add_ps(acc, vbias), act, vslope);
                _mm256_maskstore_ps(o + ox, prefix_mask(lanes), acc);
                ox += lanes;
            }
        }
    }
}
#endif
