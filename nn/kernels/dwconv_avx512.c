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
// Undilated kernels up to 8 taps wide on narrow planes (input rows up to
// 64 columns at stride 1, 32 at stride 2: MobileNet's later 3x3 layers)
// take a faster path first: a band of input rows is copied once into a
// zero-padded buffer on the stack, split by column phase at stride 2
// (even and odd padded columns apart), so that every tap of every output
// chunk is a plain unit-stride load with no masks and no per-chunk edge
// work; only the store of a row's last chunk is masked. Output rows go 4 at
// a time, 32 columns wide (8 independent sums). Measured on MobileNet's
// shapes (one AMD EPYC core): 512 x 32x32 planes 0.74 -> 0.27 ms, 1024 x
// 16x16 0.40 -> 0.20 ms, 512 x 32x32 at stride 2 0.26 -> 0.20 ms. The sum
// order (taps in row-major order, then the bias) is the general path's,
// with zero terms for the padding.
//
// Limitations:
// - The general path loads each input row once per output row that uses
//   it (kh times at stride 1); only the fast path blocks over output rows
//   (4 rows x 32 columns of independent sums).
// - The fast path's band buffer is BAND_FLOATS on the stack; kernels too
//   tall for kh padded rows to fit take the general path.
// - Planes must hold fewer than 2^31 elements (int indexing).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../layers_internal.h"

// Kernels up to this wide keep their edge-chunk masks in registers (or on
// the stack) for the whole chunk.
#define EDGE_TAPS 8

// The fast path's stack buffer (16 KB): a band of padded input rows. Half
// of L1 measured faster than all of it (32 KB) on 128x128 and 256x256
// planes, which then evicted the rows being read and written.
#define BAND_FLOATS 4096

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

// ---------------------------------------------------------------------------
// Fast path: undilated, stride 1 or 2, up to EDGE_TAPS x EDGE_TAPS taps.

// Buffer row r of a band (padded input row r0 + r) holds `s` phases of
// `wq` floats: phase p, entry j is padded column j * s + p, i.e. input
// column j * s + p - pl, zero outside the row. Then tap kx of output
// column ox reads phase kx % s, entry ox + kx / s. The load masks of each
// 16-entry chunk are the same for every row: worked out once per plane
// (band_masks) into m (s * wq / 16 entries).
typedef struct mask2 {
    __mmask16 a, b;
    int kind;   // 0: all outside the row (zeros), 1: all inside, 2: masked
} mask2;

static void band_masks(mask2 *m, const nn_window *g, int s, int wq)
{
    for (int p = 0; p < s; p++)
        for (int j = 0; j < wq; j += 16) {
            int start = j * s + p - g->pl;
            edge e = edge_masks(start, s, 16, g->w);
            mask2 *mj = &m[(p * wq + j) / 16];
            mj->a = e.a;
            mj->b = e.b;
            mj->kind = start >= 0 && start + 16 * s <= g->w
                           ? 1
                           : (e.a || e.b ? 2 : 0);
        }
}

