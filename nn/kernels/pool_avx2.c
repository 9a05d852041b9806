// pool_avx2.c - max and average pooling of one plane with AVX2: 8 output
// columns per vector, the tail of each row under a lane mask.
//
// Input columns at the window stride are loaded as in dwconv_avx2.c
// (stride 1: one load; stride 2: two loads, shuffle and permute; otherwise
// a gather), masked to what the active lanes need. Max pooling compares
// strictly in row-major window order and carries the winning plane index
// per lane; average pooling adds in that order and divides once. Both
// therefore match the scalar kernels bit for bit. Border columns run the
// shared scalar point code.
//
// Limitations:
// - Planes must hold fewer than 2^31 elements (int indexing).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../layers_internal.h"

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                       0,  0,  0,  0,  0,  0,  0,  0};

// Lanes 0..n-1 set (n clamped to 0..8).
static inline __m256i prefix_mask(int n)
{
    n = n < 0 ? 0 : (n > 8 ? 8 : n);
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n));
}

// The lanes' masks for one chunk of `lanes` columns at stride s.
typedef struct chunk {
    __m256i m, m2lo, m2hi;
} chunk;

static inline chunk chunk_masks(int lanes, int s)
{
    int span = (lanes - 1) * s + 1;
    chunk c = {prefix_mask(lanes), prefix_mask(span), prefix_mask(span - 8)};
    return c;
}

// 8 input columns p[0], p[s], ..., p[7 s] for the chunk's lanes.
static inline __m256 load8(const float *p, int s, chunk c, __m256i gidx)
{
    if (s == 1)
        return _mm256_maskload_ps(p, c.m);
    if (s == 2) {
        __m256 a = _mm256_maskload_ps(p, c.m2lo);
        __m256 b = _mm256_maskload_ps(p + 8, c.m2hi);
        // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
        __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                      _MM_SHUFFLE(3, 1, 2,
                                                                  0)));
    }
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, gidx,
                                    _mm256_castsi256_ps(c.m), 4);
}

void nn__maxpool__avx2(float *out, int32_t *argmax, const float *in,
                       const nn_window *g)
{
    int lo, hi, s = g->sw;
    __m256i gidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5,
                                                        6, 7),
                                      _mm256_set1_epi32(s));

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

        // Interior, 8 columns at a time. Lane j of tap (ky, kx) reads
        // plane index (y0 + ky) * w + (ox + j) * s - pl + kx.
        for (int ox = lo; ox < hi; ox += 8) {
            chunk c = chunk_masks(hi - ox < 8 ? hi - ox : 8, s);
            int base = (y0 + ky0) * g->w + ox * s - g->pl;
            __m256 best = load8(in + base, s, c, gidx);
            __m256i at = _mm256_add_epi32(_mm256_set1_epi32(base), gidx);

            for (int ky = ky0; ky < ky1; ky++) {
                int row = (y0 + ky) * g->w + ox * s - g->pl;
                for (int kx = ky == ky0 ? 1 : 0; kx < g->kw; kx++) {
                    __m256 v = load8(in + row + kx, s, c, gidx);
                    __m256 win = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
                    best = _mm256_blendv_ps(best, v, win);
                    if (a) {
                        __m256i i = _mm256_add_epi32(
                            _mm256_set1_epi32(row + kx), gidx);
                        at = _mm256_castps_si256(_mm256_blendv_ps(
                            _mm256_castsi256_ps(at), _mm256_castsi256_ps(i),
                            win));
                    }
                }
            }
            _mm256_maskstore_ps(o + ox, c.m, best);
            if (a)
                _mm256_maskstore_epi32(a + ox, c.m, at);
        }
    }
}

void nn__avgpool__avx2(float *out, const float *in, const nn_window *g,
                       int count_pad)
{
    int lo, hi, s = g->sw;
    __m256i gidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5,
                                                        6, 7),
                                      _mm256_set1_epi32(s));

    nn__interior_cols(&lo, &hi, g);
    for (int oy = 0; oy < g->oh; oy++) {
        float *o = out + (size_t)oy * g->ow;
        int ky0, ky1, y0 = oy * g->sh - g->pt, count;
        __m256 div;

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
        div = _mm256_set1_ps((float)count);
        for (int ox = lo; ox < hi; ox += 8) {
            chunk c = chunk_masks(hi - ox < 8 ? hi - ox : 8, s);
            __m256 acc = _mm256_setzero_ps();

            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = in + (size_t)(y0 + ky) * g->w + ox * s -
                                   g->pl;
                for (int kx = 0; kx < g->kw; kx++)
                    acc = _mm256_add_ps(acc, load8(row + kx, s, c, gidx));
            }
            acc = count > 0 ? _mm256_div_ps(acc, div) : _mm256_setzero_ps();
            _mm256_maskstore_ps(o + ox, c.m, acc);
        }
    }
}
#endif
