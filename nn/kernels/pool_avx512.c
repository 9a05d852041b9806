// pool_avx512.c - max and average pooling of one plane with AVX-512F: 16
// output columns per vector, the tail of each row under a lane mask.
//
// Input columns at the window stride are loaded as in dwconv_avx512.c
// (stride 1: one load; stride 2: two loads and an even-lane permute;
// otherwise a gather), masked to what the active lanes need. Max pooling
// compares strictly in row-major window order and carries the winning
// plane index per lane; average pooling adds in that order and divides
// once. Both therefore match the scalar kernels bit for bit. Border
// columns run the shared scalar point code.
//
// Limitations:
// - Planes must hold fewer than 2^31 elements (int indexing).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../layers_internal.h"

static inline __mmask16 prefix16(int n)
{
    n = n < 0 ? 0 : n;
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

// The lanes' masks for one chunk of `lanes` columns at stride s.
typedef struct chunk {
    __mmask16 m, m2lo, m2hi;
} chunk;

static inline chunk chunk_masks(int lanes, int s)
{
    int span = (lanes - 1) * s + 1;
    chunk c = {prefix16(lanes), prefix16(span), prefix16(span - 16)};
    return c;
}

// 16 input columns p[0], p[s], ..., p[15 s] for the chunk's lanes.
static inline __m512 load16(const float *p, int s, chunk c, __m512i gidx,
                            __m512i even)
{
    if (s == 1)
        return _mm512_maskz_loadu_ps(c.m, p);
    if (s == 2) {
        __m512 a = _mm512_maskz_loadu_ps(c.m2lo, p);
        __m512 b = _mm512_maskz_loadu_ps(c.m2hi, p + 16);
        return _mm512_permutex2var_ps(a, even, b);
    }
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), c.m, gidx, p, 4);
}

void nn__maxpool__avx512(float *out, int32_t *argmax, const float *in,
                         const nn_window *g)
{
    int lo, hi, s = g->sw;
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                     12, 13, 14, 15);
    __m512i gidx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(s));
    __m512i even = _mm512_add_epi32(lane, lane);

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < g->oh; oy++) {
        float *o = out + (size_t)oy * g->ow;
        int32_t *a = argmax ? argmax + (size_t)oy * g->ow : NULL;
        int ky0, ky1, y0 = oy * g->sh - g->pt;

        nn__tap_range(&ky0, &ky1, oy, g->sh, g->pt, 1, g->kh, g->h);

        // Border columns, and every column of a row with no input.
        for (int ox = 0; ox < g->ow; ox++) {
            int at;
            if (ox >= lo && ox < hi && ky0 < ky1)
                continue;
            o[ox] = nn__maxpool_point(&at, in, g, oy, ox, ky0, ky1);
            if (a)
                a[ox] = at;
        }
        if (ky0 == ky1)
            continue;

        // Interior, 16 columns at a time. Lane j of tap (ky, kx) reads
        // plane index (y0 + ky) * w + (ox + j) * s - pl + kx.
        for (int ox = lo; ox < hi; ox += 16) {
            chunk c = chunk_masks(hi - ox < 16 ? hi - ox : 16, s);
            int base = (y0 + ky0) * g->w + ox * s - g->pl;
            __m512 best = load16(in + base, s, c, gidx, even);
            __m512i at = _mm512_add_epi32(_mm512_set1_epi32(base), gidx);

            for (int ky = ky0; ky < ky1; ky++) {
                int row = (y0 + ky) * g->w + ox * s - g->pl;
                for (int kx = ky == ky0 ? 1 : 0; kx < g->kw; kx++) {
                    __m512 v = load16(in + row + kx, s, c, gidx, even);
                    __mmask16 win = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
                    best = _mm512_mask_mov_ps(best, win, v);
                    if (a)
                        at = _mm512_mask_add_epi32(
                            at, win, _mm512_set1_epi32(row + kx), gidx);
                }
            }
            _mm512_mask_storeu_ps(o + ox, c.m, best);
            if (a)
                _mm512_mask_storeu_epi32(a + ox, c.m, at);
        }
    }
}

void nn__avgpool__avx512(float *out, const float *in, const nn_window *g,
                         int count_pad)
{
    int lo, hi, s = g->sw;
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                     12, 13, 14, 15);
    __m512i gidx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(s));
    __m512i even = _mm512_add_epi32(lane, lane);

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < g->oh; oy++) {
        float *o = out + (size_t)oy * g->ow;
        int ky0, ky1, y0 = oy * g->sh - g->pt, count;
        __m512 div;

        nn__tap_range(&ky0, &ky1, oy, g->sh, g->pt, 1, g->kh, g->h);

        // Border columns.
        for (int ox = 0; ox < lo; ox++)
            o[ox] = nn__avgpool_point(in, g, oy, ox, ky0, ky1, count_pad);
        for (int ox = hi; ox < g->ow; ox++)
            o[ox] = nn__avgpool_point(in, g, oy, ox, ky0, ky1, count_pad);
        if (lo == hi)
            continue;

        // Interior: one divisor for the whole row (every window spans kw
        // input columns).
        count = nn__pool_count(g, y0, lo * s - g->pl, count_pad);
        div = _mm512_set1_ps((float)count);
        for (int ox = lo; ox < hi; ox += 16) {
            chunk c = chunk_masks(hi - ox < 16 ? hi - ox : 16, s);
            __m512 acc = _mm512_setzero_ps();

            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = in + (size_t)(y0 + ky) * g->w + ox * s -
                                   g->pl;
                for (int kx = 0; kx < g->kw; kx++)
                    acc = _mm512_add_ps(acc, load16(row + kx, s, c, gidx,
                                                    even));
            }
            acc = count > 0 ? _mm512_div_ps(acc, div) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(o + ox, c.m, acc);
        }
    }
}
#endif