// Masked loads are kept to the chunks that need them: a fill that masked
// every chunk took about 70% of a 32x32 stride-2 plane's time (perf, on an
// AMD EPYC), and plain loads where the row allows made such planes 1.2x
// faster.
static void band_fill(float *buf, const float *in, const nn_window *g,
                      const mask2 *m, int r0, int rows, int s, int wq)
{
    for (int r = 0; r < rows; r++) {
        int iy = r0 + r - g->pt;
        float *b = buf + (size_t)r * s * wq;

        if (iy < 0 || iy >= g->h) {
            for (int j = 0; j < s * wq; j += 16)
                _mm512_storeu_ps(b + j, _mm512_setzero_ps());
            continue;
        }
        for (int p = 0; p < s; p++) {
            const float *row = in + (size_t)iy * g->w;
            float *bp = b + (size_t)p * wq;
            for (int j = 0; j < wq; j += 16) {
                const mask2 *mj = &m[(p * wq + j) / 16];
                int start = j * s + p - g->pl;
                __m512 v;
                if (mj->kind == 1 && s == 1)
                    v = _mm512_loadu_ps(row + start);
                else if (mj->kind == 1)
                    v = _mm512_permutex2var_ps(
                        _mm512_loadu_ps(row + start),
                        _mm512_add_epi32(lanes16(), lanes16()),
                        _mm512_loadu_ps(row + start + 16));
                else if (mj->kind == 0)
                    v = _mm512_setzero_ps();
                else if (s == 1)
                    v = _mm512_maskz_loadu_ps(mj->a, row_at(row, start));
                else
                    v = _mm512_permutex2var_ps(
                        _mm512_maskz_loadu_ps(mj->a, row_at(row, start)),
                        _mm512_add_epi32(lanes16(), lanes16()),
                        _mm512_maskz_loadu_ps(mj->b,
                                              row_at(row, start + 16)));
                _mm512_storeu_ps(bp + j, v);
            }
        }
    }
}

// R output rows (1 or 4) by C 16-column chunks (1 or 2) starting at (oy,
// ox), from the band in buf (its row 0 is padded input row oy0 * s): up to
// 8 independent sums in named registers, so that the FMA chains overlap
// even on 16-column planes. Chunks past ow store only their first ow % 16
// lanes (tail). R, C, kh, kw, s are constants after inlining.
#define DW_FMA(acc, r, c)                                                   \
    acc = _mm512_fmadd_ps(w, _mm512_loadu_ps(p + (size_t)(r) * s * s * wq + \
                                             16 * (c)), acc)
#define DW_STORE(acc, r, c)                                                 \
    do {                                                                    \
        float *o_ = out + (size_t)(oy + (r)) * ow + ox + 16 * (c);          \
        __m512 v_ = act16(_mm512_add_ps(acc, vbias), act, vslope);          \
        if (ox + 16 * (c) + 16 <= ow)                                       \
            _mm512_storeu_ps(o_, v_);                                       \
        else                                                                \
            _mm512_mask_storeu_ps(o_, tail, v_);                            \
    } while (0)

static inline __attribute__((always_inline)) void
block(float *out, const float *buf, const __m512 *wk, int kh, int kw, int s,
      int wq, int ow, int oy, int oy0, int ox, int R, int C, __mmask16 tail,
      __m512 vbias, la_act act, __m512 vslope)
{
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
    __m512 a20 = a00, a21 = a00, a30 = a00, a31 = a00;

    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            __m512 w = wk[ky * kw + kx];
            const float *p = buf + (size_t)((oy - oy0) * s + ky) * s * wq +
                             (kx % s) * wq + kx / s + ox;
            DW_FMA(a00, 0, 0);
            if (C > 1)
                DW_FMA(a01, 0, 1);
            if (R > 1) {
                DW_FMA(a10, 1, 0);
                DW_FMA(a20, 2, 0);
                DW_FMA(a30, 3, 0);
                if (C > 1) {
                    DW_FMA(a11, 1, 1);
                    DW_FMA(a21, 2, 1);
                    DW_FMA(a31, 3, 1);
                }
            }
        }
    DW_STORE(a00, 0, 0);
    if (C > 1)
        DW_STORE(a01, 0, 1);
    if (R > 1) {
        DW_STORE(a10, 1, 0);
        DW_STORE(a20, 2, 0);
        DW_STORE(a30, 3, 0);
        if (C > 1) {
            DW_STORE(a11, 1, 1);
            DW_STORE(a21, 2, 1);
            DW_STORE(a31, 3, 1);
        }
    }
}

