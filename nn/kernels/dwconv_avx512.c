// dwconv_avx512.c - depthwise convolution of one plane with AVX-512F: 16
// output columns per vector.
//
// Each output row runs in chunks of 16 columns from the left. Chunks whose
// taps all read inside the input row go 64 columns at a time (four
// independent accumulators, one broadcast weight per tap) or 16 at a time
// with plain loads:
// stride 1 is one load, stride 2 loads the 31 columns the lanes span and
// keeps the even ones with a two-source permute, other strides gather. The
// chunks at the row's ends (reaching into the padding, or a partial last
// chunk) mask every load to the input columns that exist, so padding reads
// as zero and nothing outside the plane is touched; this keeps small planes
// (14x14, 7x7) vectorised too.
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

static inline __m512i lanes16(void)
{
    return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                             14, 15);
}

// 16 input columns p[0], p[s], ..., p[15 s], all inside the row.
static inline __m512 load16(const float *p, int s)
{
    if (s == 1)
        return _mm512_loadu_ps(p);
    if (s == 2) {
        // Columns 0..30: the 31st column may lie past the plane's end.
        __m512 a = _mm512_loadu_ps(p);
        __m512 b = _mm512_maskz_loadu_ps(0x7fff, p + 16);
        return _mm512_permutex2var_ps(a, _mm512_add_epi32(lanes16(),
                                                          lanes16()), b);
    }
    return _mm512_i32gather_ps(
        _mm512_mullo_epi32(lanes16(), _mm512_set1_epi32(s)), p, 4);
}

// Bits [t0, t1) of a 32-bit mask (empty when t1 <= t0).
static inline uint32_t bit_range(int t0, int t1)
{
    uint32_t hi, lo;

    if (t1 <= t0 || t1 <= 0 || t0 >= 32)
        return 0;
    t0 = t0 < 0 ? 0 : t0;
    hi = t1 >= 32 ? 0xffffffffu : (1u << t1) - 1;
    lo = (1u << t0) - 1;
    return hi & ~lo;
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
// column `start`. Stride 1 and 2: masks of the columns start .. start + 15
// (a) and start + 16 .. start + 31 (b) that lie inside [0, w) and inside
// the span of the chunk's lanes. Other strides: the mask of the lanes
// whose column start + j * s lies inside [0, w) (a), and those columns.
typedef struct edge {
    __mmask16 a, b;
    __m512i idx;
} edge;

static inline edge edge_masks(int start, int s, int lanes, int w)
{
    edge e;

    if (s <= 2) {
        int span = (lanes - 1) * s + 1;
        uint32_t m = bit_range(-start, w - start < span ? w - start : span);
        e.a = (__mmask16)m;
        e.b = (__mmask16)(m >> 16);
        e.idx = _mm512_setzero_si512();
    } else {
        e.idx = _mm512_add_epi32(
            _mm512_set1_epi32(start),
            _mm512_mullo_epi32(lanes16(), _mm512_set1_epi32(s)));
        e.a = (__mmask16)bit_range(0, lanes) &
              _mm512_cmpge_epi32_mask(e.idx, _mm512_setzero_si512()) &
              _mm512_cmplt_epi32_mask(e.idx, _mm512_set1_epi32(w));
        e.b = 0;
    }
    return e;
}

// Input columns start + j * s of `row` for an edge chunk's lanes, zero
// where the column falls outside the row (the padding).
static inline __m512 load16_edge(const float *row, int start, int s,
                                 edge e)
{
    if (s == 1)
        return _mm512_maskz_loadu_ps(e.a, row_at(row, start));
    if (s == 2)
        return _mm512_permutex2var_ps(
            _mm512_maskz_loadu_ps(e.a, row_at(row, start)),
            _mm512_add_epi32(lanes16(), lanes16()),
            _mm512_maskz_loadu_ps(e.b, row_at(row, start + 16)));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), e.a, e.idx, row, 4);
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