// Output rows [oy0, oy1) of the plane from the band in buf: blocks of
// 4 rows x 32 columns where they fit (two chunks when more than 16 columns
// remain), then single rows.
static inline __attribute__((always_inline)) void
band_rows(float *out, const float *buf, const float *k, int kh, int kw,
          int s, int wq, int ow, int oy0, int oy1, __m512 vbias, la_act act,
          __m512 vslope)
{
    __m512 wk[EDGE_TAPS * EDGE_TAPS];
    __mmask16 tail = (__mmask16)bit_range(0, ow % 16 ? ow % 16 : 16);
    int oy = oy0;

    for (int t = 0; t < kh * kw; t++)
        wk[t] = _mm512_set1_ps(k[t]);
    for (; oy + 4 <= oy1; oy += 4)
        for (int ox = 0; ox < ow; ox += 32) {
            if (ow - ox > 16)
                block(out, buf, wk, kh, kw, s, wq, ow, oy, oy0, ox, 4, 2,
                      tail, vbias, act, vslope);
            else
                block(out, buf, wk, kh, kw, s, wq, ow, oy, oy0, ox, 4, 1,
                      tail, vbias, act, vslope);
        }
    for (; oy < oy1; oy++)
        for (int ox = 0; ox < ow; ox += 32) {
            if (ow - ox > 16)
                block(out, buf, wk, kh, kw, s, wq, ow, oy, oy0, ox, 1, 2,
                      tail, vbias, act, vslope);
            else
                block(out, buf, wk, kh, kw, s, wq, ow, oy, oy0, ox, 1, 1,
                      tail, vbias, act, vslope);
        }
}

// The whole plane by bands; 0 when the shape does not fit the fast path.
static int dwconv_fast(float *out, const float *in, const float *k,
                       __m512 vbias, la_act act, __m512 vslope,
                       const nn_window *g)
{
    _Alignas(64) float buf[BAND_FLOATS];
    mask2 masks[BAND_FLOATS / 16];
    const int s = g->sw, kh = g->kh, kw = g->kw, ow = g->ow;
    int wq, band;

    // Only narrow planes (input rows up to 64 columns at stride 1, 32 at
    // stride 2): in the detector, whose inputs come fresh from the layer
    // before, the band copy ran 10-40% slower than the general path on
    // 128x128 planes at stride 1 and on 64x64 and 128x128 at stride 2
    // (isolated runs, inputs hot in cache, had favoured it); most of such
    // a row is 64-column interior blocks there anyway.
    if (g->dh != 1 || g->dw != 1 || g->sh != s || (s != 1 && s != 2) ||
        kh > EDGE_TAPS || kw > EDGE_TAPS || g->w * s > 64)
        return 0;

    // Entries per phase: the outputs rounded up to whole vectors, plus the
    // reach of the widest tap, rounded up to a vector.
    wq = (ow + 15) / 16 * 16 + ((kw - 1) / s + 15) / 16 * 16;
    if ((size_t)kh * s * wq > BAND_FLOATS)
        return 0;

    // Output rows per band: as many as the buffer holds.
    band = ((BAND_FLOATS / (s * wq)) - kh) / s + 1;
    band_masks(masks, g, s, wq);
    for (int oy0 = 0; oy0 < g->oh; oy0 += band) {
        int oy1 = oy0 + band < g->oh ? oy0 + band : g->oh;
        band_fill(buf, in, g, masks, oy0 * s, (oy1 - oy0 - 1) * s + kh, s,
                  wq);
        if (kh == 3 && kw == 3 && s == 1)
            band_rows(out, buf, k, 3, 3, 1, wq, ow, oy0, oy1, vbias, act,
                      vslope);
        else if (kh == 3 && kw == 3)
            band_rows(out, buf, k, 3, 3, 2, wq, ow, oy0, oy1, vbias, act,
                      vslope);
        else
            band_rows(out, buf, k, kh, kw, s, wq, ow, oy0, oy1, vbias, act,
                      vslope);
    }
    return 1;
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

    if (dwconv_fast(out, in, k, vbias, act, vslope, g))
        return;
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