void nn__dwconv__avx512(float *out, const float *in, const float *k,
                        float bias, la_act act, float slope,
                        const nn_window *g)
{
    // The geometry in locals: stores through `out` cannot change them.
    const int w = g->w, oh = g->oh, ow = g->ow, kw = g->kw, s = g->sw;
    const int sh = g->sh, dh = g->dh, dw = g->dw, pt = g->pt, pl = g->pl;
    __m512 vbias = _mm512_set1_ps(bias), vslope = _mm512_set1_ps(slope);
    int lo, hi;

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < oh; oy++) {
        float *o = out + (size_t)oy * ow;
        int ky0, ky1, ox = 0;

        nn__tap_range(&ky0, &ky1, oy, sh, pt, dh, g->kh, g->h);
        while (ox < ow) {
            // Interior, 64 columns: acc += k[ky, kx] * in[iy, ox * s - pl +
            // kx * dw], taps in row-major order.
            if (ox >= lo && ox + 64 <= hi) {
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;

                for (int ky = ky0; ky < ky1; ky++) {
                    int iy = oy * sh - pt + ky * dh;
                    const float *src = in + (size_t)iy * w + ox * s - pl;
                    const float *kr = k + ky * kw;
                    for (int kx = 0; kx < kw; kx++) {
                        __m512 wk = _mm512_set1_ps(kr[kx]);
                        const float *p = src + kx * dw;
                        a0 = _mm512_fmadd_ps(wk, load16(p, s), a0);
                        a1 = _mm512_fmadd_ps(wk, load16(p + 16 * s, s), a1);
                        a2 = _mm512_fmadd_ps(wk, load16(p + 32 * s, s), a2);
                        a3 = _mm512_fmadd_ps(wk, load16(p + 48 * s, s), a3);
                    }
                }
                a0 = act16(_mm512_add_ps(a0, vbias), act, vslope);
                a1 = act16(_mm512_add_ps(a1, vbias), act, vslope);
                a2 = act16(_mm512_add_ps(a2, vbias), act, vslope);
                a3 = act16(_mm512_add_ps(a3, vbias), act, vslope);
                _mm512_storeu_ps(o + ox, a0);
                _mm512_storeu_ps(o + ox + 16, a1);
                _mm512_storeu_ps(o + ox + 32, a2);
                _mm512_storeu_ps(o + ox + 48, a3);
                ox += 64;
                continue;
            }

            // Interior, 16 columns.
            if (ox >= lo && ox + 16 <= hi) {
                __m512 acc = _mm512_setzero_ps();

                for (int ky = ky0; ky < ky1; ky++) {
                    int iy = oy * sh - pt + ky * dh;
                    const float *src = in + (size_t)iy * w + ox * s - pl;
                    const float *kr = k + ky * kw;
                    for (int kx = 0; kx < kw; kx++)
                        acc = _mm512_fmadd_ps(_mm512_set1_ps(kr[kx]),
                                              load16(src + kx * dw, s), acc);
                }
                acc = act16(_mm512_add_ps(acc, vbias), act, vslope);
                _mm512_storeu_ps(o + ox, acc);
                ox += 16;
                continue;
            }

            // Any other chunk of up to 16 columns, every load masked to
            // the input columns that exist (padding contributes zero). The
            // masks depend on kx only: worked out once for kernels up to
            // EDGE_TAPS wide.
            {
                int lanes = ow - ox < 16 ? ow - ox : 16;
                int pre = kw <= EDGE_TAPS;
                __m512 acc = _mm512_setzero_ps();
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
                        acc = _mm512_fmadd_ps(_mm512_set1_ps(kr[kx]),
                                              load16_edge(row, start, s, ek),
                                              acc);
                    }
                }
                acc = act16(_mm512_add_ps(acc, vbias), act, vslope);
                _mm512_mask_storeu_ps(o + ox, (__mmask16)bit_range(0, lanes),
                                      acc);
                ox += lanes;
            }
        }
    }
}
#endif
